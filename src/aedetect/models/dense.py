"""A dense (fully connected) autoencoder: encoder -> latent code -> decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

Activation = Literal["relu", "leaky_relu", "elu", "gelu", "tanh", "silu"]
Normalization = Literal["none", "batch", "layer"]
OutputActivation = Literal["linear", "sigmoid"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}
NORMALIZATIONS = ("none", "batch", "layer")
OUTPUT_ACTIVATIONS = ("linear", "sigmoid")


@dataclass
class DenseConfig:
    """Everything needed to rebuild a :class:`DenseAutoencoder`; saved beside its weights."""

    n_features: int
    hidden_dims: list[int] = field(default_factory=lambda: [64, 32])
    latent_dim: int = 8
    activation: Activation = "relu"
    dropout: float = 0.0
    normalization: Normalization = "none"
    # Linear output by default: inputs are standardised, so they are not confined to [0, 1].
    output_activation: OutputActivation = "linear"

    def to_dict(self) -> dict:
        return asdict(self)


def _block(n_in: int, n_out: int, config: DenseConfig) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if config.normalization == "batch":
        layers.append(nn.BatchNorm1d(n_out))
    elif config.normalization == "layer":
        layers.append(nn.LayerNorm(n_out))
    layers.append(ACTIVATIONS[config.activation]())
    if config.dropout > 0:
        layers.append(nn.Dropout(config.dropout))
    return layers


class DenseAutoencoder(nn.Module):
    """Mirror-image dense encoder and decoder around a linear latent layer.

    The latent layer has no activation so that the code is not clipped at zero (a ReLU bottleneck
    can silently switch latent units off for good).
    """

    def __init__(self, config: DenseConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.n_features, *config.hidden_dims]
        encoder: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=False):
            encoder += _block(n_in, n_out, config)
        encoder.append(nn.Linear(widths[-1], config.latent_dim))
        decoder: list[nn.Module] = []
        back = [config.latent_dim, *reversed(config.hidden_dims)]
        for n_in, n_out in zip(back[:-1], back[1:], strict=False):
            decoder += _block(n_in, n_out, config)
        decoder.append(nn.Linear(back[-1], config.n_features))
        if config.output_activation == "sigmoid":
            decoder.append(nn.Sigmoid())
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
