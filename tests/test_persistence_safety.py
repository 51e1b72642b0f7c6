"""Model folders against hostile or unlucky conditions: saving over a folder that is not a model,
tampered or damaged manifests and weights, hostile sizes, ensemble members outside their folder,
file permissions, and a save killed half-way."""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile.persistence import edit_manifest, edit_weights

import aedetect.persistence.storage as storage
from aedetect import AutoencoderDetector, EnsembleDetector
from aedetect.persistence.load import ModelFileError, load
from aedetect.persistence.storage import CONFIG_FILE, ENSEMBLE_FILE, SEAL_KEY, WEIGHTS_FILE


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    from conftest import FAST, normal_rows

    folder = tmp_path_factory.mktemp("safety-models")
    AutoencoderDetector(**FAST).fit(normal_rows(200)).save(folder / "table")
    EnsembleDetector(AutoencoderDetector(**FAST), n_members=2).fit(normal_rows(200)).save(folder / "ensemble")
    return {"table": folder / "table", "ensemble": folder / "ensemble"}


@pytest.fixture
def model(trained, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(trained["table"], tmp_path / "model"))


@pytest.fixture
def ensemble(trained, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(trained["ensemble"], tmp_path / "ensemble"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- saving never deletes what is not a model -------------------------------------------------------
def test_saving_into_a_folder_of_other_files_is_refused_and_leaves_them(trained, tmp_path):
    detector = load(trained["table"])
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.csv").write_text("a,b\n1,2\n")
    (folder / "sub").mkdir()
    with pytest.raises(ModelFileError, match="not an aedetect model.*good.csv.*choose a new or empty folder"):
        detector.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["good.csv", "sub"]
    assert (folder / "good.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no temporary folder left


@pytest.mark.parametrize("extra", ["notes.txt", ".hidden"])
def test_a_model_folder_holding_other_files_is_not_replaced(model, trained, extra):
    (model / extra).write_text("mine")
    with pytest.raises(ModelFileError, match=f"besides the model it holds {extra}"):
        load(trained["table"]).save(model)
    assert (model / extra).read_text() == "mine"


def test_a_folder_with_a_foreign_manifest_is_not_replaced(trained, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text('{"format": "someone-else"}')
    (folder / WEIGHTS_FILE).write_bytes(b"theirs")
    with pytest.raises(ModelFileError, match="manifest is not one that aedetect wrote"):
        load(trained["table"]).save(folder)
    assert (folder / WEIGHTS_FILE).read_bytes() == b"theirs"


def test_a_symbolic_link_is_not_replaced(trained, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(ModelFileError, match="symbolic link"):
        load(trained["table"]).save(tmp_path / "link")


def test_empty_folders_and_models_of_either_kind_may_be_replaced(trained, tmp_path):
    detector, ensemble = load(trained["table"]), load(trained["ensemble"])
    (tmp_path / "m").mkdir()
    detector.save(tmp_path / "m")
    ensemble.save(tmp_path / "m")  # a detector model replaced by an ensemble
    assert isinstance(load(tmp_path / "m"), EnsembleDetector)
    ensemble.save(tmp_path / "m")
    detector.save(tmp_path / "m")  # and back
    assert isinstance(load(tmp_path / "m"), AutoencoderDetector)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_an_ensemble_whose_member_holds_other_files_is_not_replaced(ensemble, trained):
    (ensemble / "member_0" / "notes.txt").write_text("mine")
    with pytest.raises(ModelFileError, match="member_0.*notes.txt"):
        load(trained["ensemble"]).save(ensemble)
    assert (ensemble / "member_0" / "notes.txt").read_text() == "mine"


def test_command_line_train_refuses_before_training(tmp_path):
    from typer.testing import CliRunner

    from aedetect.cli import app

    (tmp_path / "good.csv").write_text("a,b\n" + "\n".join(f"{i},{i % 3}" for i in range(30)) + "\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(
        app, ["train", str(tmp_path / "good.csv"), "-o", str(tmp_path / "out"), "-q", "--epochs", "1"]
    )
    assert result.exit_code == 2 and "not an aedetect model" in result.output
    assert "trained on" not in result.output
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


# -- permissions follow the umask --------------------------------------------------------------------
@pytest.mark.parametrize(
    "umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600), (0o002, 0o775, 0o664)]
)
def test_model_files_follow_the_umask(trained, tmp_path, umask, folder_mode, file_mode):
    old = os.umask(umask)
    try:
        load(trained["ensemble"]).save(tmp_path / "e")
    finally:
        os.umask(old)
    for path in [tmp_path / "e", *(tmp_path / "e").rglob("*")]:
        want = folder_mode if path.is_dir() else file_mode
        assert path.stat().st_mode & 0o777 == want, f"{path.name}: {oct(path.stat().st_mode & 0o777)}"


# -- the swap and a save killed half-way -------------------------------------------------------------
def test_replacing_a_model_swaps_it_in_one_step(trained, tmp_path, monkeypatch):
    made = []
    fresh = storage._fresh_folder
    monkeypatch.setattr(storage, "_fresh_folder", lambda *a: made.append(a[2]) or fresh(*a))
    detector = load(trained["table"])
    detector.save(tmp_path / "m")
    detector.save(tmp_path / "m")
    if sys.platform.startswith("linux"):
        assert made == ["tmp", "tmp"]  # renameat2 exchange: the path never lacks a model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_replacing_without_the_exchange_also_leaves_nothing_behind(trained, tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "_exchange", lambda first, second: False)
    detector = load(trained["table"])
    detector.save(tmp_path / "m")
    detector.save(tmp_path / "m")
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["m"] and load(tmp_path / "m").threshold_ == detector.threshold_
    )


def test_load_puts_back_a_model_left_aside_by_a_killed_save(model, tmp_path):
    pid = _dead_pid()
    aside = tmp_path / f".model.{pid}.0123abcd.old"
    aside.mkdir()
    os.rename(model, aside / "model")  # killed between its two renames
    (tmp_path / f".model.{pid}.89abcdef.tmp").mkdir()  # with the new model half-written
    detector = load(model)
    assert isinstance(detector, AutoencoderDetector) and (model / CONFIG_FILE).is_file()
    assert not aside.exists()


def test_load_waits_for_a_save_that_is_still_running(model, tmp_path):
    aside = tmp_path / f".model.{os.getpid()}.0123abcd.old"
    aside.mkdir()
    os.rename(model, aside / "model")
    with pytest.raises(ModelFileError, match="a save is replacing it; try again"):
        load(model)
    assert (aside / "model" / CONFIG_FILE).is_file()


def test_the_next_save_removes_only_abandoned_temporary_folders(trained, tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    abandoned = [
        tmp_path / f".m.{dead}.0123abcd.tmp",
        tmp_path / f".m.{dead}.0123abcd.old",
        tmp_path / ".m.x7k2_q9z.tmp",
    ]  # the name of a save by aedetect before it recorded the process
    kept = [
        tmp_path / f".m.{dead}.fedcba98.tmp",  # too recent: its process may be elsewhere on a shared folder
        tmp_path / f".m.{alive}.0123abcd.tmp",  # its process is running
        tmp_path / f".m.{10**30}.0123abcd.tmp",  # no such process id: cannot tell, so only age counts
        tmp_path / ".m.notes.tmp",
        tmp_path / f".other.{dead}.0123abcd.tmp",
        tmp_path / f".m.{dead}.0123abcd.bak",
    ]
    for folder in abandoned + kept:
        folder.mkdir()
        (folder / "x").write_text("x")
        _age(folder, 3600 if folder.name != f".m.{dead}.fedcba98.tmp" else 60)
    load(trained["table"]).save(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m", *(p.name for p in kept)])


def test_a_failed_save_keeps_the_old_model(trained, tmp_path, monkeypatch):
    detector = load(trained["table"])
    detector.save(tmp_path / "m")
    before = (tmp_path / "m" / WEIGHTS_FILE).read_bytes()
    monkeypatch.setattr(
        "aedetect.persistence.folder.save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError, match="disk full"):
        detector.save(tmp_path / "m")
    assert (tmp_path / "m" / WEIGHTS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


# -- the manifest is sealed; older models still load -------------------------------------------------
def test_the_manifest_is_sealed_and_an_edit_is_detected(model):
    manifest = json.loads((model / CONFIG_FILE).read_text())
    assert manifest[SEAL_KEY] == storage.manifest_sha256(manifest)
    edit_manifest(model, lambda m: m["history"].update(seconds=0.0), seal=False)
    with pytest.raises(ModelFileError, match="model.json' does not match its recorded checksum"):
        load(model)


def test_a_model_saved_before_sealing_still_loads(model, trained):
    edit_manifest(model, lambda m: m.pop(SEAL_KEY), seal=False)  # what aedetect wrote before
    frame = np.random.default_rng(0).normal(size=(10, 4))
    np.testing.assert_array_equal(load(model).decision_function(frame), load(trained["table"]).decision_function(frame))


def test_an_oversized_manifest_is_refused_unread(model, monkeypatch):
    monkeypatch.setattr(storage, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(ModelFileError, match="more than a manifest can be"):
        load(model)


def test_a_deeply_nested_manifest_is_a_model_file_error(model):
    (model / CONFIG_FILE).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load(model)


# -- nothing in the folder is trusted -----------------------------------------------------------------
def test_a_hostile_layer_size_is_refused_fast_without_allocating(model):
    def change(manifest):
        manifest["params"]["hidden_dims"] = [2**26]
        manifest["model"]["config"]["hidden_dims"] = [2**26]

    edit_manifest(model, change)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(
        ModelFileError, match=r"encoder.0.weight the shape \(67108864, 4\), weights.safetensors holds \(8, 4\)"
    ):
        load(model)
    assert time.perf_counter() - started < 5
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown_kb < 200_000, f"peak memory grew by {grown_kb} kB"


def test_a_hostile_number_of_layers_is_refused(model):
    edit_manifest(model, lambda m: m["model"]["config"].update(hidden_dims=[8] * 100_000))
    with pytest.raises(ModelFileError, match="more layers than the weights file holds tensors"):
        load(model)


MANIFEST_EDITS = {
    "threshold NaN": (lambda m: m["threshold"].update(threshold=math.nan), "no finite threshold.*NaN"),
    "threshold inf": (lambda m: m["threshold"].update(threshold=math.inf), "no finite threshold.*Infinity"),
    "threshold null": (lambda m: m["threshold"].update(threshold=None), "no finite threshold.*null"),
    "unknown rule": (lambda m: m["threshold"].update(spec="nope:1"), "damaged or inconsistent.*nope"),
    "params.score": (lambda m: m["params"].update(score="nope"), "invalid parameter: The 'score' parameter.*'nope'"),
    "unknown param": (lambda m: m["params"].update(colour=1), "damaged or inconsistent.*colour"),
    "scaler zero": (lambda m: m["preprocessing"]["scale"].__setitem__(1, 0.0), "preprocessing scale"),
    "scaler negative": (lambda m: m["preprocessing"]["scale"].__setitem__(1, -2.0), "preprocessing scale"),
    "scaler inf": (lambda m: m["preprocessing"]["offset"].__setitem__(1, math.inf), "offset that is not finite"),
    "latent_dim": (lambda m: m["model"]["config"].update(latent_dim=3), "does not match its weights"),
    "negative size": (
        lambda m: m["model"]["config"].update(hidden_dims=[-5]),
        "damaged or inconsistent|does not match",
    ),
    "config not an object": (lambda m: m["model"].update(config=[1]), "damaged or inconsistent"),
    "more features": (
        lambda m: m["preprocessing"].update(feature_names_out=["a", "b", "c", "d", "e"]),
        "feature_error_means_ has the shape",
    ),
}


@pytest.mark.parametrize("name", MANIFEST_EDITS)
def test_inconsistent_manifests_are_refused_with_one_clear_error(model, name):
    change, message = MANIFEST_EDITS[name]
    edit_manifest(model, change)
    with pytest.raises(ModelFileError, match=message):
        load(model)


WEIGHT_EDITS = {
    "NaN weight": (lambda t: t["model.decoder.0.bias"].__setitem__(0, math.nan), "not finite.*model.decoder.0.bias"),
    "inf statistic": (lambda t: t["stats.latent_mean_"].__setitem__(0, math.inf), "not finite.*stats.latent_mean_"),
    "NaN calibration": (lambda t: t["stats.calibration_scores_"].__setitem__(0, math.nan), "calibration_scores_"),
    "zero score scale": (lambda t: t["stats.score_scales_"].__setitem__(1, 0.0), "zero or negative.*score_scales_"),
    "zero latent scale": (lambda t: t["stats.latent_scale_"].__setitem__(0, 0.0), "latent_scale_"),
    "zero error mean": (lambda t: t["stats.feature_error_means_"].__setitem__(0, -1.0), "feature_error_means_"),
    "negative input weight": (
        lambda t: t["stats.input_weight_"].__setitem__(0, -5.0),
        "zero or negative.*input_weight_",
    ),
    "input weight wrong shape": (
        lambda t: t.__setitem__("stats.input_weight_", torch.ones(2, dtype=torch.float64)),
        r"input_weight_ has the shape \(2,\).*expected \(1,\)",
    ),
    "input rows without their weight (version 2)": (
        lambda t: t.pop("stats.input_weight_"),
        "input_weight_ has the shape none",
    ),
    "input weight without rows": (
        lambda t: (t.pop("stats.input_reference_"), t.pop("stats.input_scale_")),
        "input_reference_ has the shape none",
    ),
    "integer statistic": (
        lambda t: t.__setitem__("stats.latent_scale_", t["stats.latent_scale_"].to(torch.int64)),
        "tensor stats.latent_scale_ as I64.*statistics as float32 or float64 only",
    ),
    "boolean weight": (
        lambda t: t.__setitem__("model.decoder.0.bias", t["model.decoder.0.bias"] > 0),
        "network declares decoder.0.bias as F32.*holds it as BOOL",
    ),
    "float64 weight": (
        lambda t: t.__setitem__("model.decoder.0.bias", t["model.decoder.0.bias"].double()),
        "network declares decoder.0.bias as F32.*holds it as F64",
    ),
    "stats wrong shape": (
        lambda t: t.__setitem__("stats.latent_precision_", torch.eye(3, dtype=torch.float64)),
        r"latent_precision_ has the shape \(3, 3\).*expected \(2, 2\)",
    ),
    "stats missing": (lambda t: t.pop("stats.latent_reference_"), "latent_reference_ has the shape none"),
    "no reference rows": (lambda t: t.__setitem__("stats.latent_reference_", torch.zeros(0, 2)), "latent_reference_"),
    "extra tensor": (lambda t: t.__setitem__("model.extra", torch.zeros(1)), "extra.*no such tensor"),
    "weight missing": (lambda t: t.pop("model.encoder.0.bias"), "encoder.0.bias"),
}


@pytest.mark.parametrize("name", WEIGHT_EDITS)
def test_inconsistent_weights_are_refused_with_one_clear_error(model, name):
    change, message = WEIGHT_EDITS[name]
    edit_weights(model, change)
    with pytest.raises(ModelFileError, match=message):
        load(model)


def test_a_batch_norm_counter_keeps_its_integer_type_and_only_that(tmp_path):
    """Batch normalisation counts its batches in an int64 tensor: such a model loads, and the same
    tensor stored as a float (a type the network does not declare) is refused."""
    from conftest import FAST, normal_rows

    rows = normal_rows(120)
    AutoencoderDetector(**FAST, normalization="batch").fit(rows).save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    counters = [name for name in loaded.model_.state_dict() if name.endswith("num_batches_tracked")]
    assert counters and loaded.model_.state_dict()[counters[0]].dtype == torch.int64
    edit_weights(tmp_path / "model", lambda t: t.__setitem__(f"model.{counters[0]}", t[f"model.{counters[0]}"].float()))
    with pytest.raises(ModelFileError, match=f"declares {counters[0]} as I64.*holds it as F32"):
        load(tmp_path / "model")


def test_pickled_weights_are_never_unpickled(model, tmp_path):
    import pickle

    marker = tmp_path / "unpickled"

    class Bomb:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (model / WEIGHTS_FILE).write_bytes(pickle.dumps(Bomb()))
    edit_manifest(model, lambda m: m.update(weights_sha256=storage.sha256_file(model / WEIGHTS_FILE)))
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load(model)
    assert not marker.exists()


def test_a_weights_header_larger_than_its_file_is_refused(model):
    data = (model / WEIGHTS_FILE).read_bytes()
    header_length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_length])
    first = next(name for name in header if name != "__metadata__")
    header[first]["shape"] = [2**26, 4]
    header[first]["data_offsets"][1] = header[first]["data_offsets"][0] + 2**28 * 4
    text = json.dumps(header).encode()
    (model / WEIGHTS_FILE).write_bytes(len(text).to_bytes(8, "little") + text + data[8 + header_length :])
    edit_manifest(model, lambda m: m.update(weights_sha256=storage.sha256_file(model / WEIGHTS_FILE)))
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load(model)


# -- ensembles ----------------------------------------------------------------------------------------
ENSEMBLE_EDITS = {
    "no members": (lambda m, e: m.update(members=[]), "has no members"),
    "members not a list": (lambda m, e: m.update(members="member_0"), "has no members"),
    "member itself": (lambda m, e: m.update(members=[".", "member_1"]), "names the member '.'"),
    "member parent": (lambda m, e: m.update(members=["../model", "member_1"]), r"names the member '\.\./model'"),
    "member absolute": (lambda m, e: m.update(members=[str(e.parent / "model"), "member_1"]), "names the member '/"),
    "member nested": (lambda m, e: m.update(members=["member_0/../member_1", "member_1"]), "names the member"),
    "member empty": (lambda m, e: m.update(members=["", "member_1"]), "names the member ''"),
    "member not a string": (lambda m, e: m.update(members=[0, "member_1"]), "names the member 0"),
    "member missing": (lambda m, e: m.update(members=["member_7", "member_1"]), "no member folder 'member_7'"),
    "member twice": (lambda m, e: m.update(members=["member_1", "member_1"]), "lists a member twice"),
    "std zero": (lambda m, e: m.update(member_stds=[1.0, 0.0]), "zero or negative member_stds"),
    "means short": (lambda m, e: m.update(member_means=[0.0]), "member_means must hold 2 finite numbers"),
    "calibration NaN": (lambda m, e: m.update(calibration_scores=[math.nan]), "calibration_scores"),
    "threshold NaN": (lambda m, e: m["threshold"].update(threshold=math.nan), "no finite threshold"),
    "bad n_members": (lambda m, e: m["params"].update(n_members=0), "invalid parameter: The 'n_members'"),
    "bad member param": (lambda m, e: m["params"]["detector"].update(score="nope"), "invalid parameter: The 'score'"),
}


@pytest.mark.parametrize("name", ENSEMBLE_EDITS)
def test_inconsistent_ensembles_are_refused_with_one_clear_error(ensemble, model, name):
    change, message = ENSEMBLE_EDITS[name]
    edit_manifest(ensemble, lambda m: change(m, ensemble), name=ENSEMBLE_FILE)
    with pytest.raises(ModelFileError, match=message):
        load(ensemble)


def test_an_ensemble_member_that_links_out_of_its_folder_is_refused(ensemble, model):
    import shutil

    shutil.rmtree(ensemble / "member_0")
    (ensemble / "member_0").symlink_to(model)
    with pytest.raises(ModelFileError, match="no member folder 'member_0' \\(missing or a link\\)"):
        load(ensemble)


def test_an_ensemble_member_that_is_an_ensemble_is_refused(ensemble):
    import shutil

    shutil.copytree(ensemble, ensemble / "inner")
    edit_manifest(ensemble, lambda m: m.update(members=["inner", "member_1"]), name=ENSEMBLE_FILE)
    with pytest.raises(ModelFileError, match="inner' is not an aedetect model directory"):
        load(ensemble)
