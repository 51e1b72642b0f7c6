"""A saved EnsembleDetector works wherever a detector does: score (files, in memory, stdin), evaluate,
report, serve and export through the command line and the service, with its metadata kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, normal_rows
from fastapi.testclient import TestClient
from hostile.persistence import edit_manifest
from typer.testing import CliRunner

from aedetect import AutoencoderDetector, EnsembleDetector, load
from aedetect.cli import app
from aedetect.persistence.storage import ENSEMBLE_FILE, ModelFileError
from aedetect.serve.app import create_app, load_models

MEMBER = {**FAST, "epochs": 3}
METADATA = {"source": "train.csv", "label_column": "label", "drop": ["id"], "normal_label": "0", "anomaly_label": "1"}


def _labelled(n: int = 40, seed: int = 1) -> pd.DataFrame:
    """Normal rows and a few far-out ones, with an id and a 0/1 label column beside the features."""
    frame = normal_rows(n, seed)
    labels = np.zeros(n, dtype=int)
    labels[-4:] = 1
    frame.iloc[-4:] = frame.iloc[-4:] + 6.0
    return frame.assign(id=[f"r{i}" for i in range(n)], label=labels)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """An ensemble of two members trained through the API, with the metadata the CLI's train sets."""
    ensemble = EnsembleDetector(AutoencoderDetector(**MEMBER), n_members=2).fit(normal_rows(120))
    ensemble.metadata_ = dict(METADATA)
    folder = tmp_path_factory.mktemp("ensemble") / "model"
    ensemble.save(folder)
    return folder


@pytest.fixture(scope="module")
def ensemble(saved) -> EnsembleDetector:
    return load(saved)


@pytest.fixture()
def data(tmp_path) -> tuple[Path, pd.DataFrame]:
    frame = _labelled()
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path, frame


def invoke(*args, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def expected_scores(ensemble, frame: pd.DataFrame) -> np.ndarray:
    return ensemble.decision_function(frame[["a", "b", "c", "d"]])


# -- the interface every consumer relies on -----------------------------------------------------------
def test_metadata_round_trips_and_old_folders_without_it_still_load(saved, tmp_path):
    loaded = load(saved)
    assert isinstance(loaded, EnsembleDetector) and loaded.metadata_ == METADATA
    old = Path(shutil.copytree(saved, tmp_path / "old"))
    edit_manifest(old, lambda m: m.pop("metadata"), name=ENSEMBLE_FILE)
    assert load(old).metadata_ == {}
    edit_manifest(old, lambda m: m.update(metadata=["not", "a", "mapping"]), name=ENSEMBLE_FILE)
    with pytest.raises(ModelFileError, match="metadata"):
        load(old)


def test_the_ensemble_offers_what_a_detector_offers(ensemble):
    member = ensemble.members_[0]
    assert ensemble.data_kind_ == "table" and ensemble.preprocessor_.columns_ == ["a", "b", "c", "d"]
    assert list(ensemble.feature_names_in_) == ["a", "b", "c", "d"] and ensemble.n_features_in_ == 4
    assert ensemble.score == member.score and ensemble.feature_names_out_ == member.feature_names_out_
    frame = _labelled()[["a", "b", "c", "d"]]
    errors, contributions = ensemble.feature_contributions(frame)
    member_errors = np.mean([m.feature_errors(frame).to_numpy() for m in ensemble.members_], axis=0)
    levels = np.mean([m.feature_error_means_ for m in ensemble.members_], axis=0)
    np.testing.assert_allclose(errors, member_errors)
    np.testing.assert_allclose(ensemble.feature_errors(frame).to_numpy(), member_errors)
    np.testing.assert_allclose(contributions, member_errors / levels)
    assert contributions[-4:].max(axis=1).min() > 3  # the far-out rows stand out feature by feature


def test_an_array_fitted_ensemble_has_no_feature_names():
    ensemble = EnsembleDetector(AutoencoderDetector(**MEMBER), n_members=2).fit(normal_rows(60).to_numpy())
    assert not hasattr(ensemble, "feature_names_in_") and ensemble.preprocessor_.columns_ == ["x0", "x1", "x2", "x3"]


def test_members_that_disagree_on_their_columns_are_refused_at_load(saved, tmp_path):
    folder = Path(shutil.copytree(saved, tmp_path / "mixed"))
    other = AutoencoderDetector(**MEMBER).fit(normal_rows(60).rename(columns={"d": "e"}))
    shutil.rmtree(folder / "member_1")
    other.save(folder / "member_1")
    with pytest.raises(ModelFileError, match="members disagree on their columns"):
        load(folder)


# -- the command line -----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_scores_a_file_with_the_ensemble_scores(saved, ensemble, data, tmp_path, suffix):
    path, frame = data
    if suffix == ".parquet":
        path = tmp_path / "data.parquet"
        frame.to_parquet(path, index=False)
    out = tmp_path / f"scores{suffix}"
    result = invoke("score", saved, path, "-o", out, "--id-column", "id")
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(scores.columns) == ["id", "score", "is_anomaly"]
    np.testing.assert_array_equal(scores["score"].to_numpy(), expected_scores(ensemble, frame))
    assert scores["is_anomaly"].tolist() == ensemble.predict(frame[["a", "b", "c", "d"]]).tolist()


def test_cli_scores_json_lines_from_standard_input(saved, ensemble):
    frame = _labelled(12)
    lines = "".join(json.dumps(record) + "\n" for record in frame.to_dict(orient="records"))
    result = invoke("score", saved, "-", "--id-column", "id", input=lines)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in records] == frame["id"].tolist()
    np.testing.assert_allclose([r["score"] for r in records], expected_scores(ensemble, frame), rtol=1e-12)


def test_cli_evaluates_with_the_label_column_saved_in_the_ensemble(saved, data, tmp_path):
    path, _ = data
    result = invoke("evaluate", saved, path, "--json", tmp_path / "metrics.json")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_rows"] == 40 and metrics["n_anomalies"] == 4 and metrics["roc_auc"] > 0.9


def test_cli_writes_a_report_of_the_ensemble(saved, data, tmp_path):
    path, _ = data
    result = invoke("report", saved, path, "-o", tmp_path / "report.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert "ensemble of 2 × " in page and 'data-figure="roc-pr-curves"' in page
    assert 'data-figure="top-anomaly-features"' in page


def test_cli_export_of_an_ensemble_is_one_clear_line(saved, tmp_path):
    result = invoke("export", saved, "-o", tmp_path / "model.onnx")
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "ensemble" in lines[0] and "member_0" in lines[0]
    assert not (tmp_path / "model.onnx").exists()


def test_cli_trains_an_ensemble_that_keeps_its_metadata(data, tmp_path):
    path, frame = data
    out = tmp_path / "trained"
    result = invoke(
        "train",
        path,
        "-o",
        out,
        "--ensemble",
        "2",
        "--label-column",
        "label",
        "--drop",
        "id",
        "--hidden-dims",
        "8",
        "--latent-dim",
        "2",
        "--epochs",
        "2",
        "--device",
        "cpu",
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert "ensemble of 2 members" in result.output
    trained = load(out)
    assert isinstance(trained, EnsembleDetector) and len(trained.members_) == 2
    assert trained.metadata_["label_column"] == "label" and trained.metadata_["drop"] == ["id"]
    assert invoke("score", out, path, "-o", tmp_path / "s.csv").exit_code == 0
    refused = invoke("train", path, "-o", tmp_path / "bad", "--ensemble", "0", "-q")
    assert refused.exit_code == 2 and "ensemble" in refused.output.lower()
    assert not (tmp_path / "bad").exists()


# -- the service ----------------------------------------------------------------------------------------
def test_the_service_scores_and_explains_with_an_ensemble(saved, ensemble):
    client = TestClient(create_app(load_models([f"ens={saved}"])))
    frame = _labelled(12)
    records = frame[["a", "b", "c", "d"]].to_dict(orient="records")
    answer = client.post("/score", json={"records": records, "top_features": 2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    np.testing.assert_allclose(body["scores"], expected_scores(ensemble, frame), rtol=1e-12)
    assert body["n_flagged"] >= 4 and len(body["explanations"]) == body["n_flagged"]
    assert all(len(e["top_features"]) == 2 for e in body["explanations"])
    for name in ("/model", "/models/ens"):
        info = client.get(name)
        assert info.status_code == 200, info.text
        assert info.json()["features"] == ["a", "b", "c", "d"] and info.json()["members"] == 2
    assert client.get("/models/ens").json()["aedetect_version"]
