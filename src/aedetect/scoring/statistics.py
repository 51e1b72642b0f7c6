"""Score statistics fitted on normal rows: what the composite scores divide by and compare with.

After training, the normal rows' per-feature errors and latent codes give each feature's normal error
level, the latent code's scale, mean and precision, a sample of reference codes for the kNN distance,
and the normal level of each part of a composite score (measured on held-out rows when there are
some). :class:`~aedetect.scoring.scorer.RowScorer` turns them into scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aedetect.kinds import IMAGE, SERIES, TABLE, DataKind
from aedetect.partitions import Group, content_hash, on_distinct_rows, row_hash
from aedetect.scoring.forward import forward_pass
from aedetect.scoring.scorer import KNN_BATCH_DISTANCES, LatentKnn, RowScorer, knn_batch_rows

# The tuned numbers below are backed by the runs in benchmarks/results/tuning.md.
#: Normal codes kept as kNN references, per data kind (every training row where there are fewer): more
#: codes trace the normal density more finely, and each costs every scored row one more distance.
#: Tables keep 1,024, whose nearest one separated better than the nearest of 512 on ADBench (PR-AUC
#: +0.010 on 25 sets) at 0.7M to 0.9M rows/s on 2 cores; 2,048 and 4,096 separated a little better
#: again at a third and a sixth of that speed (``benchmarks/results/quality.md``). Images and series
#: keep 4,096: their networks cost far more per row than the search.
KNN_REFERENCE_ROWS: dict[DataKind, int] = {TABLE: 1024, IMAGE: 4096, SERIES: 4096}
#: The neighbour rank as a share of the reference codes (5 of 4,096), so that fewer references give a
#: coarser but alike density.
KNN_RANK_SHARE = 5 / 4096
#: With ``trim_fraction``, the neighbour rank as a share of the reference codes per unit of
#: ``trim_fraction``: half the anomalies expected among the references, beyond a cluster of them.
NEIGHBOURS_PER_TRIMMED = 0.5
#: Weight of the latent-distance part against the reconstruction part of a composite score (each
#: divided by its normal level): the weight that separated best on ADBench's clean protocol.
LATENT_WEIGHT = 4.0
#: Tables and images of at most this many values (columns after encoding, pixels times channels)
#: also keep reference rows themselves, and ``latent_knn`` adds the distance of a row to them
#: (see :class:`~aedetect.scoring.scorer.RowScorer`). Wider inputs do not: a reference of 4,096 such
#: rows would weigh more than the network, and a distance between raw samples that wide says little
#: that the code does not. Series windows do not either: on ECG5000 the part moved ROC-AUC by +0.001
#: (conv1d) and -0.004 (dense) (``benchmarks/results/quality.md``; measured with the part weighted as
#: the network's parts, before :data:`INPUT_WEIGHT_MULTIPLE`).
INPUT_REFERENCE_MAX_VALUES = 4096
INPUT_REFERENCE_KINDS = (TABLE, IMAGE)
#: The reference rows are the distinct training rows (a row repeated in the data is kept once; the
#: nearest one is as near), all of them up to this many, a uniform sample of them beyond
#: (:func:`~aedetect.partitions.content_hash`). Tables keep up to 32,768: the nearest of every
#: training row separated large tables as well as kNN (k = 5) does (KDD Cup 1999, a generated table
#: of 200,000 rows) where the network's parts alone trailed it, and a search over 32,768 rows still
#: scores about 30,000 (118 columns) to 85,000 (10 columns) rows/s on 2 cores; 16,384 fell 0.026
#: PR-AUC short of kNN on the generated table (``benchmarks/results/quality.md``). The detector's
#: ``input_rows`` sets another number (0: no input part). Images keep 4,096, as many as their latent
#: reference codes: their networks cost far more per row than the search.
INPUT_REFERENCE_ROWS: dict[DataKind, int] = {TABLE: 32768, IMAGE: 4096}
#: ... and at most this many values in all (16 MB of float32), the size of the widest reference that
#: :data:`INPUT_REFERENCE_MAX_VALUES` allows a table's 1,024 latent reference codes.
INPUT_REFERENCE_VALUES = 1024 * INPUT_REFERENCE_MAX_VALUES
#: Where the reference rows are a sample of the distinct training rows, the input part is kept only
#: while the nearest of them lies at most this many times as far from a row as the nearest of all
#: the training rows would: a sample of one in ``s`` rows spread over ``d`` intrinsic dimensions
#: (:func:`reference_dimension`) stretches nearest distances about ``s ** (1 / d)`` times, so the
#: sample is kept while it holds at least ``INPUT_DISTANCE_STRETCH ** -d`` of the distinct rows. Rows
#: along a few dimensions need most of their rows kept (smtp, 1.8 to 2.0 dimensions: 4,096 of its
#: 39,868 distinct training rows, a stretch of 3.2, lowered PR-AUC from 0.625 without the part to
#: 0.441, where 16,384, a stretch of 1.6, gave 0.637); rows spread over more need few (a generated
#: table of 8 to 9 dimensions: 4,096 of 99,000 rows, a stretch of 1.5, lifted PR-AUC from 0.161 to
#: 0.200, and 32,768 of 356,400, 1.3, from 0.238 to 0.285, against kNN's 0.291). Two lies between
#: (``benchmarks/results/quality.md``). This replaced a fixed share (one in five) that dropped the part
#: from every table of more than 163,840 distinct training rows. Where the rows tell no dimension
#: (fewer than three, or every row's next nearest as near as its nearest), no stretch can be judged
#: and a sample is not kept.
INPUT_DISTANCE_STRETCH = 2.0
#: ... and, for tables, only where the training rows' intrinsic dimension, estimated from the
#: distances of up to :data:`DIMENSION_ROWS` reference rows to their nearest and next nearest other
#: reference rows (:func:`reference_dimension`), is at most this. A table's columns can be noise
#: that the network learns to ignore but a distance between rows adds up: then every row's nearest
#: row is about as far, and the part adds mostly noise. On the seed task (32 columns, 28 of them
#: noise; estimates 19.7 to 21.6 over five seeds) the part lowered ROC-AUC from 0.757 to 0.742 and
#: PR-AUC from 0.505 to 0.455; on the tables where it helped the estimates were at most 13.9 (the 25
#: ADBench tables; KDD Cup 1999 and the generated table under 10). 16 lies between. Images are not
#: held to it: on the 8x8 digits and Fashion-MNIST (all images and 500 per class) the part helped
#: with estimates of 6.9 to 17.5 per class (``benchmarks/results/quality.md``), so no one bound
#: separates them from the seed task.
INPUT_MAX_DIMENSION: dict[DataKind, float] = {TABLE: 16.0}
#: Reference rows that the dimension is estimated on (the first in hash order, a uniform sample): the
#: estimate's standard error is about the dimension over the square root of the rows, 0.5 at 16.
DIMENSION_ROWS = 1024
#: The input part's weight as a multiple of the network's parts' weights together (``1 +
#: LATENT_WEIGHT``, and ``LATENT_WEIGHT`` more with a rotation head). Every multiple from 3 to 6 gave
#: a higher PR-AUC on the 25 ADBench sets and a higher ROC-AUC on the 8x8 digits and on Fashion-MNIST
#: with 500 images per class than 1 (the parts counting alike), and about the same as each other
#: (the tables' ROC-AUC moved by under 0.001); 4 is in the middle of that range
#: (``benchmarks/results/quality.md``).
INPUT_WEIGHT_MULTIPLE = 4.0
#: Rows per batch of the rotation NLLs computed here.
BATCH_ROWS = 4096


@dataclass
class ScoreStatistics:
    """The fitted statistics, named as the detector's attributes without the trailing ``_``."""

    feature_error_means: np.ndarray
    latent_scale: np.ndarray
    latent_reference: np.ndarray
    latent_mean: np.ndarray
    latent_precision: np.ndarray
    score_scales: np.ndarray
    #: The reference rows in model space (``(0, width)`` without an input part: series, inputs wider
    #: than :data:`INPUT_REFERENCE_MAX_VALUES`, ``input_rows=0``, a sample of the distinct training
    #: rows that stretches nearest distances too far (:data:`INPUT_DISTANCE_STRETCH`), a table of too
    #: many dimensions, or a model saved before they were kept), the mean distance of normal rows to
    #: them (``[1.0]`` without reference rows) and the weight of that distance divided by it in the
    #: score (:func:`input_weight`).
    input_reference: np.ndarray
    input_scale: np.ndarray
    input_weight: np.ndarray

    @classmethod
    def of(cls, fitted) -> ScoreStatistics:
        """The statistics that a fitted detector holds, as its attributes of these names with ``_``."""
        return cls(**{name: getattr(fitted, f"{name}_") for name in cls.__annotations__})


def neighbour_rank(n_reference: int, trim_fraction: float) -> int:
    """Rank of the nearest reference code that ``latent_knn`` measures the distance to.

    One per 819 reference codes (5 of 4,096), at least 1: the nearest of a table's 1,024. With
    ``trim_fraction``, anomalies that escaped the trimming can form a cluster among the reference
    codes, where an anomaly of that kind would find its nearest neighbours; the rank is then half the
    expected count of anomalies among the reference codes, beyond such a cluster.
    """
    wider = int(round(trim_fraction * NEIGHBOURS_PER_TRIMMED * n_reference))
    return max(1, int(round(KNN_RANK_SHARE * n_reference)), wider)


def input_neighbour_rank(n_inputs: int, n_codes: int, trim_fraction: float) -> int:
    """Rank of the nearest reference row that the input part measures the distance to: the latent
    part's (:func:`neighbour_rank` of the ``n_codes`` reference codes), or with ``trim_fraction`` half
    the expected count of anomalies among the ``n_inputs`` reference rows, if more. (Models saved
    before the input rows were chosen apart from the codes hold as many of each: the latent rank.)"""
    wider = int(round(trim_fraction * NEIGHBOURS_PER_TRIMMED * n_inputs))
    return max(neighbour_rank(n_codes, trim_fraction), wider)


def input_reference_rows(data_kind: DataKind, width: int, input_rows: int | None = None) -> int:
    """How many reference rows a model of ``data_kind`` with rows of ``width`` values keeps at most
    (0: none, no input part): ``input_rows`` (the detector's parameter; ``None``:
    :data:`INPUT_REFERENCE_ROWS`), and no more than :data:`INPUT_REFERENCE_VALUES` values."""
    if data_kind not in INPUT_REFERENCE_KINDS or width > INPUT_REFERENCE_MAX_VALUES:
        return 0
    rows = INPUT_REFERENCE_ROWS[data_kind] if input_rows is None else input_rows
    return min(rows, INPUT_REFERENCE_VALUES // width)


def intrinsic_dimension(log_ratio_sum: float, rows: int) -> float:
    """The intrinsic dimension that the distances of ``rows`` rows to their nearest and next nearest
    neighbours suggest (the TwoNN estimator; Facco et al., 2017): where rows are spread evenly over
    ``d`` dimensions, ``log(r_next / r_nearest)`` is exponential with mean ``1 / d``.
    ``log_ratio_sum`` sums it over the rows (those at a distance above 0); 0 when no row tells (every
    next neighbour as near as the nearest)."""
    if rows == 0 or log_ratio_sum <= 0:
        return 0.0
    return rows / log_ratio_sum


def reference_dimension(reference: np.ndarray) -> float:
    """:func:`intrinsic_dimension` of the distinct rows of ``reference`` (model space, in hash order):
    the distances of its first :data:`DIMENSION_ROWS` rows to their nearest and next nearest other
    rows (each row's own, at 0, skipped). Taken at the nearest whatever ``trim_fraction``: the bound
    was set there, and a farther rank estimates fewer dimensions (8,000 normal rows of 24 columns:
    20.9 at the nearest, 12.6 at the 400th)."""
    if len(reference) < 3:  # a row and two others at the least
        return 0.0
    probe, wide = reference[:DIMENSION_ROWS].astype(np.float64), reference.astype(np.float64)
    norms = (wide**2).sum(axis=1)
    near, after = np.empty(len(probe)), np.empty(len(probe))
    step = max(1, KNN_BATCH_DISTANCES // len(wide))
    for start in range(0, len(probe), step):  # in float64: float32 misranks rows of large values
        rows = probe[start : start + step]
        squares = np.maximum((rows**2).sum(axis=1)[:, None] + norms - 2.0 * rows @ wide.T, 0.0)
        nearest = torch.from_numpy(squares).topk(3, dim=1, largest=False).values.numpy()  # faster than np.partition
        ranked = np.sqrt(nearest[:, 1:3])  # [:, 0] is the row's own
        near[start : start + step], after[start : start + step] = ranked[:, 0], ranked[:, 1]
    told = near > 0
    return intrinsic_dimension(float(np.log(after[told] / near[told]).sum()), int(told.sum()))


def input_weight(rotation: bool, multiple: float = INPUT_WEIGHT_MULTIPLE) -> float:
    """Weight of the input part: ``multiple`` times the network's parts' weights together (the
    reconstruction part's 1, the latent part's :data:`LATENT_WEIGHT` and, with a rotation head, its
    rotation part's as much again). Models saved before the weight was saved used ``multiple=1``."""
    return multiple * (1.0 + LATENT_WEIGHT * (2.0 if rotation else 1.0))


def fit_score_statistics(
    model: nn.Module,
    train_matrix: np.ndarray,
    held_out: np.ndarray | None,
    *,
    loss: str,
    device: torch.device,
    trim_fraction: float,
    data_kind: DataKind,
    seed: int,
    group: Group | None = None,
    train_hashes: np.ndarray | None = None,
    input_rows: int | None = None,
) -> ScoreStatistics:
    """Normal levels that the composite scores divide by, and the latent reference codes.

    ``train_matrix`` holds the rows the network trained on, ``held_out`` the normal rows it never
    saw (or ``None``). The reference codes are the kept training rows with the smallest
    ``train_hashes`` (:func:`~aedetect.partitions.row_hash` of their row keys; by default of their
    positions, with ``seed``), in hash order: a uniform sample that any partitioning reproduces.
    ``input_rows`` caps the reference rows of the input part (:func:`input_reference_rows`).
    With ``group`` the rows are this process's share, and every statistic is fitted on the rows of
    all processes: float64 sums merged over the processes, quantiles of the gathered row values.
    """
    group = group or Group()
    if train_hashes is None:
        train_hashes = row_hash(np.arange(len(train_matrix)), seed)
    out = _forward(model, train_matrix, loss, device)
    # The errors stay float32 (a float64 copy of a large table's errors is its largest array): sums
    # and row means are taken in float64 (mean_error_ratio), as with a float64 copy, to the last bit.
    errors, codes = out["errors"], out["codes"].astype(np.float64)
    width = int(np.prod(train_matrix.shape[1:]))
    rows = train_matrix.reshape(len(train_matrix), width)
    kept = np.arange(len(rows))  # the training rows that set the statistics (indices, not a copy)
    count = group.sum([len(codes)])[0]
    if trim_fraction > 0 and count > 1:
        # The worst-reconstructed rows may be anomalies: they set no normal level, scale or
        # reference code, so that anomalies among the training rows do not mask their kind.
        levels = np.maximum(group.sum(errors.sum(axis=0, dtype=np.float64)) / count, 1e-8)
        row_error = mean_error_ratio(errors, levels)
        kept = np.flatnonzero(row_error <= np.quantile(group.gather(row_error), 1 - trim_fraction))
        errors, codes, train_hashes = errors[kept], codes[kept], np.asarray(train_hashes)[kept]
        count = group.sum([len(codes)])[0]
    feature_error_means = np.maximum(group.sum(errors.sum(axis=0, dtype=np.float64)) / count, 1e-8)
    latent_mean = group.sum(codes.sum(axis=0)) / count
    centred = codes - latent_mean
    scatter = group.sum(centred.T @ centred)
    latent_scale = np.maximum(np.sqrt(np.diag(scatter) / count), 1e-8)
    chosen = group.smallest(train_hashes, KNN_REFERENCE_ROWS[data_kind])
    reference_hashes = group.gather(np.asarray(train_hashes, dtype=np.uint64)[chosen])
    order = np.argsort(reference_hashes, kind="stable")
    reference = group.gather(codes[chosen])[order]
    latent_reference = (reference / latent_scale).astype(np.float32)
    input_reference = np.zeros((0, width), dtype=np.float32)
    most = input_reference_rows(data_kind, width, input_rows)
    if most:
        # The distinct kept training rows with the smallest content hashes, while a sample of them
        # stretches nearest distances little enough (INPUT_DISTANCE_STRETCH).
        kept_rows = rows[kept] if len(kept) < len(rows) else rows  # trimmed: a copy only then
        content = content_hash(kept_rows, seed)
        sample, share = group.smallest_distinct(content, most)
        input_reference = group.gather_distinct(content[sample], kept_rows[sample])[1].astype(np.float32)
        bound = INPUT_MAX_DIMENSION.get(data_kind)  # tables only
        if share < 1 or bound is not None:
            dimension = reference_dimension(input_reference)  # the same on every process: gathered rows
            if share < INPUT_DISTANCE_STRETCH**-dimension or (bound is not None and dimension > bound):
                input_reference = input_reference[:0]
    keep_inputs = len(input_reference) > 0
    covariance = scatter / (count - 1) if count > 1 else np.eye(codes.shape[1])
    # A small ridge keeps the inverse finite when latent units are (nearly) collinear.
    ridge = 1e-6 * max(float(np.trace(covariance)) / covariance.shape[0], 1e-12)
    latent_precision = np.linalg.pinv(covariance + ridge * np.eye(covariance.shape[0]))
    latent = mahalanobis_squared(codes, latent_mean, latent_precision)
    neighbours = neighbour_rank(len(latent_reference), trim_fraction)
    n_held = group.sum([0 if held_out is None else len(held_out)])[0]
    if n_held:
        held = held_out if held_out is not None else train_matrix[:0]
        out = _forward(model, held, loss, device)
        standardized = mean_error_ratio(out["errors"], feature_error_means)
        codes, rows = out["codes"], held.reshape(len(held), width)
        if trim_fraction > 0 and n_held > 1:  # held-out rows may hold anomalies too
            normal_like = standardized <= np.quantile(group.gather(standardized), 1 - trim_fraction)
            standardized, codes, rows = standardized[normal_like], codes[normal_like], rows[normal_like]
        own = 0
    else:  # the training rows are among the references: skip each one's own
        standardized = mean_error_ratio(errors, feature_error_means)
        if keep_inputs:
            rows = kept_rows
        own = 1
    knn = knn_distance(codes, latent_reference, latent_scale, neighbours + own)
    input_rank = input_neighbour_rank(len(input_reference), len(latent_reference), trim_fraction) + own
    input_knn = np.empty(0)
    if keep_inputs:  # each distinct row searched once (see score_matrix)
        input_knn = on_distinct_rows(lambda some: knn_distance(some, input_reference, np.ones(width), input_rank), rows)
    means = group.sum(
        [standardized.sum(), len(standardized), latent.sum(), len(latent), knn.sum(), len(knn), input_knn.sum()]
    )
    scales = [max(means[0] / means[1], 1e-12), max(means[2] / means[3], 1e-12), max(means[4] / means[5], 1e-12)]
    input_scale = np.array([max(means[6] / means[5], 1e-12) if keep_inputs else 1.0])
    rotation = getattr(model, "rotation", None) is not None
    if rotation:
        rows = held_out if n_held else train_matrix
        rows = rows if rows is not None else train_matrix[:0]
        nll = group.sum([rotation_nll(model, rows, device).sum(), len(rows)])
        scales.append(max(float(nll[0] / nll[1]), 1e-12))
    return ScoreStatistics(
        feature_error_means,
        latent_scale,
        latent_reference,
        latent_mean,
        latent_precision,
        np.array(scales),
        input_reference,
        input_scale,
        np.array([input_weight(rotation)]),
    )


def row_scorer(
    model: nn.Module, statistics: ScoreStatistics, score: str, loss: str, trim_fraction: float, skip_own: bool = False
) -> RowScorer:
    """The network and the fitted statistics as one :class:`~aedetect.scoring.scorer.RowScorer` (what
    scores rows in memory, and what ONNX export traces). ``skip_own``: the rows to be scored are the
    training rows, among which the reference rows are; the kNN parts then measure to one neighbour
    further, so that a reference row's distance to itself (0) is not its score."""
    return RowScorer(
        model,
        score,
        loss,
        statistics.feature_error_means,
        statistics.score_scales,
        statistics.latent_scale,
        statistics.latent_reference,
        statistics.latent_mean,
        statistics.latent_precision,
        latent_weight=LATENT_WEIGHT,
        neighbours=neighbour_rank(len(statistics.latent_reference), trim_fraction) + int(skip_own),
        input_reference=statistics.input_reference,
        input_neighbours=input_neighbour_rank(
            len(statistics.input_reference), len(statistics.latent_reference), trim_fraction
        )
        + int(skip_own),
        input_scale=float(statistics.input_scale[0]),
        input_weight=float(statistics.input_weight[0]),
    )


def feature_contributions(errors: np.ndarray, score: str, feature_error_means: np.ndarray) -> np.ndarray:
    """Each feature's part in a row's score: its error relative to its level on normal rows, or the
    error itself (the same array) when ``score="reconstruction"``, whose score is the plain mean."""
    if score == "reconstruction":
        return errors
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return errors / feature_error_means


def _forward(model: nn.Module, matrix: np.ndarray, loss: str, device: torch.device) -> dict[str, np.ndarray]:
    """Errors and codes of ``matrix``'s rows, with the right widths when this process holds none."""
    if len(matrix):
        return forward_pass(model, matrix, loss, device, keep=("errors", "codes"))
    probe = forward_pass(
        model, np.zeros((1, *matrix.shape[1:]), dtype=np.float32), loss, device, keep=("errors", "codes")
    )
    return {name: values[:0] for name, values in probe.items()}


def _per_row_in_blocks(rows: np.ndarray, function, block: int = 8192) -> np.ndarray:
    """``function(block)``, one float64 value per row, over blocks of ``block`` rows: no temporary as
    large as ``rows``."""
    values = np.empty(len(rows))
    for start in range(0, len(rows), block):
        values[start : start + block] = function(rows[start : start + block])
    return values


def mean_error_ratio(errors: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each row's mean of ``errors / levels`` in float64, a block of rows at a time: the same values
    as ``(errors / levels).mean(axis=1)``, without a float64 temporary as large as ``errors``."""
    return _per_row_in_blocks(errors, lambda some: (some / levels).mean(axis=1))


def mahalanobis_squared(codes: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each code from the normal codes, a block of rows at a time (the
    values of all rows at once up to the last bits, as BLAS may split a block's product differently)."""

    def squared(some: np.ndarray) -> np.ndarray:
        centred = some - mean
        return ((centred @ precision) * centred).sum(axis=1)  # a matrix product: einsum's three operands loop

    return _per_row_in_blocks(codes, squared)


def knn_distance(codes: np.ndarray, reference: np.ndarray, scale: np.ndarray, k: int) -> np.ndarray:
    """Distance from each code (divided by ``scale``) to its ``k``-th nearest reference code, in batches
    of the scorer's size for that many references (:func:`~aedetect.scoring.scorer.knn_batch_rows`)."""
    knn = LatentKnn(reference, k)
    rows = knn_batch_rows(knn.batch_references("cpu"))
    parts = []
    with torch.inference_mode():
        for start in range(0, len(codes), rows):
            query = torch.as_tensor((codes[start : start + rows] / scale).astype(np.float32))
            parts.append(knn(query).numpy())
    return np.concatenate(parts).astype(np.float64) if parts else np.empty(0)


def rotation_nll(model: nn.Module, matrix: np.ndarray, device: torch.device) -> np.ndarray:
    """How badly a model with a rotation head reads the quarter turns of each image."""
    parts = []
    with torch.inference_mode():
        for start in range(0, len(matrix), BATCH_ROWS):
            batch = torch.as_tensor(matrix[start : start + BATCH_ROWS], device=device)
            parts.append(model.rotation_nll(batch).double().cpu().numpy())
    return np.concatenate(parts)


__all__ = [
    "ScoreStatistics",
    "fit_score_statistics",
    "neighbour_rank",
    "input_neighbour_rank",
    "input_reference_rows",
    "intrinsic_dimension",
    "reference_dimension",
    "INPUT_DISTANCE_STRETCH",
    "row_scorer",
    "input_weight",
    "feature_contributions",
    "KNN_REFERENCE_ROWS",
    "LATENT_WEIGHT",
    "INPUT_REFERENCE_MAX_VALUES",
    "INPUT_WEIGHT_MULTIPLE",
    "INPUT_REFERENCE_ROWS",
    "INPUT_MAX_DIMENSION",
]
