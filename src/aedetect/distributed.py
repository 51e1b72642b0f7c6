"""Training one detector on several processes or machines (PyTorch DDP), with the result of one process.

Every process of the job calls :func:`fit_distributed` with its own share of the rows (or a Parquet
source, of which each reads its share of the files). The launcher is one that users already run:
``torchrun``, Spark's ``TorchDistributor`` or Ray's ``TorchTrainer``; they set the environment
that :func:`~aedetect.training.distributed.init_from_environment` reads (gloo on the CPU, NCCL on
CUDA). See :mod:`aedetect.training.distributed` for how the steps equal those of one process, and
the README ("Training on several processes") for a recipe per launcher.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import numpy as np

from aedetect.data.io import split_labels
from aedetect.data.shards import columns_to_read, empty_frame, read_shard
from aedetect.detector import AutoencoderDetector
from aedetect.out_of_core import AVAILABLE_SHARE, available_memory, fit_streaming, needs_streaming, parse_memory
from aedetect.partitions import Group
from aedetect.training.distributed import init_from_environment

#: Characters that make a source path a glob.
GLOB_CHARACTERS = "*?["


def _is_source(data) -> bool:
    return isinstance(data, (str, os.PathLike)) or (
        isinstance(data, Sequence) and bool(data) and all(isinstance(d, (str, os.PathLike)) for d in data)
    )


def fit_distributed(
    detector: AutoencoderDetector,
    data,
    y=None,
    *,
    row_keys=None,
    columns: Sequence[str] | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    output=None,
    max_memory: int | str | None = None,
    normal_label=0,
    anomaly_label=1,
) -> AutoencoderDetector:
    """Fit ``detector`` on the rows of every process of the job; every process gets the same model.

    Parameters
    ----------
    detector : AutoencoderDetector
        Unfitted, with the same parameters on every process (a table's detector).
    data : DataFrame, array or Parquet source
        This process's rows; or a Parquet file, folder, glob or list of files, of which each
        process reads whole files (balanced by row count; see
        :func:`~aedetect.data.shards.read_shard`).
    y : array of 0/1, optional
        Labels of this process's rows (1 = anomaly, left out of training).
    row_keys : array, optional
        A key per row, unique over all processes, that names the row whatever the partitioning
        (the validation rows and the reference codes are picked by a hash of it). By default the
        row's position in the whole data: the processes' rows in rank order, as a Parquet source
        is read. The batches are drawn from the training rows in rank order, so the steps are those
        of one process on the rows in that order; with keys of an id column the fitted statistics,
        validation rows and threshold still do not depend on the partitioning, the steps do.
    columns, label_column, id_column : optional
        For a Parquet source: the feature columns (default all but the label and id), a label
        column (``normal_label`` means normal, ``anomaly_label`` an anomaly, ``None`` every other
        value), and a column of row keys.
    output : path, optional
        Where the first process (rank 0) saves the model folder, in the format of
        :meth:`~aedetect.AutoencoderDetector.save`.
    max_memory : int or str, optional
        For a Parquet source: the bytes (or a size such as ``"300MB"``) that this process's rows may
        take in memory. When its share of the table would take more (16 bytes a cell), every process
        trains streaming from the files, in chunks, within about this budget
        (:func:`aedetect.out_of_core.fit_streaming`: the same fitted statistics, batches of rows in
        another order; ``decision_scores_`` is not kept). By default, half the memory available.

    Returns
    -------
    AutoencoderDetector
        The fitted detector; its ``decision_scores_`` and ``labels_`` are this process's rows'.
    """
    group = init_from_environment(detector.device)
    if _is_source(data):
        read = columns_to_read(columns, label_column)
        budget = parse_memory(max_memory)
        names = list(empty_frame(data, read).columns)
        width = len(names) - (label_column in names) - (id_column in names)
        if bool(group.max([needs_streaming(data, width, budget, group)])[0]):  # all, if one needs it
            fit_streaming(
                detector,
                data,
                max_memory=budget if budget is not None else int(AVAILABLE_SHARE * available_memory()),
                group=group,
                columns=read,
                id_column=id_column,
                split=lambda frame: split_labels(frame, label_column, normal_label, anomaly_label),
            )
            return _saved(detector, output, group)
        shard = read_shard(data, group, read, id_column)
        data, y = split_labels(shard.frame, label_column, normal_label, anomaly_label)
        row_keys = shard.keys
    if row_keys is None:
        counts = group.gather(np.asarray([len(data)], dtype=np.int64))
        first = int(counts[: group.rank].sum())
        row_keys = np.arange(first, first + len(data), dtype=np.int64)
    detector._fit(data, y, group=group, row_keys=np.asarray(row_keys))
    return _saved(detector, output, group)


def _saved(detector: AutoencoderDetector, output, group: Group) -> AutoencoderDetector:
    if output is not None and group.rank == 0:
        detector.save(output)
    if group.distributed:  # the others wait, so that the folder exists when the job ends
        import torch.distributed as dist

        dist.barrier()
    return detector


def is_parquet_source(source: str) -> bool:
    """A Parquet file, a folder (of Parquet files) or a glob of them."""
    path = str(source)
    return path.endswith((".parquet", ".pq")) or any(c in path for c in GLOB_CHARACTERS) or os.path.isdir(path)


def parquet_paths(source: str):
    """The files a glob names, in path order; any other source as it is."""
    return sorted(glob.glob(source)) if any(c in source for c in GLOB_CHARACTERS) else source


def read_share(
    source: str,
    label_column: str | None,
    normal_label,
    anomaly_label,
    drop: Sequence[str] = (),
    group: Group | None = None,
):
    """This process's rows of ``source`` as ``(features, labels, row_keys)``, labels mapped to 0/1.

    A Parquet source: whole files per process (:func:`~aedetect.data.shards.read_shard`). Any other
    table (CSV): every process reads the file and keeps its contiguous share of the rows.
    """
    from aedetect.data.io import read_table

    group = group or Group.job()
    if is_parquet_source(source):
        shard = read_shard(parquet_paths(source), group)
        frame, keys = shard.frame, shard.keys
    else:
        whole = read_table(source)
        bounds = np.linspace(0, len(whole), group.size + 1).round().astype(int)
        frame = whole.iloc[bounds[group.rank] : bounds[group.rank + 1]].reset_index(drop=True)
        keys = np.arange(bounds[group.rank], bounds[group.rank + 1], dtype=np.int64)
    features, labels = split_labels(frame, label_column, normal_label, anomaly_label)
    features = features.drop(columns=[c for c in drop if c in features.columns])
    return features, labels, keys


__all__ = ["Group", "fit_distributed", "is_parquet_source", "parquet_paths", "read_share"]
