"""Images and series: the convolutional and LSTM models under the detector contract, and their readers."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pandas as pd
import pytest

from aedetect import AutoencoderDetector, load
from aedetect.data.images import read_idx, read_image_folder
from aedetect.data.windows import make_windows, point_scores, read_series
from aedetect.scoring.statistics import rotation_nll

FAST_ARRAY = dict(epochs=12, batch_size=32, random_state=1, device="cpu")


def square_images(n: int, seed: int, anomaly: bool = False) -> np.ndarray:
    """12x12 uint8 images: a bright square in the middle (normal) or a vertical bar (anomaly)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(n, 12, 12)).astype(np.int64)
    if anomaly:
        images[:, 1:11, 5:7] += 200
    else:
        images[:, 4:8, 4:8] += 180
    return np.clip(images, 0, 255).astype(np.uint8)


def sine_windows(n: int, seed: int, length: int = 24, channels: int = 1, spike: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    steps = np.arange(length)[None, :, None]
    windows = np.sin(2 * np.pi * steps / 12 + phase + np.arange(channels)) + 0.05 * rng.normal(
        size=(n, length, channels)
    )
    if spike:
        windows[:, length // 2] += 4.0
    return windows


CASES = {
    "conv2d grayscale": (dict(), lambda n, s, a=False: square_images(n, s, a)),
    "conv2d colour": (
        dict(architecture="conv2d"),
        lambda n, s, a=False: np.repeat(square_images(n, s, a)[..., None], 3, axis=-1),
    ),
    "conv1d": (dict(architecture="conv1d"), lambda n, s, a=False: sine_windows(n, s, spike=a)),
    "conv1d two channels": (dict(architecture="conv1d"), lambda n, s, a=False: sine_windows(n, s, channels=2, spike=a)),
    "lstm": (dict(architecture="lstm", hidden_dims=[16]), lambda n, s, a=False: sine_windows(n, s, spike=a)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_contract_over_architectures(name, tmp_path):
    params, make = CASES[name]
    detector = AutoencoderDetector(**FAST_ARRAY, **params).fit(make(200, 0))
    normals, anomalies = make(40, 1), make(10, 2, True)
    normal_scores, anomaly_scores = detector.decision_function(normals), detector.decision_function(anomalies)
    assert np.isfinite(normal_scores).all()
    assert np.median(anomaly_scores) > np.percentile(normal_scores, 95)
    assert detector.predict(anomalies).mean() >= 0.9
    assert detector.predict(normals).mean() <= 0.2

    maps = detector.error_maps(anomalies)
    assert maps.shape == anomalies.shape[: 3 if detector.data_kind_ == "image" else 2]
    assert detector.reconstruct(normals).shape == (len(normals), int(np.prod(normals.shape[1:])))

    detector.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    probe = np.concatenate([normals, anomalies])
    np.testing.assert_array_equal(loaded.decision_function(probe), detector.decision_function(probe))
    np.testing.assert_array_equal(loaded.predict(probe), detector.predict(probe))
    assert loaded.data_kind_ == detector.data_kind_


def corner_images(n: int, seed: int) -> np.ndarray:
    """12x12 uint8 images with an upright pose: a bright L along the top row and the left column."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(n, 12, 12)).astype(np.int64)
    images[:, 1:3, 1:11] += 200
    images[:, 1:11, 1:3] += 200
    return np.clip(images, 0, 255).astype(np.uint8)


def test_square_images_learn_their_pose_and_turned_images_score_higher():
    detector = AutoencoderDetector(**FAST_ARRAY, rotation_head=True).fit(corner_images(200, 0))
    assert detector.model_.rotation is not None and len(detector.score_scales_) == 4
    assert "rotation" in detector.history_.values and "val_rotation" in detector.history_.values
    # The share of held-out quarter turns the head tells right is logged per epoch: an L in a corner
    # has a pose that can be read.
    accuracy = detector.history_.values["val_rotation_accuracy"]
    assert all(0 <= a <= 1 for a in accuracy) and accuracy[detector.history_.best_epoch - 1] > 0.9
    normals = corner_images(40, 1)
    turned = np.rot90(corner_images(10, 2), 2, axes=(1, 2))  # the L upside down
    normal_scores, turned_scores = detector.decision_function(normals), detector.decision_function(turned)
    assert np.median(turned_scores) > np.percentile(normal_scores, 95)
    matrix = detector.preprocessor_.transform

    def nll(rows):
        return rotation_nll(detector.model_, rows, detector.device_)

    assert np.median(nll(matrix(turned))) > 3 * np.median(nll(matrix(normals)))


def test_by_default_the_rotation_head_stays_only_where_held_out_images_show_their_pose(tmp_path):
    from aedetect.diagnostics import summary_lines

    # An L in a corner has a pose, 60 held-out images judge it: kept. A square in the middle looks the
    # same turned: dropped, and so is the head of a class with too few held-out images to judge.
    posed = AutoencoderDetector(**FAST_ARRAY).fit(corner_images(600, 0))
    symmetric = AutoencoderDetector(**FAST_ARRAY).fit(square_images(600, 0))
    few = AutoencoderDetector(**FAST_ARRAY).fit(corner_images(200, 0))
    assert posed.model_.rotation is not None and posed.model_config_.rotation_head is True
    assert len(posed.score_scales_) == 4
    for dropped in (symmetric, few):
        assert dropped.model_.rotation is None and dropped.model_config_.rotation_head is False
        assert len(dropped.score_scales_) == 3 and "val_rotation_accuracy" in dropped.history_.values
    accuracy = symmetric.history_.values["val_rotation_accuracy"][symmetric.history_.best_epoch - 1]
    assert accuracy < 0.9
    # The L's pose is read on 20 held-out images too: that head goes for their number alone.
    assert few.history_.values["val_rotation_accuracy"][few.history_.best_epoch - 1] >= 0.9
    assert any("too few held-out images to judge" in line for line in summary_lines(few))
    assert any(line.startswith("rotation head: kept (") for line in summary_lines(posed))
    said = [line for line in summary_lines(symmetric) if line.startswith("rotation head: left out (")]
    assert len(said) == 1 and f"{accuracy:.0%} of held-out quarter turns told right" in said[0]
    assert "rotation_head=True" in said[0] and "too few" not in said[0]
    # The choice is saved: the loaded model has no head and scores as the fitted one.
    symmetric.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.model_.rotation is None and loaded.rotation_head == "auto"
    images = square_images(20, 5)
    assert np.array_equal(loaded.decision_function(images), symmetric.decision_function(images))
    # Asked for, the head stays whatever the images show.
    forced = AutoencoderDetector(**FAST_ARRAY, rotation_head=True).fit(square_images(200, 0))
    assert forced.model_.rotation is not None and forced.model_config_.rotation_head is True
    assert any("rotation_head=True keeps it" in line for line in summary_lines(forced))


def test_the_rotation_head_is_off_when_asked_and_for_non_square_images():
    off = AutoencoderDetector(**FAST_ARRAY, rotation_head=False).fit(square_images(60, 0))
    oblong = AutoencoderDetector(**FAST_ARRAY).fit(square_images(60, 0)[:, :, :10])
    for detector in (off, oblong):
        assert detector.model_.rotation is None and len(detector.score_scales_) == 3
        assert "rotation" not in detector.history_.values
    with pytest.raises(ValueError, match="rotation_head"):
        AutoencoderDetector(rotation_head="yes").fit(square_images(60, 0))


def test_the_error_map_points_at_the_anomalous_pixels():
    detector = AutoencoderDetector(**FAST_ARRAY).fit(square_images(200, 0))
    odd = square_images(5, 3)
    odd[:, 0:2, 0:2] = 255  # a bright corner where normal images are dark
    maps = detector.error_maps(odd)
    assert maps[:, 0:2, 0:2].mean() > 5 * maps[:, 4:12, 4:12].mean()


def test_pixel_scaling_is_stored_and_stated(tmp_path):
    detector = AutoencoderDetector(**FAST_ARRAY).fit(square_images(100, 0))
    assert detector.preprocessor_.scaler == "minmax"
    detector.save(tmp_path / "m")
    state = load(tmp_path / "m").preprocessor_.get_state()
    assert state["scaler"] == "minmax" and state["sample_shape"] == [12, 12, 1]
    assert state["offset"] == detector.preprocessor_.offset_ and state["scale"] == detector.preprocessor_.scale_


def test_images_of_another_size_are_refused_with_the_sizes():
    detector = AutoencoderDetector(**FAST_ARRAY).fit(square_images(60, 0))
    with pytest.raises(ValueError, match=r"shape \(10, 10, 1\) but the model was trained on \(12, 12, 1\)"):
        detector.decision_function(np.zeros((3, 10, 10), dtype=np.uint8))


def test_a_dense_model_refuses_images_with_the_fix():
    with pytest.raises(ValueError, match="architecture='dense' needs a 2-D table.*conv2d"):
        AutoencoderDetector(architecture="dense").fit(square_images(10, 0))


def test_a_table_of_sequences_trains_a_conv1d_model():
    rows = pd.DataFrame(sine_windows(150, 0)[:, :, 0], columns=[f"t{i}" for i in range(24)])
    detector = AutoencoderDetector(architecture="conv1d", **FAST_ARRAY).fit(rows)
    assert detector.model_kind_ == "conv" and detector.preprocessor_.input_shape_ == [1, 24]
    with pytest.raises(ValueError, match="feature names differ"):
        detector.decision_function(rows.rename(columns={"t0": "x"}))


# -- readers -------------------------------------------------------------------------------------------
def _write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_round_trip(tmp_path, compress):
    images = square_images(5, 0)
    path = tmp_path / ("images-idx3-ubyte" + (".gz" if compress else ""))
    _write_idx(path, images, compress)
    np.testing.assert_array_equal(read_idx(path), images)


def test_a_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    _write_idx(path, square_images(5, 0), compress=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or damaged"):
        read_idx(path)


def _save_images(folder, images) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")


def test_an_image_folder_with_normal_and_anomaly_subfolders_is_labelled(tmp_path):
    _save_images(tmp_path / "normal", square_images(4, 0))
    _save_images(tmp_path / "anomaly", square_images(2, 1, anomaly=True))
    images, labels, names = read_image_folder(tmp_path)
    assert images.shape == (6, 12, 12) and labels.tolist() == [0, 0, 0, 0, 1, 1]
    assert names[0] == "normal/000.png" and names[-1] == "anomaly/001.png"


def test_images_of_mixed_sizes_and_unreadable_files_are_clear_errors(tmp_path):
    _save_images(tmp_path / "mixed", [square_images(1, 0)[0], np.zeros((8, 8), dtype=np.uint8)])
    with pytest.raises(ValueError, match="Images of mixed sizes: 000.png is 12x12 but 001.png is 8x8"):
        read_image_folder(tmp_path / "mixed")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="Cannot read the image .*a.png"):
        read_image_folder(tmp_path / "broken")


# -- windows -------------------------------------------------------------------------------------------
def test_windows_cover_the_series_in_order():
    windows = make_windows(np.arange(10.0), length=4, stride=3)
    assert windows[:, :, 0].tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]


def test_a_series_shorter_than_one_window_is_a_clear_error():
    with pytest.raises(ValueError, match="has 5 points, shorter than one window of 8"):
        make_windows(np.arange(5.0), length=8)


def test_a_missing_timestamp_column_is_a_clear_error():
    with pytest.raises(ValueError, match="timestamp column 'time' is not in the data"):
        read_series(pd.DataFrame({"stamp": [1, 2], "value": [0.0, 1.0]}), "time")


def test_point_scores_localise_a_spike():
    series = np.sin(np.arange(400) / 5.0)
    series[300] += 5
    detector = AutoencoderDetector(architecture="conv1d", **FAST_ARRAY).fit(make_windows(series[:250], 20))
    points = point_scores(detector.decision_function(make_windows(series, 20)), len(series), 20)
    flagged = np.flatnonzero(points > detector.threshold_)
    assert flagged.tolist() == [300]


# -- command line ----------------------------------------------------------------------------------------
def _cli(*args):
    from typer.testing import CliRunner

    from aedetect.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and fragment in message, message


def test_cli_trains_scores_and_evaluates_an_image_folder(tmp_path):
    _save_images(tmp_path / "train", square_images(120, 0))
    _save_images(tmp_path / "test" / "normal", square_images(20, 1))
    _save_images(tmp_path / "test" / "anomaly", square_images(6, 2, anomaly=True))
    result = _cli("train", tmp_path / "train", "-o", tmp_path / "m", "--epochs", "12", "--quiet")
    assert result.exit_code == 0, result.output
    assert "trained on 120 normal images x 144 pixel values" in result.stdout
    result = _cli("score", tmp_path / "m", tmp_path / "test", "-o", tmp_path / "scores.csv")
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores["image"].tolist()[0] == "normal/000.png" and len(scores) == 26
    assert scores.loc[scores["image"].str.startswith("anomaly"), "is_anomaly"].mean() == 1.0
    result = _cli("evaluate", tmp_path / "m", tmp_path / "test", "--json", tmp_path / "metrics.json")
    assert result.exit_code == 0, result.output
    assert pd.read_json(tmp_path / "metrics.json", typ="series")["roc_auc"] > 0.9


def test_cli_scores_a_series_per_time_point(tmp_path):
    stamps = pd.date_range("2024-01-01", periods=700, freq="5min")
    values = np.sin(np.arange(700) / 5.0)
    pd.DataFrame({"timestamp": stamps[:400], "value": values[:400]}).to_csv(tmp_path / "train.csv", index=False)
    values[600] += 5
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(tmp_path / "new.csv", index=False)
    result = _cli(
        "train",
        tmp_path / "train.csv",
        "--timestamp-column",
        "timestamp",
        "--window",
        "20",
        "-o",
        tmp_path / "m",
        "--epochs",
        "12",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    result = _cli("score", tmp_path / "m", tmp_path / "new.csv", "-o", tmp_path / "points.csv")
    assert result.exit_code == 0, result.output
    points = pd.read_csv(tmp_path / "points.csv")
    assert len(points) == 700 and points.index[points["is_anomaly"] == 1].tolist() == [600]


def test_cli_bad_images_and_series_are_one_line_errors(tmp_path):
    _save_images(tmp_path / "mixed", [square_images(1, 0)[0], np.zeros((8, 8), dtype=np.uint8)])
    _one_line_error(_cli("train", tmp_path / "mixed", "-o", tmp_path / "m"), "Images of mixed sizes")
    pd.DataFrame({"timestamp": range(10), "value": np.arange(10.0)}).to_csv(tmp_path / "short.csv", index=False)
    _one_line_error(
        _cli(
            "train", tmp_path / "short.csv", "--window", "20", "--timestamp-column", "timestamp", "-o", tmp_path / "m"
        ),
        "shorter than one window of 20",
    )
    _one_line_error(
        _cli("train", tmp_path / "short.csv", "--window", "4", "--timestamp-column", "time", "-o", tmp_path / "m"),
        "timestamp column 'time' is not in the data",
    )
    assert not (tmp_path / "m").exists()
