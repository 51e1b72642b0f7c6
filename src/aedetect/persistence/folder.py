"""One model folder: a manifest (``model.json``) and the tensors (``weights.safetensors``), never a pickle.

Layout::

    model.json           format version, package version, the estimator's own state (parameters,
                         network config, preprocessing, threshold, feature names, history, ...), the
                         SHA-256 of the weights file and the SHA-256 of the manifest itself
    weights.safetensors  network weights (the types the network declares) and statistics (float32
                         or float64)

An estimator turns its fitted state into a manifest part and named tensors and back (the detector
through :mod:`aedetect.persistence.detector_state`); this module writes and reads the folder with
the checks that do not depend on which estimator it is. The folder is written under a temporary name
and swapped into place (:mod:`aedetect.persistence.storage`), so a crash never leaves a half-written
model where a good one is expected, and a folder that is not a model is never replaced.

Reading trusts nothing in the folder: the manifest is size-capped and checked against its seal, the
weights against their checksum, the network is first built on PyTorch's ``meta`` device (shapes only,
no memory) and compared tensor by tensor with the weights file's header, so a hostile size allocates
nothing; statistics must have the right shapes and be finite.

Format versions: sealing added the ``manifest_sha256`` key and nothing else, so models saved before it
(no seal) still load. Version 2 added the input part's weight, version 3 the input rows chosen
apart from the reference codes (see :data:`FORMAT_VERSION`); this aedetect reads versions 1 to 3
(:data:`READABLE_FORMAT_VERSIONS`), an aedetect that reads fewer refuses the newer files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from aedetect._version import __version__
from aedetect.models import build_model
from aedetect.persistence.storage import (
    CONFIG_FILE,
    MODEL_FORMAT,
    WEIGHTS_FILE,
    ModelFileError,
    file_mode,
    read_manifest,
    seal,
    sha256_file,
    staged_directory,
)

#: The version that ``write_model`` writes. Version 2 saves the input part's weight
#: (``stats.input_weight_``): an aedetect that reads only version 1 would score such a model with the
#: input part weighted as when the weight was not saved, against a threshold set with another weight,
#: so it refuses the file instead. Version 3 keeps as input rows the distinct training rows, more than
#: the reference codes, and with ``trim_fraction`` measures the input part to a neighbour ranked by
#: their count (:func:`~aedetect.scoring.statistics.input_neighbour_rank`), and saves the ``input_rows``
#: parameter: an aedetect that reads only versions 1 and 2 would rank it as the codes' neighbour, so it
#: refuses the file. Older files still load (``READABLE_FORMAT_VERSIONS``): their input rows are their
#: reference codes' rows, and both ranks are the same for them.
FORMAT_VERSION = 3
READABLE_FORMAT_VERSIONS = (1, 2, 3)


def json_params(params: dict) -> dict:
    """Constructor parameters as JSON: rule objects as their spec, tuples as lists."""
    out = {}
    for key, value in params.items():
        if hasattr(value, "to_spec"):
            value = value.to_spec()
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def write_model(path, state: dict, tensors: dict[str, torch.Tensor]) -> Path:
    """Write ``state`` (the manifest's estimator part) and ``tensors`` as the model folder ``path``.

    ``path`` must be new, an empty folder or a saved model: any other folder raises
    :class:`ModelFileError` and is left as it is.
    """
    with staged_directory(path) as staging:
        save_file(tensors, staging / WEIGHTS_FILE, metadata={"format": MODEL_FORMAT})
        os.chmod(staging / WEIGHTS_FILE, file_mode(staging))  # safetensors writes 0600; outputs follow the umask
        manifest = {
            "format": MODEL_FORMAT,
            "format_version": FORMAT_VERSION,
            "aedetect_version": __version__,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "weights_sha256": sha256_file(staging / WEIGHTS_FILE),
            **state,
        }
        (staging / CONFIG_FILE).write_text(json.dumps(seal(manifest), indent=2))
    return Path(path)


@dataclass
class ModelFolder:
    """A model folder whose manifest and weights checksum were checked; tensors are read on demand."""

    directory: Path
    manifest: dict
    shapes: dict[str, tuple[int, ...]]
    #: Each tensor's type as safetensors names it (``F32``, ``I64``, ...).
    dtypes: dict[str, str]

    @property
    def where(self) -> str:
        return repr(str(self.directory))

    def tensors(self) -> dict[str, torch.Tensor]:
        return load_file(self.directory / WEIGHTS_FILE)


def read_model(path) -> ModelFolder:
    """Open the model folder ``path``: manifest (size, seal, format version), weights checksum and header."""
    directory = Path(path)
    if not directory.exists():
        raise ModelFileError(
            f"No model at {str(directory)!r}: the directory does not exist; train one with 'aedetect train'."
        )
    config_path = directory / CONFIG_FILE
    if not directory.is_dir() or not config_path.is_file():
        raise ModelFileError(
            f"{str(directory)!r} is not an aedetect model directory (no {CONFIG_FILE}); give the folder that "
            "'aedetect train' or detector.save() wrote."
        )
    manifest = read_manifest(config_path, MODEL_FORMAT)
    version = manifest.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS:
        raise ModelFileError(
            f"The model at {str(directory)!r} has format version {version!r} (saved by aedetect "
            f"{manifest.get('aedetect_version', '?')}); this aedetect reads versions "
            f"{', '.join(map(str, READABLE_FORMAT_VERSIONS[:-1]))} and {READABLE_FORMAT_VERSIONS[-1]}. "
            "Re-train it with this version or load it with the version that saved it."
        )
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"The model at {str(directory)!r} has no {WEIGHTS_FILE}; re-train or restore it.")
    if sha256_file(weights) != manifest.get("weights_sha256"):
        raise ModelFileError(
            f"The weights in {str(directory)!r} do not match their recorded checksum (changed after saving); "
            "re-train or restore the model."
        )
    return ModelFolder(directory, manifest, *_weight_header(weights))


#: The tensor types (safetensors' names) of the statistics and other arrays beside the network's
#: tensors, whose types :func:`build_network` checks against the network's own.
FLOAT_DTYPES = ("F32", "F64")
#: safetensors' names of the tensor types that networks declare.
TORCH_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
}


def _weight_header(weights: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Every tensor's shape and type from the safetensors header, without reading the data.
    safetensors checks that the header is at most 100 MB and that its offsets tile the rest of the
    file exactly, so each shape is backed by bytes on disk. Every tensor but the network's
    (``model.*``) must be float32 or float64, as written."""
    try:
        with safe_open(weights, framework="pt") as handle:
            slices = {name: handle.get_slice(name) for name in handle.keys()}
            shapes = {name: tuple(part.get_shape()) for name, part in slices.items()}
            dtypes = {name: part.get_dtype() for name, part in slices.items()}
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise ModelFileError(
            f"The weights file {str(weights)!r} is not a safetensors file that aedetect wrote "
            f"({str(error).splitlines()[0][:200] if str(error) else type(error).__name__}); re-train or restore the model."
        ) from None
    for name, dtype in dtypes.items():
        if not name.startswith("model.") and dtype not in FLOAT_DTYPES:
            raise ModelFileError(
                f"The weights file {str(weights)!r} holds the tensor {name[:200]} as {str(dtype)[:20]}; aedetect writes "
                "statistics as float32 or float64 only; re-train or restore the model."
            )
    return shapes, dtypes


@contextmanager
def reading(folder: ModelFolder) -> Iterator[None]:
    """Turn what a damaged manifest or weights file raises while an estimator is rebuilt into one
    :class:`ModelFileError` that names the folder."""
    try:
        yield
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, RecursionError, SafetensorError) as error:
        raise ModelFileError(
            f"The model at {folder.where} is damaged or inconsistent ({type(error).__name__}: "
            f"{(str(error).splitlines() or [''])[0][:200]}); re-train or restore it."
        ) from None


def build_network(folder: ModelFolder, kind: str, config: dict):
    """The network of ``config`` (``(typed config, module)``), once its every tensor shape matches the
    weights file's header (tensors named ``model.*``)."""
    if not isinstance(config, dict):
        raise TypeError("the network config is not a JSON object")
    parts = [*config.values(), *(config["base"].values() if isinstance(config.get("base"), dict) else [])]
    if max((len(part) for part in parts if isinstance(part, list)), default=0) > len(folder.shapes):
        raise ValueError("the network config lists more layers than the weights file holds tensors")
    with torch.device("meta"):  # shapes only: a hostile size costs no memory here
        _, skeleton = build_model(kind, config)
    expected = {name: tuple(tensor.shape) for name, tensor in skeleton.state_dict().items()}
    held = {name[len("model.") :]: shape for name, shape in folder.shapes.items() if name.startswith("model.")}
    for name in [*expected, *(name for name in held if name not in expected)]:
        if expected.get(name) != held.get(name):
            raise ModelFileError(
                f"The model at {folder.where} does not match its weights: the network config gives "
                f"{name} the shape {expected.get(name, 'none (no such tensor)')}, {WEIGHTS_FILE} holds "
                f"{held.get(name, 'no such tensor')}; re-train or restore the model."
            )
    for name, tensor in skeleton.state_dict().items():
        want, got = TORCH_DTYPES.get(tensor.dtype, str(tensor.dtype)), folder.dtypes[f"model.{name}"]
        if got != want:
            raise ModelFileError(
                f"The model at {folder.where} does not match its weights: the network declares {name} as "
                f"{want}, {WEIGHTS_FILE} holds it as {got[:20]}; re-train or restore the model."
            )
    return build_model(kind, config)


def check_statistics(folder: ModelFolder, expected: dict[str, tuple[int | None, ...]]) -> None:
    """Each statistic ``stats.NAME`` has the shape ``expected[NAME]`` (``None``: any size >= 1)."""
    for name, shape in expected.items():
        held = folder.shapes.get(f"stats.{name}")
        fits = (
            held is not None
            and len(held) == len(shape)
            and all(size == want or (want is None and size >= 1) for size, want in zip(held, shape, strict=True))
        )
        if not fits:
            want = (
                "("
                + ", ".join("n" if size is None else str(size) for size in shape)
                + ("," if len(shape) == 1 else "")
                + ")"
            )
            raise ModelFileError(
                f"The model at {folder.where} is inconsistent: the statistic {name} has the shape "
                f"{held if held is not None else 'none (missing)'} in {WEIGHTS_FILE}, expected {want}; "
                "re-train or restore the model."
            )


def check_values(
    folder: ModelFolder, tensors: dict[str, torch.Tensor], positive: tuple[str, ...], scale: list, offset: list
) -> None:
    """Every tensor is finite, the statistics named in ``positive`` (scales and weights) are > 0, and so is the
    preprocessing ``scale`` (its ``offset`` finite)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(
                f"The model at {folder.where} holds values that are not finite (NaN or "
                f"infinite) in {name} of {WEIGHTS_FILE}; re-train or restore the model."
            )
    for name in positive:
        if not bool((tensors[f"stats.{name}"] > 0).all()):
            raise ModelFileError(
                f"The model at {folder.where} has a zero or negative value in the statistic "
                f"{name} (a scale or weight of the scores); re-train or restore the model."
            )
    scale, offset = np.asarray(scale, dtype=np.float64), np.asarray(offset, dtype=np.float64)
    if not (np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(offset).all()):
        raise ModelFileError(
            f"The model at {folder.where} has a preprocessing scale that is zero, negative or "
            "not finite (or an offset that is not finite); re-train or restore the model."
        )


def check_threshold(directory: Path, saved: dict, rule) -> None:
    """The rule rebuilt from a manifest has a finite threshold."""
    value = getattr(rule, "threshold_", None)
    if not isinstance(value, float) or not math.isfinite(value):
        shown = json.dumps(saved.get("threshold")) if isinstance(saved, dict) else "missing"
        raise ModelFileError(
            f"The model at {str(directory)!r} has no finite threshold (threshold value {shown}); "
            "re-train or restore the model."
        )


__all__ = [
    "FORMAT_VERSION",
    "READABLE_FORMAT_VERSIONS",
    "ModelFolder",
    "read_model",
    "write_model",
    "json_params",
    "reading",
    "build_network",
    "check_statistics",
    "check_values",
    "check_threshold",
]
