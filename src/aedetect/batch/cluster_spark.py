"""Score a Spark DataFrame: each Arrow batch through the row-scoring core, with ``mapInPandas``."""

from __future__ import annotations

from collections.abc import Sequence

from aedetect.batch.cluster import EXPLANATION_COLUMN, ScoringOptions, prepare, require, score_frame


def score_spark(
    sdf,
    model,
    *,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    only_anomalies: bool = False,
    threshold=None,
    explain: int = 0,
):
    """Score every row of a Spark DataFrame with ``mapInPandas``; nothing runs until an action.

    Parameters are those of :func:`aedetect.score_dask`; ``model`` must be readable by every executor
    (a shared path or an fsspec URL), or a fitted detector, whose saved files travel with the tasks.

    Returns
    -------
    pyspark.sql.DataFrame
        The input schema's pass-through fields (all, or the id column), categorical and other
        columns included, then ``score`` (double) and ``is_anomaly`` (long, 1 = anomaly). Spark does
        not keep row order: key the rows by an id column.
    """
    require("pyspark.sql", "spark")
    from pyspark.sql import types

    options = ScoringOptions(id_column, tuple(drop), only_anomalies, threshold, explain)
    source, core = prepare(model, sdf.columns, options)
    fields = [sdf.schema[name] for name in core.pass_through(sdf.columns)]
    fields += [
        types.StructField("score", types.DoubleType(), nullable=False),
        types.StructField("is_anomaly", types.LongType(), nullable=False),
    ]
    if explain:
        fields.append(types.StructField(EXPLANATION_COLUMN, types.StringType(), nullable=True))

    def score_batches(frames):
        for frame in frames:
            yield score_frame(frame, source, options)

    return sdf.mapInPandas(score_batches, types.StructType(fields))


__all__ = ["score_spark"]
