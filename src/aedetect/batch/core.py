"""The row-scoring core: rows in; scores, flags from the threshold rule, optional explanations and
pass-through columns out.

Every way of scoring goes through :class:`RowScoringCore`: files in chunks, streams in batches, the
command line's in-memory path, the HTTP service and the report. None of them checks columns, compares
scores with a threshold, divides feature errors by their normal level or picks the columns to write
back on its own. Scores do not depend on how the rows are cut into chunks: every forward batch is
padded to a whole number of blocks (:data:`aedetect.scoring.forward.BATCH_BLOCK`), so each row is
computed by the same kernels whatever batch it arrives in.

What the core asks of a detector (an ensemble offers the same): ``_check_fitted()``, ``data_kind_``,
``preprocessor_`` (``columns_``, ``categorical_features``, ``numeric_columns_``), ``metadata_``,
``threshold_rule_``, ``calibration_scores_``, ``decision_function(X)`` and, where present,
``feature_names_in_``, ``feature_names_out_`` and ``feature_contributions(X)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aedetect.preprocessing.values import check_unique_columns, name_list
from aedetect.thresholds import FixedThreshold, ThresholdRule, parse_threshold


@dataclass(frozen=True)
class Contribution:
    """One feature's part in a row's score."""

    feature: str
    error: float  # the feature's reconstruction error
    contribution: float  # the error relative to its level on normal rows (the error itself for 'reconstruction')


@dataclass
class ScoredRows:
    """Scores and 0/1 flags (1 = anomaly) of a block of rows, in their order."""

    scores: np.ndarray
    flags: np.ndarray

    @property
    def flagged(self) -> int:
        return int(self.flags.sum())


class RowScoringCore:
    """Scores blocks of rows with a fitted detector (or ensemble) and one threshold rule.

    Parameters
    ----------
    detector : AutoencoderDetector or EnsembleDetector
        A fitted detector. Column checks (:meth:`check_columns`, :meth:`features`, :meth:`score`)
        are for table models; :meth:`score_features`, :meth:`flag` and :meth:`explain` take what
        ``decision_function`` takes, of any kind.
    id_column : str, optional
        Pass only this column through with the scores (it is not a feature).
    drop : sequence of str
        Columns that are not features (ids, timestamps); the model's own label and dropped columns
        (from its metadata) are always allowed.
    only_anomalies : bool
        Keep only the flagged rows in :meth:`output`.
    threshold : rule, rule text or number, optional
        Flags rows by this rule instead of the detector's (a rule text or unfitted rule is fitted on
        the model's held-out normal scores; a fitted rule is used as it is; a number is a fixed
        threshold).
    allow_extra : bool
        Accept columns the model did not train on and pass them through (streams).
    """

    def __init__(
        self,
        detector,
        *,
        id_column: str | None = None,
        drop: Sequence[str] = (),
        only_anomalies: bool = False,
        threshold: ThresholdRule | str | float | None = None,
        allow_extra: bool = False,
    ) -> None:
        detector._check_fitted()
        self.detector = detector
        self.id_column = id_column
        self.only_anomalies = only_anomalies
        self.allow_extra = allow_extra
        self.rule = self._rule(threshold)
        meta = getattr(detector, "metadata_", {}) or {}
        self.ignored = {c for c in [meta.get("label_column"), *(meta.get("drop") or []), *drop, id_column] if c}
        self._checked: tuple | None = None

    def _rule(self, threshold) -> ThresholdRule:
        if threshold is None:
            return self.detector.threshold_rule_
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            return FixedThreshold(float(threshold)).fit()
        if isinstance(threshold, ThresholdRule) and hasattr(threshold, "threshold_"):
            return threshold
        rule = parse_threshold(threshold)
        if rule.name == "best_f1":
            raise ValueError("The 'best_f1' threshold needs labels; give a number or another rule.")
        return rule.fit(self.detector.calibration_scores_)

    @property
    def threshold(self) -> float:
        return float(self.rule.threshold_)

    # -- columns ---------------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """The model's feature columns, in training order."""
        return list(self.detector.preprocessor_.columns_)

    @property
    def categorical(self) -> list[str]:
        return list(self.detector.preprocessor_.categorical_features)

    @property
    def numeric(self) -> list[str]:
        return list(self.detector.preprocessor_.numeric_columns_)

    def check_columns(self, names: Sequence) -> list[str]:
        """The model's feature columns, after checking that ``names`` (a block's columns) hold them.

        Raises ``ValueError`` naming the missing and unknown columns, or a missing id column; the
        answer is kept for the next block with the same columns.
        """
        key = tuple(map(str, names))
        if self._checked == key:
            return self.columns
        kind = self.detector.data_kind_
        if kind != "table":
            where = "an image folder, IDX or .npy file" if kind == "image" else "a series file"
            raise ValueError(f"This model scores {kind}s, not table rows; give it {where}.")
        check_unique_columns(key, "The data")
        columns = self.columns
        present = [n for n in key if n not in self.ignored]
        missing = [c for c in columns if c not in present]
        extra = [] if self.allow_extra else [c for c in present if c not in columns]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks training column(s) {name_list(missing)}")
            if extra:
                parts.append(
                    f"has column(s) the model did not train on {name_list(extra)} (leave them out with --drop)"
                )
            raise ValueError(f"The data {' and '.join(parts)}; the model expects {len(columns)} columns.")
        if self.id_column is not None and self.id_column not in key:
            raise ValueError(f"Id column {self.id_column!r} is not in the data; columns are {list(key[:10])}.")
        self._checked = key
        return columns

    def features(self, table):
        """The feature block of ``table`` (pandas or pyarrow) in training order, as ``decision_function``
        takes it: a DataFrame, or an array for a model fitted on an array."""
        if isinstance(table, pd.DataFrame):
            columns = self.check_columns(table.columns)
            # Already the model's columns in order (the service builds such frames): no copy to select them.
            selected = table if table.columns.tolist() == columns else table[columns]
        else:  # a pyarrow table or record batch
            selected = table.select(self.check_columns(table.schema.names)).to_pandas()
        return selected if hasattr(self.detector, "feature_names_in_") else selected.to_numpy()

    # -- scores, flags, explanations -------------------------------------------------------------
    def flag(self, scores) -> ScoredRows:
        """``scores`` with their flags by the core's threshold rule."""
        scores = np.asarray(scores)
        return ScoredRows(scores, self.rule.predict(scores))

    def score_features(self, features) -> ScoredRows:
        """Scores and flags of a block already in the model's features (see :meth:`features`)."""
        return self.flag(self.detector.decision_function(features))

    def score(self, table) -> ScoredRows:
        """Scores and flags of the rows of ``table`` (pandas or pyarrow; its columns are checked)."""
        return self.score_features(self.features(table))

    def contributions(self, features) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature errors and contributions of each row (``feature_contributions``); the
        contributions are the errors themselves (the same array) where the score does not divide
        them by their normal level."""
        return self.detector.feature_contributions(features)

    def explain(self, features, rows: np.ndarray, top: int) -> list[list[Contribution]]:
        """The ``top`` features that contribute most to the score of each of ``rows`` (positions in
        ``features``), largest first; none for a detector that gives no per-feature errors."""
        rows = np.asarray(rows, dtype=np.intp)
        if top <= 0 or not len(rows) or not callable(getattr(self.detector, "feature_contributions", None)):
            return [[] for _ in rows]
        picked = features.iloc[rows] if isinstance(features, pd.DataFrame) else np.asarray(features)[rows]
        errors, contributions = (np.asarray(a, dtype=np.float64) for a in self.contributions(picked))
        finite = np.isfinite(errors).all(axis=1) & np.isfinite(contributions).all(axis=1)
        if not finite.all():
            bad = int(rows[np.flatnonzero(~finite)[0]])
            raise ValueError(
                f"Row {bad} has values too large to explain (its feature errors overflow); "
                "send top_features=0 to score it without explanations."
            )
        names = list(self.detector.feature_names_out_)
        out = []
        for error, part in zip(errors, contributions, strict=True):
            order = np.argsort(-part, kind="stable")[:top]
            out.append([Contribution(names[j], float(error[j]), float(part[j])) for j in order])
        return out

    # -- output ----------------------------------------------------------------------------------
    def kept(self, scored: ScoredRows) -> np.ndarray:
        """Which rows :meth:`output` keeps: all, or the flagged ones."""
        return scored.flags == 1 if self.only_anomalies else np.ones(len(scored.flags), dtype=bool)

    def pass_through(self, names: Sequence[str]) -> list[str]:
        """The input columns written back beside the scores: the id column, or every column."""
        return [self.id_column] if self.id_column is not None else list(names)

    def output(self, table, scored: ScoredRows):
        """``table`` (a pandas or pyarrow table of the scored rows) reduced to its pass-through
        columns, with ``score`` and ``is_anomaly`` added and only the kept rows."""
        keep = self.kept(scored)
        if isinstance(table, pd.DataFrame):
            out = table[self.pass_through(table.columns)].copy()
            out["score"] = scored.scores
            out["is_anomaly"] = scored.flags
            return out if keep.all() else out[keep]
        import pyarrow as pa

        out = table.select(self.pass_through(table.schema.names))
        out = out.append_column("score", pa.array(scored.scores)).append_column("is_anomaly", pa.array(scored.flags))
        return out if keep.all() else out.filter(pa.array(keep))


__all__ = ["RowScoringCore", "ScoredRows", "Contribution"]
