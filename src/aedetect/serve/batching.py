"""Concurrent small requests share one forward pass.

A 1-row request spends most of its time on what every call pays once (checking and scaling a
table, the network's layers, the kNN lookup), not on its row. While one batch of small requests is
being scored, the small requests that arrive wait; when it finishes, one of them scores all the
waiting rows (for the same model and threshold) as one batch, and each gets its own rows back. No
request waits for a timer: an idle server scores a lone request at once. A row's score does not
depend on the batch it is scored in (:mod:`aedetect.batch.core`), so batching changes no answer;
when a batch fails (one request holds a value the model cannot score), each request is scored on
its own, so each gets its own answer or error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pandas as pd

from aedetect.batch.core import RowScoringCore, ScoredRows

#: Requests of up to this many rows are batched; larger ones are scored on their own.
SMALL_REQUEST_ROWS = 256
#: Most rows scored together.
MAX_BATCH_ROWS = 1024


@dataclass
class _Waiting:
    core: RowScoringCore
    features: np.ndarray | pd.DataFrame
    result: ScoredRows | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class SmallRequestBatcher:
    """Scores the features of small requests, batching those that arrive while a batch is scored.

    Features are what :meth:`RowScoringCore.score_features` takes: a matrix of the model's columns
    (batched with matrices) or a DataFrame (batched with DataFrames).
    """

    def __init__(self, max_rows: int = MAX_BATCH_ROWS) -> None:
        self.max_rows = max_rows
        self.changed = threading.Condition()
        self.queue: list[_Waiting] = []
        self.busy = False

    def score(self, core: RowScoringCore, features) -> ScoredRows:
        if len(features) > SMALL_REQUEST_ROWS:
            return core.score_features(features)
        mine = _Waiting(core, features)
        with self.changed:
            self.queue.append(mine)
            while self.busy and not mine.done:
                self.changed.wait()
            if not mine.done:
                self.busy = True
                batch = self._take(mine)
        if not mine.done:
            try:
                self._score(batch)
            finally:
                with self.changed:
                    self.busy = False
                    self.changed.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _take(self, mine: _Waiting) -> list[_Waiting]:
        """``mine`` and the waiting requests that can share its batch (same core, same kind of features)."""
        batch, rest, rows = [mine], [], len(mine.features)
        for waiting in self.queue:
            if waiting is mine:
                continue
            same = waiting.core is mine.core and type(waiting.features) is type(mine.features)
            if same and rows + len(waiting.features) <= self.max_rows:
                batch.append(waiting)
                rows += len(waiting.features)
            else:
                rest.append(waiting)
        self.queue = rest
        return batch

    @staticmethod
    def _score(batch: list[_Waiting]) -> None:
        core = batch[0].core
        try:
            if len(batch) == 1:
                parts = [core.score_features(batch[0].features)]
            else:
                features = [w.features for w in batch]
                if isinstance(features[0], pd.DataFrame):
                    scored = core.score_features(pd.concat(features, ignore_index=True))
                else:
                    scored = core.score_features(np.concatenate(features))
                bounds = np.cumsum([0] + [len(w.features) for w in batch])
                parts = [ScoredRows(scored.scores[a:b], scored.flags[a:b]) for a, b in pairwise(bounds)]
            for waiting, part in zip(batch, parts, strict=True):
                waiting.result = part
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:  # find whose rows failed: each on its own, with its own row numbers
                for waiting in batch:
                    try:
                        waiting.result = core.score_features(waiting.features)
                    except Exception as own:
                        waiting.error = own
        finally:
            for waiting in batch:
                waiting.done = True


__all__ = ["SmallRequestBatcher", "MAX_BATCH_ROWS"]
