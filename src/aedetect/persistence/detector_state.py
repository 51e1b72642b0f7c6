"""An :class:`~aedetect.AutoencoderDetector`'s fitted state as a manifest part and tensors, and back.

:func:`detector_state` reads a fitted detector's attributes into what :func:`~aedetect.persistence.folder.write_model`
writes; :func:`fitted_attributes` turns a checked :class:`~aedetect.persistence.folder.ModelFolder` back
into the fitted attributes, checking every shape and value on the way, and :func:`rebuild` makes a
detector of them. None imports the detector: it calls them (``save``, ``_from_state``, passing its
class), and the folder format below knows no estimator at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from aedetect._validation import InvalidParameterError
from aedetect.kinds import TABLE
from aedetect.persistence.folder import (
    ModelFolder,
    build_network,
    check_statistics,
    check_threshold,
    check_values,
    json_params,
    reading,
)
from aedetect.persistence.storage import ModelFileError
from aedetect.preprocessing.arrays import ArrayPreprocessor
from aedetect.preprocessing.tables import TablePreprocessor
from aedetect.scoring.reference import N_BINS, DriftReference
from aedetect.scoring.statistics import INPUT_WEIGHT_MULTIPLE, input_weight
from aedetect.thresholds import rule_from_dict
from aedetect.training.loop import History, resolve_device

#: Fitted arrays saved beside the weights (as ``stats.NAME``).
STATISTICS = (
    "feature_error_means_",
    "latent_mean_",
    "latent_precision_",
    "latent_scale_",
    "latent_reference_",
    "score_scales_",
    "calibration_scores_",
)
#: Saved where the model keeps reference rows of its inputs (see
#: :data:`~aedetect.scoring.statistics.INPUT_REFERENCE_MAX_VALUES`); a model saved without them
#: scores without the input part, and a format version 1 folder with rows but without a weight
#: (saved before the weight was) with the weight it was fitted with,
#: :func:`~aedetect.scoring.statistics.input_weight`'s ``multiple=1``; from version 2 on, rows
#: without their weight are refused.
INPUT_STATISTICS = ("input_reference_", "input_scale_", "input_weight_")
#: The statistics that scores divide by: they must be > 0 when loaded (as must the input part's
#: scale and weight, where saved).
POSITIVE_STATISTICS = ("feature_error_means_", "latent_scale_", "score_scales_")


def detector_state(detector) -> tuple[dict, dict[str, torch.Tensor]]:
    """A fitted detector's state: the manifest's part and the named tensors (``model.*``, ``stats.*``)."""
    tensors = {f"model.{k}": t.detach().cpu().contiguous() for k, t in detector.model_.state_dict().items()}
    for name in STATISTICS:
        value = np.asarray(getattr(detector, name))
        tensors[f"stats.{name}"] = torch.as_tensor(
            value.astype(np.float32 if value.dtype == np.float32 else np.float64)
        )
    if len(detector.input_reference_):
        tensors.update({f"stats.{name}": torch.as_tensor(getattr(detector, name)) for name in INPUT_STATISTICS})
    reference = getattr(detector, "drift_reference_", None)
    if reference is not None:  # what new rows are checked against for drift (aedetect.monitor)
        tensors.update({f"stats.{name}": torch.as_tensor(value) for name, value in reference.arrays().items()})
    state = {
        "params": json_params(detector.get_params(deep=False)),
        "model": {"kind": detector.model_kind_, "config": detector.model_config_.to_dict()},
        "data_kind": detector.data_kind_,
        "preprocessing": detector.preprocessor_.get_state(),
        "threshold": detector.threshold_rule_.to_dict(),
        "n_features_in": int(detector.n_features_in_),
        "feature_names_in": [str(c) for c in detector.feature_names_in_]
        if hasattr(detector, "feature_names_in_")
        else None,
        "history": detector.history_.to_dict(),
        "metadata": getattr(detector, "metadata_", {}),
    }
    return state, tensors


def fitted_attributes(folder: ModelFolder, device: str) -> dict[str, Any]:
    """The fitted attributes (``name_`` -> value) that the folder holds, the network on ``device``.

    Checks in order: preprocessing state, network config against the weights' shapes, statistics'
    shapes, every tensor finite and the divisors > 0, then the threshold. Call it inside
    :func:`~aedetect.persistence.folder.reading` so that a damaged manifest raises one
    :class:`~aedetect.persistence.storage.ModelFileError`.
    """
    manifest = folder.manifest
    fitted: dict[str, Any] = {"data_kind_": manifest.get("data_kind", TABLE)}
    if fitted["data_kind_"] == TABLE:
        preprocessor = TablePreprocessor.from_state(manifest["preprocessing"])
        n_values = len(preprocessor.feature_names_out_)
    else:
        preprocessor = ArrayPreprocessor.from_state(manifest["preprocessing"])
        n_values = math.prod(preprocessor.sample_shape_)
    fitted["preprocessor_"] = preprocessor
    fitted["model_kind_"] = manifest["model"]["kind"]
    network = manifest["model"]["config"]
    fitted["model_config_"], model = build_network(folder, fitted["model_kind_"], network)
    latent = int(network["latent_dim"] if "latent_dim" in network else network["base"]["latent_dim"])
    rotation = getattr(model, "rotation", None) is not None
    n_scales = 4 if rotation else 3
    check_statistics(
        folder,
        {
            "feature_error_means_": (n_values,),
            "latent_mean_": (latent,),
            "latent_precision_": (latent, latent),
            "latent_scale_": (latent,),
            "latent_reference_": (None, latent),
            "score_scales_": (n_scales,),
            "calibration_scores_": (None,),
        },
    )
    inputs = [name for name in INPUT_STATISTICS if f"stats.{name}" in folder.shapes]
    # Version 1 saved input rows without their weight; from version 2 on the weight comes with them.
    weighted = "input_weight_" in inputs or int(manifest.get("format_version", 1)) >= 2
    if inputs:
        weight = {"input_weight_": (1,)} if weighted else {}
        check_statistics(folder, {"input_reference_": (None, n_values), "input_scale_": (1,), **weight})
    tensors = folder.tensors()
    positive = POSITIVE_STATISTICS + tuple(name for name in inputs if name != "input_reference_")
    check_values(folder, tensors, positive, preprocessor.scale_, preprocessor.offset_)
    fitted["device_"] = resolve_device(device)
    model.load_state_dict({k[len("model.") :]: t for k, t in tensors.items() if k.startswith("model.")}, strict=True)
    fitted["model_"] = model.to(fitted["device_"]).eval()
    for name in STATISTICS:
        fitted[name] = tensors[f"stats.{name}"].numpy()
    if inputs:
        fitted.update({name: tensors[f"stats.{name}"].numpy() for name in inputs})
        if not weighted:
            fitted["input_weight_"] = np.array([input_weight(rotation, multiple=1.0)])
    else:
        fitted["input_weight_"] = np.array([input_weight(rotation, multiple=INPUT_WEIGHT_MULTIPLE)])
        fitted.update(input_reference_=np.zeros((0, n_values), dtype=np.float32), input_scale_=np.ones(1))
    fitted["drift_reference_"] = _drift_reference(folder, tensors, preprocessor, n_values)
    rule = rule_from_dict(manifest["threshold"])
    check_threshold(folder.directory, manifest["threshold"], rule)
    fitted["threshold_rule_"] = rule
    fitted["threshold_"] = rule.threshold_
    fitted["n_features_in_"] = int(manifest["n_features_in"])
    if manifest.get("feature_names_in") is not None:
        fitted["feature_names_in_"] = np.asarray(manifest["feature_names_in"], dtype=object)
    fitted["history_"] = History.from_dict(manifest["history"])
    fitted["metadata_"] = dict(manifest.get("metadata") or {})
    return fitted


def rebuild(estimator: type, folder: ModelFolder):
    """A detector of class ``estimator`` rebuilt from a model folder that its ``save`` wrote: its
    parameters checked, then its fitted attributes (see :func:`fitted_attributes`)."""
    with reading(folder):
        detector = estimator(**folder.manifest["params"])
        try:
            detector._validate_params()
        except InvalidParameterError as error:
            raise ModelFileError(
                f"The model at {folder.where} has an invalid parameter: {error} Re-train or restore the model."
            ) from None
        for name, value in fitted_attributes(folder, detector.device).items():
            setattr(detector, name, value)
    return detector


def _drift_reference(folder: ModelFolder, tensors, preprocessor, n_values: int) -> DriftReference | None:
    """The drift reference, or None for a model saved before it existed (or an image or series model)."""
    arrays = {name[len("stats.") :]: t.numpy() for name, t in tensors.items() if name.startswith("stats.drift_")}
    if not arrays:
        return None
    n_inputs = len(getattr(preprocessor, "numeric_columns_", []) or [])
    shapes = {
        "drift_input_edges": (n_inputs, N_BINS - 1),
        "drift_input_shares": (n_inputs, N_BINS),
        "drift_error_edges": (n_values, N_BINS - 1),
        "drift_error_shares": (n_values, N_BINS),
        "drift_counts": (2,),
    }
    check_statistics(folder, shapes)
    return DriftReference.from_arrays(arrays)


__all__ = ["STATISTICS", "INPUT_STATISTICS", "POSITIVE_STATISTICS", "detector_state", "fitted_attributes", "rebuild"]
