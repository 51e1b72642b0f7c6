"""Drift reports while a stream is scored: one line per check on standard error, or JSON lines to a file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from aedetect.batch.core import RowScoringCore
from aedetect.monitor.drift import DriftReport
from aedetect.monitor.window import DriftWindow


class StreamMonitor:
    """The observer ``score_stream`` calls with each batch; reports every ``every`` records on the last
    ``window`` (default ``every``) records, to ``json_path`` (one JSON object per report) or ``say``."""

    def __init__(
        self,
        detector,
        every: int,
        say: Callable[[str], None],
        json_path: Path | None = None,
        window: int | None = None,
        drop=(),
    ) -> None:
        self.say, self.json_path = say, json_path
        self.handle = None
        if json_path is not None:
            from aedetect.data.io import check_output

            check_output(json_path)
            self.handle = open(json_path, "w", encoding="utf-8")  # appended as reports come: not atomic
        self.window = DriftWindow(RowScoringCore(detector, drop=drop, allow_extra=True), self._report, every, window)

    def observe(self, features, scored) -> None:
        self.window.observe(features, scored)

    def _report(self, seen: int, report: DriftReport) -> None:
        if self.handle is not None:
            self.handle.write(json.dumps({"records": seen, **report.to_dict()}, allow_nan=False) + "\n")
            self.handle.flush()
            return
        self.say(f"drift after {seen} records (last {report.rows}):")
        for line in report.lines():
            self.say(f"  {line}")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


__all__ = ["StreamMonitor"]
