"""The `aedetect` command: train, score, evaluate, datasets, demo; one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from aedetect import AutoencoderDetector, load
from aedetect.cli import app
from aedetect.persistence.storage import WEIGHTS_FILE

TINY = ["--hidden-dims", "8", "--latent-dim", "2", "--epochs", "5", "--seed", "0", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def model_dir(runner, labelled_csv, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "model"
    result = invoke(runner, "train", labelled_csv, "-o", path, "--label-column", "label", "--drop", "id", *TINY)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path


def write_csv(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    path = folder / name
    frame.to_csv(path, index=False)
    return path


# -- train ------------------------------------------------------------------------------------------


def test_train_saves_a_model_and_reports(runner, labelled_csv, tmp_path):
    result = invoke(
        runner, "train", labelled_csv, "-o", tmp_path / "m", "--label-column", "label", "--drop", "id", *TINY
    )
    assert result.exit_code == 0, result.output
    assert "trained on 300 normal rows x 4 columns" in result.stdout
    assert "ROC-AUC" in result.stdout and "confusion matrix" in result.stdout
    detector = load(tmp_path / "m")
    assert detector.metadata_["label_column"] == "label" and detector.metadata_["drop"] == ["id"]
    assert list(detector.feature_names_in_) == ["a", "b", "c", "d"]


def test_train_is_the_python_api_underneath(model_dir, labelled_csv):
    raw = pd.read_csv(labelled_csv)
    features, labels = raw.drop(columns=["id", "label"]), raw["label"].to_numpy()
    detector = AutoencoderDetector(hidden_dims=[8], latent_dim=2, epochs=5, random_state=0, device="cpu")
    detector.fit(features, labels)
    np.testing.assert_array_equal(load(model_dir).decision_function(features), detector.decision_function(features))


def test_train_from_a_builtin_dataset(runner, tmp_path):
    result = invoke(runner, "train", "dataset:wine", "-o", tmp_path / "wine", *TINY)
    assert result.exit_code == 0, result.output
    assert "trained on 130 normal rows x 13 columns" in result.stdout


def test_text_labels_with_star(runner, tmp_path, make_normals):
    frame = make_normals(100).assign(kind=["normal."] * 90 + ["smurf."] * 5 + ["neptune."] * 5)
    data = write_csv(tmp_path, "kdd.csv", frame)
    result = invoke(
        runner,
        "train",
        data,
        "-o",
        tmp_path / "m",
        "--label-column",
        "kind",
        "--normal-label",
        "normal.",
        "--anomaly-label",
        "*",
        *TINY,
    )
    assert result.exit_code == 0, result.output
    assert "trained on 90 normal rows" in result.stdout


def test_toml_config_with_a_flag_overriding_it(runner, labelled_csv, tmp_path):
    config = tmp_path / "train.toml"
    config.write_text(
        'label_column = "label"\ndrop = ["id"]\nhidden_dims = [8]\nlatent_dim = 2\noptimizer = "sgd"\n'
        'learning_rate = 0.01\nmetrics = ["mae", "rmse"]\nepochs = 3\nthreshold = "percentile:95"\n'
        'random_state = 0\ndevice = "cpu"\n'
    )
    result = invoke(
        runner,
        "train",
        labelled_csv,
        "-o",
        tmp_path / "m",
        "--config",
        config,
        "--threshold",
        "percentile:90",
        "-q",
    )
    assert result.exit_code == 0, result.output
    params = load(tmp_path / "m").get_params()
    assert params["optimizer"] == "sgd" and params["learning_rate"] == 0.01 and params["epochs"] == 3
    assert params["threshold"] == "percentile:90"  # the flag wins
    assert params["metrics"] == ["mae", "rmse"] and params["hidden_dims"] == [8]
    assert "val_rmse" in load(tmp_path / "m").history_.values


def test_toml_config_in_a_train_table(runner, labelled_csv, tmp_path):
    config = tmp_path / "train.toml"
    config.write_text('[train]\nlabel_column = "label"\ndrop = ["id"]\nloss = "huber"\nepochs = 2\n')
    result = invoke(runner, "train", labelled_csv, "-o", tmp_path / "m", "--config", config, "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "m").get_params()["loss"] == "huber"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("bogus = 1\n", "Unknown option(s) in the config file: ['bogus']"),
        ("epochs = \n", "Invalid value"),
        ('optimizer = "adagrad"\n', "The 'optimizer' parameter of AutoencoderDetector must be"),
    ],
)
def test_bad_config_files(runner, labelled_csv, tmp_path, text, fragment):
    config = tmp_path / "train.toml"
    config.write_text(text)
    result = invoke(runner, "train", labelled_csv, "-o", tmp_path / "m", "--config", config, "-q")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "m").exists()


def test_missing_config_file(runner, labelled_csv, tmp_path):
    result = invoke(runner, "train", labelled_csv, "-o", tmp_path / "m", "--config", tmp_path / "none.toml")
    assert_one_line_error(result, "Config file", "does not exist")


def test_train_summarises_a_series_per_time_point_with_the_numbers_of_evaluate(runner, tmp_path):
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(400) / 4.0) + 0.3 * rng.normal(size=400)
    labels = np.zeros(400, dtype=int)
    for start in (120, 260, 330):
        values[start : start + 3] += 1.5
        labels[start : start + 3] = 1
    stamps = pd.date_range("2024-01-01", periods=400, freq="h")
    data = write_csv(tmp_path, "series.csv", pd.DataFrame({"timestamp": stamps, "value": values, "label": labels}))
    trained = invoke(
        runner, "train", data, "--window", "16", "--timestamp-column", "timestamp", "--label-column", "label",
        "-o", tmp_path / "m", *TINY,
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "on the training data, 400 time points" in trained.stdout
    evaluated = invoke(runner, "evaluate", tmp_path / "m", data)
    assert evaluated.exit_code == 0, evaluated.output

    def numbers(text: str) -> list[str]:
        """The metrics row, the confusion matrix and what the threshold means, as printed."""
        lines = text.splitlines()
        row = lines[next(i for i, line in enumerate(lines) if "ROC-AUC" in line) + 2]
        return [row, *(line for line in lines if line.startswith(("confusion matrix", "threshold ")))]

    assert "on 400 labelled rows precision" in numbers(evaluated.stdout)[-1]
    assert numbers(trained.stdout) == numbers(evaluated.stdout)


# -- train: bad input ends in one line, exit code 2, and no model --------------------------------------


def _nan(frame):
    frame = frame.astype({"b": float})
    frame.loc[3, "b"] = np.nan
    return frame


TRAIN_DATA_ERRORS = {
    "nan": (_nan, [], ["Column 'b' has 1 NaN", "--impute median"]),
    "text column": (
        lambda f: f.assign(colour="red"),
        [],
        ["Column 'colour' is not numeric", "--categorical colour"],
    ),
    "zero normal rows": (lambda f: f.assign(label=1), ["--label-column", "label"], ["zero normal rows"]),
    "undeclared labels": (
        lambda f: f.assign(label=np.arange(len(f)) % 3),
        ["--label-column", "label"],
        ["values other than the declared normal", "['2']"],
    ),
    "missing label column": (
        lambda f: f,
        ["--label-column", "target"],
        ["Label column 'target' is not in the data"],
    ),
    "missing feature": (
        lambda f: f,
        ["--features", "a,zz"],
        ["Feature column(s) ['zz'] are not in the data"],
    ),
}


@pytest.mark.parametrize("case", sorted(TRAIN_DATA_ERRORS))
def test_train_rejects_bad_data(runner, tmp_path, make_normals, case):
    change, flags, fragments = TRAIN_DATA_ERRORS[case]
    data = write_csv(
        tmp_path,
        "data.csv",
        change(make_normals(60).assign(label=0)).drop(columns=[] if flags else ["label"]),
    )
    result = invoke(runner, "train", data, "-o", tmp_path / "m", *flags, *TINY)
    assert_one_line_error(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


@pytest.mark.parametrize(("content", "fragment"), [("", "is empty"), ("a,b\n", "has no rows")])
def test_train_rejects_empty_files(runner, tmp_path, content, fragment):
    (tmp_path / "data.csv").write_text(content)
    result = invoke(runner, "train", tmp_path / "data.csv", "-o", tmp_path / "m", *TINY)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--optimizer", "adagrad"),
        ("--loss", "hinge"),
        ("--metrics", "mae,accuracy"),
        ("--threshold", "median:3"),
        ("--activation", "swish"),
        ("--dropout", "1.0"),
        ("--latent-dim", "0"),
        ("--scaler", "zscore"),
    ],
)
def test_train_rejects_unknown_options_before_reading_data(runner, tmp_path, flag, value):
    # The data file does not exist: the option is checked first.
    result = invoke(runner, "train", tmp_path / "absent.csv", "-o", tmp_path / "m", flag, value)
    parameter = flag[2:].replace("-", "_")
    assert_one_line_error(result, f"The '{parameter}' parameter of AutoencoderDetector must be")
    assert not (tmp_path / "m").exists()


def test_train_rejects_a_missing_data_file(runner, tmp_path):
    result = invoke(runner, "train", tmp_path / "absent.csv", "-o", tmp_path / "m")
    assert_one_line_error(result, "does not exist")


def test_train_into_a_missing_folder(runner, labelled_csv, tmp_path):
    result = invoke(runner, "train", labelled_csv, "-o", tmp_path / "missing" / "m", "--drop", "id,label", *TINY)
    assert_one_line_error(result, "does not exist; create it first")
    assert list(tmp_path.iterdir()) == []


def test_bce_needs_minmax_on_the_command_line(runner, labelled_csv, tmp_path):
    result = invoke(runner, "train", labelled_csv, "-o", tmp_path / "m", "--loss", "bce", "--label-column", "label")
    assert_one_line_error(result, "loss='bce' needs inputs in [0, 1]")


def test_train_asks_which_a_label_like_column_is(runner, tmp_path, make_normals):
    # Training on a forgotten label column would learn the label as a feature, and the anomalies.
    data = write_csv(tmp_path, "data.csv", make_normals(60).assign(Is_Anomaly=[0] * 55 + [1] * 5))
    result = invoke(runner, "train", data, "-o", tmp_path / "m", *TINY)
    assert_one_line_error(result, "'Is_Anomaly' looks like a label", "--label-column Is_Anomaly", "--no-label-column")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]

    result = invoke(runner, "train", data, "-o", tmp_path / "as-label", "--label-column", "Is_Anomaly", *TINY)
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "as-label").n_features_in_ == 4

    result = invoke(runner, "train", data, "-o", tmp_path / "as-feature", "--no-label-column", *TINY)
    assert result.exit_code == 0, result.output
    assert list(load(tmp_path / "as-feature").feature_names_in_)[-1] == "Is_Anomaly"

    both = invoke(runner, "train", data, "-o", tmp_path / "x", "--no-label-column", "--label-column", "Is_Anomaly")
    assert_one_line_error(both, "either --label-column or --no-label-column")


def test_a_label_like_name_with_other_than_two_values_is_a_feature(runner, tmp_path, make_normals):
    frame = make_normals(60).assign(target=np.arange(60) % 3, y=1.5)
    result = invoke(runner, "train", write_csv(tmp_path, "data.csv", frame), "-o", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "m").n_features_in_ == 6


def test_every_detector_parameter_option_reaches_the_detector(runner, labelled_csv, tmp_path):
    options = ["--hidden-dims", "6,3", "--latent-dim", "2", "--epochs", "2", "--seed", "7", "--device", "cpu"]
    options += ["--metrics", "mse,rmse", "--no-rotation-head", "--dropout", "0.1", "--threshold", "percentile:95"]
    result = invoke(runner, "train", labelled_csv, "-o", tmp_path / "m", "--drop", "id,label", "-q", *options)
    assert result.exit_code == 0, result.output
    params = load(tmp_path / "m").get_params()
    assert params["hidden_dims"] == [6, 3] and params["latent_dim"] == 2 and params["epochs"] == 2
    assert params["random_state"] == 7 and list(params["metrics"]) == ["mse", "rmse"]
    assert params["rotation_head"] is False and params["dropout"] == 0.1 and params["threshold"] == "percentile:95"


# -- score ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_rows_with_score_and_flag(runner, model_dir, labelled_csv, tmp_path, suffix):
    out = tmp_path / f"scores{suffix}"
    result = invoke(runner, "score", model_dir, labelled_csv, "-o", out)
    assert result.exit_code == 0, result.output
    assert "scored 310 rows" in result.stdout
    scores = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    raw = pd.read_csv(labelled_csv)
    assert list(scores.columns) == [*raw.columns, "score", "is_anomaly"]
    pd.testing.assert_frame_equal(scores[raw.columns], raw)
    detector = load(model_dir)
    expected = detector.decision_function(raw[["a", "b", "c", "d"]])
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-12)
    np.testing.assert_array_equal(scores["is_anomaly"], (expected > detector.threshold_).astype(int))
    assert scores["is_anomaly"].iloc[-10:].all()  # the outliers


def test_score_with_an_id_column(runner, model_dir, labelled_csv, tmp_path):
    out = tmp_path / "scores.csv"
    result = invoke(runner, "score", model_dir, labelled_csv, "-o", out, "--id-column", "id")
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["id", "score", "is_anomaly"]
    assert scores["id"].tolist() == list(range(310))


def test_score_without_the_label_column(runner, model_dir, labelled_csv, tmp_path):
    data = write_csv(tmp_path, "unlabelled.csv", pd.read_csv(labelled_csv).drop(columns=["label", "id"]))
    result = invoke(runner, "score", model_dir, data, "-o", tmp_path / "s.csv")
    assert result.exit_code == 0, result.output


def test_score_with_another_threshold_rule(runner, model_dir, labelled_csv, tmp_path):
    out = tmp_path / "scores.csv"
    result = invoke(runner, "score", model_dir, labelled_csv, "-o", out, "--threshold", "percentile:50")
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    detector = load(model_dir)
    threshold = np.percentile(detector.calibration_scores_, 50)  # refitted on the held-out normal rows
    assert threshold < detector.threshold_
    np.testing.assert_array_equal(scores["is_anomaly"], (scores["score"] > threshold).astype(int))


def _tamper(model: Path, folder: Path) -> Path:
    copy = folder / "tampered"
    shutil.copytree(model, copy)
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[-3] ^= 0x01
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    return copy


SCORE_ERRORS = {
    "missing column": (lambda f: f.drop(columns=["d"]), [], ["lacks training column(s) ['d']"]),
    "extra column": (lambda f: f.assign(e=1.0), [], ["did not train on ['e']", "--drop"]),
    "nan": (_nan, [], ["Column 'b' has 1 NaN"]),
    "text": (lambda f: f.assign(c="x"), [], ["Column 'c' is not numeric"]),
    "unknown id column": (lambda f: f, ["--id-column", "key"], ["Id column 'key' is not in the data"]),
    "unknown threshold": (lambda f: f, ["--threshold", "median:3"], ["Unknown threshold rule 'median'"]),
    "best_f1 without labels": (lambda f: f, ["--threshold", "best_f1"], ["needs labels"]),
}


@pytest.mark.parametrize("case", sorted(SCORE_ERRORS))
def test_score_rejects_bad_data_and_writes_nothing(runner, model_dir, labelled_csv, tmp_path, case):
    change, flags, fragments = SCORE_ERRORS[case]
    data = write_csv(tmp_path, "data.csv", change(pd.read_csv(labelled_csv)))
    result = invoke(runner, "score", model_dir, data, "-o", tmp_path / "scores.csv", *flags)
    assert_one_line_error(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_score_rejects_missing_and_tampered_models(runner, model_dir, labelled_csv, tmp_path):
    result = invoke(runner, "score", tmp_path / "no-model", labelled_csv, "-o", tmp_path / "s.csv")
    assert_one_line_error(result, "No model at", "does not exist")
    tampered = _tamper(model_dir, tmp_path)
    result = invoke(runner, "score", tampered, labelled_csv, "-o", tmp_path / "s.csv")
    assert_one_line_error(result, "do not match their recorded checksum")
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("name", ["missing/scores.csv", "scores.json"])
def test_score_rejects_unwritable_outputs(runner, model_dir, labelled_csv, tmp_path, name):
    result = invoke(runner, "score", model_dir, labelled_csv, "-o", tmp_path / name)
    assert_one_line_error(result, "Cannot write")
    assert list(tmp_path.iterdir()) == []


def test_score_rejects_an_empty_file(runner, model_dir, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    result = invoke(runner, "score", model_dir, tmp_path / "empty.csv", "-o", tmp_path / "s.csv")
    assert_one_line_error(result, "is empty")
    assert not (tmp_path / "s.csv").exists()


# -- evaluate ---------------------------------------------------------------------------------------


def test_evaluate_prints_the_report_and_writes_json(runner, model_dir, labelled_csv, tmp_path):
    result = invoke(runner, "evaluate", model_dir, labelled_csv, "--json", tmp_path / "metrics.json")
    assert result.exit_code == 0, result.output
    for text in ("ROC-AUC", "PR-AUC", "precision at n", "confusion matrix", "anomaly"):
        assert text in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    raw = pd.read_csv(labelled_csv)
    scores = load(model_dir).decision_function(raw[["a", "b", "c", "d"]])
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(raw["label"], scores))
    assert metrics["n_rows"] == 310 and metrics["n_anomalies"] == 10


def test_evaluate_with_best_f1(runner, model_dir, labelled_csv, tmp_path):
    result = invoke(
        runner, "evaluate", model_dir, labelled_csv, "--threshold", "best_f1", "--json", tmp_path / "m.json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["f1"] == 1.0


def test_evaluate_errors(runner, model_dir, labelled_csv, tmp_path):
    unlabelled = write_csv(tmp_path, "u.csv", pd.read_csv(labelled_csv).drop(columns=["label"]))
    assert_one_line_error(invoke(runner, "evaluate", model_dir, unlabelled), "Label column 'label' is not in the data")
    assert_one_line_error(invoke(runner, "evaluate", tmp_path / "none", labelled_csv), "does not exist")
    result = invoke(runner, "evaluate", model_dir, labelled_csv, "--json", tmp_path / "missing" / "m.json")
    assert_one_line_error(result, "does not exist; create it first")


def test_report_names_rows_by_an_id_column(runner, model_dir, labelled_csv, tmp_path, monkeypatch):
    import aedetect.report.page

    monkeypatch.setattr(aedetect.report.page, "figure_png", lambda figure: b"")
    frame = pd.read_csv(labelled_csv).assign(id=lambda f: [f"tx-{i + 100}" for i in range(len(f))])
    data = write_csv(tmp_path, "ids.csv", frame)
    result = invoke(runner, "report", model_dir, data, "-o", tmp_path / "r.html", "--id-column", "id")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    top = int(np.argmax(load(model_dir).decision_function(frame[["a", "b", "c", "d"]])))
    assert '"table":{"name":"id","rows":[["' + frame["id"][top] + '",' in page
    assert_one_line_error(
        invoke(runner, "report", model_dir, data, "-o", tmp_path / "s.html", "--id-column", "key"), "'key'", "columns"
    )


# -- datasets and demo ------------------------------------------------------------------------------


def test_datasets_lists_and_writes(runner, tmp_path):
    listing = invoke(runner, "datasets")
    assert listing.exit_code == 0
    for name in ("seed-imbalanced", "seed-gaussian", "breast-cancer", "wine", "kddcup99"):
        assert name in listing.stdout
    result = invoke(runner, "datasets", "wine", "-o", tmp_path / "wine.parquet")
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "wine.parquet")
    assert frame.shape == (178, 14) and frame["label"].sum() == 48


def test_datasets_errors(runner, tmp_path):
    assert_one_line_error(invoke(runner, "datasets", "wine"), "Give --output FILE")
    assert_one_line_error(invoke(runner, "datasets", "nope", "-o", tmp_path / "x.csv"), "Unknown dataset 'nope'")
    assert list(tmp_path.iterdir()) == []


def test_demo_on_a_tiny_stand_in_dataset(runner, tmp_path, monkeypatch, labelled):
    # The real demo trains on 100,000 rows for about 10 s; the same steps on a tiny table, with a
    # short schedule and without drawing the HTML report's figures, keep the test fast.
    import aedetect.data.datasets
    import aedetect.detector

    try:
        import aedetect.report.page
    except ImportError:  # a version without the HTML report
        pass
    else:
        monkeypatch.setattr(aedetect.report.page, "write_report", lambda *args, **kwargs: None)

    frame, labels = labelled
    big = pd.concat([frame] * 2, ignore_index=True)
    monkeypatch.setattr(aedetect.data.datasets, "load_dataset", lambda name: (big, np.r_[labels, labels]))
    monkeypatch.setattr(aedetect.detector, "default_schedule", lambda n_rows, data_kind=None: (32, 5, 1e-3))
    result = invoke(runner, "demo", "-o", tmp_path / "demo" / "model")
    assert result.exit_code == 0, result.output
    assert "test split: 124 rows" in result.stdout and "model saved to" in result.stdout
    # The threshold, with what it means: the share of held-out normal rows above it, precision and recall.
    assert re.search(
        r"threshold false_alarm_rate:0.01 = \S+: flags \S+% of held-out normal rows \(\d+ of \d+\); "
        r"on 124 labelled rows precision \d\.\d{3}, recall \d\.\d{3}",
        result.stdout,
    ), result.stdout
    detector = load(tmp_path / "demo" / "model")
    assert detector.n_features_in_ == 4 and detector.history_.stopped_epoch <= 5


def test_no_arguments_shows_help(runner):
    result = runner.invoke(app, [])
    assert "train" in result.output and "score" in result.output


# -- the installed entry point ---------------------------------------------------------------------


def _entry_point() -> list[str]:
    script = Path(sys.executable).with_name("aedetect")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aedetect.cli"]


def test_installed_command_exits_2_without_a_traceback(tmp_path, make_normals):
    data = write_csv(tmp_path, "data.csv", _nan(make_normals(30)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*_entry_point(), "train", str(data), "-o", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: Column 'b' has 1 NaN")
    assert "\n" not in done.stderr.strip()
    assert not (tmp_path / "m").exists()
