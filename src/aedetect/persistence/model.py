"""One :class:`~aedetect.AutoencoderDetector` model folder: :func:`load_detector` and :func:`save`.

The format and its checks are in :mod:`aedetect.persistence.folder`, the detector's own state in
``AutoencoderDetector._to_state`` / ``_from_state``. :func:`aedetect.load` (in
:mod:`aedetect.persistence.load`) reads any saved model, a detector or an ensemble. This module sits
between the detector and the ensemble, which loads its members with :func:`load_detector`.
"""

from __future__ import annotations

from pathlib import Path

from aedetect.detector import AutoencoderDetector
from aedetect.persistence.folder import FORMAT_VERSION, check_threshold, json_params, read_model
from aedetect.persistence.storage import CONFIG_FILE, WEIGHTS_FILE, ModelFileError, check_save_target, manifest_sha256


def save(detector: AutoencoderDetector, path) -> Path:
    """Write ``detector`` to the directory ``path``, replacing an earlier model there (see
    :meth:`AutoencoderDetector.save`)."""
    detector.save(path)
    return Path(path)


def load_detector(path) -> AutoencoderDetector:
    """Rebuild an :class:`~aedetect.AutoencoderDetector` from the model directory ``path``."""
    return AutoencoderDetector._from_state(read_model(path))


# The names that EnsembleDetector's save and load import from here.
_json_params = json_params
_check_threshold = check_threshold

__all__ = [
    "save",
    "load_detector",
    "check_save_target",
    "manifest_sha256",
    "ModelFileError",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "FORMAT_VERSION",
]
