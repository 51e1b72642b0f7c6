"""``aedetect evaluate``: a saved model's metrics on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import (
    console,
    label_value,
    print_evaluation,
    split_list,
    use_data_dir,
    user_errors,
    uses_idle_cpus,
    write_json,
)
from aedetect.cli.inputs import DATASET_PREFIX, apply_threshold, load_model, model_input


@user_errors
@uses_idle_cpus
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    data: Annotated[str, typer.Argument(help="Labelled CSV, Parquet, .npz file, or dataset:NAME.")],
    label_column: Annotated[str | None, typer.Option(help="Label column (default: the one used in training).")] = None,
    normal_label: Annotated[str | None, typer.Option(help="Value meaning normal (default: as in training).")] = None,
    anomaly_label: Annotated[str | None, typer.Option(help="Value meaning anomaly; '*' = every other value.")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    labels_file: Annotated[
        str | None, typer.Option("--labels", help="Labels for IDX images (an IDX labels file).")
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Override the threshold rule (best_f1 uses these labels).")
    ] = None,
    json_output: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding downloadable datasets (kddcup99).")] = None,
) -> None:
    """Evaluate a model on labelled data.

    Prints the classification report, the confusion matrix, ROC-AUC and PR-AUC.
    """
    from aedetect.data.io import check_output
    from aedetect.evaluation import evaluate as evaluate_scores

    if json_output is not None:  # before the slow part
        check_output(json_output, inputs=[data, labels_file], folders=[model])
    detector = load_model(model)
    use_data_dir(data_dir)
    meta = getattr(detector, "metadata_", {}) or {}
    label_column = label_column or meta.get("label_column")
    if label_column is None and not data.startswith(DATASET_PREFIX) and detector.data_kind_ != "image":
        raise ValueError("Evaluation needs labels: give --label-column.")
    normal = normal_label if normal_label is not None else meta.get("normal_label", 0)
    anomaly = label_value(anomaly_label) if anomaly_label is not None else meta.get("anomaly_label", 1)
    loaded = model_input(detector, data, label_column, normal, anomaly, split_list(drop), labels_file)
    labels = loaded.labels
    if labels is None:
        raise ValueError("Evaluation needs labels: an image folder with normal/ and anomaly/ sub-folders, or --labels.")
    window_labels = loaded.series.window_labels if loaded.series is not None else labels
    apply_threshold(detector, threshold, loaded.features, window_labels)
    scores = loaded.scores(detector)
    result = evaluate_scores(labels, scores, detector.threshold_)
    print_evaluation(result, f"{data}: {result.n_rows} rows, {result.n_anomalies} anomalies")
    from aedetect.diagnostics import summary_lines

    # What the threshold means in rows, then any warning (a drift, a threshold that misses most anomalies).
    for line in summary_lines(detector, scores, labels):
        console.print(line, highlight=False, markup=False)
    if json_output is not None:
        write_json(result.to_dict(), json_output)
