"""Output paths: an output that is an input, a folder that is missing or read-only, a bad option.

Every case keeps its inputs in the case's folder, so the harness proves that they are byte-identical
afterwards and that no output or temporary file was left behind.
"""

from __future__ import annotations

import os

import pytest

from hostile import CliCase, Context


def _data(ctx: Context, name: str = "in.csv", ids: bool = False, labels: bool = False):
    frame = ctx.normal(40)
    if ids:
        frame.insert(0, "id", range(len(frame)))
    if labels:
        frame["label"] = [0] * 35 + [1] * 5
    path = ctx.folder / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def score_onto_input(ctx: Context) -> list:
    data = _data(ctx)
    return ["score", ctx.model(), data, "-o", data]


def score_onto_parquet_input(ctx: Context) -> list:
    data = _data(ctx, "in.parquet")
    return ["score", ctx.model(), data, "-o", data]


def score_onto_input_only_anomalies(ctx: Context) -> list:
    data = _data(ctx)
    return ["score", ctx.model(), data, "-o", data, "--only-anomalies"]


def score_onto_input_id_column(ctx: Context) -> list:
    data = _data(ctx, ids=True)
    return ["score", ctx.model(), data, "-o", data, "--id-column", "id"]


def score_onto_input_via_symlink(ctx: Context) -> list:
    data = _data(ctx)
    (ctx.folder / "out.csv").symlink_to("in.csv")
    return ["score", ctx.model(), data, "-o", ctx.folder / "out.csv"]


def score_onto_input_via_hard_link(ctx: Context) -> list:
    data = _data(ctx)
    os.link(data, ctx.folder / "out.csv")
    return ["score", ctx.model(), data, "-o", ctx.folder / "out.csv"]


def score_onto_model_file(ctx: Context) -> list:
    model = ctx.model()
    (model / "notes.csv").write_text("a\n1\n")  # a table inside the model folder is the model's
    return ["score", model, _data(ctx), "-o", model / "notes.csv"]


def evaluate_json_onto_data(ctx: Context) -> list:
    data = _data(ctx, "labelled.csv", labels=True)
    return ["evaluate", ctx.model(), data, "--label-column", "label", "--json", data]


def evaluate_json_onto_model(ctx: Context) -> list:
    model = ctx.model()
    data = _data(ctx, "labelled.csv", labels=True)
    return ["evaluate", model, data, "--label-column", "label", "--json", model / "model.json"]


def evaluate_json_missing_folder(ctx: Context) -> list:
    data = _data(ctx, "labelled.csv", labels=True)
    return ["evaluate", ctx.model(), data, "--label-column", "label", "--json", ctx.folder / "missing" / "m.json"]


def evaluate_json_is_directory(ctx: Context) -> list:
    data = _data(ctx, "labelled.csv", labels=True)
    (ctx.folder / "metrics").mkdir()
    return ["evaluate", ctx.model(), data, "--label-column", "label", "--json", ctx.folder / "metrics"]


def report_onto_data(ctx: Context) -> list:
    data = _data(ctx)
    return ["report", ctx.model(), data, "-o", data]


def export_missing_folder(ctx: Context) -> list:
    return ["export", ctx.model(), "-o", ctx.folder / "missing" / "m.onnx"]


def datasets_onto_directory(ctx: Context) -> list:
    (ctx.folder / "seed.csv").mkdir()
    return ["datasets", "seed-imbalanced", "-o", ctx.folder / "seed.csv"]


def train_onto_input_folder(ctx: Context) -> list:
    data = ctx.folder / "table"
    data.mkdir()
    _data(ctx, "table/in.csv")
    return ["train", data / "in.csv", "-o", data, "--epochs", "1", "-q"]


def train_hidden_dims_not_integers(ctx: Context) -> list:
    return ["train", _data(ctx), "-o", ctx.folder / "m", "--hidden-dims", "64,x", "-q"]


def score_read_only_folder(ctx: Context) -> list:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = ctx.folder / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return ["score", ctx.model(), _data(ctx), "-o", folder / "s.csv"]


def score_missing_folder(ctx: Context) -> list:
    return ["score", ctx.model(), _data(ctx), "-o", ctx.folder / "missing" / "s.csv"]


def score_output_is_directory(ctx: Context) -> list:
    (ctx.folder / "s.csv").mkdir()
    return ["score", ctx.model(), _data(ctx), "-o", ctx.folder / "s.csv"]


def score_unknown_suffix(ctx: Context) -> list:
    return ["score", ctx.model(), _data(ctx), "-o", ctx.folder / "s.xlsx"]


def score_fifo_input(ctx: Context) -> list:
    os.mkfifo(ctx.folder / "in.csv")
    return ["score", ctx.model(), ctx.folder / "in.csv", "-o", ctx.folder / "s.csv"]


CASES = [
    CliCase(
        "out-score-onto-input-csv",
        score_onto_input,
        ("in.csv", "input"),
        before="exit 0, replaced the data with its scores",
    ),
    CliCase(
        "out-score-onto-input-parquet",
        score_onto_parquet_input,
        ("in.parquet", "input"),
        before="exit 0, replaced the data with its scores",
    ),
    CliCase(
        "out-score-onto-input-only-anomalies",
        score_onto_input_only_anomalies,
        ("in.csv", "input"),
        before="exit 0, replaced the data with its flagged rows",
    ),
    CliCase(
        "out-score-onto-input-id-column",
        score_onto_input_id_column,
        ("in.csv", "input"),
        before="exit 0, replaced the data with ids and scores",
    ),
    CliCase(
        "out-score-onto-input-symlink",
        score_onto_input_via_symlink,
        ("out.csv", "in.csv", "input"),
        before="exit 0, replaced the link with a file",
    ),
    CliCase(
        "out-score-onto-input-hard-link",
        score_onto_input_via_hard_link,
        ("out.csv", "in.csv", "input"),
        before="exit 0, overwrote the second name of the data",
    ),
    CliCase(
        "out-score-onto-model-file",
        score_onto_model_file,
        ("notes.csv", "input"),
        before="exit 0, overwrote a file in the model folder",
    ),
    CliCase(
        "out-evaluate-json-onto-data",
        evaluate_json_onto_data,
        ("labelled.csv", "input"),
        before="exit 0, replaced the data with the metrics",
    ),
    CliCase(
        "out-evaluate-json-onto-model",
        evaluate_json_onto_model,
        ("model.json", "input"),
        before="exit 0, replaced the model's config with the metrics",
    ),
    CliCase(
        "out-evaluate-json-missing-folder",
        evaluate_json_missing_folder,
        ("missing", "does not exist"),
        before="refused only after loading and scoring",
    ),
    CliCase(
        "out-evaluate-json-is-directory",
        evaluate_json_is_directory,
        ("metrics", "directory"),
        before="refused after scoring, with a raw OS message",
    ),
    CliCase(
        "out-report-onto-data",
        report_onto_data,
        ("in.csv", "input"),
        before="exit 0, replaced the data with the HTML report",
    ),
    CliCase(
        "out-export-missing-folder",
        export_missing_folder,
        ("missing", "does not exist"),
        before="refused after loading the model",
    ),
    CliCase(
        "out-datasets-onto-directory",
        datasets_onto_directory,
        ("seed.csv", "directory"),
        before="refused after building the table, with a raw OS message",
    ),
    CliCase(
        "out-train-onto-input-folder",
        train_onto_input_folder,
        ("table", "input"),
        before="exit 0, replaced the data's folder (and the data) with the model",
    ),
    CliCase(
        "out-train-hidden-dims-not-integers",
        train_hidden_dims_not_integers,
        ("--hidden-dims", "64,x"),
        before="int()'s message: invalid literal for int() with base 10: 'x'",
    ),
    CliCase("out-score-read-only-folder", score_read_only_folder, ("no write permission",), before="already refused"),
    CliCase("out-score-missing-folder", score_missing_folder, ("missing", "does not exist"), before="already refused"),
    CliCase(
        "out-score-output-is-directory",
        score_output_is_directory,
        ("s.csv", "directory"),
        before="refused after scoring, with a raw OS message",
    ),
    CliCase("out-score-unknown-suffix", score_unknown_suffix, ("s.xlsx", ".csv or .parquet"), before="already refused"),
    CliCase(
        "out-score-fifo-input",
        score_fifo_input,
        ("in.csv", "not a regular file"),
        before="said the FIFO does not exist",
        timeout=60.0,
    ),
]
