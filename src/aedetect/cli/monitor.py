"""``aedetect monitor``: has new data drifted from what the model was trained on? Exit 1 when it has."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import console, split_list, user_errors


@user_errors
def monitor(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    data: Annotated[str, typer.Argument(help="New rows: CSV or Parquet file with the training columns.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write an HTML page with the checks and plots.")
    ] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    threshold: Annotated[str | None, typer.Option(help="Override the model's threshold rule.")] = None,
    alpha: Annotated[
        float, typer.Option(help="Chance of a false alarm on unchanged data, all checks together.")
    ] = 0.01,
) -> None:
    """Check DATA for drift against the model's training data.

    Exits 0 when nothing drifted, 1 when something did. Four checks, each with its statistic and
    p-value: the share flagged against the threshold's false-alarm rate, the scores against the
    held-out normal scores, the reconstruction error per feature and the input distribution per
    column (the last needs a model trained with this version).
    Bad input exits with 2. Fits a scheduled job: 'aedetect monitor model today.parquet -o drift.html'.
    """
    from aedetect.data.io import check_output
    from aedetect.monitor.drift import drift_of
    from aedetect.monitor.page import write_page

    if output is not None:
        check_output(output, inputs=[data], folders=[model], suffixes=[".html", ".htm"])
    from aedetect.cli.inputs import apply_threshold, load_model, read_input

    detector = load_model(model)
    if detector.data_kind_ != "table":
        raise ValueError(f"Drift checks are for table models; this model scores {detector.data_kind_}s.")
    apply_threshold(detector, threshold)
    frame, _, _ = read_input(data, None, 0, 1)  # the label, id and dropped columns are left out by the core
    report, observed, core = drift_of(detector, frame, alpha, drop=split_list(drop) or [])
    for line in report.lines():
        console.print(line, highlight=False, soft_wrap=True)
    if output is not None:
        write_page(report, observed, detector, core.threshold, output, source=data, model=str(model))
        console.print(f"drift page written to {output}", highlight=False)
    if report.drifted:
        raise typer.Exit(1)
