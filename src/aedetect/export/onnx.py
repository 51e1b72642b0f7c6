"""Export a fitted detector to ONNX: preprocessing, network and score in one graph.

The graph takes the raw numeric columns, in training order, as one float32 matrix and returns each
row's anomaly score (higher = more anomalous) and its 0/1 flag (1 = anomaly) at the model's
threshold, so that onnxruntime alone reproduces ``decision_function`` and ``predict``:

========== ============ ==============================================================
name       shape        meaning
========== ============ ==============================================================
features   (rows, n)    float32, the numeric columns in ``feature_names`` order; for an
                        image or series model the samples, channels last:
                        ``(rows, height, width, channels)`` or ``(rows, length, channels)``
score      (rows,)      float32 anomaly score
is_anomaly (rows,)      int64, 1 when ``score > threshold``
========== ============ ==============================================================

Imputation (when the model was trained with ``impute``) and scaling happen inside the graph; the
score part is the detector's own :class:`~aedetect.scoring.scorer.RowScorer`, traced, so every ``score``
option (the kNN as a matrix product and a TopK over the stored reference codes) is the same code in
both places. Models with one-hot categorical columns cannot be exported (ONNX has no portable
string-to-one-hot operator); the export says so.

A graph cannot raise, so a row that the detector refuses gets score ``+inf`` and ``is_anomaly`` 1 in
the graph: a row that cannot be judged is safer flagged than passed. Those are rows with a NaN or
infinite value (without ``impute``; with it they are filled, as in the detector), with a value too far
out to score (more than :data:`~aedetect.preprocessing.tables.SCALED_LIMIT` training spreads from the
training centre; a float32 input is always within float32), and rows whose score overflows.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aedetect.preprocessing.values import SCALED_LIMIT
from aedetect.scoring.scorer import RowScorer

OPSET = 18
INPUT_NAME = "features"
OUTPUT_NAMES = ("score", "is_anomaly")
FORMATS = ("onnx",)


class NumericPreprocessing(nn.Module):
    """The fitted imputation and scaling of numeric columns, as a module.

    Computed in float64 and then rounded to float32, exactly as :class:`TablePreprocessor` does, so
    that the network sees bit-identical inputs (a loss such as ``bce`` amplifies a last-bit
    difference in its input a hundredfold).
    """

    def __init__(self, offset, scale, fill_values=None) -> None:
        super().__init__()
        self.register_buffer("offset", torch.as_tensor(np.asarray(offset, dtype=np.float64)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float64)))
        self.impute = fill_values is not None
        fill = np.asarray(fill_values if fill_values is not None else offset, dtype=np.float64)
        self.register_buffer("fill", torch.as_tensor(fill))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        if self.impute:  # NaN and infinite values are holes, as in TablePreprocessor
            x = torch.where(torch.isnan(x) | torch.isinf(x), self.fill.expand_as(x), x)
        return ((x - self.offset) / self.scale).to(torch.float32)


class ArrayScaling(nn.Module):
    """Per-channel scaling of channel-last images or windows, then channel-first flattening,
    exactly as :class:`~aedetect.preprocessing.arrays.ArrayPreprocessor` does (in float32)."""

    def __init__(self, offset, scale) -> None:
        super().__init__()
        self.register_buffer("offset", torch.as_tensor(np.asarray(offset, dtype=np.float32)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = (x.to(torch.float32) - self.offset) / self.scale
        return scaled.movedim(-1, 1).flatten(1)


class ScoringGraph(nn.Module):
    """Raw numeric rows (or images, windows) -> (score, is_anomaly): what the ONNX file computes."""

    def __init__(self, preprocessing: nn.Module, scorer: RowScorer, threshold: float) -> None:
        super().__init__()
        self.preprocessing = preprocessing
        self.scorer = scorer
        self.threshold = float(threshold)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scaled = self.preprocessing(x)
        # What the detector refuses (NaN, inf, too far out: each fails "<=") scores +inf and is flagged.
        scorable = (scaled.abs() <= SCALED_LIMIT).all(dim=1)
        score = self.scorer(scaled)
        score = torch.where(scorable & torch.isfinite(score), score, torch.full_like(score, float("inf")))
        return score, (score > self.threshold).to(torch.int64)


def scoring_graph(detector) -> ScoringGraph:
    """The detector's preprocessing, network and score as one CPU module (raises for categoricals)."""
    detector._check_fitted()
    if hasattr(detector, "members_"):
        raise ValueError(
            "Export of an ensemble is not supported; export one member instead (its own scores and "
            "threshold), e.g. 'aedetect export MODEL/member_0 -o member_0.onnx'."
        )
    prep = detector.preprocessor_
    if detector.score == "negative_elbo":
        raise ValueError(
            "ONNX export covers the latent_knn, standardized, reconstruction and latent_mahalanobis "
            "scores; this model scores by negative_elbo. Re-train with another --score to export it."
        )
    scorer = copy.deepcopy(detector._scorer()).cpu().eval()
    if detector.data_kind_ != "table":
        return ScoringGraph(ArrayScaling(prep.offset_, prep.scale_), scorer, detector.threshold_).eval()
    if prep.categorical_features:
        raise ValueError(
            f"ONNX export supports numeric columns only; this model one-hot encodes {prep.categorical_features}. "
            "Train without --categorical (encode those columns yourself beforehand) to export it."
        )
    preprocessing = NumericPreprocessing(prep.offset_, prep.scale_, prep.fill_values_)
    return ScoringGraph(preprocessing, scorer, detector.threshold_).eval()


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress notes and warnings: they are not the user's business."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(detector, path, opset: int = OPSET) -> Path:
    """Write ``detector`` as an ONNX graph to ``path`` (atomically); return the path.

    The model's metadata (``metadata_props``) holds the feature names, the score, the threshold rule
    and its value, and the aedetect version.
    """
    import onnx

    from aedetect._version import __version__
    from aedetect.data.io import atomic_write

    graph = scoring_graph(detector)
    if detector.data_kind_ == "table":
        names = list(detector.preprocessor_.numeric_columns_)
        example = torch.zeros(2, len(names))
        shape = {"feature_names": json.dumps(names)}
    else:  # images (rows, h, w, c) or windows (rows, length, c), channels last
        sample_shape = list(detector.preprocessor_.sample_shape_)
        example = torch.zeros(2, *sample_shape)
        shape = {"sample_shape": json.dumps(sample_shape), "data_kind": detector.data_kind_}
    metadata = {
        **shape,
        "score": detector.score,
        "threshold": repr(float(detector.threshold_)),
        "threshold_rule": detector.threshold_rule_.to_spec(),
        "aedetect_version": __version__,
    }

    def write(temporary: str) -> None:
        with torch.no_grad(), _quiet():
            program = torch.onnx.export(
                graph,
                (example,),
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes=({0: torch.export.Dim("rows", min=1)},),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        model = program.model_proto
        model.producer_name = "aedetect"
        model.doc_string = "Anomaly scores (higher = more anomalous) and 0/1 flags (1 = anomaly)."
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        onnx.save(model, temporary)

    return atomic_write(path, write)


def export(detector, path, format: str = "onnx") -> Path:
    """Export ``detector`` in ``format`` (only ``"onnx"`` today)."""
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; expected one of {', '.join(FORMATS)}.")
    if Path(path).suffix.lower() != ".onnx":
        raise ValueError(f"Cannot write {str(path)!r}: an ONNX file must end in .onnx.")
    return export_onnx(detector, path)


__all__ = ["export", "export_onnx", "scoring_graph", "ScoringGraph", "NumericPreprocessing", "ArrayScaling"]
