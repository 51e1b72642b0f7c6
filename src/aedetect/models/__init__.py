"""Pure PyTorch networks: no I/O, no training. Each has a typed config that rebuilds it on load.

Every model maps flattened samples ``(batch, n_values)`` to their reconstruction and exposes
``encode`` and ``decoder``, so training and scoring never depend on the architecture.
"""

from aedetect.models.bases import BASE_MODELS, build_from
from aedetect.models.conv import ConvAutoencoder, ConvConfig
from aedetect.models.dense import DenseAutoencoder, DenseConfig
from aedetect.models.sequence import LSTMAutoencoder, LSTMConfig
from aedetect.models.variational import VariationalAutoencoder, VariationalConfig

# Saved as model.json's "model.kind": the key that rebuilds the network on load.
MODELS = {**BASE_MODELS, "variational": (VariationalConfig, VariationalAutoencoder)}


def build_model(kind: str, config: dict):
    """Rebuild ``(config, model)`` from a kind in :data:`MODELS` and its saved config dict."""
    return build_from(MODELS, kind, config)


__all__ = [
    "MODELS",
    "BASE_MODELS",
    "build_model",
    "ConvAutoencoder",
    "ConvConfig",
    "DenseAutoencoder",
    "DenseConfig",
    "LSTMAutoencoder",
    "LSTMConfig",
    "VariationalAutoencoder",
    "VariationalConfig",
]
