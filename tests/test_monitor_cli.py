"""``aedetect monitor`` and the drift options of stream scoring, through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FAST, normal_rows
from typer.testing import CliRunner

from aedetect import AutoencoderDetector
from aedetect.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitor") / "model"
    AutoencoderDetector(**FAST).fit(normal_rows(2000, seed=0)).save(folder)
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("monitor-data")
    same, moved = normal_rows(600, seed=21), normal_rows(600, seed=22)
    moved["b"] += 1.5
    paths = {"same": folder / "same.parquet", "moved": folder / "moved.csv"}
    same.to_parquet(paths["same"])
    moved.to_csv(paths["moved"], index=False)
    return paths


def test_unchanged_data_exits_0_and_prints_a_verdict_per_check(model, files):
    result = runner.invoke(app, ["monitor", str(model), str(files["same"])])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for title in ("Share flagged", "Score distribution", "Reconstruction error per feature", "Input distribution"):
        line = next(line for line in lines if title in line)
        assert line.startswith("ok") and "statistic" in line and ", p " in line
    assert lines[-1].startswith("no drift found in 600 rows")


def test_drifted_data_exits_1_names_the_column_and_writes_the_page(model, files, tmp_path):
    page = tmp_path / "drift.html"
    result = runner.invoke(app, ["monitor", str(model), str(files["moved"]), "-o", str(page)])
    assert result.exit_code == 1, result.output
    inputs = next(line for line in result.stdout.splitlines() if "Input distribution" in line)
    assert inputs.startswith("DRIFT") and "moved most: b " in inputs
    assert page.is_file() and page.read_text().count("<img") >= 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.parquet"], "missing.parquet"),
        (["{same}", "--alpha", "2"], "alpha must be between 0 and 1"),
        (["{same}", "-o", "{same}"], ""),
    ],
)
def test_bad_input_exits_2_in_one_line(model, files, args, fragment):
    args = [a.format(same=files["same"]) for a in args]
    result = runner.invoke(app, ["monitor", str(model), *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error:" in result.stderr and fragment in result.stderr


def test_stream_scoring_reports_drift_as_json_lines(model, tmp_path):
    rows = np.r_[normal_rows(300, seed=23).to_numpy(), (normal_rows(300, seed=24) + [0, 0, 3, 0]).to_numpy()]
    text = "".join(json.dumps(dict(zip("abcd", map(float, r), strict=True))) + "\n" for r in rows)
    out = tmp_path / "drift.jsonl"
    result = runner.invoke(
        app, ["score", str(model), "-", "--monitor-every", "300", "--monitor-json", str(out)], input=text
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 600
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["records"] for r in reports] == [300, 600] and [r["drifted"] for r in reports] == [False, True]
    on_stderr = runner.invoke(app, ["score", str(model), "-", "--monitor-every", "300"], input=text)
    assert on_stderr.exit_code == 0 and "drift after 600 records" in on_stderr.stderr
