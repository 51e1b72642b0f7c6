"""Save and load: JSON + safetensors, identical scores, and clear errors for damaged models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from sklearn.base import clone

import aedetect
from aedetect import AutoencoderDetector
from aedetect.persistence.folder import FORMAT_VERSION
from aedetect.persistence.load import load
from aedetect.persistence.storage import CONFIG_FILE, WEIGHTS_FILE, ModelFileError, seal


def _plain(params: dict) -> dict:
    """Parameters as JSON stores them (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


@pytest.fixture
def saved(fitted, tmp_path) -> Path:
    path = tmp_path / "model"
    fitted.save(path)
    return path


def test_round_trip_gives_identical_scores_and_threshold(fitted, saved, labelled):
    frame, _ = labelled
    loaded = aedetect.load(saved)
    np.testing.assert_array_equal(loaded.decision_function(frame), fitted.decision_function(frame))
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))
    np.testing.assert_array_equal(loaded.encode(frame), fitted.encode(frame))
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.threshold_rule_.to_spec() == fitted.threshold_rule_.to_spec()
    assert loaded.get_params() == _plain(fitted.get_params())
    assert loaded.n_features_in_ == 4 and list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    assert loaded.history_ == fitted.history_
    np.testing.assert_array_equal(loaded.calibration_scores_, fitted.calibration_scores_)


def test_loaded_detector_keeps_checking_feature_names(saved, outliers):
    loaded = load(saved)
    with pytest.raises(ValueError, match="feature names differ"):
        loaded.decision_function(outliers.rename(columns={"a": "z"}))


def test_loaded_detector_can_swap_its_threshold_and_be_cloned(fitted, saved):
    loaded = load(saved)
    loaded.set_threshold("percentile:50")
    assert loaded.threshold_ == pytest.approx(np.percentile(fitted.calibration_scores_, 50))
    assert clone(loaded).get_params() == _plain(fitted.get_params())


def test_model_directory_holds_only_json_and_safetensors(saved):
    assert sorted(p.name for p in saved.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    config = json.loads((saved / CONFIG_FILE).read_text())
    assert config["format"] == "aedetect-model" and config["format_version"] == FORMAT_VERSION
    assert config["params"]["threshold"] == "false_alarm_rate:0.01"
    tensors = load_file(saved / WEIGHTS_FILE)  # safetensors: plain arrays, no code
    assert any(name.startswith("model.") for name in tensors)
    assert "stats.calibration_scores_" in tensors
    for path in saved.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"


def test_rule_object_and_metadata_are_saved(normal_frame, fast, tmp_path):
    from aedetect.thresholds import MeanStdThreshold

    detector = AutoencoderDetector(threshold=MeanStdThreshold(2), categorical_features=None, **fast)
    detector.fit(normal_frame.to_numpy())
    detector.metadata_ = {"source": "unit-test"}
    detector.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.threshold == "mean_std:2" and loaded.threshold_ == detector.threshold_
    assert loaded.metadata_ == {"source": "unit-test"}
    assert not hasattr(loaded, "feature_names_in_")
    np.testing.assert_array_equal(
        loaded.decision_function(normal_frame.to_numpy()), detector.decision_function(normal_frame.to_numpy())
    )


def test_categorical_model_round_trip(normal_frame, fast, tmp_path):
    frame = normal_frame.assign(colour=np.where(normal_frame["a"] > 0, "red", "blue"))
    detector = AutoencoderDetector(categorical_features=["colour"], impute="median", **fast).fit(frame)
    detector.save(tmp_path / "m")
    probe = frame.iloc[:20].assign(colour=["green"] * 10 + ["red"] * 10)
    probe.loc[3, "a"] = np.nan
    np.testing.assert_array_equal(load(tmp_path / "m").decision_function(probe), detector.decision_function(probe))


def test_flipped_byte_in_the_weights_is_detected(saved):
    weights = saved / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="do not match their recorded checksum"):
        load(saved)


def test_damaged_weights_with_a_matching_checksum_are_still_an_error(saved):
    import hashlib

    weights = saved / WEIGHTS_FILE
    weights.write_bytes(b"not a safetensors file")
    config = json.loads((saved / CONFIG_FILE).read_text())
    config["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (saved / CONFIG_FILE).write_text(json.dumps(seal(config)))
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load(saved)


def test_missing_weights_file(saved):
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelFileError, match=f"has no {WEIGHTS_FILE}"):
        load(saved)


@pytest.mark.parametrize("text", ["{not json", "\xff\xfe", "[1, 2]", '{"format": "other"}'])
def test_bad_json_is_a_model_file_error(saved, text):
    (saved / CONFIG_FILE).write_text(text, encoding="latin-1")
    with pytest.raises(ModelFileError, match="damaged|not an aedetect model file"):
        load(saved)


def test_inconsistent_json_is_a_model_file_error(saved):
    config = json.loads((saved / CONFIG_FILE).read_text())
    del config["preprocessing"]
    (saved / CONFIG_FILE).write_text(json.dumps(seal(config)))
    with pytest.raises(ModelFileError, match="damaged or inconsistent"):
        load(saved)


def test_other_format_version_is_a_clear_error(saved):
    config = json.loads((saved / CONFIG_FILE).read_text())
    config["format_version"] = FORMAT_VERSION + 1
    (saved / CONFIG_FILE).write_text(json.dumps(seal(config)))
    with pytest.raises(ModelFileError, match=f"format version {FORMAT_VERSION + 1}.*reads versions 1, 2 and 3"):
        load(saved)


def test_missing_directory_and_non_model_directory(tmp_path):
    with pytest.raises(ModelFileError, match="the directory does not exist"):
        load(tmp_path / "nowhere")
    with pytest.raises(ModelFileError, match="is not an aedetect model directory"):
        load(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelFileError, match="is not an aedetect model directory"):
        load(tmp_path / "file.txt")


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_saving_over_an_existing_model_replaces_it_and_leaves_nothing_behind(
    fitted, normal_frame, outliers, fast, tmp_path
):
    path = tmp_path / "model"
    fitted.save(path)
    other = AutoencoderDetector(**{**fast, "random_state": 5}).fit(normal_frame)
    other.save(path)
    np.testing.assert_array_equal(load(path).decision_function(outliers), other.decision_function(outliers))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_save_errors_leave_no_temporary_directories(fitted, tmp_path):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ModelFileError, match="a file of that name exists"):
        fitted.save(tmp_path / "taken")
    with pytest.raises(ModelFileError, match="does not exist; create it first"):
        fitted.save(tmp_path / "missing" / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_failed_write_cleans_up_its_staging_directory(fitted, tmp_path, monkeypatch):
    import aedetect.persistence.folder as persistence

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []
