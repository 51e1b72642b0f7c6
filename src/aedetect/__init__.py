"""aedetect: anomaly detection with autoencoders.

Train on normal data, score by reconstruction error (higher = more anomalous), flag rows above a
threshold (1 = anomaly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aedetect._version import __version__

if TYPE_CHECKING:
    from aedetect import thresholds
    from aedetect.detector import AutoencoderDetector
    from aedetect.ensemble import EnsembleDetector


def load(path) -> AutoencoderDetector | EnsembleDetector:
    """Load a detector saved with :meth:`AutoencoderDetector.save` or :meth:`EnsembleDetector.save`
    (never unpickles)."""
    from aedetect.persistence.load import load as _load

    return _load(path)


#: Public names imported on first use: the estimators pull in PyTorch, which 'aedetect --help' does not
#: need, and the cluster engines optional packages such as Dask or PySpark.
_LAZY = {
    "AutoencoderDetector": "aedetect.detector",
    "EnsembleDetector": "aedetect.ensemble",
    "thresholds": "aedetect.thresholds",
    "score_dask": "aedetect.batch.cluster_dask",
    "score_spark": "aedetect.batch.cluster_spark",
    "fit_distributed": "aedetect.distributed",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return module if module.__name__ == f"aedetect.{name}" else getattr(module, name)
    raise AttributeError(f"module 'aedetect' has no attribute {name!r}")


__all__ = ["AutoencoderDetector", "EnsembleDetector", "load", "thresholds", "__version__", *_LAZY]
