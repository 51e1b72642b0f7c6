"""Reconstruction errors per feature and per row, and latent codes, computed in batches.

Higher error = more anomalous. Every model exposes ``encode`` and ``decoder`` so that one pass gives
both the code and the reconstruction.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from aedetect.training.loop import ELEMENTWISE

SCORING_BATCH = 8192


def _batches(matrix: np.ndarray, device: torch.device, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(matrix), batch_size):
        yield torch.as_tensor(matrix[start : start + batch_size], device=device)


@torch.inference_mode()
def forward_pass(
    model: nn.Module,
    matrix: np.ndarray,
    error: str,
    device: torch.device,
    batch_size: int = SCORING_BATCH,
    keep: tuple[str, ...] = ("errors",),
) -> dict[str, np.ndarray]:
    """Run ``model`` over ``matrix`` and return the requested arrays.

    ``keep`` names what to return: ``"errors"`` (per-feature reconstruction error, the element-wise
    ``error`` function), ``"codes"`` (latent codes) and ``"reconstructions"``.
    """
    model.eval()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in keep}
    elementwise = ELEMENTWISE[error]
    for x in _batches(matrix, device, batch_size):
        code = model.encode(x)
        out = model.decoder(code)
        if "errors" in parts:
            parts["errors"].append(elementwise(out, x).float().cpu().numpy())
        if "codes" in parts:
            parts["codes"].append(code.float().cpu().numpy())
        if "reconstructions" in parts:
            parts["reconstructions"].append(out.float().cpu().numpy())
    width = {"errors": matrix.shape[1], "reconstructions": matrix.shape[1]}
    result = {}
    for name, chunks in parts.items():
        if chunks:
            result[name] = np.concatenate(chunks)
        else:
            result[name] = np.empty((0, width.get(name, 0)), dtype=np.float32)
    return result
