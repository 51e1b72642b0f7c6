"""Load any saved model: the manifest in the folder says which estimator rebuilds itself from it.

``ensemble.json`` marks an :class:`~aedetect.EnsembleDetector`, ``model.json`` an
:class:`~aedetect.AutoencoderDetector`. This is the top of the persistence layer: it knows both
estimators, and neither of them imports it.
"""

from __future__ import annotations

from pathlib import Path

from aedetect.detector import AutoencoderDetector
from aedetect.ensemble import EnsembleDetector, load_ensemble
from aedetect.persistence.folder import read_model
from aedetect.persistence.storage import ENSEMBLE_FILE, ModelFileError, recover_missing


def load(path) -> AutoencoderDetector | EnsembleDetector:
    """Rebuild a detector (or an ensemble) saved by its ``save``. Raises :class:`ModelFileError` on any problem."""
    directory = Path(path)
    recover_missing(directory)
    if (directory / ENSEMBLE_FILE).is_file():
        return load_ensemble(directory)
    return AutoencoderDetector._from_state(read_model(directory))


__all__ = ["load", "ModelFileError"]
