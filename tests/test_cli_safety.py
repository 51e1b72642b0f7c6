"""The command line's outputs: checked before any work, never an input, nothing left behind when killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST, normal_rows
from typer.testing import CliRunner

from aedetect import AutoencoderDetector
from aedetect.cli import app


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("safety") / "model"
    AutoencoderDetector(**FAST).fit(normal_rows(200)).save(path)
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def labelled(folder: Path) -> Path:
    path = folder / "in.csv"
    normal_rows(40).assign(label=[0] * 35 + [1] * 5).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "command",
    [
        lambda data, missing: ["score", missing, data, "-o", data],
        lambda data, missing: ["score", missing, data, "-o", data, "--only-anomalies", "--id-column", "a"],
        lambda data, missing: ["evaluate", missing, data, "--label-column", "label", "--json", data],
        lambda data, missing: ["report", missing, data, "-o", data],
        lambda data, missing: ["train", data, "-o", data.parent, "-q"],
    ],
    ids=["score", "score-options", "evaluate-json", "report", "train"],
)
def test_an_output_onto_an_input_is_refused_before_the_model_is_read(tmp_path, command):
    data = labelled(tmp_path)
    before = data.read_bytes()
    message = one_line_error(invoke(*command(data, tmp_path / "no-model")))
    assert "input" in message and "no-model" not in message  # the output was checked first
    assert data.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    "command",
    [
        lambda data, missing, out: ["evaluate", missing, data, "--label-column", "label", "--json", out / "m.json"],
        lambda data, missing, out: ["score", missing, data, "-o", out / "s.csv"],
        lambda data, missing, out: ["report", missing, data, "-o", out / "r.html"],
        lambda data, missing, out: ["export", missing, "-o", out / "m.onnx"],
        lambda data, missing, out: ["datasets", "kddcup99", "--data-dir", missing, "-o", out / "k.csv"],
    ],
    ids=["evaluate-json", "score", "report", "export", "datasets"],
)
def test_a_missing_output_folder_is_refused_before_the_model_is_read(tmp_path, command):
    message = one_line_error(invoke(*command(labelled(tmp_path), tmp_path / "no-model", tmp_path / "out")))
    assert "does not exist; create it first" in message and "out" in message and "no-model" not in message


def test_demo_checks_its_report_path_before_training(tmp_path):
    (tmp_path / "demo-report.html").mkdir()
    started = time.perf_counter()
    message = one_line_error(invoke("demo", "-o", tmp_path / "demo-model"))
    assert "demo-report.html" in message and "directory" in message
    assert time.perf_counter() - started < 5 and not (tmp_path / "demo-model").exists()


@pytest.mark.parametrize("value", ["64,x", "8.5", "a"])
def test_hidden_dims_that_are_not_integers(tmp_path, value):
    message = one_line_error(invoke("train", labelled(tmp_path), "-o", tmp_path / "m", "--hidden-dims", value))
    assert message == f"error: --hidden-dims must be comma-separated integers, e.g. 64,32; got {value!r}."


# -- a killed run: no temporary file left for good ---------------------------------------------------
# The run's scoring is slowed down (one sleep per chunk) so that the signal arrives mid-write; the
# command, its signal handling and its files are the real ones.
SLOW_SCORE = """
import runpy, sys, time
from aedetect.batch.core import RowScoringCore
score = RowScoringCore.score
def slow(*args):
    time.sleep(60)
    return score(*args)
RowScoringCore.score = slow
sys.argv = ["aedetect", *sys.argv[1:]]
runpy.run_module("aedetect", run_name="__main__", alter_sys=True)
"""


def _start_slow_score(model: Path, data: Path, output: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCORE, "score", str(model), str(data), "-o", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        temporaries = list(output.parent.glob(f".{output.name}.*.tmp"))
        if temporaries:
            return process, temporaries[0]
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no temporary file appeared: {process.communicate()}")


def test_a_terminated_score_removes_its_temporary_file(model, tmp_path):
    data, output = tmp_path / "in.csv", tmp_path / "scores.csv"
    normal_rows(50).to_csv(data, index=False)
    process, temporary = _start_slow_score(model, data, output)
    assert temporary.name.startswith(f".scores.csv.{process.pid}.")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_the_next_run_removes_the_temporary_file_of_a_killed_one(model, tmp_path):
    data, output = tmp_path / "in.csv", tmp_path / "scores.csv"
    normal_rows(50).to_csv(data, index=False)
    process, temporary = _start_slow_score(model, data, output)
    process.kill()  # SIGKILL: nothing can clean up
    process.communicate(timeout=30)
    assert temporary.exists() and not output.exists()
    result = invoke("score", model, data, "-o", output)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "scores.csv"]
    assert len(pd.read_csv(output)) == 50
