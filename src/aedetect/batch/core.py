"""The row-scoring core: rows in; scores, flags from the threshold rule, optional explanations and
pass-through columns out.

Every way of scoring a table goes through :class:`RowScoringCore`: files in chunks, streams in batches,
the command line's in-memory path, the HTTP service, the report and cluster engines. None of them
checks columns, compares scores with a threshold, divides feature errors by their normal level or
picks the columns to write back on its own. Scores do not depend on how the rows are cut into
chunks: the detector pads every forward batch to a whole number of blocks, so each row is computed
by the same kernels whatever batch it arrives in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aedetect.thresholds import FixedThreshold, ThresholdRule, parse_threshold


def name_list(names: Sequence[str], shown: int = 5) -> str:
    """``['a', 'b', ...] and N more``: a list of names cut for a one-line message."""
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{names[:shown]}{more}"


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
        A fitted table detector.
    id_column : str, optional
        Pass only this column through with the scores (it is not a feature).
    drop : sequence of str
        Columns that are not features (ids, timestamps); the model's own label and dropped columns
        (from its metadata) are always allowed.
    only_anomalies : bool
        Keep only the flagged rows in :meth:`output`.
    threshold : rule, rule text or number, optional
        Flags rows by this rule instead of the detector's (a rule is fitted on the model's held-out
        normal scores; a number is a fixed threshold).
    allow_extra : bool
        Accept columns the model did not train on and pass them through (streams, services).
    """

    def __init__(self, detector, *, id_column: str | None = None, drop: Sequence[str] = (),
                 only_anomalies: bool = False, threshold: ThresholdRule | str | float | None = None,
                 allow_extra: bool = False) -> None:
        detector._check_fitted()
        if detector.data_kind_ != "table":
            raise ValueError(f"This model scores {detector.data_kind_}s, not table rows; give it "
                             f"{'an image folder, IDX or .npy file' if detector.data_kind_ == 'image' else 'a series file'}.")
        self.detector = detector
        self.id_column = id_column
        self.only_anomalies = only_anomalies
        self.allow_extra = allow_extra
        self.rule = self._rule(threshold)
        meta = getattr(detector, "metadata_", {}) or {}
        self.ignored = {c for c in [meta.get("label_column"), *(meta.get("drop") or []), *drop, id_column] if c}
        self.columns = list(detector.preprocessor_.columns_)
        self.categorical = set(detector.preprocessor_.categorical_features)
        self.numeric = [c for c in self.columns if c not in self.categorical]
        self._checked: tuple | None = None

    def _rule(self, threshold) -> ThresholdRule:
        if threshold is None:
            return self.detector.threshold_rule_
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            return FixedThreshold(float(threshold)).fit()
        rule = parse_threshold(threshold)
        if rule.name == "best_f1":
            raise ValueError("The 'best_f1' threshold needs labels; give a number or another rule.")
        return rule.fit(self.detector.calibration_scores_)

    @property
    def threshold(self) -> float:
        return float(self.rule.threshold_)

    def check_columns(self, names: Sequence) -> list[str]:
        """The model's feature columns, after checking that ``names`` (a block's columns) hold them.

        Raises ``ValueError`` naming the missing and unknown columns; the answer is kept for the next
        block with the same columns.
        """
        key = tuple(str(n) for n in names)
        if self._checked == key:
            return self.columns
        from aedetect.preprocessing import check_unique_columns

        check_unique_columns(key, "The data")
        present = [n for n in key if n not in self.ignored]
        missing = [c for c in self.columns if c not in present]
        extra = [] if self.allow_extra else [c for c in present if c not in self.columns]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks training column(s) {name_list(missing)}")
            if extra:
                parts.append(f"has column(s) the model did not train on {name_list(extra)} (leave them out with --drop)")
            raise ValueError(f"The data {' and '.join(parts)}; the model expects {len(self.columns)} columns.")
        if self.id_column is not None and self.id_column not in key:
            raise ValueError(f"Id column {self.id_column!r} is not in the data; columns are {name_list(key, 10)}.")
        self._checked = key
        return self.columns

    def features(self, frame: pd.DataFrame):
        """The feature block of ``frame`` in training order (an array for a model fitted on an array)."""
        self.check_columns(frame.columns)
        selected = frame[self.columns]
        return selected if hasattr(self.detector, "feature_names_in_") else selected.to_numpy()

    def score(self, frame: pd.DataFrame) -> ScoredRows:
        """Scores and flags of the rows of ``frame``."""
        scores = np.asarray(self.detector.decision_function(self.features(frame)))
        return ScoredRows(scores, self.rule.predict(scores))

    def explain(self, frame: pd.DataFrame, rows: np.ndarray, top: int) -> list[list[Contribution]]:
        """The ``top`` features that contribute most to the score of each of ``rows`` (positions in ``frame``)."""
        if top <= 0 or not len(rows):
            return [[] for _ in rows]
        features = self.features(frame.iloc[np.asarray(rows)])
        errors, contributions = self.detector.feature_contributions(features)
        names = list(self.detector.feature_names_out_)
        out = []
        for error, part in zip(errors, contributions, strict=True):
            order = np.argsort(-part, kind="stable")[:top]
            out.append([Contribution(names[j], float(error[j]), float(part[j])) for j in order])
        return out

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


__all__ = ["RowScoringCore", "ScoredRows", "Contribution", "name_list"]
