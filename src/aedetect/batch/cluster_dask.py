"""Score a Dask DataFrame: each partition through the row-scoring core, on the workers."""

from __future__ import annotations

from collections.abc import Sequence

from aedetect.batch.cluster import ScoringOptions, empty_output, prepare, require, score_frame


def score_dask(
    ddf,
    model,
    *,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    only_anomalies: bool = False,
    threshold=None,
    explain: int = 0,
):
    """Score every row of a Dask DataFrame with ``map_partitions``; nothing runs until it is computed.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Rows with the model's feature columns (and any others, passed through).
    model : str, path or fitted detector
        A saved model's path or fsspec URL (``s3://...``) that every worker can read, or a fitted
        detector or ensemble (its saved files travel with the tasks). Each worker process loads it once.
    id_column : str, optional
        Keep only this column beside the scores (it is not a feature).
    drop : sequence of str
        Columns that are not features (passed through).
    only_anomalies : bool
        Keep only the rows flagged as anomalies.
    threshold : rule, rule text or number, optional
        Flag by this rule instead of the model's (see :class:`~aedetect.batch.core.RowScoringCore`).
    explain : int
        List this many features per flagged row, as JSON in a ``top_features`` column (0: none).

    Returns
    -------
    dask.dataframe.DataFrame
        The pass-through columns (all, or the id column) with ``score`` (float64, higher = more
        anomalous) and ``is_anomaly`` (1 = anomaly); each partition's scores equal, bit for bit,
        ``decision_function`` on the same rows.
    """
    require("dask.dataframe", "dask")
    options = ScoringOptions(id_column, tuple(drop), only_anomalies, threshold, explain)
    source, core = prepare(model, ddf.columns, options)
    meta = empty_output(ddf._meta, core, options)
    if source.files:  # a fitted model's files: one copy in the graph, not one per partition
        from dask import delayed

        source = delayed(source, pure=True)
    return ddf.map_partitions(score_frame, source, options, meta=meta)


__all__ = ["score_dask"]
