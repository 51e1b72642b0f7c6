"""What every command shares: one-line errors, the two consoles, comma lists and printed metrics.

Nothing here imports NumPy, pandas, scikit-learn or PyTorch: ``aedetect --help`` and argument errors
must answer at once, so the commands import what they need inside their functions.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)  # a line per message, whatever the width (logs, pipes)

#: Errors a user can cause (bad values, missing or unreadable files, a model that is not fitted, a broken
#: TOML file: all subclasses of these); anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, FloatingPointError)


def user_errors(command):
    """Turn the errors a user can cause into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            message = " ".join(message.split()) or type(error).__name__
            errors.print(f"[bold red]error:[/] {message}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def idle_cpus() -> int:
    """How many of this process's CPUs other processes leave idle (the 1-minute load average), at least 1."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cpus, round(cpus - busy)))


def uses_idle_cpus(command):
    """Run ``command`` with no more PyTorch threads than idle CPUs (restored afterwards).

    On a busy machine, more compute threads than idle CPUs make PyTorch's threads wait for each
    other at every step: see benchmarks/results/threads_under_load.md. Scores do not depend on the
    thread count. A thread count the user set (OMP_NUM_THREADS) is left alone.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        import os

        import torch

        before = torch.get_num_threads()
        if not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(min(before, idle_cpus()))
        try:
            return command(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


def warn(message: str) -> None:
    """One warning line on stderr."""
    errors.print(f"[yellow]warning:[/] {message}", highlight=False)


def split_list(value: str | None) -> list[str] | None:
    """``"a, b"`` as ``["a", "b"]``; None stays None."""
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def int_list(value: str | None, option: str) -> list[int] | None:
    """``"64,32"`` as ``[64, 32]``; one line naming ``option`` when a part is not an integer."""
    if value is None:
        return None
    try:
        return [int(part) for part in split_list(value)]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, e.g. 64,32; got {value!r}.") from None


def label_value(value: Any) -> Any:
    """A label option's value; ``'*'`` means "every other value" (None)."""
    if value is None:
        return None
    return None if value == "*" else value


def use_data_dir(folder: Path | None) -> None:
    """Point the downloadable datasets at ``folder`` (``--data-dir``)."""
    if folder is not None:
        import os

        if not folder.is_dir():
            raise ValueError(
                f"--data-dir {str(folder)!r} is not a folder; give the folder that holds the dataset files."
            )
        os.environ["AEDETECT_DATA_DIR"] = str(folder)


def print_evaluation(result, title: str) -> None:
    """An :class:`~aedetect.evaluation.Evaluation` as a report, a table of scores and the confusion matrix."""
    from rich.table import Table

    console.print(f"\n[bold]{title}[/]  (threshold {result.threshold:.6g}; 1 = anomaly)")
    console.print(result.report, highlight=False)
    table = Table(show_header=True, header_style="bold")
    for name in ("ROC-AUC", "PR-AUC", "precision at n", "false-alarm rate"):
        table.add_column(name, justify="right")
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    table.add_row(fmt(result.roc_auc), fmt(result.pr_auc), fmt(result.precision_at_n), fmt(result.false_alarm_rate))
    console.print(table)
    console.print(
        "precision at n: the share of anomalies among the n highest-scoring rows, n being the number of anomalies.",
        highlight=False,
    )
    (tn, fp), (fn, tp) = result.confusion_matrix
    console.print(f"confusion matrix (rows: true normal / anomaly): [[{tn}, {fp}], [{fn}, {tp}]]", highlight=False)


def write_json(payload: dict, path: Path) -> None:
    """``payload`` as indented JSON, written to a temporary file and renamed."""
    from aedetect.data.io import atomic_write

    atomic_write(path, lambda temporary: Path(temporary).write_text(json.dumps(payload, indent=2)))
