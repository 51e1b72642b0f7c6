"""EnsembleDetector: several autoencoders with different seeds, their standardised scores averaged.

Saved as a directory: ``ensemble.json`` and one model directory per member (see
:mod:`aedetect.persistence.ensemble_state`); :func:`aedetect.load` reads either kind, never
unpickling. How the members' scores and per-feature values combine lives in
:mod:`aedetect.scoring.members`.

An ensemble offers what the command line, the service, file and stream scoring and the report use
on a detector (``data_kind_``, ``preprocessor_``, ``feature_names_in_``, ``feature_names_out_``,
``feature_errors``, ``feature_contributions``, ``score``, ``metadata_``, ...), so none of them
treats it apart. It has no single ``history_``, ``reconstruct`` or ``encode`` (each member has its
own); ONNX export refuses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import NotFittedError

from aedetect import _validation as v
from aedetect._validation import check_labels
from aedetect.detector import AutoencoderDetector
from aedetect.persistence.ensemble_state import rebuild_ensemble, write_ensemble
from aedetect.scoring.members import mean_by_name, standardised_mean
from aedetect.scoring.statistics import feature_contributions
from aedetect.thresholds import RULES, ThresholdRule, fresh_rule, parse_threshold
from aedetect.training.split import held_out_split

_CONSTRAINTS = {
    "detector": [v.NONE, v.Check(lambda d: isinstance(d, AutoencoderDetector), "an AutoencoderDetector")],
    "n_members": [v.Interval(int, 1)],
    "validation_fraction": [v.Interval(float, 0, 1, closed="neither")],
    "threshold": [
        v.Check(
            lambda t: isinstance(t, ThresholdRule) or parse_threshold(t) is not None,
            "a threshold rule or a str like 'false_alarm_rate:0.01' (rules: " + ", ".join(RULES) + ")",
        )
    ],
    "random_state": [v.Interval(int, 0)],
}


def _rows(X, rows: np.ndarray):
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]


class EnsembleDetector(OutlierMixin, BaseEstimator):
    """Average of ``n_members`` autoencoder detectors that differ by their random seed.

    Each member is a clone of ``detector`` with ``random_state = random_state + i`` (so its weights,
    validation split and batch order differ). A share ``validation_fraction`` of the normal rows is
    held out from every member; each member's scores are standardised by the mean and standard
    deviation of its scores on those rows, and the ensemble score is the mean of the standardised
    scores (**higher = more anomalous**). The threshold rule is fitted on the ensemble scores of the
    held-out rows; ``predict`` returns **1 for an anomaly**.

    Cost: fitting and scoring take ``n_members`` times as long as one member (the members are
    trained one after the other), and a saved ensemble is ``n_members`` times as large.

    Parameters
    ----------
    detector : AutoencoderDetector, optional
        The member template (any architecture and variant); ``None`` is ``AutoencoderDetector()``.
    n_members : int
        Number of members, >= 1.
    validation_fraction : float
        Share of normal rows held out from the members to standardise their scores and fit the
        threshold, in (0, 1). With fewer than 20 normal rows nothing is held out and the training
        rows' scores are used.
    threshold : str or ThresholdRule
        As for :class:`~aedetect.AutoencoderDetector`.
    random_state : int
        Seed of the held-out split and of the first member.

    Examples
    --------
    >>> import numpy as np
    >>> from aedetect import AutoencoderDetector
    >>> from aedetect.ensemble import EnsembleDetector
    >>> rng = np.random.default_rng(0)
    >>> member = AutoencoderDetector(epochs=10, device="cpu")
    >>> ensemble = EnsembleDetector(member, n_members=3).fit(rng.normal(size=(300, 5)))
    >>> ensemble.predict(np.vstack([np.zeros((2, 5)), np.full((2, 5), 8.0)])).tolist()
    [0, 0, 1, 1]
    """

    def __init__(
        self,
        detector: AutoencoderDetector | None = None,
        n_members: int = 5,
        validation_fraction: float = 0.1,
        threshold: str | ThresholdRule = "false_alarm_rate:0.01",
        random_state: int = 0,
    ) -> None:
        self.detector = detector
        self.n_members = n_members
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.random_state = random_state

    def _validate_params(self) -> None:
        v.validate_params(type(self).__name__, self.get_params(deep=False), _CONSTRAINTS)
        if self.detector is not None:
            self.detector._validate_params()

    def fit(self, X, y=None) -> EnsembleDetector:
        """Train the members on the normal rows of ``X`` (all rows, or those with ``y == 0``)."""
        self._validate_params()
        template = self.detector if self.detector is not None else AutoencoderDetector()
        normal = X if y is None else _rows(X, np.flatnonzero(check_labels(y, len(X)) == 0))
        held, kept = held_out_split(len(normal), self.validation_fraction, self.random_state)
        train, held_out = _rows(normal, kept), _rows(normal, held if len(held) else kept)
        self.members_ = [
            clone(template).set_params(random_state=self.random_state + i).fit(train) for i in range(self.n_members)
        ]
        raw = np.stack([member.decision_function(held_out) for member in self.members_])
        self.member_means_ = raw.mean(axis=1)
        self.member_stds_ = np.maximum(raw.std(axis=1), 1e-12)
        self.n_features_in_ = self.members_[0].n_features_in_
        self.calibration_scores_ = self._combine(raw)
        self._set_rule(fresh_rule(self.threshold).fit(self.calibration_scores_))
        self.decision_scores_ = self.decision_function(X)
        self.labels_ = self.threshold_rule_.predict(self.decision_scores_)
        return self

    def _combine(self, raw: np.ndarray) -> np.ndarray:
        return standardised_mean(raw, self.member_means_, self.member_stds_)

    def _set_rule(self, rule: ThresholdRule) -> None:
        self.threshold_rule_ = rule
        self.threshold_ = rule.threshold_

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' with normal data first."
            )

    def decision_function(self, X) -> np.ndarray:
        """Mean of the members' standardised scores: higher = more anomalous."""
        self._check_fitted()
        return self._combine(np.stack([member.decision_function(X) for member in self.members_]))

    # -- what every consumer uses on a detector: the members share data kind, columns and score ------
    @property
    def data_kind_(self) -> str:
        """``"table"``, ``"image"`` or ``"series"``, as the members."""
        self._check_fitted()
        return self.members_[0].data_kind_

    @property
    def preprocessor_(self):
        """The first member's preprocessing: its columns, categorical and numeric columns are every
        member's (each member scales by its own training rows)."""
        self._check_fitted()
        return self.members_[0].preprocessor_

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The training column names; absent (``AttributeError``) when the members were fitted on an array."""
        self._check_fitted()
        return self.members_[0].feature_names_in_

    @property
    def score(self) -> str:
        """The members' ``score`` option (how each member scores a row)."""
        self._check_fitted()
        return self.members_[0].score

    @property
    def model_kind_(self) -> str:
        """The members' network (``dense``, ``conv2d``, ...)."""
        self._check_fitted()
        return self.members_[0].model_kind_

    @property
    def feature_names_out_(self) -> list[str]:
        """The features of :meth:`feature_errors`: every member's, in the first member's order."""
        self._check_fitted()
        return list(dict.fromkeys(name for member in self.members_ for name in member.feature_names_out_))

    @property
    def feature_error_means_(self) -> np.ndarray:
        """The normal level of each feature's error: the mean over members of each member's level."""
        self._check_fitted()
        return mean_by_name(
            [(m.feature_names_out_, np.asarray(m.feature_error_means_, dtype=np.float64)) for m in self.members_]
        )[1]

    def feature_errors(self, X) -> pd.DataFrame:
        """Reconstruction error of each feature of each row: the mean over members of their errors."""
        names, errors = self._mean_feature_errors(X)
        return pd.DataFrame(errors, columns=names, index=X.index if isinstance(X, pd.DataFrame) else None)

    def _mean_feature_errors(self, X) -> tuple[list[str], np.ndarray]:
        """The feature names and the mean over members of their errors (float64), matched by name."""
        self._check_fitted()
        return mean_by_name(
            [(m.feature_names_out_, m._feature_error_matrix(X).astype(np.float64)) for m in self.members_]
        )

    def feature_contributions(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature errors (the mean over members, as :meth:`feature_errors`) and their
        contributions: each error relative to its normal level (:attr:`feature_error_means_`, the mean
        of the members' levels), or the error itself when the members score by ``reconstruction``.
        Both arrays are ``(rows, len(feature_names_out_))``; the service's and the command line's
        explanations both read them this way.
        """
        errors = self._mean_feature_errors(X)[1]  # no DataFrame: explaining one row is fast
        return errors, feature_contributions(errors, self.score, self.feature_error_means_)

    def score_samples(self, X) -> np.ndarray:
        """scikit-learn's convention: higher = more normal (the negated anomaly score)."""
        return -self.decision_function(X)

    def predict(self, X) -> np.ndarray:
        """1 for an anomaly (score above ``threshold_``), 0 for a normal row."""
        return self.threshold_rule_.predict(self.decision_function(X))

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X, y).labels_

    def set_threshold(self, rule: str | ThresholdRule, X=None, y=None) -> EnsembleDetector:
        """Replace the threshold rule without retraining (fitted on the held-out scores, or on ``X``)."""
        self._check_fitted()
        scores = self.calibration_scores_ if X is None else self.decision_function(X)
        self._set_rule(fresh_rule(rule).fit(scores, None if y is None else check_labels(y, len(scores))))
        if hasattr(self, "decision_scores_"):
            self.labels_ = self.threshold_rule_.predict(self.decision_scores_)
        return self

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the ensemble to the directory ``path``: ``ensemble.json`` and one folder per member;
        ``metadata`` (a JSON mapping) is saved with it and read back as ``metadata_``."""
        self._check_fitted()
        if metadata is not None:
            self.metadata_ = dict(metadata)
        write_ensemble(path, self)


def load_ensemble(path) -> EnsembleDetector:
    """Rebuild an :class:`EnsembleDetector` saved by :meth:`EnsembleDetector.save`.

    Members must be plain sub-folders of the ensemble folder (no ``..``, no absolute path, no link),
    each an ordinary model directory; scales and the threshold must be finite.
    """
    return rebuild_ensemble(EnsembleDetector, AutoencoderDetector, Path(path))


__all__ = ["EnsembleDetector", "load_ensemble"]
