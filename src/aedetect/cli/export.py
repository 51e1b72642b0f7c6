"""``aedetect export``: a saved model as one ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import console, user_errors, uses_idle_cpus
from aedetect.cli.inputs import load_model


@user_errors
@uses_idle_cpus
def export(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write, e.g. model.onnx.")],
    export_format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
) -> None:
    """Export a model as one ONNX graph.

    The graph holds the preprocessing, the network and the score: onnxruntime alone scores with it.
    """
    from aedetect.data.io import check_output
    from aedetect.evaluation import ThresholdMeaning
    from aedetect.export.onnx import export as export_model

    check_output(output, folders=[model])  # before the slow part
    detector = load_model(model)
    path = export_model(detector, output, export_format)
    names = detector.preprocessor_.numeric_columns_
    console.print(
        f"exported {detector.score} scores to {path}: input 'features' (float32, rows x {len(names)}: "
        f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}), outputs 'score' and 'is_anomaly' "
        f"(threshold {detector.threshold_:.6g}: {ThresholdMeaning.of(detector).held_out_note()})",
        highlight=False,
    )
