"""Refusals of the command line's own rules: a column that looks like a label must be named or waived."""

from __future__ import annotations

from hostile import CliCase, Context

TRAIN = ["--epochs", "1", "--hidden-dims", "4", "--latent-dim", "2", "--device", "cpu", "-q"]


def _label_like(ctx: Context) -> list:
    frame = ctx.normal(40).assign(Class=["normal"] * 36 + ["fraud"] * 4)
    return ["train", ctx.csv("in.csv", frame), "-o", ctx.folder / "model", *TRAIN]


def _both_label_options(ctx: Context) -> list:
    frame = ctx.normal(40).assign(label=[0] * 36 + [1] * 4)
    return ["train", ctx.csv("in.csv", frame), "-o", ctx.folder / "model", "--label-column", "label",
            "--no-label-column", *TRAIN]  # fmt: skip


CASES = [
    CliCase(
        "cli-train-label-like-column",
        _label_like,
        ("'Class' looks like a label", "--label-column Class", "--no-label-column"),
        before="trained on the label as a feature, and on the anomalies; found out only at evaluate",
    ),
    CliCase(
        "cli-train-label-column-and-no-label-column",
        _both_label_options,
        ("either --label-column or --no-label-column",),
        before="option did not exist",
    ),
]
