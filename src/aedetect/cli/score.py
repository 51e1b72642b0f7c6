"""``aedetect score``: scores and flags for a file, an image folder, a series or standard input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import console, errors, split_list, user_errors, uses_idle_cpus, warn
from aedetect.cli.inputs import apply_threshold, load_model, model_input

MODEL = typer.Argument(help="Model directory written by 'aedetect train'.")


@user_errors
@uses_idle_cpus
def score(
    model: Annotated[Path, MODEL],
    data: Annotated[
        str,
        typer.Argument(
            help="CSV, Parquet or .npy/.npz file, image folder or IDX file to score, or '-' for CSV / JSON Lines on standard input."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Scores file to write (.csv or .parquet); a stream ('-') writes to standard output."
        ),
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Write only this column with the scores.")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    threshold: Annotated[str | None, typer.Option(help="Override the model's threshold rule.")] = None,
    only_anomalies: Annotated[bool, typer.Option(help="Write only the rows flagged as anomalies.")] = False,
    stream_format: Annotated[str, typer.Option("--format", help="Stream format: auto, csv or jsonl.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Stream: most records per scored batch.")] = 64,
    max_wait: Annotated[
        float, typer.Option(help="Stream: seconds a record may wait before its batch is scored.")
    ] = 1.0,
    skip_invalid: Annotated[
        bool, typer.Option(help="Stream: report and leave out records that cannot be scored.")
    ] = False,
    monitor_every: Annotated[
        int | None, typer.Option(help="Stream: check the last N records for drift every N records.")
    ] = None,
    monitor_json: Annotated[
        Path | None, typer.Option(help="Stream: drift reports as JSON lines to this file, not standard error.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local (one file, here), dask or spark: score every CSV/Parquet file that DATA matches (paths or URLs, globs) into Parquet parts in the --output folder."
        ),
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="--engine dask: the scheduler's address (default: a local cluster).")
    ] = None,
    master: Annotated[str | None, typer.Option(help="--engine spark: the master URL (default: local[*]).")] = None,
) -> None:
    """Score DATA: each row with 'score' and 'is_anomaly'.

    Writes the rows of DATA (or only --id-column) with 'score' and 'is_anomaly' columns.

    Image models write one row per image; series models one row per time point, scored from the
    windows that cover it. CSV and Parquet tables are scored in chunks (memory stays flat however
    large the file); '-' scores records from standard input as they arrive:
    'tail -f log.jsonl | aedetect score MODEL - --only-anomalies'.
    """
    if engine != "local" or scheduler or master:  # files on a cluster: Parquet parts in a folder
        from aedetect.batch.cluster_files import score_files_command

        options = dict(scheduler=scheduler, master=master, id_column=id_column, threshold=threshold)
        options.update(drop=split_list(drop) or [], only_anomalies=only_anomalies)
        console.print(score_files_command(model, data, output, engine, **options), highlight=False)
        return
    from aedetect.batch.files import file_kind, score_file
    from aedetect.data.io import WRITABLE, check_output

    if data != "-" and output is not None:  # before the slow part
        check_output(output, inputs=[data], folders=[model], suffixes=WRITABLE)
    detector = load_model(model)
    apply_threshold(detector, threshold)
    drop_list = split_list(drop) or []
    if data == "-":
        if detector.data_kind_ != "table":
            raise ValueError("Standard input takes table records; score images or series from a file or folder.")
        _score_stdin(
            detector,
            output,
            id_column,
            drop_list,
            only_anomalies,
            stream_format,
            batch_size,
            max_wait,
            skip_invalid,
            monitor_every,
            monitor_json,
        )
        return
    if monitor_every is not None or monitor_json is not None:
        raise ValueError(
            "--monitor-every and --monitor-json are for streams ('-'); check a file with 'aedetect monitor'."
        )
    if output is None:
        raise ValueError(
            "Give --output FILE (.csv or .parquet) to write the scores to, or score standard input with DATA '-'."
        )
    if detector.data_kind_ != "table":
        _score_samples(detector, data, output, only_anomalies)
        return
    if file_kind(data) is not None:
        summary = score_file(detector, data, output, id_column, drop_list, only_anomalies)
        rows, flagged = summary.rows, summary.flagged
    else:
        rows, flagged = _score_in_memory(detector, data, output, id_column, drop_list, only_anomalies)
    console.print(f"{_flagged(detector, rows, 'rows', flagged)}; wrote {output}", highlight=False)


def _flagged(detector, count: int, unit: str, flagged: int) -> str:
    """How many were flagged, at which threshold, and what it means: the share of held-out normal rows
    above it (the false alarms to expect on normal rows)."""
    from aedetect.evaluation import ThresholdMeaning

    return ThresholdMeaning.of(detector).flagged_line(count, unit, flagged)


def _score_samples(detector, data: str, output: Path, only_anomalies: bool) -> None:
    """Images (one row each) or a series (one row per time point) to a scores file."""
    from aedetect.batch.core import RowScoringCore
    from aedetect.data.io import check_output_folder, write_table

    check_output_folder(output)
    loaded = model_input(detector, data)
    core = RowScoringCore(detector, only_anomalies=only_anomalies)
    scored = core.flag(loaded.scores(detector))
    write_table(core.output(loaded.table, scored), output)
    unit = "images" if detector.data_kind_ == "image" else "time points"
    console.print(f"{_flagged(detector, len(scored.scores), unit, scored.flagged)}; wrote {output}", highlight=False)


def _score_in_memory(detector, data: str, output: Path, id_column, drop_list, only_anomalies) -> tuple[int, int]:
    """A table that is not a CSV or Parquet file (.npy, .npz) through the row-scoring core."""
    from aedetect.batch.core import RowScoringCore
    from aedetect.data.io import check_output_folder, read_table, write_table

    check_output_folder(output)
    raw = read_table(data)
    core = RowScoringCore(detector, id_column=id_column, drop=drop_list, only_anomalies=only_anomalies)
    scored = core.score(raw)
    write_table(core.output(raw, scored), output)
    return len(raw), scored.flagged


def _score_stdin(
    detector,
    output,
    id_column,
    drop_list,
    only_anomalies,
    stream_format,
    batch_size,
    max_wait,
    skip_invalid,
    monitor_every=None,
    monitor_json=None,
) -> None:
    import os

    from aedetect.batch.streams import score_stream

    if output is not None and str(output) != "-":
        raise ValueError("Scores of a stream go to standard output; leave out --output (redirect with '>').")
    monitor = None
    if monitor_every is not None or monitor_json is not None:
        from aedetect.monitor.stream import StreamMonitor

        if monitor_every is None:
            raise ValueError("--monitor-json needs --monitor-every N: how many records between drift reports.")
        monitor = StreamMonitor(
            detector, monitor_every, lambda line: errors.print(line, highlight=False), monitor_json, drop=drop_list
        )
    try:
        summary = score_stream(
            detector,
            sys.stdin,
            sys.stdout,
            stream_format,
            batch_size,
            max_wait,
            id_column,
            drop_list,
            only_anomalies,
            skip_invalid,
            warn=warn,
            observer=None if monitor is None else monitor.observe,
        )
    except BrokenPipeError:  # the reader went away (e.g. '| head'): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    finally:
        if monitor is not None:
            monitor.close()
    errors.print(_flagged(detector, summary.rows, "records", summary.flagged), highlight=False)
