"""aedetect: anomaly detection with autoencoders.

Train on normal data, score by reconstruction error (higher = more anomalous), flag rows above a
threshold (1 = anomaly).
"""

from importlib.metadata import PackageNotFoundError, version

from aedetect import thresholds
from aedetect.detector import AutoencoderDetector
from aedetect.ensemble import EnsembleDetector

try:
    __version__ = version("aedetect")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"


def load(path) -> AutoencoderDetector | EnsembleDetector:
    """Load a detector saved with :meth:`AutoencoderDetector.save` or :meth:`EnsembleDetector.save`
    (never unpickles)."""
    from aedetect.persistence import load as _load

    return _load(path)


__all__ = ["AutoencoderDetector", "EnsembleDetector", "load", "thresholds", "__version__"]
