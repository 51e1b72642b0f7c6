"""AutoencoderDetector: the one object that owns a fitted pipeline.

Preprocessing state, network, score statistics, threshold rule and training history live here;
everything else is a function or a small class that this detector composes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError

from aedetect._validation import InvalidParameterError
from aedetect.kinds import TABLE, data_kind
from aedetect.models import build_model
from aedetect.parameters import validate
from aedetect.persistence.folder import (
    ModelFolder,
    build_network,
    check_statistics,
    check_threshold,
    check_values,
    json_params,
    reading,
    write_model,
)
from aedetect.persistence.storage import ModelFileError
from aedetect.preprocessing.arrays import DEFAULT_SCALER, ArrayPreprocessor, sample_array
from aedetect.preprocessing.tables import (
    InvalidValueError,
    TablePreprocessor,
    as_frame,
    check_unique_columns,
    name_list,
)
from aedetect.scoring.forward import forward_pass
from aedetect.scoring.scorer import RowScorer, score_matrix
from aedetect.scoring.statistics import LATENT_WEIGHT, ScoreStatistics, fit_score_statistics, neighbour_rank
from aedetect.thresholds import ThresholdRule, parse_threshold, rule_from_dict
from aedetect.training.loop import History, TrainingConfig, resolve_device, train
from aedetect.training.progress import train_with_progress
from aedetect.training.sizing import LEARNING_RATE_FACTOR, default_schedule, network_config
from aedetect.training.variants import Variant, negative_elbo

# Fewest normal rows (images, windows) that fit takes: one row has no spread for the scaler and the
# latent scale, no neighbour for the kNN distance and no variation for the threshold rule to measure.
MIN_NORMAL_ROWS = 2
# Fitted arrays saved beside the weights, and those that scores divide by (must be > 0 when loaded).
_STATISTICS = (
    "feature_error_means_",
    "latent_mean_",
    "latent_precision_",
    "latent_scale_",
    "latent_reference_",
    "score_scales_",
    "calibration_scores_",
)
_POSITIVE_STATISTICS = ("feature_error_means_", "latent_scale_", "score_scales_")


class AutoencoderDetector(OutlierMixin, BaseEstimator):
    """Anomaly detector that scores rows by how badly an autoencoder reconstructs them.

    The autoencoder is trained on normal rows only (rows labelled 0 when ``y`` is given). Scores
    follow PyOD's convention: **higher = more anomalous**; ``predict`` returns **1 for an anomaly**
    and 0 for a normal row.

    Parameters
    ----------
    architecture : {"auto", "dense", "conv2d", "conv1d", "lstm"}
        The network. ``"auto"``: dense for a table (2-D), convolutional for images (an array
        ``(n, height, width)`` or ``(n, height, width, channels)``). Series windows (a table whose
        rows are windows, or an array ``(n, length, channels)``; see :mod:`aedetect.data.windows`)
        take ``"conv1d"`` (1-D convolutions) or ``"lstm"``.
    hidden_dims : list of int, optional
        Encoder widths, mirrored by the decoder: units of each dense layer, channels of each
        stride-2 convolution block (so the list's length is the depth), or hidden sizes of the
        stacked LSTMs. ``None`` adapts to the data (see :mod:`aedetect.training.sizing`).
    latent_dim : int, optional
        Size of the latent code. ``None`` adapts to the data (about three quarters of a table's
        width; 1/16 of an image's or window's values, 8 to 64).
    activation : {"relu", "leaky_relu", "elu", "gelu", "tanh", "silu"}
    dropout : float
        Dropout after each hidden layer, in [0, 1).
    normalization : {"none", "batch", "layer"}
    output_activation : {"linear", "sigmoid"}
        ``"sigmoid"`` only makes sense with ``scaler="minmax"`` (outputs in [0, 1]).
    rotation_head : bool
        Square images only (other inputs ignore it): the encoder also learns to tell which of four
        quarter turns an image was given, and the latent scores add how badly it reads the turns of
        the scored image (for the normal class's pose it reads them well). It separates better on
        Fashion-MNIST, for a longer fit (``benchmarks/results/tuning.md``). Turn it
        off for images with no upright pose (textures, microscopy, aerial views), where a turned
        normal image is still normal.
    scaler : {"auto", "standard", "robust", "minmax", "none"}
        Scaling fitted on the normal training rows: per column for tables, per channel for images
        and series. ``"auto"``: ``"standard"`` for tables and series, ``"minmax"`` for images
        (pixels to [0, 1]; the range is stored with the model).
    categorical_features : list of str, optional
        Columns to one-hot encode.
    impute : {"none", "median", "mean"}
        Missing values: rejected (``"none"``) or filled with the training rows' median or mean.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}
    learning_rate : float, optional
        ``None`` adapts to the batch size (1e-3 at 64 rows, growing with its square root).
    weight_decay : float
    loss : {"mse", "mae", "huber", "bce"}
        Training loss; also the element-wise error that scores use.
    metrics : list of str
        Extra measures tracked each epoch on training and validation rows (``mse``, ``mae``,
        ``huber``, ``rmse``).
    epochs, batch_size : int, optional
        ``None`` adapts them to the number of training rows (see :mod:`aedetect.training.sizing`).
    patience : int
        Training stops after ``patience`` epochs without a better validation loss; the best
        epoch's weights are kept.
    trim_fraction : float
        For training rows that may hold anomalies (no labels, or labels you do not trust): about
        the share of anomalies you expect, in [0, 0.5); 0 (default) for clean normal rows. Each
        batch's worst-reconstructed rows are left out of the gradient after the first epoch; the
        worst-reconstructed training rows (and held-out rows) are left out of the normal error
        levels, the latent scale and the reference codes; and ``latent_knn`` measures the distance
        to a farther neighbour (see :attr:`n_neighbours_`), so that a cluster of anomalies among
        the reference codes does not vouch for anomalies of its kind. Combine it with
        ``scaler="robust"``, whose median and quartiles anomalies do not shift (compared with the
        defaults in ``benchmarks/results/adbench_contaminated_robust.md``).
    variant : {"plain", "denoising", "sparse", "variational"}
        The autoencoder variant (see :mod:`aedetect.training.variants`); each works with every architecture.
        ``"denoising"``: trained to reconstruct the clean row from a corrupted one (``noise``,
        ``noise_level``). ``"sparse"``: an L1 penalty on the latent activity
        (``sparsity_weight``). ``"variational"``: a Gaussian latent space trained on the evidence
        lower bound, with the KL term weighted by ``beta``; scores use the posterior mean, so the
        same input always gets the same score.
    noise : {"gaussian", "masking"}
        Denoising only: add Gaussian noise of standard deviation ``noise_level`` (in scaled units),
        or set each value to 0 with probability ``noise_level``.
    noise_level : float
        Denoising only: >= 0; below 1 for masking.
    sparsity_weight : float
        Sparse only: weight of the L1 penalty (sum of absolute latent values per row), >= 0.
    beta : float
        Variational only: weight of the KL divergence from the prior, >= 0 (1 is the true ELBO;
        0 trains a plain autoencoder with a noisy code).
    validation_fraction : float
        Share of normal rows held out from training: for early stopping and for fitting the
        threshold on scores of rows the network never trained on.
    score : {"latent_knn", "standardized", "reconstruction", "latent_mahalanobis"}
        ``"reconstruction"``: mean reconstruction error of the row. ``"standardized"``: each
        feature's error divided by its mean on normal training rows, so no single noisy feature
        dominates. ``"latent_knn"`` (default): the standardized error plus the distance from the
        row's latent code to a near normal training code (see :attr:`n_neighbours_` and
        :mod:`aedetect.scoring.statistics`; each latent unit scaled to unit variance), each part
        divided by its level on held-out normal rows and the distance weighted more, so an input
        that is reconstructed well but lands far from normal codes is caught too.
        ``"latent_mahalanobis"``: the standardized error plus the squared Mahalanobis distance of
        the code from the normal codes, likewise scaled.
        ``"negative_elbo"`` (``variant="variational"`` only): mean reconstruction error at the
        posterior mean plus the posterior's KL divergence from the prior over the number of
        values: the negative ELBO per value, without sampling.
    threshold : str or ThresholdRule
        How the anomaly threshold is chosen, e.g. ``"false_alarm_rate:0.01"``, ``"percentile:99"``,
        ``"contamination:0.02"``, ``"mean_std:3"``, ``"iqr:3"``, ``"fixed:0.5"``, ``"best_f1"``.
    random_state : int or None
        Seeds weight initialisation, the validation split and shuffling: the same seed and data
        give the same model. ``None`` draws a fresh seed at each fit (recorded in ``random_state_``),
        so fits are not reproducible.
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    verbose : bool
        Show a progress bar during training.

    Examples
    --------
    >>> import numpy as np
    >>> from aedetect import AutoencoderDetector
    >>> rng = np.random.default_rng(0)
    >>> normal = rng.normal(size=(500, 6))
    >>> detector = AutoencoderDetector(epochs=20, random_state=0).fit(normal)
    >>> test = np.vstack([rng.normal(size=(5, 6)), rng.normal(8, 1, size=(5, 6))])
    >>> detector.predict(test).tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """

    def __init__(
        self,
        architecture: str = "auto",
        hidden_dims: Sequence[int] | None = None,
        latent_dim: int | None = None,
        activation: str = "relu",
        dropout: float = 0.0,
        normalization: str = "none",
        output_activation: str = "linear",
        rotation_head: bool = True,
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
        self.threshold = threshold
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        validate(type(self).__name__, self.get_params(deep=False))

    def _variant(self) -> Variant:
        return Variant(self.variant, self.noise, float(self.noise_level), float(self.sparsity_weight), float(self.beta))

    def fit(self, X, y=None) -> AutoencoderDetector:
        """Train on the normal rows of ``X`` (all rows, or those with ``y == 0``).

        Parameters
        ----------
        X : DataFrame or array of shape (n_rows, n_features)
        y : array of 0/1, optional
            1 marks an anomaly; those rows do not train the network.
        """
        self._validate_params()
        self.data_kind_ = data_kind(X, self.architecture)
        if (
            self.loss == "bce"
            and (DEFAULT_SCALER[self.data_kind_] if self.scaler == "auto" else self.scaler) != "minmax"
        ):
            raise ValueError(
                "loss='bce' needs inputs in [0, 1]: use scaler='minmax' (and output_activation='sigmoid')."
            )
        if self.data_kind_ == TABLE:
            data = as_frame(X)
            # Names as str, as they are stored and matched at scoring (DataFrame(array) has 0, 1, ...).
            data = data.set_axis([str(c) for c in data.columns], axis=1)
        else:
            data = sample_array(X, self.data_kind_)
        labels = None if y is None else _check_labels(y, len(data))
        normal_rows = np.arange(len(data)) if labels is None else np.flatnonzero(labels == 0)
        if len(normal_rows) == 0:
            raise ValueError("There are zero normal rows to train on (every label is 1); give normal data.")
        if len(normal_rows) < MIN_NORMAL_ROWS:
            raise ValueError(
                f"Training needs at least {MIN_NORMAL_ROWS} normal rows; got {len(normal_rows)}. One row has no "
                "spread to scale by and no neighbour to compare with; give more normal data."
            )
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = int(np.prod(data.shape[1:]))
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        self.random_state_ = int(seed)

        rng = np.random.default_rng(self.random_state_)
        order = rng.permutation(len(normal_rows))
        n_val = int(round(len(normal_rows) * self.validation_fraction)) if len(normal_rows) >= 20 else 0
        val_rows, train_rows = normal_rows[order[:n_val]], normal_rows[order[n_val:]]

        # Every row is checked and transformed in the user's order, so that an error names the row
        # of the user's data rather than one after shuffling; the preprocessing is fitted on the
        # training rows only, and the rows are picked from the one transformed matrix.
        if self.data_kind_ == TABLE:
            scaler = DEFAULT_SCALER[TABLE] if self.scaler == "auto" else self.scaler
            self.preprocessor_ = TablePreprocessor(self.categorical_features, scaler, self.impute)
            self.preprocessor_.check_values(data)
            self.preprocessor_.fit(data.iloc[train_rows])
        else:
            self.preprocessor_ = ArrayPreprocessor(self.data_kind_, self.scaler)
            self.preprocessor_._check_values(data)
            self.preprocessor_.fit(data[train_rows])
        matrix = self.preprocessor_.transform(data)
        train_matrix = matrix[train_rows]
        val_matrix = matrix[val_rows] if n_val else None
        input_shape = None if self.data_kind_ == TABLE else self.preprocessor_.input_shape_
        self.model_kind_, self.model_config_ = network_config(
            self.get_params(deep=False), self.data_kind_, train_matrix.shape[1], input_shape
        )
        self.device_ = resolve_device(self.device)
        torch.manual_seed(self.random_state_)
        self.model_ = build_model(self.model_kind_, self.model_config_.to_dict())[1].to(self.device_)
        batch, epochs, learning_rate = default_schedule(len(train_matrix))
        base_kind = getattr(self.model_config_, "base_kind", self.model_kind_)
        config = TrainingConfig(
            optimizer=self.optimizer,
            learning_rate=float(
                self.learning_rate
                if self.learning_rate is not None
                else learning_rate * LEARNING_RATE_FACTOR.get(base_kind, 1.0)
            ),
            weight_decay=float(self.weight_decay),
            loss=self.loss,
            metrics=tuple(self.metrics),
            epochs=int(self.epochs if self.epochs is not None else epochs),
            batch_size=int(self.batch_size if self.batch_size is not None else batch),
            patience=int(self.patience),
            trim_fraction=float(self.trim_fraction),
            seed=self.random_state_,
            variant=self._variant(),
        )
        self.history_ = self._train(train_matrix, val_matrix, config)
        statistics = fit_score_statistics(
            self.model_,
            train_matrix,
            val_matrix,
            loss=self.loss,
            device=self.device_,
            trim_fraction=self.trim_fraction,
            data_kind=self.data_kind_,
            seed=self.random_state_,
        )
        self._set_statistics(statistics)
        held_out = val_matrix if val_matrix is not None else train_matrix
        self.calibration_scores_ = self._scores_of_matrix(held_out)
        self.threshold_rule_ = parse_threshold(_fresh(self.threshold))
        self.threshold_rule_.fit(self.calibration_scores_)
        self.threshold_ = self.threshold_rule_.threshold_
        self.decision_scores_ = self._scores_of_matrix(matrix)
        self.labels_ = self.threshold_rule_.predict(self.decision_scores_)
        return self

    def _train(self, train_matrix, val_matrix, config) -> History:
        if self.verbose:
            return train_with_progress(self.model_, train_matrix, val_matrix, config, self.device_)
        return train(self.model_, train_matrix, val_matrix, config, self.device_)

    @property
    def n_neighbours_(self) -> int:
        """Rank of the nearest reference code that ``latent_knn`` measures the distance to (see
        :func:`~aedetect.scoring.statistics.neighbour_rank`)."""
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
        if self.data_kind_ != TABLE:
            if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
                self._check_names(X)
            return self.preprocessor_.transform(X)
        if isinstance(X, pd.DataFrame):
            frame = X
            if hasattr(self, "feature_names_in_"):
                self._check_names(frame)
            elif frame.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {frame.shape[1]} features, but {type(self).__name__} was fitted with "
                    f"{self.n_features_in_} features; score data with the training columns."
                )
            frame = frame.set_axis(self.preprocessor_.columns_, axis=1)
        else:
            array = np.asarray(X)
            if array.ndim == 2 and array.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {array.shape[1]} features, but {type(self).__name__} was fitted with "
                    f"{self.n_features_in_} features; score data with the training columns."
                )
            frame = as_frame(array, self.preprocessor_.columns_)
        return self.preprocessor_.transform(frame)

    def _check_names(self, frame: pd.DataFrame) -> None:
        check_unique_columns(frame.columns)
        names = [str(c) for c in frame.columns]
        expected = list(self.feature_names_in_)
        if names != expected:
            missing = [c for c in expected if c not in names]
            extra = [c for c in names if c not in expected]
            raise ValueError(
                "The feature names differ from those seen in fit: "
                + (f"missing {name_list(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected {name_list(extra)}" if extra else "")
                + ("" if missing or extra else "same names in another order")
                + "; score data with the training columns, in the same order."
            )

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
            scorer = RowScorer(
                self.model_,
                self.score,
                self.loss,
                self.feature_error_means_,
                self.score_scales_,
                self.latent_scale_,
                self.latent_reference_,
                self.latent_mean_,
                self.latent_precision_,
                latent_weight=LATENT_WEIGHT,
                neighbours=self.n_neighbours_,
            )
            self._scorer_cache = cached = (key, scorer.to(self.device_))
        return cached[1]

    def _scores_of_matrix(self, matrix: np.ndarray) -> np.ndarray:
        if self.score == "negative_elbo":
            errors = forward_pass(self.model_, matrix, self.loss, self.device_)["errors"]
            scores = negative_elbo(self.model_, matrix, errors, self.device_)
        else:
            scores = score_matrix(self._scorer(), matrix, self.device_)
        if not np.isfinite(scores).all():  # the inputs passed their checks but the network overflowed
            row = int(np.flatnonzero(~np.isfinite(scores))[0])
            unit = "data row" if self.data_kind_ == TABLE else "sample"
            raise InvalidValueError(
                "The score{where} is not finite: the network overflowed on its values; check that they are in the "
                "units the model was trained on.",
                row,
                unit,
            )
        return scores

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
        matrix = self._matrix(X)
        errors = forward_pass(self.model_, matrix, self.loss, self.device_)["errors"]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(errors, columns=self.feature_names_out_, index=index)

    def feature_contributions(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature errors (as :meth:`feature_errors`, float64) and each feature's part in the
        score: its error relative to its level on normal rows (``feature_error_means_``), or the
        error itself (the same array) when ``score="reconstruction"``. Both ``(rows, features)``."""
        errors = self.feature_errors(X).to_numpy(dtype=np.float64)
        if self.score == "reconstruction":
            return errors, errors
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return errors, errors / self.feature_error_means_

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
        is not given, on the held-out normal rows kept from training.
        """
        self._check_fitted()
        new_rule = parse_threshold(_fresh(rule))
        scores = self.calibration_scores_ if X is None else self.decision_function(X)
        labels = None if y is None else _check_labels(y, len(scores))
        new_rule.fit(scores, labels)
        self.threshold_rule_ = new_rule
        self.threshold_ = new_rule.threshold_
        if hasattr(self, "decision_scores_"):
            self.labels_ = new_rule.predict(self.decision_scores_)
        return self

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted detector to the directory ``path`` (JSON + safetensors, no pickle).

        ``path`` must be new, an empty folder or a saved model: any other folder raises
        :class:`~aedetect.persistence.storage.ModelFileError` and is left as it is.
        """
        self._check_fitted()
        write_model(path, *self._to_state())

    def _to_state(self) -> tuple[dict, dict[str, torch.Tensor]]:
        """The fitted state as the manifest's part and named tensors (see :mod:`aedetect.persistence.folder`)."""
        tensors = {f"model.{k}": t.detach().cpu().contiguous() for k, t in self.model_.state_dict().items()}
        for name in _STATISTICS:
            value = np.asarray(getattr(self, name))
            tensors[f"stats.{name}"] = torch.as_tensor(
                value.astype(np.float32 if value.dtype == np.float32 else np.float64)
            )
        state = {
            "params": json_params(self.get_params(deep=False)),
            "model": {"kind": self.model_kind_, "config": self.model_config_.to_dict()},
            "data_kind": self.data_kind_,
            "preprocessing": self.preprocessor_.get_state(),
            "threshold": self.threshold_rule_.to_dict(),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": [str(c) for c in self.feature_names_in_]
            if hasattr(self, "feature_names_in_")
            else None,
            "history": self.history_.to_dict(),
            "metadata": getattr(self, "metadata_", {}),
        }
        return state, tensors

    @classmethod
    def _from_state(cls, folder: ModelFolder) -> AutoencoderDetector:
        """Rebuild a detector from a model folder that :meth:`save` wrote; checks every shape and value."""
        manifest = folder.manifest
        with reading(folder):
            detector = cls(**manifest["params"])
            try:
                detector._validate_params()
            except InvalidParameterError as error:
                raise ModelFileError(
                    f"The model at {folder.where} has an invalid parameter: {error} Re-train or restore the model."
                ) from None
            detector.data_kind_ = manifest.get("data_kind", TABLE)
            if detector.data_kind_ == TABLE:
                detector.preprocessor_ = TablePreprocessor.from_state(manifest["preprocessing"])
                n_values = len(detector.preprocessor_.feature_names_out_)
            else:
                detector.preprocessor_ = ArrayPreprocessor.from_state(manifest["preprocessing"])
                n_values = math.prod(detector.preprocessor_.sample_shape_)
            detector.model_kind_ = manifest["model"]["kind"]
            network = manifest["model"]["config"]
            detector.model_config_, model = build_network(folder, detector.model_kind_, network)
            latent = int(network["latent_dim"] if "latent_dim" in network else network["base"]["latent_dim"])
            n_scales = 4 if getattr(model, "rotation", None) is not None else 3
            check_statistics(
                folder,
                {
                    "feature_error_means_": (n_values,),
                    "latent_mean_": (latent,),
                    "latent_precision_": (latent, latent),
                    "latent_scale_": (latent,),
                    "latent_reference_": (None, latent),
                    "score_scales_": (n_scales,),
                    "calibration_scores_": (None,),
                },
            )
            tensors = folder.tensors()
            check_values(
                folder, tensors, _POSITIVE_STATISTICS, detector.preprocessor_.scale_, detector.preprocessor_.offset_
            )
            detector.device_ = resolve_device(detector.device)
            model.load_state_dict(
                {k[len("model.") :]: t for k, t in tensors.items() if k.startswith("model.")}, strict=True
            )
            detector.model_ = model.to(detector.device_).eval()
            for name in _STATISTICS:
                setattr(detector, name, tensors[f"stats.{name}"].numpy())
            detector.threshold_rule_ = rule_from_dict(manifest["threshold"])
            check_threshold(folder.directory, manifest["threshold"], detector.threshold_rule_)
            detector.threshold_ = detector.threshold_rule_.threshold_
            detector.n_features_in_ = int(manifest["n_features_in"])
            if manifest.get("feature_names_in") is not None:
                detector.feature_names_in_ = np.asarray(manifest["feature_names_in"], dtype=object)
            detector.history_ = History.from_dict(manifest["history"])
            detector.metadata_ = dict(manifest.get("metadata") or {})
        return detector

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.impute != "none"
        tags.input_tags.categorical = bool(self.categorical_features)
        return tags


def _fresh(rule):
    """A copy of a rule object so that fitting never mutates the user's parameter."""
    if isinstance(rule, ThresholdRule):
        return parse_threshold(rule.to_spec())
    return rule


def _check_labels(y, n_rows: int) -> np.ndarray:
    labels = np.asarray(y).ravel()
    if labels.shape[0] != n_rows:
        raise ValueError(f"y has {labels.shape[0]} labels but X has {n_rows} rows; give one label per row.")
    values = set(pd.unique(labels).tolist())
    if not values <= {0, 1}:
        bad = sorted(map(str, values - {0, 1}))[:5]
        raise ValueError(f"Labels must be 0 (normal) or 1 (anomaly); found {bad}. Map them to 0/1 first.")
    return labels.astype(np.int64)
