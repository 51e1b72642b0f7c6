"""An :class:`~aedetect.EnsembleDetector` on disk: its manifest written beside the members' folders,
and the ensemble rebuilt from them with every value checked.

An ensemble's folder holds ``ensemble.json`` (parameters, each member's score mean and spread, the
threshold rule, the calibration scores, the ``metadata_`` the command line keeps) and one model folder
per member (``member_0``, ...), each the usual JSON + safetensors. Like
:mod:`aedetect.persistence.detector_state`, this imports no estimator: the ensemble passes itself to
:func:`write_ensemble` and its classes to :func:`rebuild_ensemble`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from aedetect._validation import InvalidParameterError
from aedetect._version import __version__
from aedetect.persistence.folder import check_threshold, json_params, read_model
from aedetect.persistence.storage import (
    ENSEMBLE_FILE,
    ENSEMBLE_FORMAT,
    ModelFileError,
    check_member_name,
    read_manifest,
    seal,
    staged_directory,
)
from aedetect.scoring.members import disagreement
from aedetect.thresholds import rule_from_dict

FORMAT_VERSION = 1


def ensemble_state(ensemble) -> dict:
    """A fitted ensemble's manifest (unsealed): what ``ensemble.json`` holds."""
    params = json_params(ensemble.get_params(deep=False))
    params["detector"] = json_params(ensemble.members_[0].get_params(deep=False))
    return {
        "format": ENSEMBLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "aedetect_version": __version__,
        "params": params,
        "members": [f"member_{i}" for i in range(len(ensemble.members_))],
        "member_means": ensemble.member_means_.tolist(),
        "member_stds": ensemble.member_stds_.tolist(),
        "threshold": ensemble.threshold_rule_.to_dict(),
        "calibration_scores": ensemble.calibration_scores_.tolist(),
        "n_features_in": int(ensemble.n_features_in_),
        "metadata": getattr(ensemble, "metadata_", {}),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_ensemble(path, ensemble) -> None:
    """Write a fitted ensemble to the folder ``path``: each member's folder, then ``ensemble.json``,
    staged beside ``path`` and swapped in whole (see :func:`~aedetect.persistence.storage.staged_directory`)."""
    with staged_directory(path) as staging:
        for i, member in enumerate(ensemble.members_):
            member.save(staging / f"member_{i}")
        (staging / ENSEMBLE_FILE).write_text(json.dumps(seal(ensemble_state(ensemble)), indent=2))


def rebuild_ensemble(estimator: type, member_estimator: type, directory: Path):
    """An ensemble of class ``estimator`` (members of ``member_estimator``) rebuilt from ``directory``.

    Members must be plain sub-folders of the ensemble folder (no ``..``, no absolute path, no link),
    each an ordinary model directory; scales and the threshold must be finite. Any problem is one
    :class:`~aedetect.persistence.storage.ModelFileError`.
    """
    where = repr(str(directory))
    manifest = read_manifest(directory / ENSEMBLE_FILE, ENSEMBLE_FORMAT)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{where} holds an ensemble of format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r}; this aedetect reads {ENSEMBLE_FORMAT!r} version {FORMAT_VERSION}."
        )
    try:
        names = manifest["members"]
        if not isinstance(names, list) or not names:
            raise ModelFileError(
                f"The ensemble at {where} has no members ({ENSEMBLE_FILE} lists none); re-train or restore it."
            )
        folders = [check_member_name(directory, name) for name in names]
        if len(set(names)) != len(names):
            raise ModelFileError(f"The ensemble at {where} lists a member twice; re-train or restore it.")
        params = dict(manifest["params"])
        params["detector"] = member_estimator(**params["detector"])
        ensemble = estimator(**params)
        try:
            ensemble._validate_params()
        except InvalidParameterError as error:
            raise ModelFileError(
                f"The ensemble at {where} has an invalid parameter: {error} Re-train or restore it."
            ) from None
        ensemble.member_means_ = np.asarray(manifest["member_means"], dtype=np.float64)
        ensemble.member_stds_ = np.asarray(manifest["member_stds"], dtype=np.float64)
        ensemble.calibration_scores_ = np.asarray(manifest["calibration_scores"], dtype=np.float64)
        for name, value, shape in (
            ("member_means", ensemble.member_means_, (len(names),)),
            ("member_stds", ensemble.member_stds_, (len(names),)),
            ("calibration_scores", ensemble.calibration_scores_, None),
        ):
            if (value.shape != shape if shape else value.ndim != 1 or not len(value)) or not np.isfinite(value).all():
                raise ModelFileError(
                    f"The ensemble at {where} is inconsistent: {name} must hold "
                    f"{shape[0] if shape else 'one or more'} finite numbers; re-train or restore it."
                )
        if not (ensemble.member_stds_ > 0).all():
            raise ModelFileError(
                f"The ensemble at {where} has a zero or negative member_stds (scores divide by "
                "it); re-train or restore it."
            )
        ensemble.n_features_in_ = int(manifest["n_features_in"])
        rule = rule_from_dict(manifest["threshold"])
        check_threshold(directory, manifest["threshold"], rule)
        ensemble._set_rule(rule)
        ensemble.metadata_ = manifest.get("metadata") or {}
        if not isinstance(ensemble.metadata_, dict):
            raise ModelFileError(f"The ensemble at {where} has metadata that is not a mapping; re-train or restore it.")
        ensemble.members_ = [member_estimator._from_state(read_model(folder)) for folder in folders]
        differing = disagreement(ensemble.members_)
        if differing is not None or ensemble.members_[0].n_features_in_ != ensemble.n_features_in_:
            raise ModelFileError(
                f"The ensemble at {where} is inconsistent: its members disagree on their "
                f"{differing or 'number of features'}; re-train or restore it."
            )
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(
            f"The ensemble at {where} is damaged or inconsistent ({type(error).__name__}: "
            f"{(str(error).splitlines() or [''])[0][:200]}); re-train or restore it."
        ) from None
    return ensemble


__all__ = ["FORMAT_VERSION", "ensemble_state", "write_ensemble", "rebuild_ensemble"]
