"""Save and load fitted detectors as a directory of JSON and safetensors: loading never unpickles.

Layout of a model directory::

    model.json         format version, package version, parameters, network config, preprocessing
                       state, threshold rule and value, feature names, training history, the
                       SHA-256 of the weights file and the SHA-256 of the manifest itself
    weights.safetensors  network weights and the score statistics (float tensors only)

The directory is written under a temporary name and swapped into place (see
:mod:`aedetect.persistence.storage`), so a crash never leaves a half-written model where a good one is
expected, and a folder that is not a model is never replaced.

Loading trusts nothing in the folder: the manifest is size-capped and checked against its seal, the
network is first built on PyTorch's ``meta`` device (shapes only, no memory) and compared tensor by
tensor with the weights file's header, so a hostile size allocates nothing; statistics, scales and
the threshold must have the right shapes and be finite.

Format version 1 is kept: sealing added the ``manifest_sha256`` key and nothing else, so models
saved before it (no seal) still load, and earlier aedetect versions read the new ones.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from aedetect.persistence.storage import (
    CONFIG_FILE,
    ENSEMBLE_FILE,
    WEIGHTS_FILE,
    ModelFileError,
    check_save_target,
    file_mode,
    manifest_sha256,
    read_manifest,
    recover_missing,
    seal,
    sha256_file,
    staged_directory,
)
from aedetect.persistence.storage import MODEL_FORMAT as FORMAT

FORMAT_VERSION = 1
_STATS = ("feature_error_means_", "latent_mean_", "latent_precision_", "latent_scale_", "latent_reference_",
          "score_scales_", "calibration_scores_")
_POSITIVE_STATS = ("feature_error_means_", "latent_scale_", "score_scales_")  # divided by when scoring


def _json_params(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if hasattr(value, "to_spec"):
            value = value.to_spec()
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def save(detector, path) -> Path:
    """Write ``detector`` to the directory ``path``, replacing an earlier model there.

    ``path`` must be new, an empty folder or a saved model: any other folder raises
    :class:`ModelFileError` and is left as it is.
    """
    from aedetect._version import __version__

    detector._check_fitted()
    with staged_directory(path) as staging:
        tensors = {f"model.{k}": t.detach().cpu().contiguous() for k, t in detector.model_.state_dict().items()}
        for name in _STATS:
            value = np.asarray(getattr(detector, name))
            tensors[f"stats.{name}"] = torch.as_tensor(value.astype(np.float32 if value.dtype == np.float32 else np.float64))
        save_file(tensors, staging / WEIGHTS_FILE, metadata={"format": FORMAT})
        os.chmod(staging / WEIGHTS_FILE, file_mode(staging))  # safetensors writes 0600; outputs follow the umask
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "aedetect_version": __version__,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "weights_sha256": sha256_file(staging / WEIGHTS_FILE),
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
        (staging / CONFIG_FILE).write_text(json.dumps(seal(config), indent=2))
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
    config = read_manifest(config_path, FORMAT)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"The model at {str(directory)!r} has format version {version!r} (saved by aedetect "
            f"{config.get('aedetect_version', '?')}); this aedetect reads version {FORMAT_VERSION}. "
            "Re-train it with this version or load it with the version that saved it."
        )
    return config


def _weight_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape from the safetensors header, without reading the data. safetensors checks
    that the header is at most 100 MB and that its offsets tile the rest of the file exactly, so each
    shape is backed by bytes on disk."""
    try:
        with safe_open(weights, framework="pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise ModelFileError(
            f"The weights file {str(weights)!r} is not a safetensors file that aedetect wrote "
            f"({str(error).splitlines()[0][:200] if str(error) else type(error).__name__}); re-train or restore the model."
        ) from None


def _build_network(directory: Path, kind: str, config: dict, shapes: dict[str, tuple[int, ...]]):
    """The network of ``config``, once its every tensor shape matches the weights file's header."""
    from aedetect.models import build_model

    if not isinstance(config, dict):
        raise TypeError("the network config is not a JSON object")
    parts = [*config.values(), *(config["base"].values() if isinstance(config.get("base"), dict) else [])]
    if max((len(part) for part in parts if isinstance(part, list)), default=0) > len(shapes):
        raise ValueError("the network config lists more layers than the weights file holds tensors")
    with torch.device("meta"):  # shapes only: a hostile size costs no memory here
        _, skeleton = build_model(kind, config)
    expected = {name: tuple(tensor.shape) for name, tensor in skeleton.state_dict().items()}
    held = {name[len("model."):]: shape for name, shape in shapes.items() if name.startswith("model.")}
    for name in [*expected, *(name for name in held if name not in expected)]:
        if expected.get(name) != held.get(name):
            raise ModelFileError(
                f"The model at {str(directory)!r} does not match its weights: the network config gives "
                f"{name} the shape {expected.get(name, 'none (no such tensor)')}, {WEIGHTS_FILE} holds "
                f"{held.get(name, 'no such tensor')}; re-train or restore the model."
            )
    return build_model(kind, config)


def _check_statistics(directory: Path, shapes: dict, latent_dim: int, n_values: int, n_scales: int) -> None:
    expected = {"feature_error_means_": (n_values,), "latent_mean_": (latent_dim,),
                "latent_precision_": (latent_dim, latent_dim), "latent_scale_": (latent_dim,),
                "latent_reference_": (None, latent_dim), "score_scales_": (n_scales,), "calibration_scores_": (None,)}
    for name, shape in expected.items():
        held = shapes.get(f"stats.{name}")
        fits = held is not None and len(held) == len(shape) and all(
            size == want or (want is None and size >= 1) for size, want in zip(held, shape, strict=True))
        if not fits:
            want = "(" + ", ".join("n" if size is None else str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"
            raise ModelFileError(
                f"The model at {str(directory)!r} is inconsistent: the statistic {name} has the shape "
                f"{held if held is not None else 'none (missing)'} in {WEIGHTS_FILE}, expected {want}; "
                "re-train or restore the model."
            )


def _check_values(directory: Path, tensors: dict[str, torch.Tensor], scale: list, offset: list) -> None:
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"The model at {str(directory)!r} holds values that are not finite (NaN or "
                                 f"infinite) in {name} of {WEIGHTS_FILE}; re-train or restore the model.")
    for name in _POSITIVE_STATS:
        if not bool((tensors[f"stats.{name}"] > 0).all()):
            raise ModelFileError(f"The model at {str(directory)!r} has a zero or negative scale in the statistic "
                                 f"{name} (scores divide by it); re-train or restore the model.")
    scale, offset = np.asarray(scale, dtype=np.float64), np.asarray(offset, dtype=np.float64)
    if not (np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(offset).all()):
        raise ModelFileError(f"The model at {str(directory)!r} has a preprocessing scale that is zero, negative or "
                             "not finite (or an offset that is not finite); re-train or restore the model.")


def _check_threshold(directory: Path, saved: dict, rule) -> None:
    value = getattr(rule, "threshold_", None)
    if not isinstance(value, float) or not math.isfinite(value):
        shown = json.dumps(saved.get("threshold")) if isinstance(saved, dict) else "missing"
        raise ModelFileError(f"The model at {str(directory)!r} has no finite threshold (threshold value {shown}); "
                             "re-train or restore the model.")


def load(path):
    """Rebuild a detector (or an ensemble) saved by :func:`save`. Raises :class:`ModelFileError` on any problem."""
    directory = Path(path)
    recover_missing(directory)
    if (directory / ENSEMBLE_FILE).is_file():
        from aedetect.ensemble import load_ensemble

        return load_ensemble(directory)
    return load_detector(directory)


def load_detector(path):
    """Rebuild an :class:`~aedetect.AutoencoderDetector` from the model directory ``path``."""
    from aedetect._validation import InvalidParameterError
    from aedetect.detector import AutoencoderDetector
    from aedetect.preprocessing.arrays import ArrayPreprocessor
    from aedetect.preprocessing.tables import TablePreprocessor
    from aedetect.thresholds import rule_from_dict
    from aedetect.training.loop import History, resolve_device

    directory = Path(path)
    config = _read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"The model at {str(directory)!r} has no {WEIGHTS_FILE}; re-train or restore it.")
    if sha256_file(weights) != config.get("weights_sha256"):
        raise ModelFileError(
            f"The weights in {str(directory)!r} do not match their recorded checksum (changed after saving); "
            "re-train or restore the model."
        )
    shapes = _weight_shapes(weights)
    try:
        detector = AutoencoderDetector(**config["params"])
        try:
            detector._validate_params()
        except InvalidParameterError as error:
            raise ModelFileError(f"The model at {str(directory)!r} has an invalid parameter: {error} "
                                 "Re-train or restore the model.") from None
        detector.data_kind_ = config.get("data_kind", "table")
        if detector.data_kind_ == "table":
            detector.preprocessor_ = TablePreprocessor.from_state(config["preprocessing"])
            n_values = len(detector.preprocessor_.feature_names_out_)
        else:
            detector.preprocessor_ = ArrayPreprocessor.from_state(config["preprocessing"])
            n_values = math.prod(detector.preprocessor_.sample_shape_)
        detector.model_kind_ = config["model"]["kind"]
        network = config["model"]["config"]
        detector.model_config_, model = _build_network(directory, detector.model_kind_, network, shapes)
        latent = network["latent_dim"] if "latent_dim" in network else network["base"]["latent_dim"]
        n_scales = 4 if getattr(model, "rotation", None) is not None else 3
        _check_statistics(directory, shapes, int(latent), n_values, n_scales)
        tensors = load_file(weights)
        _check_values(directory, tensors, detector.preprocessor_.scale_, detector.preprocessor_.offset_)
        detector.device_ = resolve_device(detector.device)
        state = {k[len("model."):]: t for k, t in tensors.items() if k.startswith("model.")}
        model.load_state_dict(state, strict=True)
        detector.model_ = model.to(detector.device_).eval()
        for name in _STATS:
            setattr(detector, name, tensors[f"stats.{name}"].numpy())
        detector.threshold_rule_ = rule_from_dict(config["threshold"])
        _check_threshold(directory, config["threshold"], detector.threshold_rule_)
        detector.threshold_ = detector.threshold_rule_.threshold_
        detector.n_features_in_ = int(config["n_features_in"])
        if config.get("feature_names_in") is not None:
            detector.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
        detector.history_ = History.from_dict(config["history"])
        detector.metadata_ = dict(config.get("metadata") or {})
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, RecursionError, SafetensorError) as error:
        raise ModelFileError(
            f"The model at {str(directory)!r} is damaged or inconsistent ({type(error).__name__}: "
            f"{(str(error).splitlines() or [''])[0][:200]}); re-train or restore it."
        ) from None
    return detector


__all__ = ["save", "load", "load_detector", "check_save_target", "manifest_sha256", "ModelFileError"]
