"""A variational autoencoder around any base model: dense, convolutional or LSTM.

The base model is built unchanged; a linear head on its latent code gives the Gaussian posterior's
mean and log-variance, and the base decoder decodes a latent vector of the same size. ``encode``
returns the posterior mean, so scores, latent distances and saved statistics stay deterministic;
the training loop draws samples through :meth:`VariationalAutoencoder.posterior`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aedetect.models.bases import BASE_MODELS, build_from


@dataclass
class VariationalConfig:
    """Everything needed to rebuild a :class:`VariationalAutoencoder`: the base model's kind and config."""

    base_kind: str
    base: dict

    def to_dict(self) -> dict:
        return {"base_kind": self.base_kind, "base": dict(self.base)}

    @property
    def latent_dim(self) -> int:
        return int(self.base["latent_dim"])


class VariationalAutoencoder(nn.Module):
    """Base encoder -> (mean, log-variance) -> sample (training) or mean (scoring) -> base decoder."""

    def __init__(self, config: VariationalConfig) -> None:
        super().__init__()
        if config.base_kind not in BASE_MODELS:
            raise ValueError(f"A variational model's base must be {', '.join(BASE_MODELS)}; got {config.base_kind!r}.")
        self.config = config
        self.base = build_from(BASE_MODELS, config.base_kind, config.base)[1]
        self.head = nn.Linear(config.latent_dim, 2 * config.latent_dim)
        with torch.no_grad():  # start with small posterior variances so early samples do not drown the code
            self.head.bias[config.latent_dim :] = -2.0

    @property
    def decoder(self) -> nn.Module:
        # A property, not a second attribute: the weights stay under one name in the saved file.
        return self.base.decoder

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of each row's Gaussian posterior, each (batch, latent_dim)."""
        mean, log_variance = self.head(self.base.encode(x)).chunk(2, dim=1)
        return mean, log_variance.clamp(-12.0, 8.0)  # keeps exp() finite at extreme inputs

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))
