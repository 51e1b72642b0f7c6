"""Training a detector on Parquet files larger than memory: every step reads the files in chunks.

:func:`fit_streaming` fits what :meth:`AutoencoderDetector.fit <aedetect.AutoencoderDetector.fit>`
fits, with the same rules, holding a bounded number of rows at a time. The code that fits on a
table in memory runs here on each chunk in turn, its sums, gathers and smallest hashes merged over
the chunks and over the processes (:func:`~aedetect.partitions.in_passes`), one pass over the
files per such operation:

- the held-out rows: the normal rows with the smallest hashes of ``(seed, row key)``;
- the scaler: float64 sums (means, spreads), extremes; quartiles and medians from the sample of
  the :data:`~aedetect.preprocessing.tables.QUANTILE_SAMPLE_ROWS` smallest hashes;
- the network: each epoch reads the training rows again and shuffles them through a buffer of a
  bounded number of rows (:class:`~aedetect.training.streaming.RowStream`); the validation loss
  reads the held-out rows again;
- the score statistics: float64 sums of errors and codes, the scatter matrix, the reference codes
  of the rows with the smallest hashes; the threshold on the gathered held-out scores.

So the fitted state is the one that training in memory reaches on the same rows, but for the order
of the rows in the training batches (and float64 sums added in another order). What memory holds:
a chunk, the shuffle buffer, the quantile sample (robust scaler, median imputation: up to 100,000
rows), the held-out rows' scores and keys (16 bytes a row, as the saved model keeps the scores), and
with ``trim_fraction`` one float64 per training row (the trimming quantile). ``decision_scores_`` and
``labels_`` are not kept (a score per row); score the files with :func:`aedetect.score_file`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aedetect._validation import check_labels
from aedetect.data.shards import columns_to_read, empty_frame, iter_shard, shard_rows
from aedetect.detector import AutoencoderDetector
from aedetect.kinds import TABLE, data_kind
from aedetect.partitions import Group, in_passes, row_hash
from aedetect.preprocessing.inputs import fit_preprocessor, training_data
from aedetect.preprocessing.values import InvalidValueError
from aedetect.training.split import check_normal_count, held_out_split, normal_positions, shared_seed
from aedetect.training.streaming import RowStream

#: Bytes a table cell takes when a detector trains in memory: float64 in the table, float32 in the
#: network's input matrix and in the training rows picked from it.
BYTES_PER_CELL = 16
#: Without a memory budget, training streams when the table would take more than this share of the
#: memory available (MemAvailable): the rest is for PyTorch, the network and the copies of a step.
AVAILABLE_SHARE = 0.5
#: Share of the budget for a chunk of the table as read (Arrow, pandas, float64 and float32 copies:
#: about 48 bytes a cell) and for the shuffle buffer (float32, up to twice over while it is shuffled).
CHUNK_SHARE, BUFFER_SHARE = 0.25, 0.5
BYTES_PER_READ_CELL, BYTES_PER_BUFFER_CELL = 48, 8
MIN_CHUNK_ROWS = 8192


def available_memory() -> int:
    """Bytes of memory available to new work (Linux's MemAvailable; else the physical memory)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def parse_memory(value) -> int | None:
    """``"300MB"``, ``"2GB"``, ``"512KiB"`` or a number of bytes; ``None`` stays ``None``."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().upper().replace("IB", "B").replace(" ", "")
    units = {"KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40, "K": 2**10, "M": 2**20, "G": 2**30, "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return int(float(text[: -len(unit)]) * factor)
    if text.isdigit():
        return int(text)
    raise ValueError(f"The memory budget {value!r} is not a size; give bytes or a size such as 300MB or 2GB.")


def needs_streaming(source, columns: int, max_memory: int | None, group: Group | None = None) -> bool:
    """Whether this process's share of the Parquet ``source`` (``columns`` wide) would take more than
    ``max_memory`` bytes in memory (by default :data:`AVAILABLE_SHARE` of the available memory)."""
    budget = max_memory if max_memory is not None else AVAILABLE_SHARE * available_memory()
    return shard_rows(source, group) * columns * BYTES_PER_CELL > budget


def _no_labels(frame: pd.DataFrame) -> tuple[pd.DataFrame, None]:
    return frame, None


@dataclass
class _Chunk:
    frame: pd.DataFrame  # the features
    keys: np.ndarray
    normal: np.ndarray  # positions of the normal rows
    position: int  # of the chunk's first row in this process's rows


class TableStream:
    """This process's share of a Parquet table, read in chunks each time it is asked for, and the
    steps of fitting a detector over it (see the module's description).

    Parameters are those of :func:`fit_streaming`; ``seed`` picks the held-out rows.
    """

    def __init__(
        self, source, group: Group, seed: int, validation_fraction: float, chunk_rows: int, columns, id_column, split
    ) -> None:
        self.source, self.group, self.seed, self.fraction = source, group, seed, validation_fraction
        self.chunk_rows, self.columns, self.id_column = chunk_rows, columns, id_column
        self.split_labels = split or _no_labels
        self._split = None

    def chunks(self):
        position = 0
        for frame, keys in iter_shard(self.source, self.group, self.columns, self.id_column, self.chunk_rows):
            features, labels = self.split_labels(frame)
            normal = normal_positions(None if labels is None else check_labels(labels, len(frame)), len(frame))
            yield _Chunk(training_data(features, TABLE), keys, normal, position)
            position += len(frame)

    def _held_out(self, chunk: _Chunk, passes) -> tuple[np.ndarray, np.ndarray]:
        held, train = held_out_split(
            len(chunk.normal), self.fraction, self.seed, keys=chunk.keys[chunk.normal], group=passes
        )
        return chunk.normal[held], chunk.normal[train]

    def split(self) -> tuple[int, int]:
        """Pick the held-out rows; this process's held-out and training row counts."""
        counts, self._split = in_passes(
            lambda chunk, passes: [len(rows) for rows in self._held_out(chunk, passes)], self.chunks, self.group
        )
        held, train = np.sum(counts, axis=0)
        return int(held), int(train)

    def rows(self, chunk: _Chunk) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's held-out and training rows (after :meth:`split`)."""
        return self._split.again(self._held_out, chunk)

    def fit_preprocessor(self, detector: AutoencoderDetector):
        """The detector's preprocessor fitted on the training rows, every row checked first."""

        def fit(chunk: _Chunk, passes):
            _, train = self.rows(chunk)
            try:
                return fit_preprocessor(
                    chunk.frame,
                    TABLE,
                    train,
                    detector.scaler,
                    detector.categorical_features,
                    detector.impute,
                    group=passes,
                    row_hashes=row_hash(chunk.keys[train], self.seed),
                )
            except InvalidValueError as error:
                raise error.shifted(chunk.position) from None

        return in_passes(fit, self.chunks, self.group)[0][-1]

    def matrices(self, preprocessor):
        """Each chunk's training and held-out rows as network inputs, and their row keys."""
        for chunk in self.chunks():
            held, train = self.rows(chunk)
            matrix = preprocessor.transform(chunk.frame)
            yield matrix[train], matrix[held], chunk.keys[train], chunk.keys[held]

    def fit_statistics(self, detector: AutoencoderDetector) -> None:
        """The score statistics and the threshold of the detector's trained network."""
        in_passes(
            lambda rows, passes: detector._fit_after_network(*rows, passes),
            lambda: self.matrices(detector.preprocessor_),
            self.group,
        )


def fit_streaming(
    detector: AutoencoderDetector,
    source,
    *,
    max_memory: int,
    group: Group | None = None,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    split: Callable[[pd.DataFrame], tuple[pd.DataFrame, np.ndarray | None]] | None = None,
) -> AutoencoderDetector:
    """Fit a table's ``detector`` on this process's share of the Parquet ``source``, read in chunks.

    ``max_memory`` (bytes) sizes the chunks and the shuffle buffer; ``columns`` are read (all by
    default), ``id_column`` keys the rows (by default their positions), and ``split`` turns a chunk
    into its features and 0/1 labels (no labels by default). See the module's description for what
    is fitted and what memory holds; :func:`aedetect.distributed.fit_distributed` calls this.
    """
    group = group or Group.job()
    detector._validate_params()
    if data_kind(pd.DataFrame(), detector.architecture) != TABLE:
        raise ValueError(
            f"Training from Parquet files in chunks takes a table; architecture={detector.architecture!r} is "
            "for images or series: use architecture='auto' or 'dense', or train in memory."
        )
    detector.data_kind_ = TABLE
    detector._check_loss()
    empty = empty_frame(source, columns_to_read(columns, id_column))
    empty = empty.drop(columns=[id_column] if id_column else [])
    names = [str(c) for c in (split or _no_labels)(empty)[0].columns]
    detector.feature_names_in_ = np.asarray(names, dtype=object)
    detector.n_features_in_ = len(names)
    detector.random_state_ = shared_seed(detector.random_state, group)
    chunk_rows = max(MIN_CHUNK_ROWS, int(max_memory * CHUNK_SHARE / (BYTES_PER_READ_CELL * max(len(names), 1))))
    table = TableStream(
        source, group, detector.random_state_, detector.validation_fraction, chunk_rows, columns, id_column, split
    )
    n_held, n_train = table.split()
    check_normal_count(int(group.sum([n_held + n_train])[0]))
    preprocessor = detector.preprocessor_ = table.fit_preprocessor(detector)
    width = len(preprocessor.feature_names_out_)
    config = detector._build_network(width, None, int(group.sum([n_train])[0]))
    buffer_rows = max(4 * config.batch_size, int(max_memory * BUFFER_SHARE / (BYTES_PER_BUFFER_CELL * width)))
    stream = RowStream(
        lambda: ((train, held) for train, held, _, _ in table.matrices(preprocessor)),
        group.gather(np.asarray([n_train], dtype=np.int64)),
        int(group.sum([n_held])[0]),
        group,
        width,
        buffer_rows,
    )
    detector.history_ = detector._train(stream, None, config, group)
    table.fit_statistics(detector)
    detector.drift_reference_ = None
    for name in ("decision_scores_", "labels_"):
        if hasattr(detector, name):
            delattr(detector, name)
    return detector


__all__ = [
    "AVAILABLE_SHARE",
    "BYTES_PER_CELL",
    "TableStream",
    "available_memory",
    "fit_streaming",
    "needs_streaming",
    "parse_memory",
]
