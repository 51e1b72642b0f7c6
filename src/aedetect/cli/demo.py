"""``aedetect demo``: train and evaluate on a built-in table in one command."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import console, print_evaluation, user_errors, uses_idle_cpus


@user_errors
@uses_idle_cpus
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to save the demo model.")] = Path(
        "artifacts/demo-model"
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train and evaluate on a built-in table in one go.

    Trains on the normal rows of 80 % of a built-in synthetic table (100,000 rows, about 1 % anomalies),
    then scores the other 20 % and writes a report.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    from aedetect.data.datasets import load_dataset
    from aedetect.data.io import check_output
    from aedetect.detector import AutoencoderDetector
    from aedetect.evaluation import evaluate as evaluate_scores
    from aedetect.persistence.storage import check_save_target

    output.parent.mkdir(parents=True, exist_ok=True)
    report_path = output.with_name(f"{output.name.removesuffix('-model')}-report.html")
    check_output(output, directory=True)  # before training, not after it
    check_output(report_path)
    check_save_target(output)  # saving replaces the folder: only a model or an empty folder may be there
    frame, labels = load_dataset("seed-imbalanced")
    X_train, X_test, y_train, y_test = train_test_split(frame, labels, test_size=0.2, random_state=42)
    console.print(
        f"A synthetic table of {len(frame)} rows x {frame.shape[1]} features, {labels.mean():.2%} of them anomalies "
        f"(built-in dataset 'seed-imbalanced'): training on the {int((y_train == 0).sum())} normal rows of a "
        f"random 80 %, testing on the other 20 %.",
        highlight=False,
    )
    detector = AutoencoderDetector(random_state=seed, verbose=sys.stderr.isatty())
    started = time.perf_counter()
    detector.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    console.print(f"trained in {seconds:.1f} s ({detector.history_.stopped_epoch} epochs)", highlight=False)
    scores = detector.decision_function(X_test)
    print_evaluation(evaluate_scores(y_test, scores, detector.threshold_), f"test split: {len(X_test)} rows")
    from aedetect.diagnostics import summary_lines

    # What the threshold means (held-out normal rows; precision and recall on the test split), as evaluate says it.
    for line in summary_lines(detector, scores, y_test):
        console.print(line, highlight=False, markup=False)
    tutorial = np.percentile(scores, 98)
    top = evaluate_scores(y_test, scores, tutorial)
    console.print(
        f"Flagging instead the 2 % highest-scoring test rows, a common rule of thumb: precision {top.precision:.3f}, "
        f"recall {top.recall:.3f}, F1 {top.f1:.3f}.",
        highlight=False,
    )
    detector.save(output, metadata={"source": "dataset:seed-imbalanced", "label_column": None, "drop": []})
    console.print(f"model saved to {output}", highlight=False)
    from aedetect.report.page import write_report

    write_report(detector, X_test, y_test, path=report_path, source="dataset:seed-imbalanced (20 % test split)")
    console.print(f"report written to {report_path}", highlight=False)
