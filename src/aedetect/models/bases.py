"""The base networks, each with its typed config: dense, convolutional and LSTM.

A variational model wraps one of these (see :mod:`aedetect.models.variational`), so they sit in a
registry of their own below the full one in :mod:`aedetect.models`.
"""

from __future__ import annotations

from aedetect.models.conv import ConvAutoencoder, ConvConfig
from aedetect.models.dense import DenseAutoencoder, DenseConfig
from aedetect.models.sequence import LSTMAutoencoder, LSTMConfig

# Saved as model.json's "model.kind" (or a variational model's "base_kind").
BASE_MODELS = {
    "dense": (DenseConfig, DenseAutoencoder),
    "conv": (ConvConfig, ConvAutoencoder),
    "lstm": (LSTMConfig, LSTMAutoencoder),
}


def build_from(registry: dict, kind: str, config: dict):
    """Rebuild ``(config, model)`` from a kind in ``registry`` and its saved config dict."""
    if kind not in registry:
        raise ValueError(f"Unknown model kind {kind!r}; this aedetect knows {', '.join(registry)}.")
    config_class, model_class = registry[kind]
    typed = config_class(**config)
    return typed, model_class(typed)


__all__ = ["BASE_MODELS", "build_from"]
