"""The names that the detector's string parameters accept, written out as data.

The registries that these names key (activations and optimizers as PyTorch classes, threshold rules,
scalers) import PyTorch or NumPy; the declaration needs only their names, so that ``aedetect train
--help`` and its argument errors answer without importing either. ``tests/test_cli_help.py`` checks
that each tuple here equals its registry, so a name registered there and not here fails a test.
"""

from __future__ import annotations

#: Networks; "auto" picks one from the data's kind (see :mod:`aedetect.kinds`).
ARCHITECTURES = ("auto", "dense", "conv2d", "conv1d", "lstm")
#: Scores that every variant offers; the variational variant adds "negative_elbo".
SCORES = ("reconstruction", "standardized", "latent_mahalanobis", "latent_knn")
ALL_SCORES = (*SCORES, "negative_elbo")

#: :data:`aedetect.models.dense.ACTIVATIONS`, :data:`~aedetect.models.dense.NORMALIZATIONS` and
#: :data:`~aedetect.models.dense.OUTPUT_ACTIVATIONS`.
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "silu")
NORMALIZATIONS = ("none", "batch", "layer")
OUTPUT_ACTIVATIONS = ("linear", "sigmoid")
#: :data:`aedetect.preprocessing.tables.SCALERS` and :data:`~aedetect.preprocessing.tables.IMPUTES`.
SCALERS = ("standard", "robust", "minmax", "none")
IMPUTES = ("none", "median", "mean")
#: :data:`aedetect.training.loop.OPTIMIZERS`, :data:`~aedetect.training.loop.LOSSES` and
#: :data:`~aedetect.training.loop.METRICS`.
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LOSSES = ("mse", "mae", "huber", "bce")
METRICS = ("mse", "mae", "huber", "rmse")
#: :data:`aedetect.training.variants.VARIANTS` and :data:`~aedetect.training.variants.NOISES`.
VARIANTS = ("plain", "denoising", "sparse", "variational")
NOISES = ("gaussian", "masking")
#: :data:`aedetect.thresholds.RULES`.
THRESHOLD_RULES = ("percentile", "contamination", "mean_std", "iqr", "false_alarm_rate", "best_f1", "fixed")
