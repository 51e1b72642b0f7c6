"""Row anomaly scores as one torch module: the single implementation of every ``score`` option.

:class:`RowScorer` holds the network and the score statistics fitted on normal rows as buffers and
maps a model-space matrix (rows already preprocessed) to one score per row, higher = more anomalous.
The detector scores in memory through it (:func:`score_matrix`), and the ONNX export traces the very
same module, so the two cannot drift apart, with one difference: in memory on a CPU, the nearest row
of narrow rows is found by FAISS (:data:`FUSED_SEARCH_WIDTH`), where the exported graph runs the
matrix-product search; the two pick the same row except among rows equally near up to float32
rounding of ``|q|^2 + |r|^2 - 2 q.r``, and either row's distance is then computed the same way.

The network may be any ``nn.Module`` whose ``forward`` returns the reconstruction of its input and
which has an ``encode`` method (the latent code); when it also has a ``decoder`` the code is decoded
directly, so a latent score costs one pass instead of two. Inputs and reconstructions of any shape are
flattened per row, so image and sequence models score like tables.
"""

from __future__ import annotations

import functools
import platform
import sys
import threading
import weakref
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from aedetect.kinds import TABLE, DataKind
from aedetect.partitions import on_distinct_rows
from aedetect.preprocessing.values import InvalidValueError
from aedetect.scoring.forward import eval_if_training, padded_batches
from aedetect.training.loop import ELEMENTWISE

#: Rows per batch for in-memory scoring. The kNN part builds a (batch x reference codes) distance
#: matrix that is written and read once per batch, so its batches hold about
#: :data:`KNN_BATCH_DISTANCES` distances whatever the number of codes: 4096 rows of 512 codes was
#: fastest on a 2-core CPU among 1024 to 8192 rows, and with 2048 codes, 1024-row batches scored about
#: twice as fast as 4096-row ones (a larger matrix spills out of cache, smaller ones pay per-call
#: overhead; compare with ``benchmarks/throughput.py --skip-files``). kNN batches never exceed
#: :data:`KNN_MAX_BATCH` rows, so that few codes do not make an image model's batches larger.
SCORER_BATCH = 16384
KNN_BATCH_DISTANCES = 4096 * 512
KNN_MAX_BATCH = 4096
#: ... and never fewer than this many rows: a table's 32,768 input rows make 64-row batches (8 MB of
#: distances), where 256 rows would hold four times that.
KNN_MIN_BATCH = 64
#: Reference rows per group of the kNN search (see :class:`LatentKnn`): a multiple of the CPU's
#: vector width, so that the group minima are one vectorised reduction.
KNN_GROUP = 32
#: A nearest-row search of rows from :data:`FUSED_SEARCH_MIN_WIDTH` to this many columns runs in
#: FAISS's fused kernel on a CPU (see :meth:`LatentKnn.forward`): it keeps each row's running minimum
#: in registers instead of writing and reading a distance matrix (timings against the matrix product:
#: ``benchmarks/results/knn_search.md``). FAISS has that kernel up to 32 columns; wider rows and
#: further neighbours gained little from FAISS (``benchmarks/results/quality.md``). It ranks by the
#: expanded form in float32 too, with its own order of additions, so the two searches can pick
#: different rows among rows equally near up to that rounding. Its choice did not depend on the batch
#: (``tests/test_scorer.py``); rows of one column keep the matrix product, as there it did.
FUSED_SEARCH_WIDTH = 32
FUSED_SEARCH_MIN_WIDTH = 2


@functools.cache
def _faiss():
    """FAISS, imported on first use on Linux x86-64; ``None`` elsewhere or where it cannot be imported
    (the matrix-product search then serves every query). FAISS's wheels for macOS and Windows bundle an
    LLVM or Intel OpenMP runtime that aborts or crashes beside PyTorch's (faiss-wheels issue #73), so
    the dependency and its use are limited to Linux x86-64, where FAISS's wheel and PyTorch's each
    load their own copy of GNU OpenMP, which live side by side."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return None
    try:
        import faiss
    except ImportError:  # pragma: no cover - installed without its dependencies
        return None
    return faiss


#: FAISS picks its kernel by the number of queries (a per-pair loop below a threshold): each search
#: sets the threshold to 0 under this lock and restores it, so that every batch, of one row or of
#: thousands, is ranked by the same kernel (a row's score does not depend on its batch). The lock
#: also makes searches from several threads (the service's) take turns; another user of FAISS in
#: the same process may see the threshold at 0 while a search runs (only its speed changes).
_FAISS_LOCK = threading.Lock()
#: Each search's FAISS index (a copy of its reference rows) with the version of the rows it copied,
#: kept beside the module rather than on it, so that copying or pickling a scorer never copies a
#: FAISS object; rows changed in place (``load_state_dict``) are indexed again.
_INDEXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _exporting() -> bool:
    """Whether the module is being traced (ONNX export, TorchScript, torch.compile): the graph then
    keeps the matrix-product search. A traced query that is not a plain tensor also takes that path."""
    compiling = getattr(torch.compiler, "is_compiling", None)  # absent from some older torch releases
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or bool(compiling and compiling())


def _sum_of_squares(values: torch.Tensor) -> torch.Tensor:
    return values.pow(2).sum(dim=1)


def knn_batch_rows(references: int) -> int:
    """Rows per batch of a kNN search among ``references`` rows (see :data:`KNN_BATCH_DISTANCES`)."""
    return min(KNN_MAX_BATCH, max(KNN_MIN_BATCH, KNN_BATCH_DISTANCES // max(references, 1)))


class LatentKnn(nn.Module):
    """Euclidean distance from each query row to its ``k``-th nearest reference row, exactly.

    A CPU spends most of a brute-force kNN on selecting among all the distances of a row, so the
    search is split in two: the reference rows are cut into groups of :data:`KNN_GROUP` rows, the
    groups with the k smallest minima are picked (a group minimum is one vectorised ``amin``), and
    the k-th nearest is selected among their rows only. This is exact: fewer than k rows can be
    nearer than the k-th smallest group minimum, and every one of them lies in a picked group.
    Distances are ranked by ``|r|^2 - 2 q.r`` (one matrix product; ``|q|^2`` does not change the
    order) and the chosen neighbour's distance is then computed directly as a sum of squares, which
    float32 gets accurate where the expanded form would cancel. For ``k = 1`` the selections are
    ``argmin`` rather than ``topk``, which costs a CPU several times less on short rows. Every step
    (MatMul, ReduceMin, ArgMin/TopK, Gather) exports to ONNX.

    On a CPU, the nearest row (``k = 1``) of narrow rows is found by FAISS's fused kernel instead
    (:meth:`fused`, :data:`FUSED_SEARCH_WIDTH`), and its distance computed directly as above.
    """

    def __init__(self, reference, k: int) -> None:
        super().__init__()
        reference = np.asarray(reference, dtype=np.float32)
        n, width = reference.shape
        self.k = int(min(k, n))
        self.n_reference = n
        group = KNN_GROUP
        if -(-n // group) < self.k:  # too few groups to pick k of them: one row per group
            group = 1
        self.group, self.n_groups = group, -(-n // group)
        padded = np.zeros((self.n_groups * group, width), dtype=np.float32)
        padded[:n] = reference
        norms = np.full(len(padded), 1e30, dtype=np.float64)  # padding rows are never near
        norms[:n] = (reference.astype(np.float64) ** 2).sum(axis=1)
        # [q, 1] . [-2 r, |r|^2] = |r|^2 - 2 q.r: the norms ride along in the matrix product (an
        # addmm would first copy them into every row of the output, a pass as long as the product).
        keys = np.concatenate([-2.0 * padded.astype(np.float64), norms[:, None]], axis=1)
        self.register_buffer("reference", torch.as_tensor(padded))
        self.register_buffer("keys_t", torch.as_tensor(np.ascontiguousarray(keys.T, dtype=np.float32)))

    def fused(self, device: torch.device | str) -> bool:
        """Whether a search on ``device`` runs in FAISS's fused kernel: the nearest row (``k = 1``) of
        rows of :data:`FUSED_SEARCH_MIN_WIDTH` to :data:`FUSED_SEARCH_WIDTH` columns, on a CPU, where
        FAISS is installed. Its batches then hold no distance matrix."""
        return (
            self.k == 1
            and FUSED_SEARCH_MIN_WIDTH <= self.reference.shape[1] <= FUSED_SEARCH_WIDTH
            and torch.device(device).type == "cpu"
            and _faiss() is not None
        )

    def batch_references(self, device: torch.device | str) -> int:
        """How many distances per query row a batch of this search holds (see :func:`knn_batch_rows`)."""
        return 0 if self.fused(device) else self.n_groups * self.group

    def _nearest_fused(self, query: torch.Tensor) -> torch.Tensor | None:
        """Each query row's nearest reference row by FAISS, or ``None`` where FAISS found none for
        some row (a query whose expanded distances overflow float32)."""
        faiss = _faiss()
        version = (self.reference._version, self.reference.data_ptr())
        rows = np.ascontiguousarray(query.detach().to(torch.float32).numpy())
        with _FAISS_LOCK:
            index, indexed = _INDEXES.get(self, (None, None))
            if indexed != version:
                index = faiss.IndexFlatL2(self.reference.shape[1])
                index.add(np.ascontiguousarray(self.reference[: self.n_reference].numpy()))
                _INDEXES[self] = (index, version)
            threshold = faiss.cvar.distance_compute_blas_threshold
            faiss.cvar.distance_compute_blas_threshold = 0
            faiss.omp_set_num_threads(torch.get_num_threads())
            try:
                nearest = index.search(rows, 1)[1][:, 0]
            finally:
                faiss.cvar.distance_compute_blas_threshold = threshold
        return None if (nearest < 0).any() else torch.as_tensor(nearest)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        k, group = self.k, self.group
        if type(query) is torch.Tensor and not _exporting() and self.fused(query.device):
            # The same neighbour as below up to float32 rounding of near ties; its distance is then
            # computed directly, as below. The exported graph keeps the matrix-product search.
            nearest = self._nearest_fused(query)
            if nearest is not None:
                return _sum_of_squares(query - self.reference[nearest]).sqrt()
        augmented = torch.cat([query, torch.ones_like(query[:, :1])], dim=1)
        ranked = (augmented @ self.keys_t).reshape(-1, self.n_groups, group)
        minima = ranked.amin(dim=2)
        if k == 1:  # one candidate group per row: pick it by a flat row index, cheaper than gather
            groups = minima.argmin(dim=1)
            rows = torch.arange(ranked.shape[0], device=query.device) * self.n_groups + groups
            nearest = groups * group + ranked.reshape(-1, group)[rows].argmin(dim=1)
        else:
            groups = minima.topk(k, dim=1, largest=False).indices
            candidates = ranked.gather(1, groups.unsqueeze(2).expand(-1, -1, group)).reshape(-1, k * group)
            position = candidates.topk(k, dim=1, largest=False).indices[:, k - 1]
            nearest = groups.gather(1, torch.div(position, group, rounding_mode="floor").unsqueeze(1)).squeeze(1)
            nearest = nearest * group + position % group
        return _sum_of_squares(query - self.reference[nearest]).sqrt()


class RowScorer(nn.Module):
    """Score each row of a model-space matrix (see ``AutoencoderDetector(score=...)``).

    Parameters
    ----------
    model : nn.Module
        The autoencoder: ``forward`` returns the reconstruction, ``encode`` the latent code.
    score : {"reconstruction", "standardized", "latent_knn", "latent_mahalanobis"}
    loss : {"mse", "mae", "huber", "bce"}
        The element-wise reconstruction error.
    feature_error_means : array
        Mean error of each feature on normal training rows (the ``standardized`` divisor).
    score_scales : array of 3 or 4 values
        Normal levels of the standardized error, the Mahalanobis distance, the kNN distance and,
        for a model with a rotation head, its rotation NLL.
    latent_scale, latent_reference, latent_mean, latent_precision : arrays
        Per-unit code scale, scaled reference codes, mean code and precision matrix of normal codes.
    latent_weight : float
        Weight of the latent part against the reconstruction part; a model with a rotation head
        adds its rotation NLL (``model.rotation_nll``) to the latent scores with the same weight.
    neighbours : int
        Which nearest reference code the kNN distance is measured to.
    input_reference, input_scale, input_weight : array, float, float
        With ``score="latent_knn"``: normal rows in model space and the normal level of a row's
        distance to its ``input_neighbours``-th nearest of them. That distance, divided by its level,
        is added with weight ``input_weight`` (see :func:`aedetect.scoring.statistics.input_weight`).
        ``None`` or no rows: no input part.
    input_neighbours : int, optional
        Which nearest reference row the input part measures the distance to (default:
        ``neighbours``).
    """

    def __init__(
        self,
        model: nn.Module,
        score: str,
        loss: str,
        feature_error_means,
        score_scales,
        latent_scale,
        latent_reference,
        latent_mean,
        latent_precision,
        latent_weight: float = 4.0,
        neighbours: int = 5,
        input_reference=None,
        input_scale: float = 1.0,
        input_weight: float | None = None,
        input_neighbours: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.score = score
        self.error: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = ELEMENTWISE[loss]
        self.latent_weight = float(latent_weight)
        scales = np.asarray(score_scales, dtype=np.float64)
        self.register_buffer("inverse_error_means", _tensor(1.0 / np.asarray(feature_error_means, dtype=np.float64)))
        self.standardized_scale = float(scales[0])
        self.register_buffer("inverse_latent_scale", _tensor(1.0 / np.asarray(latent_scale, dtype=np.float64)))
        self.knn = LatentKnn(latent_reference, neighbours) if score == "latent_knn" else None
        self.knn_scale = float(scales[2])
        # Whitening W with W W^T = precision: the Mahalanobis distance becomes a sum of squares, which
        # float32 computes accurately even when the precision matrix is badly conditioned.
        precision = np.atleast_2d(np.asarray(latent_precision, dtype=np.float64))
        values, vectors = np.linalg.eigh((precision + precision.T) / 2)
        self.register_buffer("latent_mean", _tensor(np.asarray(latent_mean, dtype=np.float64)))
        self.register_buffer("whitening", _tensor(vectors * np.sqrt(np.clip(values, 0, None))))
        self.mahalanobis_scale = float(scales[1])
        self.rotation = score.startswith("latent") and getattr(model, "rotation", None) is not None
        self.rotation_scale = float(scales[3]) if len(scales) > 3 else 1.0
        use_inputs = score == "latent_knn" and input_reference is not None and len(input_reference) > 0
        input_neighbours = neighbours if input_neighbours is None else input_neighbours
        self.input_knn = LatentKnn(input_reference, input_neighbours) if use_inputs else None
        self.input_scale = float(input_scale)
        if use_inputs and input_weight is None:
            raise ValueError("input_reference needs its input_weight (see aedetect.scoring.statistics.input_weight).")
        self.input_weight = float(input_weight) if input_weight is not None else 0.0

    def batch_rows(self, device: torch.device | str = "cpu") -> int:
        """Rows per batch of in-memory scoring on ``device`` (see :data:`SCORER_BATCH`,
        :data:`KNN_BATCH_DISTANCES`)."""
        if self.knn is None:
            return SCORER_BATCH
        return knn_batch_rows(
            max(search.batch_references(device) for search in (self.knn, self.input_knn) if search is not None)
        )

    def _code_and_reconstruction(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        if not self.score.startswith("latent"):
            return None, self.model(x)
        code = self.model.encode(x)
        decoder = getattr(self.model, "decoder", None)
        return code, decoder(code) if decoder is not None else self.model(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code, reconstruction = self._code_and_reconstruction(x)
        errors = self.error(reconstruction, x).reshape(x.shape[0], -1)
        if self.score == "reconstruction":
            return errors.mean(dim=1)
        standardized = (errors * self.inverse_error_means).mean(dim=1)
        if self.score == "standardized":
            return standardized
        code = code.reshape(x.shape[0], -1)
        if self.score == "latent_knn":
            query = code * self.inverse_latent_scale
            latent = self.knn(query) / self.knn_scale
        else:
            latent = _sum_of_squares((code - self.latent_mean) @ self.whitening) / self.mahalanobis_scale
        if self.rotation:
            latent = latent + self.model.rotation_nll(x, code) / self.rotation_scale
        score = standardized / self.standardized_scale + self.latent_weight * latent
        if self.input_knn is not None:
            score = score + self.input_weight * self.input_knn(x.reshape(x.shape[0], -1)) / self.input_scale
        return score


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(values, dtype=np.float32))


@torch.inference_mode()
def score_matrix(
    scorer: RowScorer, matrix: np.ndarray, device: torch.device | str = "cpu", batch_size: int | None = None
) -> np.ndarray:
    """Scores of every row of ``matrix`` (float32, model space), in batches; returns float64.

    Batches are views of ``matrix`` (no copy on a CPU, except the padding of a short last batch to
    whole blocks, :func:`aedetect.scoring.forward.padded_batches`) and results go straight into one
    output array, so memory beyond the input is one batch's activations. A row's score does not
    depend on the batch it is computed in; so with an input part, whose search among the kept rows
    costs each row tens of microseconds where finding the repeated rows costs under one
    (:func:`~aedetect.partitions.on_distinct_rows`), a row that occurs several times is scored once
    (a copy of the distinct rows, when some repeat).
    """
    eval_if_training(scorer)
    if batch_size is None:
        batch_size = scorer.batch_rows(device)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if scorer.input_knn is not None and len(matrix) > 1:
        return on_distinct_rows(lambda rows: _score_batches(scorer, rows, device, batch_size), matrix)
    return _score_batches(scorer, matrix, device, batch_size)


def _score_batches(scorer: RowScorer, matrix: np.ndarray, device, batch_size: int) -> np.ndarray:
    scores = np.empty(len(matrix), dtype=np.float64)
    start = 0
    for batch, n in padded_batches(matrix, device, batch_size):
        scores[start : start + n] = scorer(batch)[:n].double().cpu().numpy()
        start += n
    return scores


def check_finite(scores: np.ndarray, data_kind: DataKind) -> np.ndarray:
    """``scores``, or an :class:`~aedetect.preprocessing.values.InvalidValueError` naming the first row
    whose score is not finite: its inputs passed their checks but the network overflowed on them."""
    if not np.isfinite(scores).all():
        row = int(np.flatnonzero(~np.isfinite(scores))[0])
        unit = "data row" if data_kind == TABLE else "sample"
        raise InvalidValueError(
            "The score{where} is not finite: the network overflowed on its values; check that they are in the "
            "units the model was trained on.",
            row,
            unit,
        )
    return scores


__all__ = ["RowScorer", "LatentKnn", "score_matrix", "check_finite", "knn_batch_rows"]
