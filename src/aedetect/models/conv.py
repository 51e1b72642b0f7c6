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
    ``rotation_head`` (square images only) adds a classifier on the latent code that tells which of
    four quarter turns an image was given (see :meth:`ConvAutoencoder.rotation_nll`).
    """

    input_shape: list[int]
    channels: list[int] = field(default_factory=lambda: [32, 64])
    latent_dim: int = 32
    kernel_size: int = 3
    activation: Activation = "relu"
    dropout: float = 0.0
    normalization: Normalization = "none"
    output_activation: OutputActivation = "linear"
    rotation_head: bool = False

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
            extra = tuple(
                big - (2 * (s - 1) - 2 * padding + config.kernel_size) for s, big in zip(small, large, strict=True)
            )
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
    """Stride-2 convolutions down to a linear latent code, transposed convolutions back up.

    With ``rotation_head``, training also teaches the encoder to recognise how an image is turned
    (0, 90, 180 or 270 degrees), as in self-supervised anomaly detection with geometric transforms:
    the code then has to carry the shape cues of the normal class's upright pose, and an image of
    another kind, whose pose the head cannot read, gets a high :meth:`rotation_nll`.
    """

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
        self.rotation: nn.Module | None = None
        if config.rotation_head:
            if dims != 2 or config.input_shape[1] != config.input_shape[2]:
                raise ValueError(f"rotation_head needs square images; got input_shape {config.input_shape}.")
            self.rotation = nn.Sequential(ACTIVATIONS[config.activation](), nn.Linear(config.latent_dim, 4))

    def _turned(self, x: torch.Tensor, quarter_turns: int) -> torch.Tensor:
        return torch.rot90(x.view(-1, *self.config.input_shape), quarter_turns, dims=(2, 3)).flatten(1)

    def rotation_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rotation head's logits for the batch with row i turned i mod 4 times, and those turns.

        Batches come in a fresh random order each epoch, so every image meets every turn.
        """
        turns = torch.arange(len(x), device=x.device) % 4
        turned = torch.empty_like(x)
        for k in range(4):
            turned[k::4] = self._turned(x[k::4], k)
        return self.rotation(self.encode(turned)), turns

    def rotation_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Per-row cross-entropy of the rotation head (see :meth:`rotation_logits`)."""
        logits, turns = self.rotation_logits(x)
        return nn.functional.cross_entropy(logits, turns, reduction="none")

    def rotation_nll(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """Sum over the four quarter turns of -log p(turn | turned image): low for the normal class.

        ``code`` is the upright image's latent code, when the caller has it already.
        """
        code = self.encode(x) if code is None else code
        total = -torch.log_softmax(self.rotation(code), dim=1)[:, 0]
        for k in range(1, 4):
            total = total - torch.log_softmax(self.rotation(self.encode(self._turned(x, k))), dim=1)[:, k]
        return total

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.view(-1, *self.config.input_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))
