"""Saved ensembles through every command: each refusal is the same one line a single model gives."""

from __future__ import annotations

from hostile import CliCase, Context
from hostile.persistence import CONFIG, edit_manifest


def export_ensemble(ctx: Context) -> list[str]:
    return ["export", str(ctx.model("ensemble")), "-o", str(ctx.folder / "model.onnx")]


def score_missing_column(ctx: Context) -> list[str]:
    data = ctx.csv("rows.csv", ctx.normal(10).drop(columns=["d"]))
    return ["score", str(ctx.model("ensemble")), str(data), "-o", str(ctx.folder / "scores.csv")]


def score_stdin_unknown_column(ctx: Context) -> list[str]:
    return ["score", str(ctx.model("ensemble")), "-", "--format", "csv"]


def evaluate_without_labels(ctx: Context) -> list[str]:
    return ["evaluate", str(ctx.model("ensemble")), str(ctx.csv("rows.csv", ctx.normal(10)))]


def report_missing_column(ctx: Context) -> list[str]:
    data = ctx.csv("rows.csv", ctx.normal(10).rename(columns={"a": "z"}))
    return ["report", str(ctx.model("ensemble")), str(data), "-o", str(ctx.folder / "report.html")]


def members_disagree(ctx: Context) -> list[str]:
    """One member's manifest re-sealed with a column renamed: it no longer scores the same rows."""

    def rename(manifest: dict) -> None:
        state = manifest["preprocessing"]
        for key in ("columns", "numeric_columns", "feature_names_out"):
            state[key] = ["e" if name == "d" else name for name in state[key]]
        manifest["feature_names_in"] = state["columns"]

    edit_manifest(ctx.model("ensemble") / "member_1", rename, name=CONFIG)
    return [
        "score",
        str(ctx.model("ensemble")),
        str(ctx.csv("rows.csv", ctx.normal(10))),
        "-o",
        str(ctx.folder / "scores.csv"),
    ]


def train_zero_members(ctx: Context) -> list[str]:
    return ["train", str(ctx.csv("rows.csv", ctx.normal(30))), "-o", str(ctx.folder / "model"), "--ensemble", "0"]


CASES = [
    CliCase(
        "ens-export",
        export_ensemble,
        ("export of an ensemble", "member_0"),
        before="traceback AttributeError 'preprocessor_'",
    ),
    CliCase(
        "ens-score-missing-column",
        score_missing_column,
        ("lacks training column", "'d'"),
        before="traceback AttributeError 'data_kind_'",
    ),
    CliCase(
        "ens-score-stdin-unknown-column",
        score_stdin_unknown_column,
        ("lacks training column",),
        stdin=b"a,b,x\n1,2,3\n",
        before="traceback AttributeError 'data_kind_'",
    ),
    CliCase(
        "ens-evaluate-without-labels",
        evaluate_without_labels,
        ("needs labels", "--label-column"),
        before="traceback AttributeError 'data_kind_'",
    ),
    CliCase(
        "ens-report-missing-column",
        report_missing_column,
        ("lacks training column", "'a'"),
        before="traceback AttributeError 'data_kind_'",
    ),
    CliCase(
        "ens-members-disagree",
        members_disagree,
        ("members disagree", "columns"),
        before="traceback AttributeError 'data_kind_' (loaded without a check)",
    ),
    CliCase(
        "ens-train-zero-members",
        train_zero_members,
        ("n_members", ">= 1", "got 0"),
        before="no --ensemble option (usage error box)",
    ),
]
