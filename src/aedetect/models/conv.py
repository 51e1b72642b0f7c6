"""A convolutional autoencoder for images (2-D) and sequences (1-D): one class for both.

The network takes and returns flattened samples, shape ``(batch, channels * prod(spatial))`` in
channel-first order, so that training, scoring, thresholds and saved statistics treat an image or a
window exactly like a table row; the model alone knows the sample's shape.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from aedetect.models.dense import ACTIVATIONS, Activation, Normalization, OutputActivation

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_TRANSPOSED = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


@dataclass
class ConvConfig:
    """Everything needed to rebuild a :class:`ConvAutoencoder`; saved beside its weights.

    ``input_shape`` is ``[channels, length]`` for sequences and ``[channels, height, width]`` for
    images. Each entry of ``channels`` is one stride-2 convolution block (so each halves the
    resolution); the latent code is a linear layer on the last block's feature map.
    """

    input_shape: list[int]
    channels: list[int] = field(default_factory=lambda: [32, 64])
    latent_dim: int = 32
    kernel_size: int = 3
    activation: Activation = "relu"
    dropout: float = 0.0
    normalization: Normalization = "none"
    output_activation: OutputActivation = "linear"

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def spatial_dims(self) -> int:
        return len(self.input_shape) - 1

    def sizes(self) -> list[list[int]]:
        """Spatial size after each block, starting with the input's (each block: ceil(size / 2))."""
        sizes = [list(self.input_shape[1:])]
        for _ in self.channels:
            sizes.append([math.ceil(s / 2) for s in sizes[-1]])
        return sizes


def _conv_block(conv: nn.Module, n_out: int, config: ConvConfig) -> list[nn.Module]:
    layers = [conv]
    if config.normalization == "batch":
        layers.append(_BATCH_NORM[config.spatial_dims](n_out))
    elif config.normalization == "layer":
        layers.append(nn.GroupNorm(1, n_out))  # layer normalisation over channels and positions
    layers.append(ACTIVATIONS[config.activation]())
    if config.dropout > 0:
        layers.append(nn.Dropout(config.dropout))
    return layers


class _ConvDecoder(nn.Module):
    """Latent code -> flattened reconstruction (scoring calls ``model.decoder(code)``)."""

    def __init__(self, config: ConvConfig) -> None:
        super().__init__()
        dims, sizes = config.spatial_dims, config.sizes()
        self.start_shape = [config.channels[-1], *sizes[-1]]
        self.project = nn.Linear(config.latent_dim, math.prod(self.start_shape))
        layers: list[nn.Module] = [ACTIVATIONS[config.activation]()]
        widths = [*reversed(config.channels), config.input_shape[0]]
        padding = config.kernel_size // 2
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            small, large = sizes[-1 - i], sizes[-2 - i]
            # output_padding makes each step land exactly on the encoder's size (odd sizes too).
            extra = tuple(big - (2 * (s - 1) - 2 * padding + config.kernel_size) for s, big in zip(small, large, strict=True))
            conv = _TRANSPOSED[dims](n_in, n_out, config.kernel_size, stride=2, padding=padding, output_padding=extra)
            if i < len(config.channels) - 1:
                layers += _conv_block(conv, n_out, config)
            else:
                layers.append(conv)
        if config.output_activation == "sigmoid":
            layers.append(nn.Sigmoid())
        self.layers = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.project(code).view(-1, *self.start_shape)
        return self.layers(x).flatten(1)


class ConvAutoencoder(nn.Module):
    """Stride-2 convolutions down to a linear latent code, transposed convolutions back up."""

    def __init__(self, config: ConvConfig) -> None:
        super().__init__()
        if config.kernel_size < 3 or config.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 3; got {config.kernel_size}.")
        self.config = config
        dims = config.spatial_dims
        widths = [config.input_shape[0], *config.channels]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            conv = _CONV[dims](n_in, n_out, config.kernel_size, stride=2, padding=config.kernel_size // 2)
            layers += _conv_block(conv, n_out, config)
        flat = config.channels[-1] * math.prod(config.sizes()[-1])
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, config.latent_dim))
        self.decoder = _ConvDecoder(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.view(-1, *self.config.input_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))
