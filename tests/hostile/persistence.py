"""Model folders: saving over a folder that is not a model, and loading a damaged or tampered one.

The tampering helpers edit a copy of a trained model and, unless told otherwise, re-seal it (the
weights' SHA-256 and the manifest's SHA-256 recomputed) so that the check under test is the one that
fires, not the checksum.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from aedetect.persistence import storage as persistence
from hostile import CliCase, Context

CONFIG, WEIGHTS, ENSEMBLE = "model.json", "weights.safetensors", "ensemble.json"


def reseal(manifest: dict) -> dict:
    """Recompute the manifest's own checksum, as a careful tamperer would."""
    seal = getattr(persistence, "manifest_sha256", None)
    if seal is not None:
        manifest["manifest_sha256"] = seal(manifest)
    return manifest


def edit_manifest(folder: Path, change: Callable[[dict], None], name: str = CONFIG, seal: bool = True) -> Path:
    path = folder / name
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(reseal(manifest) if seal else manifest))
    return folder


def edit_weights(folder: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    tensors = load_file(folder / WEIGHTS)
    change(tensors)
    save_file(tensors, folder / WEIGHTS, metadata={"format": "aedetect-model"})
    return edit_manifest(folder, _set_weights_hash(folder / WEIGHTS))


def as_saved_without_input_weight(folder: Path) -> Path:
    """The folder as format version 1 wrote it: input reference rows without their weight."""
    edit_weights(folder, lambda tensors: tensors.pop("stats.input_weight_"))
    return edit_manifest(folder, lambda manifest: manifest.__setitem__("format_version", 1))


def _set_weights_hash(weights: Path) -> Callable[[dict], None]:
    import hashlib

    def change(manifest: dict) -> None:
        manifest["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()

    return change


def _data(ctx: Context) -> Path:
    return ctx.csv("data.csv", ctx.normal(20))


def _score(model: Path, ctx: Context) -> list:
    return ["score", model, _data(ctx), "-o", ctx.folder / "out.csv"]


# -- saving over a folder that is not a model ------------------------------------------------------
def train_into_own_input_folder(ctx: Context) -> list:
    (ctx.folder / "in").mkdir()
    ctx.csv("in/good.csv", ctx.normal(40))
    return ["train", "in/good.csv", "-o", "in", "--epochs", "1", "-q"]


def train_into_folder_with_files(ctx: Context) -> list:
    (ctx.folder / "results").mkdir()
    (ctx.folder / "results" / "notes.txt").write_text("keep me\n")
    return ["train", _data(ctx), "-o", ctx.folder / "results", "--epochs", "1", "-q"]


def train_into_model_with_extra_file(ctx: Context) -> list:
    model = ctx.model()
    (model / "notes.txt").write_text("keep me\n")
    return ["train", _data(ctx), "-o", model, "--epochs", "1", "-q"]


def demo_into_folder_with_files(ctx: Context) -> list:
    (ctx.folder / "work").mkdir()
    (ctx.folder / "work" / "thesis.tex").write_text("\\documentclass{article}\n")
    return ["demo", "-o", ctx.folder / "work"]


# -- the manifest ---------------------------------------------------------------------------------
def manifest_edited(ctx: Context) -> list:
    model = edit_manifest(ctx.model(), lambda m: m["threshold"].update(threshold=1e9), seal=False)
    return _score(model, ctx)


def threshold_nan(ctx: Context) -> list:
    return _score(edit_manifest(ctx.model(), lambda m: m["threshold"].update(threshold=math.nan)), ctx)


def threshold_null(ctx: Context) -> list:
    return _score(edit_manifest(ctx.model(), lambda m: m["threshold"].update(threshold=None)), ctx)


def params_score_nope(ctx: Context) -> list:
    return _score(edit_manifest(ctx.model(), lambda m: m["params"].update(score="nope")), ctx)


def huge_hidden_dims(ctx: Context) -> list:
    def change(manifest: dict) -> None:
        manifest["params"]["hidden_dims"] = [2**26]
        manifest["model"]["config"]["hidden_dims"] = [2**26]

    return _score(edit_manifest(ctx.model(), change), ctx)


def preprocessing_scale_zero(ctx: Context) -> list:
    return _score(edit_manifest(ctx.model(), lambda m: m["preprocessing"]["scale"].__setitem__(0, 0.0)), ctx)


def nested_manifest(ctx: Context) -> list:
    model = ctx.model()
    (model / CONFIG).write_text("[" * 200_000 + "]" * 200_000)
    return _score(model, ctx)


# -- the weights ----------------------------------------------------------------------------------
def weights_nan(ctx: Context) -> list:
    return _score(
        edit_weights(ctx.model(), lambda t: t["model.encoder.0.weight"].view(-1).__setitem__(0, math.nan)), ctx
    )


def score_scale_zero(ctx: Context) -> list:
    return _score(
        edit_weights(ctx.model(), lambda t: t.__setitem__("stats.score_scales_", torch.zeros(3, dtype=torch.float64))),
        ctx,
    )


def statistics_wrong_shape(ctx: Context) -> list:
    return _score(
        edit_weights(ctx.model(), lambda t: t.__setitem__("stats.latent_scale_", torch.ones(5, dtype=torch.float64))),
        ctx,
    )


def weights_flipped_byte(ctx: Context) -> list:
    weights = ctx.model() / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    return _score(weights.parent, ctx)


def weights_pickled(ctx: Context) -> list:
    model = ctx.model()
    (model / WEIGHTS).write_bytes(pickle.dumps({"model.encoder.0.weight": [[1.0]]}))
    return _score(edit_manifest(model, _set_weights_hash(model / WEIGHTS)), ctx)


# -- the model path -------------------------------------------------------------------------------
def model_missing(ctx: Context) -> list:
    return _score(ctx.folder / "nowhere", ctx)


def model_is_a_file(ctx: Context) -> list:
    return _score(ctx.csv("model.csv", "a,b\n1,2\n"), ctx)


# -- ensembles ------------------------------------------------------------------------------------
def _members(ctx: Context, members: Callable[[Context], list]) -> list:
    model = ctx.model("ensemble")
    value = members(ctx)
    return _score(edit_manifest(model, lambda m: m.update(members=value), name=ENSEMBLE), ctx)


def member_parent(ctx: Context) -> list:
    ctx.model("table")
    return _members(ctx, lambda c: ["../table-model", "member_1"])


def member_absolute(ctx: Context) -> list:
    return _members(ctx, lambda c: [str(c.model("table").resolve()), "member_1"])


def member_itself(ctx: Context) -> list:
    return _members(ctx, lambda c: [".", "member_1"])


def members_empty(ctx: Context) -> list:
    return _members(ctx, lambda c: [])


def ensemble_manifest_edited(ctx: Context) -> list:
    model = edit_manifest(ctx.model("ensemble"), lambda m: m.update(member_means=[0.0, 0.0]), name=ENSEMBLE, seal=False)
    return _score(model, ctx)


CASES = [
    CliCase(
        "persist-train-into-own-input-folder",
        train_into_own_input_folder,
        ("'in'",),
        before="exit 0, deleted the folder and the training data in it",
    ),
    CliCase(
        "persist-train-into-folder-with-files",
        train_into_folder_with_files,
        ("results", "not an aedetect model", "notes.txt"),
        before="exit 0, deleted the folder and notes.txt",
    ),
    CliCase(
        "persist-train-into-model-with-extra-file",
        train_into_model_with_extra_file,
        ("notes.txt",),
        before="exit 0, replaced the model and deleted notes.txt",
    ),
    CliCase(
        "persist-demo-into-folder-with-files",
        demo_into_folder_with_files,
        ("work", "not an aedetect model"),
        before="exit 0 after training, deleted the folder",
    ),
    CliCase(
        "persist-manifest-edited",
        manifest_edited,
        ("model.json", "checksum"),
        before="exit 0, scored with the edited threshold",
    ),
    CliCase("persist-threshold-nan", threshold_nan, ("threshold", "nan"), before="exit 0, flagged no row"),
    CliCase("persist-threshold-null", threshold_null, ("threshold",), before="traceback AttributeError"),
    CliCase(
        "persist-params-score-nope",
        params_score_nope,
        ("'score' parameter", "nope"),
        before="refused while scoring, not naming the model",
    ),
    CliCase(
        "persist-huge-hidden-dims",
        huge_hidden_dims,
        ("encoder.0.weight", "weights.safetensors"),
        timeout=60,
        before="allocated 5.6 GB for the network, then failed on its weights",
    ),
    CliCase("persist-preprocessing-scale-zero", preprocessing_scale_zero, ("scale",), before="exit 0, infinite scores"),
    CliCase("persist-nested-manifest", nested_manifest, ("model.json", "nested"), before="traceback RecursionError"),
    CliCase("persist-weights-nan", weights_nan, ("model.encoder.0.weight", "finite"), before="exit 0, NaN scores"),
    CliCase("persist-score-scale-zero", score_scale_zero, ("score_scales_",), before="exit 0, infinite scores"),
    CliCase(
        "persist-statistics-wrong-shape",
        statistics_wrong_shape,
        ("latent_scale_", "shape"),
        before="numpy broadcasting error while scoring",
    ),
    CliCase("persist-weights-flipped-byte", weights_flipped_byte, ("weights", "checksum"), before="already refused"),
    CliCase(
        "persist-weights-pickled", weights_pickled, ("weights.safetensors", "safetensors"), before="already refused"
    ),
    CliCase("persist-model-missing", model_missing, ("nowhere", "does not exist"), before="already refused"),
    CliCase(
        "persist-model-is-a-file", model_is_a_file, ("model.csv", "not an aedetect model"), before="already refused"
    ),
    CliCase(
        "persist-ensemble-member-parent",
        member_parent,
        ("../table-model", "member"),
        before="exit 0, loaded a model from outside the ensemble folder",
    ),
    CliCase(
        "persist-ensemble-member-absolute",
        member_absolute,
        ("table-model", "member"),
        before="exit 0, loaded a model from anywhere on disk",
    ),
    CliCase("persist-ensemble-member-itself", member_itself, ("'.'", "member"), before="traceback RecursionError"),
    CliCase("persist-ensemble-no-members", members_empty, ("no members",), before="numpy error on an empty stack"),
    CliCase(
        "persist-ensemble-manifest-edited",
        ensemble_manifest_edited,
        ("ensemble.json", "checksum"),
        before="exit 0, scored with the edited statistics",
    ),
]
