"""``aedetect report``: a self-contained HTML report of a saved model on some data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import console, label_value, split_list, user_errors, uses_idle_cpus
from aedetect.cli.inputs import apply_threshold, load_model, model_input, read_input, scoring_frame


@user_errors
@uses_idle_cpus
def report(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    data: Annotated[str, typer.Argument(help="CSV, Parquet, .npy/.npz file, or dataset:NAME.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write (self-contained).")],
    label_column: Annotated[
        str | None, typer.Option(help="Label column (default: the training one, if the data has it).")
    ] = None,
    normal_label: Annotated[str | None, typer.Option(help="Value meaning normal (default: as in training).")] = None,
    anomaly_label: Annotated[str | None, typer.Option(help="Value meaning anomaly; '*' = every other value.")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Column that names the rows on the page (default: 0-based positions).")
    ] = None,
    labels_file: Annotated[
        str | None, typer.Option("--labels", help="Labels for IDX images (an IDX labels file).")
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Override the threshold rule (best_f1 uses these labels).")
    ] = None,
    figures_dir: Annotated[
        Path | None, typer.Option(help="Also save every figure in this folder as PNG and SVG.")
    ] = None,
) -> None:
    """Write an HTML report of a model on DATA.

    One self-contained file: figures, metrics (with labels) and a model summary.
    """
    from aedetect.data.io import check_output, split_labels
    from aedetect.report.page import write_report

    check_output(output, inputs=[data, labels_file], folders=[model])  # fail before the slow part
    detector = load_model(model)
    meta = getattr(detector, "metadata_", {}) or {}
    normal = normal_label if normal_label is not None else meta.get("normal_label", 0)
    anomaly = label_value(anomaly_label) if anomaly_label is not None else meta.get("anomaly_label", 1)
    if id_column is not None and detector.data_kind_ != "table":
        raise ValueError("--id-column names table rows; images are named by their files, series by their times.")
    if detector.data_kind_ != "table":
        loaded = model_input(
            detector, data, label_column or meta.get("label_column"), normal, anomaly, labels_file=labels_file
        )
        features, series = loaded.features, loaded.series
        labels = series.window_labels if series is not None else loaded.labels
        unit = "time points" if series is not None else "images" if detector.data_kind_ == "image" else "windows"
    else:
        frame, labels, _ = read_input(data, label_column, normal, anomaly)
        if labels is None and label_column is None and meta.get("label_column") in frame.columns:
            frame, labels = split_labels(frame, meta["label_column"], normal, anomaly)
        features, series = scoring_frame(detector, frame, [*(split_list(drop) or []), *filter(None, [id_column])]), None
        if id_column is not None:  # the page names each row by its id (and says which column it is)
            if id_column not in frame.columns:
                raise ValueError(
                    f"--id-column {id_column!r} is not a column of {data}; columns: {list(frame.columns)}."
                )
            features.index = frame[id_column].rename(id_column).to_numpy()
            features.index.name = id_column
        unit = "rows"
    apply_threshold(detector, threshold, features, labels)  # a series: best_f1 on its windows, as evaluate does
    if series is not None:
        labels = series.point_labels
    write_report(detector, features, labels, path=output, source=data, figures_dir=figures_dir, series=series)
    rows = len(features) if series is None else len(series.table)
    console.print(
        f"report on {rows} {unit}{'' if labels is not None else ' (no labels)'} written to "
        f"{output}" + (f"; figures in {figures_dir}" if figures_dir else ""),
        highlight=False,
    )
