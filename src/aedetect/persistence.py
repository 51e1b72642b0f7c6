"""Save and load fitted detectors as a directory of JSON and safetensors: loading never unpickles.

Layout of a model directory::

    model.json         format version, package version, parameters, network config, preprocessing
                       state, threshold rule and value, feature names, training history, and the
                       SHA-256 of the weights file
    weights.safetensors  network weights and the score statistics (float tensors only)

The directory is written under a temporary name and renamed into place, so a crash never leaves a
half-written model where a good one is expected.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT = "aedetect-model"
FORMAT_VERSION = 1
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
ENSEMBLE_FILE = "ensemble.json"  # marks a directory of member models (see aedetect.ensemble)
_STATS = ("feature_error_means_", "latent_mean_", "latent_precision_", "latent_scale_", "latent_reference_",
          "score_scales_", "calibration_scores_")


class ModelFileError(ValueError):
    """A model directory is missing, damaged, tampered with or from an incompatible version."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_params(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if hasattr(value, "to_spec"):
            value = value.to_spec()
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


@contextmanager
def staged_directory(path) -> Iterator[Path]:
    """A fresh temporary directory beside ``path``, renamed to ``path`` when the block ends without
    an error (replacing what was there) and removed when it raises."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"Cannot save the model to {str(target)!r}: a file of that name exists; choose a directory path.")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ModelFileError(f"Cannot save the model: the folder {str(parent)!r} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise ModelFileError(f"Cannot save the model: no write permission in {str(parent)!r}.")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        yield staging
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rename(target, old / "model")
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def save(detector, path) -> Path:
    """Write ``detector`` to the directory ``path``, replacing an earlier model there."""
    from aedetect import __version__

    detector._check_fitted()
    with staged_directory(path) as staging:
        tensors = {f"model.{k}": t.detach().cpu().contiguous() for k, t in detector.model_.state_dict().items()}
        for name in _STATS:
            value = np.asarray(getattr(detector, name))
            tensors[f"stats.{name}"] = torch.as_tensor(value.astype(np.float32 if value.dtype == np.float32 else np.float64))
        save_file(tensors, staging / WEIGHTS_FILE, metadata={"format": FORMAT})
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "aedetect_version": __version__,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "weights_sha256": _sha256(staging / WEIGHTS_FILE),
            "params": _json_params(detector.get_params(deep=False)),
            "model": {"kind": detector.model_kind_, "config": detector.model_config_.to_dict()},
            "data_kind": detector.data_kind_,
            "preprocessing": detector.preprocessor_.get_state(),
            "threshold": detector.threshold_rule_.to_dict(),
            "n_features_in": int(detector.n_features_in_),
            "feature_names_in": (
                [str(c) for c in detector.feature_names_in_] if hasattr(detector, "feature_names_in_") else None
            ),
            "history": detector.history_.to_dict(),
            "metadata": getattr(detector, "metadata_", {}),
        }
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return Path(path)


def _read_config(directory: Path) -> dict:
    if not directory.exists():
        raise ModelFileError(f"No model at {str(directory)!r}: the directory does not exist; train one with 'aedetect train'.")
    config_path = directory / CONFIG_FILE
    if not directory.is_dir() or not config_path.is_file():
        raise ModelFileError(
            f"{str(directory)!r} is not an aedetect model directory (no {CONFIG_FILE}); give the folder that "
            "'aedetect train' or detector.save() wrote."
        )
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"The model file {str(config_path)!r} is damaged (not valid JSON: {error}); re-train or restore it.") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{str(config_path)!r} is not an aedetect model file; re-train or restore it.")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"The model at {str(directory)!r} has format version {version!r} (saved by aedetect "
            f"{config.get('aedetect_version', '?')}); this aedetect reads version {FORMAT_VERSION}. "
            "Re-train it with this version or load it with the version that saved it."
        )
    return config


def load(path):
    """Rebuild a detector saved by :func:`save`. Raises :class:`ModelFileError` on any problem."""
    from aedetect.array_preprocessing import ArrayPreprocessor
    from aedetect.detector import AutoencoderDetector
    from aedetect.models import build_model
    from aedetect.preprocessing import TablePreprocessor
    from aedetect.thresholds import rule_from_dict
    from aedetect.training import History, resolve_device

    directory = Path(path)
    if (directory / ENSEMBLE_FILE).is_file():
        from aedetect.ensemble import load_ensemble

        return load_ensemble(directory)
    config = _read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"The model at {str(directory)!r} has no {WEIGHTS_FILE}; re-train or restore it.")
    if _sha256(weights) != config.get("weights_sha256"):
        raise ModelFileError(
            f"The weights in {str(directory)!r} do not match their recorded checksum (changed after saving); "
            "re-train or restore the model."
        )
    try:
        tensors = load_file(weights)
        detector = AutoencoderDetector(**config["params"])
        detector.data_kind_ = config.get("data_kind", "table")
        if detector.data_kind_ == "table":
            detector.preprocessor_ = TablePreprocessor.from_state(config["preprocessing"])
        else:
            detector.preprocessor_ = ArrayPreprocessor.from_state(config["preprocessing"])
        detector.model_kind_ = config["model"]["kind"]
        detector.model_config_, model = build_model(detector.model_kind_, config["model"]["config"])
        detector.device_ = resolve_device(detector.device)
        state = {k[len("model."):]: t for k, t in tensors.items() if k.startswith("model.")}
        model.load_state_dict(state, strict=True)
        detector.model_ = model.to(detector.device_).eval()
        for name in _STATS:
            setattr(detector, name, tensors[f"stats.{name}"].numpy())
        detector.threshold_rule_ = rule_from_dict(config["threshold"])
        detector.threshold_ = detector.threshold_rule_.threshold_
        detector.n_features_in_ = int(config["n_features_in"])
        if config.get("feature_names_in") is not None:
            detector.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
        detector.history_ = History.from_dict(config["history"])
        detector.metadata_ = dict(config.get("metadata") or {})
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as error:
        raise ModelFileError(
            f"The model at {str(directory)!r} is damaged or inconsistent ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}); re-train or restore it."
        ) from None
    return detector


__all__ = ["save", "load", "ModelFileError"]
