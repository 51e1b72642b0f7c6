"""Autoencoder variants as one small hook in the shared training loop.

A variant changes what the loop feeds the network or what it adds to the loss, never the loop:

``"plain"``
    Reconstruct the input.
``"denoising"``
    Reconstruct the clean input from a corrupted copy: Gaussian noise of standard deviation
    ``noise_level`` (in the scaled units the network sees) or masking, where each value is set to
    0 with probability ``noise_level``. Corruption happens in training only; scores use the clean
    input.
``"sparse"``
    Add an L1 penalty on the latent activity, ``sparsity_weight`` times the sum of the code's
    absolute values per row (Keras' ``activity_regularizer=l1(sparsity_weight)``), so that few
    latent units are active for a given row.
``"variational"``
    The encoder gives a Gaussian posterior (mean and log-variance, see
    :class:`aedetect.models.variational.VariationalAutoencoder`); training decodes a sample drawn
    by the reparameterisation trick and adds ``beta`` times the analytic KL divergence from the
    standard normal prior. Scoring uses the posterior mean, so it is deterministic.

Every loss here is per row and in the reconstruction loss's units (a mean over the row's values),
so the KL term is divided by the number of values: with ``loss="mse"`` and ``beta=1`` the training
loss is the negative evidence lower bound of a Gaussian decoder (variance 1/2) divided by the
number of values, up to a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

VARIANTS = ("plain", "denoising", "sparse", "variational")
NOISES = ("gaussian", "masking")


def kl_divergence(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL divergence of each row's Gaussian posterior from the standard normal prior, in nats."""
    return 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance).sum(dim=1)


@dataclass(frozen=True)
class Variant:
    """What one variant adds to training: the corruption of its inputs and its extra loss term."""

    kind: str = "plain"
    noise: str = "gaussian"
    noise_level: float = 0.1
    sparsity_weight: float = 1e-3
    beta: float = 1.0

    @property
    def penalty_name(self) -> str | None:
        """Key of the extra term in the training history (its raw value, before weighting)."""
        return {"sparse": "sparsity", "variational": "kl"}.get(self.kind)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The network's training input: ``x`` itself, or a corrupted copy for ``"denoising"``."""
        if self.kind != "denoising" or self.noise_level == 0:
            return x
        if self.noise == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
            return x + self.noise_level * noise.to(x.device)
        keep = torch.rand(x.shape, generator=generator, device=generator.device) >= self.noise_level
        return x * keep.to(x.device, x.dtype)

    def encode(
        self, model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The code that the decoder sees, the weighted extra loss per row and its raw value per row.

        With ``generator=None`` (evaluation) a variational model decodes its posterior mean;
        in training it decodes a sample.
        """
        if self.kind == "variational":
            mean, log_variance = model.posterior(x)
            code = mean
            if generator is not None:
                noise = torch.randn(mean.shape, generator=generator, device=generator.device, dtype=mean.dtype)
                code = mean + (0.5 * log_variance).exp() * noise.to(mean.device)
            raw = kl_divergence(mean, log_variance)
            return code, self.beta * raw / x.shape[1], raw
        code = model.encode(x)
        if self.kind == "sparse":
            raw = code.abs().sum(dim=1)
            return code, self.sparsity_weight * raw, raw
        zero = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        return code, zero, zero


def negative_elbo(errors: np.ndarray, kl: np.ndarray) -> np.ndarray:
    """Negative ELBO of each row per value: its mean reconstruction error at the posterior mean
    (``errors``, per value) plus the posterior's KL divergence from the prior (``kl``, per row) over
    the number of values. Deterministic: no sampling. Both come from one pass of
    :func:`aedetect.scoring.forward.forward_pass` (``keep=("errors", "kl")``), whose padded batches
    make each row's score independent of the batch it is scored in."""
    return errors.mean(axis=1, dtype=np.float64) + kl / errors.shape[1]
