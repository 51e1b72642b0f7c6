"""Pure PyTorch networks: no I/O, no training. Each has a typed config that rebuilds it on load."""

from aedetect.models.dense import DenseAutoencoder, DenseConfig

__all__ = ["DenseAutoencoder", "DenseConfig"]
