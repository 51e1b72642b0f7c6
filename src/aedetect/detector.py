"""AutoencoderDetector: the one object that owns a fitted pipeline.

Preprocessing state, network, score statistics, threshold rule and training history live here;
everything else is a function or a small class that this detector composes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError

from aedetect._validation import check_labels
from aedetect.kinds import TABLE, data_kind
from aedetect.models import build_model
from aedetect.parameters import numpydoc_parameters, validate
from aedetect.partitions import Group, row_hash
from aedetect.persistence.detector_state import detector_state, rebuild
from aedetect.persistence.folder import ModelFolder, write_model
from aedetect.preprocessing.arrays import DEFAULT_SCALER
from aedetect.preprocessing.inputs import fit_preprocessor, scoring_matrix, training_data
from aedetect.scoring.calibration import calibration_scores, table_drift_reference
from aedetect.scoring.forward import forward_pass
from aedetect.scoring.scorer import RowScorer, check_finite, score_matrix
from aedetect.scoring.statistics import (
    ScoreStatistics,
    feature_contributions,
    fit_score_statistics,
    neighbour_rank,
    row_scorer,
)
from aedetect.thresholds import ThresholdRule, fresh_rule
from aedetect.training.distributed import Sharding, synchronised_batch_norm
from aedetect.training.loop import History, TrainingConfig, resolve_device, train
from aedetect.training.progress import train_with_progress
from aedetect.training.sizing import (
    default_schedule,
    network_config,
    rotation_head_supported,
    training_config,
    without_rotation_head,
)
from aedetect.training.split import held_out_split, normal_rows, shared_seed
from aedetect.training.variants import negative_elbo


class AutoencoderDetector(OutlierMixin, BaseEstimator):
    __doc__ = (
        """Anomaly detector that scores rows by how badly an autoencoder reconstructs them.

    The autoencoder is trained on normal rows only (rows labelled 0 when ``y`` is given). Scores
    follow PyOD's convention: **higher = more anomalous**; ``predict`` returns **1 for an anomaly**
    and 0 for a normal row.

"""
        + numpydoc_parameters()
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from aedetect import AutoencoderDetector
    >>> rng = np.random.default_rng(0)
    >>> normal = rng.normal(size=(500, 6))
    >>> detector = AutoencoderDetector(epochs=20, random_state=3).fit(normal)
    >>> test = np.vstack([np.zeros((5, 6)), np.full((5, 6), 8.0)])  # 5 typical rows, 5 far out
    >>> detector.predict(test).tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
"""
    )

    def __init__(
        self,
        architecture: str = "auto",
        hidden_dims: Sequence[int] | None = None,
        latent_dim: int | None = None,
        activation: str = "relu",
        dropout: float = 0.0,
        normalization: str = "none",
        output_activation: str = "linear",
        rotation_head: bool | str = "auto",
        scaler: str = "auto",
        categorical_features: Sequence[str] | None = None,
        impute: str = "none",
        optimizer: str = "adam",
        learning_rate: float | None = None,
        weight_decay: float = 0.0,
        loss: str = "mse",
        metrics: Sequence[str] = ("mae",),
        epochs: int | None = None,
        batch_size: int | None = None,
        validation_fraction: float = 0.1,
        patience: int = 10,
        trim_fraction: float = 0.0,
        variant: str = "plain",
        noise: str = "gaussian",
        noise_level: float = 0.1,
        sparsity_weight: float = 1e-3,
        beta: float = 1.0,
        score: str = "latent_knn",
        input_rows: int | None = None,
        threshold: str | ThresholdRule = "false_alarm_rate:0.01",
        random_state: int | None = 0,
        device: str = "auto",
        verbose: bool = False,
    ) -> None:
        self.architecture = architecture
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.activation = activation
        self.dropout = dropout
        self.normalization = normalization
        self.output_activation = output_activation
        self.rotation_head = rotation_head
        self.scaler = scaler
        self.categorical_features = categorical_features
        self.impute = impute
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.loss = loss
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.trim_fraction = trim_fraction
        self.variant = variant
        self.noise = noise
        self.noise_level = noise_level
        self.sparsity_weight = sparsity_weight
        self.beta = beta
        self.score = score
        self.input_rows = input_rows
        self.threshold = threshold
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        validate(type(self).__name__, self.get_params(deep=False))

    def fit(self, X, y=None) -> AutoencoderDetector:
        """Train on the normal rows of ``X`` (all rows, or those with ``y == 0``).

        Parameters
        ----------
        X : DataFrame or array of shape (n_rows, n_features)
        y : array of 0/1, optional
            1 marks an anomaly; those rows do not train the network.
        """
        return self._fit(X, y)

    def _fit(self, X, y=None, *, group: Group | None = None, row_keys=None) -> AutoencoderDetector:
        """:meth:`fit` on this process's rows of the rows of all processes of ``group`` (see
        :func:`aedetect.distributed.fit_distributed`); ``row_keys`` name the rows (by default their
        positions), and pick the validation rows and the reference codes by their hash."""
        group = group or Group()
        self._validate_params()
        self.data_kind_ = data_kind(X, self.architecture)
        if group.distributed and self.data_kind_ != TABLE:
            raise ValueError("Training on several processes takes a table; train on images or windows in one process.")
        self._check_loss()
        data = training_data(X, self.data_kind_)
        labels = None if y is None else check_labels(y, len(data))
        normal = normal_rows(labels, len(data), group)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = int(np.prod(data.shape[1:]))
        self.random_state_ = shared_seed(self.random_state, group)

        keys = np.arange(len(data)) if row_keys is None else np.asarray(row_keys)
        held_out, train_part = held_out_split(
            len(normal), self.validation_fraction, self.random_state_, keys=keys[normal], group=group
        )
        val_rows, train_rows = normal[held_out], normal[train_part]
        # Rows are checked and transformed in the user's order (an error names the user's row) and
        # picked from the one transformed matrix.
        self.preprocessor_ = fit_preprocessor(
            data,
            self.data_kind_,
            train_rows,
            self.scaler,
            self.categorical_features,
            self.impute,
            group=group,
            row_hashes=row_hash(keys[train_rows], self.random_state_),
        )
        matrix = self.preprocessor_.transform(data)
        train_matrix = matrix[train_rows]
        val_matrix = matrix[val_rows] if len(val_rows) else None
        input_shape = None if self.data_kind_ == TABLE else self.preprocessor_.input_shape_
        config = self._build_network(train_matrix.shape[1], input_shape, int(group.sum([len(train_matrix)])[0]))
        self.history_ = self._train(train_matrix, val_matrix, config, group)
        self._keep_rotation_head_if_supported(0 if val_matrix is None else len(val_matrix))
        self._fit_after_network(train_matrix, val_matrix, keys[train_rows], keys[val_rows], group)
        self.drift_reference_ = None  # tables only, and one process (the monitor's deciles are not merged)
        if not group.distributed and self.data_kind_ == TABLE:
            held = val_matrix if val_matrix is not None and len(val_matrix) else train_matrix
            self.drift_reference_ = table_drift_reference(
                self.model_, self.preprocessor_, data, train_rows, held, self.loss, self.device_
            )
        self.decision_scores_ = self._scores_of_matrix(matrix)
        self.labels_ = self.threshold_rule_.predict(self.decision_scores_)
        return self

    # The steps of fitting that training from Parquet files in chunks (aedetect.out_of_core) takes too.
    def _check_loss(self) -> None:
        if (
            self.loss == "bce"
            and (DEFAULT_SCALER[self.data_kind_] if self.scaler == "auto" else self.scaler) != "minmax"
        ):
            raise ValueError(
                "loss='bce' needs inputs in [0, 1]: use scaler='minmax' (and output_activation='sigmoid')."
            )

    def _build_network(self, width: int, input_shape, n_train: int) -> TrainingConfig:
        """The untrained network for inputs of ``width`` columns, and how to train it on ``n_train`` rows
        (of all processes)."""
        self.model_kind_, self.model_config_ = network_config(
            self.get_params(deep=False), self.data_kind_, width, input_shape
        )
        self.device_ = resolve_device(self.device)
        torch.manual_seed(self.random_state_)
        self.model_ = build_model(self.model_kind_, self.model_config_.to_dict())[1].to(self.device_)
        base_kind = getattr(self.model_config_, "base_kind", self.model_kind_)
        return training_config(
            self.get_params(deep=False), default_schedule(n_train, self.data_kind_), base_kind, self.random_state_
        )

    def _keep_rotation_head_if_supported(self, n_held_out: int) -> None:
        """With ``rotation_head="auto"``, drop a trained rotation head that the held-out images do not
        support (:func:`~aedetect.training.sizing.rotation_head_supported`); the saved config then says
        ``rotation_head: false`` and the history keeps the accuracies the choice was made on."""
        if self.rotation_head != "auto" or getattr(self.model_, "rotation", None) is None:
            return
        if not rotation_head_supported(self.history_, n_held_out):
            self.model_config_, self.model_ = without_rotation_head(self.model_config_, self.model_)

    def _fit_after_network(self, train_matrix, val_matrix, train_keys, val_keys, group: Group) -> None:
        """Score statistics and threshold for the whole data (all processes' rows): the threshold rule is
        fitted on the held-out rows' scores of all processes, in the order of their row keys."""
        statistics = fit_score_statistics(
            self.model_,
            train_matrix,
            val_matrix,
            loss=self.loss,
            device=self.device_,
            trim_fraction=self.trim_fraction,
            data_kind=self.data_kind_,
            seed=self.random_state_,
            group=group,
            train_hashes=row_hash(train_keys, self.random_state_),
            input_rows=self.input_rows,
        )
        self._set_statistics(statistics)
        self.calibration_scores_ = calibration_scores(
            self._scores_of_matrix, train_matrix, val_matrix, train_keys, val_keys, group
        )
        self.threshold_rule_ = fresh_rule(self.threshold)
        self.threshold_rule_.fit(self.calibration_scores_)
        self.threshold_ = self.threshold_rule_.threshold_

    def _train(self, train_matrix, val_matrix, config, group: Group) -> History:
        if group.distributed:  # this process's rows, trained on as one process would
            n_val = 0 if val_matrix is None else len(val_matrix)
            sharding = Sharding.of(group, len(train_matrix), n_val)
            with synchronised_batch_norm(self.model_):
                return train(self.model_, train_matrix, val_matrix, config, self.device_, sharding=sharding)
        if self.verbose:
            return train_with_progress(self.model_, train_matrix, val_matrix, config, self.device_)
        return train(self.model_, train_matrix, val_matrix, config, self.device_)

    @property
    def n_neighbours_(self) -> int:
        """Rank of the nearest reference code that ``latent_knn`` measures the distance to (see
        :func:`~aedetect.scoring.statistics.neighbour_rank`; the input part's is
        :func:`~aedetect.scoring.statistics.input_neighbour_rank`, the same without ``trim_fraction``)."""
        self._check_fitted()
        return neighbour_rank(len(self.latent_reference_), self.trim_fraction)

    # -- scoring ---------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' with normal data first."
            )

    def _matrix(self, X) -> np.ndarray:
        self._check_fitted()
        names = getattr(self, "feature_names_in_", None)
        return scoring_matrix(self.preprocessor_, self.data_kind_, X, self.n_features_in_, names, type(self).__name__)

    def _set_statistics(self, statistics: ScoreStatistics) -> None:
        for name, value in vars(statistics).items():
            setattr(self, f"{name}_", value)
        self._scorer_cache = None  # the scorer holds the statistics: build it again

    def _scorer(self) -> RowScorer:
        """The network and the fitted score statistics as one module (also what ONNX export traces).

        Built once per fitted state (``fit`` and loading drop it) and per ``score`` and ``loss``, the
        parameters that may change after fitting: a 1-row request should not pay for building it.
        """
        key = (self.score, self.loss)
        cached = getattr(self, "_scorer_cache", None)
        if cached is None or cached[0] != key:
            scorer = row_scorer(self.model_, ScoreStatistics.of(self), self.score, self.loss, self.trim_fraction)
            self._scorer_cache = cached = (key, scorer.to(self.device_))
        return cached[1]

    def _scores_of_matrix(self, matrix: np.ndarray, among_references: bool = False) -> np.ndarray:
        """Scores of model-space rows; ``among_references``: the rows are training rows, which may be
        kNN reference rows themselves, so each kNN part skips one neighbour (a row's own distance of 0),
        as the score statistics' levels do (see :func:`~aedetect.scoring.statistics.row_scorer`)."""
        if self.score == "negative_elbo":
            out = forward_pass(self.model_, matrix, self.loss, self.device_, keep=("errors", "kl"))
            return check_finite(negative_elbo(out["errors"], out["kl"]), self.data_kind_)
        scorer = self._scorer()
        if among_references:
            scorer = row_scorer(
                self.model_, ScoreStatistics.of(self), self.score, self.loss, self.trim_fraction, skip_own=True
            ).to(self.device_)
        return check_finite(score_matrix(scorer, matrix, self.device_), self.data_kind_)

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score of each row: higher = more anomalous (see the ``score`` parameter)."""
        return self._scores_of_matrix(self._matrix(X))

    def score_samples(self, X) -> np.ndarray:
        """scikit-learn's convention: higher = more normal (the negated anomaly score)."""
        return -self.decision_function(X)

    def predict(self, X) -> np.ndarray:
        """1 for an anomaly (score above ``threshold_``), 0 for a normal row."""
        scores = self.decision_function(X)  # first: raises NotFittedError before fit
        return self.threshold_rule_.predict(scores)

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X, y).labels_

    def reconstruct(self, X) -> np.ndarray:
        """The network's reconstruction of each row, in the model's (scaled, one-hot) feature space."""
        matrix = self._matrix(X)  # first: raises NotFittedError before fit
        out = forward_pass(self.model_, matrix, self.loss, self.device_, keep=("reconstructions",))
        return out["reconstructions"]

    def feature_errors(self, X) -> pd.DataFrame:
        """Reconstruction error of each feature of each row: what explains a flagged row."""
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(self._feature_error_matrix(X), columns=self.feature_names_out_, index=index)

    def _feature_error_matrix(self, X) -> np.ndarray:
        matrix = self._matrix(X)  # first: raises NotFittedError before fit
        return forward_pass(self.model_, matrix, self.loss, self.device_)["errors"]

    def feature_contributions(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature errors (as :meth:`feature_errors`, float64) and each feature's part in the
        score: its error relative to its level on normal rows (``feature_error_means_``), or the
        error itself (the same array) when ``score="reconstruction"``. Both ``(rows, features)``."""
        errors = self._feature_error_matrix(X).astype(np.float64)  # no DataFrame: explaining one row is fast
        return errors, feature_contributions(errors, self.score, self.feature_error_means_)

    def error_maps(self, X) -> np.ndarray:
        """Reconstruction error at each pixel (images, ``(n, height, width)``) or time step (series,
        ``(n, length)``), averaged over channels: where in the sample the anomaly is."""
        matrix = self._matrix(X)  # first: raises NotFittedError before fit
        if self.data_kind_ == TABLE:
            raise ValueError("error_maps is for images and series; use feature_errors for a table.")
        errors = forward_pass(self.model_, matrix, self.loss, self.device_)["errors"]
        return self.preprocessor_.to_samples(errors, units=False).mean(axis=-1)

    def encode(self, X) -> np.ndarray:
        """Latent code of each row, shape (n_rows, latent_dim)."""
        matrix = self._matrix(X)  # first: raises NotFittedError before fit
        return forward_pass(self.model_, matrix, self.loss, self.device_, keep=("codes",))["codes"]

    @property
    def feature_names_out_(self) -> list[str]:
        self._check_fitted()
        return list(self.preprocessor_.feature_names_out_)

    # -- thresholds ------------------------------------------------------------------------------
    def set_threshold(self, rule: str | ThresholdRule, X=None, y=None) -> AutoencoderDetector:
        """Replace the threshold rule without retraining.

        The rule is fitted on the scores of ``X`` (with labels ``y`` for ``best_f1``) or, when ``X``
        is not given, on the held-out normal rows kept from training. ``"percentile:99.5"`` is the
        99.5th percentile of those scores, interpolated, while ``"false_alarm_rate:0.01"`` takes a
        whole rank rounded up, so on few rows the percentile can lie lower and flag more.
        ``aedetect.evaluation.ThresholdMeaning.of(detector).describe()`` says what a threshold
        means: the share of held-out normal rows above it (with labels: precision and recall).
        """
        self._check_fitted()
        new_rule = fresh_rule(rule)
        scores = self.calibration_scores_ if X is None else self.decision_function(X)
        labels = None if y is None else check_labels(y, len(scores))
        new_rule.fit(scores, labels)
        self.threshold_rule_ = new_rule
        self.threshold_ = new_rule.threshold_
        if hasattr(self, "decision_scores_"):
            self.labels_ = new_rule.predict(self.decision_scores_)
        return self

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path, metadata: dict | None = None) -> None:
        """Write the fitted detector to the directory ``path`` (JSON + safetensors, no pickle).

        ``path`` must be new, an empty folder or a saved model: any other folder raises
        :class:`~aedetect.persistence.storage.ModelFileError` and is left as it is. ``metadata``, a
        JSON mapping (such as where the training data came from and its label column), is saved with
        the model and read back as ``metadata_``.
        """
        self._check_fitted()
        if metadata is not None:
            self.metadata_ = dict(metadata)
        write_model(path, *self._to_state())

    def _to_state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """The fitted state as the manifest's part and named tensors (see :mod:`aedetect.persistence.detector_state`)."""
        return detector_state(self)

    @classmethod
    def _from_state(cls, folder: ModelFolder) -> AutoencoderDetector:
        """Rebuild a detector from a model folder that :meth:`save` wrote; checks every shape and value."""
        return rebuild(cls, folder)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.impute != "none"
        tags.input_tags.categorical = bool(self.categorical_features)
        return tags
