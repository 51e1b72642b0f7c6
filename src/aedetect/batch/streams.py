"""Score a stream of CSV or JSON Lines records as they arrive (``aedetect score MODEL -``).

Records are gathered into small batches: a batch is scored and written as soon as it holds
``batch_size`` records or its first record has waited ``max_wait`` seconds, whichever comes first, so
that the command works at the end of a pipe that delivers records slowly (``tail -f log.jsonl``).

JSON Lines: one object per line; each output line is the input object with ``score`` and
``is_anomaly`` added. CSV: a header line, then one record per line (quoted fields may not span
lines), whose values are read by the same rules as a CSV file's; each output line is the input
line with ``,score,is_anomaly`` appended. Fields other than
the model's features are passed through. A record that cannot be scored (malformed, a missing
feature, NaN) stops the stream with a message naming its line, or, with ``skip_invalid``, is reported
on the error stream and left out.
"""

from __future__ import annotations

import csv
import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from aedetect.batch.core import RowScoringCore, ScoredRows
from aedetect.batch.files import ScoringSummary, conversion_message, csv_convert_options
from aedetect.preprocessing.values import InvalidValueError, name_list

FORMATS = ("auto", "csv", "jsonl")
_END = object()


def _read_lines(stream: TextIO, lines: queue.Queue) -> None:
    try:
        for line in stream:
            lines.put(line)
    finally:
        lines.put(_END)


class _Batch:
    """Parses records of one format and turns a batch of them into output lines.

    CSV records are read by the same rules as a CSV file (:func:`aedetect.batch.files.csv_convert_options`):
    the batch's lines, under the header, go through pyarrow's CSV reader; other fields are kept as text.
    """

    def __init__(
        self, detector, fmt: str, header: str | None, id_column: str | None, drop: Sequence[str], only_anomalies: bool
    ) -> None:
        self.fmt, self.id_column = fmt, id_column
        self.names: list[str] | None = None
        if fmt == "csv":
            self.core = RowScoringCore(
                detector, id_column=id_column, drop=drop, only_anomalies=only_anomalies, allow_extra=True
            )
            self.header = header if header.endswith("\n") else header + "\n"
            self.names = next(csv.reader([header]))
            self.core.check_columns(self.names)
            self.convert = csv_convert_options(self.core, dict.fromkeys(self.names, pa.string()))
        else:  # a record lacking the id column is written with a null id
            self.core = RowScoringCore(
                detector,
                drop=[*drop, *([id_column] if id_column else [])],
                only_anomalies=only_anomalies,
                allow_extra=True,
            )

    def header_line(self, header: str | None) -> str | None:
        if self.fmt != "csv":
            return None
        head = self.id_column if self.id_column else header.rstrip("\r\n")
        return f"{head},score,is_anomaly\n"

    def parse(self, line: str):
        """One record (a dict for JSON Lines, a list of fields for CSV); ``ValueError`` when malformed."""
        if self.fmt == "jsonl":
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"expected a JSON object, got {type(record).__name__}")
            return record
        fields = next(csv.reader([line]))
        if len(fields) != len(self.names):
            raise ValueError(f"{len(fields)} fields where the header has {len(self.names)}")
        return fields

    def table(self, lines: list[str], records: list):
        """The batch as a table the core scores."""
        if self.fmt == "jsonl":
            frame = pd.DataFrame.from_records(records)
            columns = self.core.check_columns(frame.columns)
            incomplete = [r for r in records if any(c not in r for c in columns)]
            if incomplete:  # a key missing from one record is not a NaN to impute
                missing = [c for c in columns if c not in incomplete[0]]
                raise ValueError(f"The record lacks feature(s) {name_list(missing)}")
            return frame
        text = self.header + "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        try:
            return pacsv.read_csv(
                pa.BufferReader(text.encode()),
                read_options=pacsv.ReadOptions(use_threads=False),
                convert_options=self.convert,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            first = str(error).splitlines()[0] if str(error) else "unreadable"
            raise ValueError(conversion_message(first, self.names, rows=False) or f"cannot read it: {first}") from None

    def output(self, line: str, record, score: float, flag: int) -> str:
        if self.fmt == "jsonl":
            out = {self.id_column: record.get(self.id_column)} if self.id_column else dict(record)
            out["score"], out["is_anomaly"] = score, flag
            return json.dumps(out) + "\n"
        head = record[self.names.index(self.id_column)] if self.id_column else line.rstrip("\r\n")
        return f"{head},{score!r},{flag}\n"


def score_stream(
    detector,
    source: TextIO,
    sink: TextIO,
    fmt: str = "auto",
    batch_size: int = 64,
    max_wait: float = 1.0,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    only_anomalies: bool = False,
    skip_invalid: bool = False,
    warn: Callable[[str], None] | None = None,
    observer: Callable[[object, ScoredRows], None] | None = None,
) -> ScoringSummary:
    """Score records from ``source`` and write each batch to ``sink`` as soon as it is scored.

    Parameters
    ----------
    detector : AutoencoderDetector
        A fitted detector; its current threshold flags the records.
    source, sink : text streams
        Where records come from (e.g. ``sys.stdin``) and where scored records go (``sys.stdout``).
    fmt : {"auto", "csv", "jsonl"}
        ``"auto"``: JSON Lines when the first line starts with ``{``, else CSV with a header.
    batch_size : int
        Most records per batch.
    max_wait : float
        Seconds a record may wait for its batch to fill before the batch is scored anyway.
    id_column, drop, only_anomalies
        As for file scoring: write only the id, leave columns out, write only flagged records.
    skip_invalid : bool
        Report an unscorable record through ``warn`` and go on, instead of stopping.
    warn : callable, optional
        Receives one message per skipped record.
    observer : callable, optional
        Receives each scored batch's features (as the row-scoring core takes them) and its scores,
        e.g. a drift window (:class:`aedetect.monitor.window.DriftWindow`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown stream format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    if batch_size < 1 or max_wait <= 0:
        raise ValueError(f"Batch size must be >= 1 and max wait > 0; got {batch_size} and {max_wait}.")
    lines: queue.Queue = queue.Queue(maxsize=max(4 * batch_size, 1024))
    threading.Thread(target=_read_lines, args=(source, lines), daemon=True).start()
    summary = ScoringSummary(threshold=RowScoringCore(detector).threshold)
    batch: _Batch | None = None
    pending: list[tuple[int, str]] = []
    deadline, number = 0.0, 0

    def flush() -> None:
        _score_pending(batch, pending, sink, summary, skip_invalid, warn, observer)
        pending.clear()

    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.0) if pending else None)
        except queue.Empty:
            flush()
            continue
        if line is _END:
            break
        number += 1
        if not line.strip():
            continue
        if batch is None:
            kind = fmt if fmt != "auto" else ("jsonl" if line.lstrip().startswith("{") else "csv")
            batch = _Batch(detector, kind, line if kind == "csv" else None, id_column, drop, only_anomalies)
            header = batch.header_line(line)
            if header is not None:
                sink.write(header)
                sink.flush()
                continue
        if not pending:
            deadline = time.monotonic() + max_wait
        pending.append((number, line))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return summary


def _score(batch: _Batch, lines: list[str]) -> tuple[list, ScoredRows, object]:
    records = [batch.parse(line) for line in lines]
    features = batch.core.features(batch.table(lines, records))
    return records, batch.core.score_features(features), features


def _score_pending(
    batch: _Batch,
    pending: list[tuple[int, str]],
    sink: TextIO,
    summary: ScoringSummary,
    skip_invalid: bool,
    warn,
    observer=None,
) -> None:
    """Score one batch; when it fails, score its records one by one to name (or skip) the bad ones."""
    try:
        records, scored, features = _score(batch, [line for _, line in pending])
        results = list(zip(pending, records, scored.scores, scored.flags, strict=True))
    except (ValueError, TypeError, KeyError):
        results = []
        for number, line in pending:
            try:
                (record,), scored, features = _score(batch, [line])
            except (ValueError, TypeError, KeyError) as error:
                if isinstance(error, InvalidValueError):  # the line names the record; "data row 1" would not
                    error = error.without_row()
                message = f"line {number}: {' '.join(str(error).split())}"
                if not skip_invalid:
                    _write(batch, results, sink, summary)
                    raise ValueError(message + " (use --skip-invalid to leave such records out)") from None
                if warn is not None:
                    warn(f"skipped {message}")
                continue
            results.append(((number, line), record, scored.scores[0], scored.flags[0]))
            if observer is not None:
                observer(features, scored)
    else:
        if observer is not None:
            observer(features, scored)
    _write(batch, results, sink, summary)


def _write(batch: _Batch, results: list, sink: TextIO, summary: ScoringSummary) -> None:
    if not results:
        return
    _, _, scores, flags = zip(*results, strict=True)
    scored = ScoredRows(np.asarray(scores, dtype=np.float64), np.asarray(flags, dtype=np.int64))
    out = [
        batch.output(line, record, float(score), int(flag))
        for ((_, line), record, score, flag), kept in zip(results, batch.core.kept(scored), strict=True)
        if kept
    ]
    summary.rows += len(results)
    summary.flagged += scored.flagged
    summary.written += len(out)
    if out:
        sink.write("".join(out))
        sink.flush()


__all__ = ["score_stream", "FORMATS"]
