"""An LSTM autoencoder for windows of a series.

Like every model here it takes and returns flattened samples, ``(batch, channels * length)`` in
channel-first order; the model reshapes to ``(batch, length, channels)`` for the recurrent layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from aedetect.models.dense import OutputActivation


@dataclass
class LSTMConfig:
    """Everything needed to rebuild an :class:`LSTMAutoencoder`; saved beside its weights.

    ``input_shape`` is ``[channels, length]``; ``hidden_dims`` gives the hidden size of each stacked
    LSTM layer of the encoder (the decoder mirrors it).
    """

    input_shape: list[int]
    hidden_dims: list[int] = field(default_factory=lambda: [64])
    latent_dim: int = 16
    dropout: float = 0.0
    output_activation: OutputActivation = "linear"

    def to_dict(self) -> dict:
        return asdict(self)


def _stack(n_in: int, widths: list[int]) -> nn.ModuleList:
    sizes = [n_in, *widths]
    return nn.ModuleList(nn.LSTM(a, b, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def _run(layers: nn.ModuleList, x: torch.Tensor, dropout: nn.Module) -> torch.Tensor:
    for i, layer in enumerate(layers):
        x = layer(x)[0]
        if i < len(layers) - 1:
            x = dropout(x)
    return x


class _LSTMDecoder(nn.Module):
    """Latent code repeated at every time step, through LSTMs, to each step's channels."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.channels, self.length = config.input_shape
        widths = list(reversed(config.hidden_dims))
        self.layers = _stack(config.latent_dim, widths)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(widths[-1], self.channels)
        self.squash = nn.Sigmoid() if config.output_activation == "sigmoid" else nn.Identity()

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        steps = code.unsqueeze(1).expand(-1, self.length, -1)
        out = self.squash(self.output(_run(self.layers, steps, self.dropout)))  # (batch, length, channels)
        return out.transpose(1, 2).flatten(1)


class LSTMAutoencoder(nn.Module):
    """Encoder LSTMs whose last hidden state is projected to the latent code; decoder mirrors."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.input_shape[0]
        self.layers = _stack(channels, list(config.hidden_dims))
        self.dropout = nn.Dropout(config.dropout)
        self.to_latent = nn.Linear(config.hidden_dims[-1], config.latent_dim)
        self.decoder = _LSTMDecoder(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        channels, length = self.config.input_shape
        steps = x.view(-1, channels, length).transpose(1, 2)
        return self.to_latent(_run(self.layers, steps, self.dropout)[:, -1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))
