"""How the network and the training schedule adapt to the data when their parameters are ``None``.

Each rule is a small pure function of the data's shape or row count; the detector calls them for the
parameters left to adapt (``hidden_dims``, ``latent_dim``, ``epochs``, ``batch_size``,
``learning_rate``). The tuned numbers are backed by the runs in benchmarks/results/tuning.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch import nn

from aedetect.kinds import DEFAULT_ARCHITECTURE, TABLE, DataKind
from aedetect.models import MODELS
from aedetect.training.loop import History, TrainingConfig
from aedetect.training.variants import Variant

#: Batches of about 1/16 of the rows, at least 300 optimizer steps in all and at least 20 epochs.
#: Tables get a larger epoch budget for early stopping to use: enough epochs to see about a million
#: rows, 20 to 300, so that small and mid-size tables train until their validation loss stops
#: improving, while on large ones (50,000 rows and more) 20 epochs bound the cost, which then grows
#: with the rows and no faster. Images and series keep the step rule: an epoch of theirs costs far
#: more per row.
SCHEDULE = {"rows_per_batch": 16, "min_steps": 300, "min_epochs": 20, "max_epochs": 300, "table_rows_seen": 1_000_000}
#: When a model keeps its rotation head (see rotation_head_supported): the share of held-out quarter
#: turns told right, and the held-out images needed to judge it.
ROTATION = {"min_accuracy": 0.9, "min_held_out": 50}
#: Recurrent layers learn far slower than dense or convolutional ones at the same step size, so
#: their adaptive learning rate is this many times the dense one.
LEARNING_RATE_FACTOR = {"lstm": 10.0}
#: Convolution blocks at most and the first block's channels, per architecture: series stop at two
#: blocks, which match the ROC-AUC of four on ECG5000 in half the fit time.
CONV_BLOCKS = {"conv2d": (32, 3), "conv1d": (16, 2)}


def default_architecture(n_features: int) -> tuple[list[int], int]:
    """Hidden widths and latent size that adapt to a table's width.

    One hidden layer twice as wide as the input, and a latent code about three quarters of the input
    width: narrow enough that reconstruction is not the identity, wide enough that normal rows are
    reconstructed closely, so that errors concentrate on what normal data does not do.
    """
    latent = int(np.clip(round(0.75 * n_features), 2, 128))
    hidden = int(np.clip(2 * n_features, 32, 512))
    return [max(hidden, latent)], latent


def default_network(architecture: str, input_shape: list[int]) -> tuple[list[int], int]:
    """Hidden widths (units, channels or LSTM sizes) and latent size for an image or series model.

    ``input_shape`` is ``[channels, *spatial]``. Convolutions: one stride-2 block per halving while
    the feature map stays at least 4 wide (at most 3 blocks for images, 2 for series), channels
    doubling from 32 (images) or 16 (series). The latent code grows with the input size.
    """
    channels, *spatial = input_shape
    n_values = int(np.prod(input_shape))
    if architecture == "lstm":
        return [64], int(np.clip(round(n_values / 16), 8, 64))
    start, most = CONV_BLOCKS["conv2d" if architecture == "conv2d" else "conv1d"]
    blocks, size = 0, min(spatial)
    while blocks < most and size / 2 >= 4:
        blocks, size = blocks + 1, size / 2
    widths = [start * 2**i for i in range(max(blocks, 1))]
    return widths, int(np.clip(round(n_values / 16), 8, 64))


def default_schedule(n_rows: int, data_kind: DataKind | None = None) -> tuple[int, int, float]:
    """Batch size, maximum epochs and learning rate that adapt to the number of training rows.

    Batches of about 1/16 of the rows (32 to 2048); an epoch budget (20 to 300 epochs) of at least
    300 optimizer steps, or for a table (``data_kind="table"``) of about a million rows seen, which
    early stopping ends sooner once the validation loss stops improving; and a learning rate that
    grows with the square root of the batch size.
    """
    batch = int(np.clip(2 ** round(np.log2(max(n_rows, 1) / SCHEDULE["rows_per_batch"])), 32, 2048))
    if data_kind == TABLE:
        wanted = SCHEDULE["table_rows_seen"] / max(n_rows, 1)
    else:
        wanted = SCHEDULE["min_steps"] / max(1, int(np.ceil(n_rows / batch)))
    epochs = int(np.clip(np.ceil(wanted), SCHEDULE["min_epochs"], SCHEDULE["max_epochs"]))
    return batch, epochs, float(1e-3 * np.sqrt(batch / 64))


def training_config(
    params: dict[str, Any], schedule: tuple[int, int, float], base_kind: str, seed: int
) -> TrainingConfig:
    """The training settings from the detector's parameters: ``batch_size``, ``epochs`` and
    ``learning_rate`` left ``None`` take their value from ``schedule`` (what :func:`default_schedule`
    gives for the training rows; the learning rate times :data:`LEARNING_RATE_FACTOR` of the
    network's ``base_kind``)."""
    batch, epochs, learning_rate = schedule
    return TrainingConfig(
        optimizer=params["optimizer"],
        learning_rate=float(
            params["learning_rate"]
            if params["learning_rate"] is not None
            else learning_rate * LEARNING_RATE_FACTOR.get(base_kind, 1.0)
        ),
        weight_decay=float(params["weight_decay"]),
        loss=params["loss"],
        metrics=tuple(params["metrics"]),
        epochs=int(params["epochs"] if params["epochs"] is not None else epochs),
        batch_size=int(params["batch_size"] if params["batch_size"] is not None else batch),
        patience=int(params["patience"]),
        trim_fraction=float(params["trim_fraction"]),
        seed=seed,
        variant=Variant(
            params["variant"],
            params["noise"],
            float(params["noise_level"]),
            float(params["sparsity_weight"]),
            float(params["beta"]),
        ),
    )


def rotation_head_supported(history: History, n_held_out: int) -> bool:
    """Whether the held-out normal images show that the rotation head reads their quarter turns.

    The head earns its place in the score only when the class has a pose that can be read: at the
    best epoch, at least ``ROTATION["min_accuracy"]`` of the held-out images' quarter turns told
    right, judged on at least ``ROTATION["min_held_out"]`` held-out images. Rotation-symmetric shapes
    (a 0, a bag) fail the first test; a class with too few images to judge fails the second.
    """
    accuracy = best_rotation_accuracy(history)
    return accuracy is not None and n_held_out >= ROTATION["min_held_out"] and accuracy >= ROTATION["min_accuracy"]


def best_rotation_accuracy(history: History) -> float | None:
    """The share of held-out quarter turns told right at the best epoch, or ``None`` without a head."""
    accuracy = history.values.get("val_rotation_accuracy")
    if not accuracy or not 0 < history.best_epoch <= len(accuracy):
        return None
    return accuracy[history.best_epoch - 1]


def without_rotation_head(config: Any, model: nn.Module) -> tuple[Any, nn.Module]:
    """The config and the model with the rotation head dropped (the encoder and decoder are kept)."""
    model.rotation = None
    model.__dict__.pop("_every_module", None)  # the modules eval_if_training walks: walked again
    return dataclasses.replace(config, rotation_head=False), model


def network_config(
    params: dict[str, Any], data_kind: DataKind, n_values: int, input_shape: list[int] | None
) -> tuple[str, Any]:
    """The model kind and its typed config, from the detector's parameters and the data's shape.

    ``n_values`` is the width of a preprocessed row; ``input_shape`` is ``[channels, *spatial]`` for
    images and series (``None`` for tables).
    """
    architecture = params["architecture"] if params["architecture"] != "auto" else DEFAULT_ARCHITECTURE[data_kind]
    if data_kind == TABLE:
        hidden, latent = default_architecture(n_values)
    else:
        hidden, latent = default_network(architecture, input_shape)
    hidden = [int(h) for h in params["hidden_dims"]] if params["hidden_dims"] is not None else hidden
    latent = int(params["latent_dim"]) if params["latent_dim"] is not None else latent
    common = {
        "latent_dim": latent,
        "output_activation": params["output_activation"],
        "dropout": float(params["dropout"]),
    }
    if architecture == "dense":
        kind, config = (
            "dense",
            MODELS["dense"][0](
                n_features=n_values,
                hidden_dims=hidden,
                activation=params["activation"],
                normalization=params["normalization"],
                **common,
            ),
        )
    elif architecture == "lstm":
        kind, config = "lstm", MODELS["lstm"][0](input_shape=input_shape, hidden_dims=hidden, **common)
    else:
        # Square images learn to tell their rotation too (see ConvAutoencoder); not with the
        # variational variant, whose training loop has no place for the head.
        rotation = bool(
            params["rotation_head"]
            and architecture == "conv2d"
            and params["variant"] != "variational"
            and input_shape[1] == input_shape[2]
        )
        kind, config = (
            "conv",
            MODELS["conv"][0](
                input_shape=input_shape,
                channels=hidden,
                activation=params["activation"],
                normalization=params["normalization"],
                rotation_head=rotation,
                **common,
            ),
        )
    if params["variant"] == "variational":
        return "variational", MODELS["variational"][0](base_kind=kind, base=config.to_dict())
    return kind, config


__all__ = [
    "network_config",
    "training_config",
    "default_architecture",
    "default_network",
    "default_schedule",
    "best_rotation_accuracy",
    "rotation_head_supported",
    "without_rotation_head",
    "LEARNING_RATE_FACTOR",
    "ROTATION",
    "SCHEDULE",
]
