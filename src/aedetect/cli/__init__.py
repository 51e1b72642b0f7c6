"""The ``aedetect`` command: a thin layer over the detector, one module per command.

Every error a user can cause ends in one line on standard error and exit code 2, with no traceback
and no partial output left behind (:func:`aedetect.cli.common.user_errors`). This package imports
only Typer and the command modules; they import NumPy, pandas, scikit-learn and PyTorch inside the
command functions, so ``aedetect --help`` and argument errors answer at once. A new command is a
module with one function, registered below.
"""

from __future__ import annotations

import typer

from aedetect.cli import datasets, demo, evaluate, export, monitor, report, score, serve, train
from aedetect.cli.parameter_options import with_parameter_options

app = typer.Typer(
    help="Anomaly detection with autoencoders: train on normal rows, score by reconstruction error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.command(cls=with_parameter_options(train.train))(train.train)
app.command()(score.score)
app.command()(export.export)
app.command()(serve.serve)
app.command()(evaluate.evaluate)
app.command()(report.report)
app.command()(monitor.monitor)
app.command()(demo.demo)
app.command()(datasets.datasets)

__all__ = ["app"]
