"""Refusals of ``aedetect report``: where the page (or its figures) cannot be written."""

from __future__ import annotations

from hostile import CliCase, Context


def _missing_folder(ctx: Context) -> list:
    return ["report", ctx.model("table"), ctx.csv("data.csv", ctx.normal(20)), "-o", "missing/report.html"]


def _onto_a_directory(ctx: Context) -> list:
    (ctx.folder / "reports").mkdir()
    return ["report", ctx.model("table"), ctx.csv("data.csv", ctx.normal(20)), "-o", "reports"]


def _figures_onto_a_file(ctx: Context) -> list:
    (ctx.folder / "figures").write_text("not a folder")
    return [
        "report",
        ctx.model("table"),
        ctx.csv("data.csv", ctx.normal(20)),
        "-o",
        "report.html",
        "--figures-dir",
        "figures",
    ]


CASES = [
    CliCase(
        "report-output-in-missing-folder",
        _missing_folder,
        ("missing", "does not exist", "create it"),
        before="already refused",
    ),
    CliCase(
        "report-output-is-a-directory",
        _onto_a_directory,
        ("reports", "is a directory", "file name"),
        before="already refused",
    ),
    CliCase(
        "report-figures-dir-is-a-file",
        _figures_onto_a_file,
        ("figures", "is a file", "give a folder"),
        before="already refused",
    ),
]
