"""aedetect: anomaly detection with autoencoders.

Train on normal data, score by reconstruction error (higher = more anomalous), flag rows above a
threshold (1 = anomaly).
"""

from aedetect import thresholds
from aedetect._version import __version__
from aedetect.detector import AutoencoderDetector
from aedetect.ensemble import EnsembleDetector


def load(path) -> AutoencoderDetector | EnsembleDetector:
    """Load a detector saved with :meth:`AutoencoderDetector.save` or :meth:`EnsembleDetector.save`
    (never unpickles)."""
    from aedetect.persistence.load import load as _load

    return _load(path)


__all__ = ["AutoencoderDetector", "EnsembleDetector", "load", "thresholds", "__version__"]
