"""Images and series windows -> float32 matrix: per-channel scaling, then flattened channel-first.

Images arrive as ``(n, height, width)`` or ``(n, height, width, channels)``; series windows as
``(n, length)`` or ``(n, length, channels)`` (channels last, as NumPy, PIL and pandas give them).
Scaling is per channel, with statistics over every position of the normal training samples, and is
stored as plain JSON with the model. The default for images is ``minmax`` (pixels to [0, 1]); for
series ``standard`` (each channel to mean 0, standard deviation 1).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aedetect.preprocessing.values import FLOAT32_MAX, SCALED_LIMIT, InvalidValueError

DataKind = Literal["image", "series"]
ARRAY_SCALERS = ("standard", "robust", "minmax", "none")
DEFAULT_SCALER = {"image": "minmax", "series": "standard", "table": "standard"}


def sample_array(X, kind: DataKind) -> np.ndarray:
    """``X`` as a channel-last float array ``(n, *spatial, channels)``, or a clear ``ValueError``."""
    try:
        array = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    except ValueError:  # numpy's "inhomogeneous shape": samples of different sizes in a list
        raise ValueError(_mixed_sizes(X, kind)) from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(
            f"Expected numeric {kind} data; got values of type {array.dtype}. Convert them to numbers first."
        )
    spatial = 2 if kind == "image" else 1
    if array.ndim == spatial + 1:
        array = array[..., np.newaxis]
    if array.ndim != spatial + 2:
        expected = (
            "(n, height, width) or (n, height, width, channels)"
            if kind == "image"
            else "(n, length) or (n, length, channels)"
        )
        raise ValueError(f"Expected {kind} data of shape {expected}; got an array of shape {array.shape}.")
    if kind == "image" and array.shape[-1] > 4:
        raise ValueError(
            f"Images must be channels-last with 1 to 4 channels; got shape {array.shape}. "
            "Move the channel axis last, e.g. np.moveaxis(images, 1, -1)."
        )
    return array


def _mixed_sizes(samples, kind: DataKind) -> str:
    shapes = []
    for sample in samples:
        try:
            shape = np.shape(sample)
        except ValueError:
            shape = "ragged"
        if shape not in shapes:
            shapes.append(shape)
    what, fix = ("images", "resize them to one size") if kind == "image" else ("windows", "cut them to one length")
    seen = " and ".join(str(s) for s in shapes[:2])
    return f"The {what} must all have the same size; got {seen}; {fix} first."


def _describe_sample(kind: DataKind) -> str:
    return "image" if kind == "image" else "window"


class ArrayPreprocessor:
    """Fit per-channel scaling on normal samples; turn samples of the same shape into a matrix.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.array([[[0, 255], [128, 0]]], dtype=np.uint8)
    >>> prep = ArrayPreprocessor("image").fit(images)
    >>> prep.transform(images).astype(float).round(3).tolist()
    [[0.0, 1.0, 0.502, 0.0]]
    >>> prep.input_shape_
    [1, 2, 2]
    """

    def __init__(self, kind: DataKind, scaler: str = "auto") -> None:
        if kind not in ("image", "series"):
            raise ValueError(f"Unknown data kind {kind!r}; expected 'image' or 'series'.")
        scaler = DEFAULT_SCALER[kind] if scaler == "auto" else scaler
        if scaler not in ARRAY_SCALERS:
            raise ValueError(f"Unknown scaler {scaler!r}; expected one of {', '.join(ARRAY_SCALERS)}.")
        self.kind = kind
        self.scaler = scaler

    def fit(self, X) -> ArrayPreprocessor:
        array = sample_array(X, self.kind)
        if len(array) == 0:
            raise ValueError(f"There are no {self.kind} samples to learn from; give at least one.")
        self.sample_shape_ = [int(s) for s in array.shape[1:]]
        self._check_values(array)
        values = array.astype(np.float64).reshape(-1, array.shape[-1])
        if self.scaler == "standard":
            offset, scale = values.mean(axis=0), values.std(axis=0)
        elif self.scaler == "robust":
            low, offset, high = np.percentile(values, [25, 50, 75], axis=0)
            scale = high - low
        elif self.scaler == "minmax":
            offset = values.min(axis=0)
            scale = values.max(axis=0) - offset
        else:
            offset, scale = np.zeros(values.shape[1]), np.ones(values.shape[1])
        self.offset_ = np.asarray(offset, dtype=float).tolist()
        self.scale_ = np.where(np.asarray(scale) > 1e-12, scale, 1.0).astype(float).tolist()
        return self

    @property
    def input_shape_(self) -> list[int]:
        """The model's sample shape: ``[channels, *spatial]``."""
        return [self.sample_shape_[-1], *self.sample_shape_[:-1]]

    @property
    def feature_names_out_(self) -> list[str]:
        """One name per value of the flattened sample (channel-first order)."""
        channels, *spatial = self.input_shape_
        prefix = [f"c{c}_" for c in range(channels)] if channels > 1 else [""]
        if self.kind == "image":
            cells = [f"y{y}_x{x}" for y in range(spatial[0]) for x in range(spatial[1])]
        else:
            cells = [f"t{t}" for t in range(spatial[0])]
        return [p + cell for p in prefix for cell in cells]

    def _check_values(self, array: np.ndarray) -> np.ndarray:
        """``array`` as float32, after refusing NaN, infinite and beyond-float32 values (by sample index)."""
        if array.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                bad = ~(np.abs(array) <= FLOAT32_MAX)
            if bad.any():
                flat = bad.reshape(len(array), -1)
                first = int(np.nonzero(flat.any(axis=1))[0][0])
                value = array.reshape(len(array), -1)[first][flat[first]][0]
                problem = (
                    f"holds {value:g}{{where}}, beyond the float32 range that the model computes in; fix or rescale it"
                    if np.isfinite(value)
                    else f"has {int(bad.sum())} NaN or infinite value(s) (first{{where}}); clean or interpolate them first"
                )
                raise InvalidValueError(f"The {self.kind} data {problem}.", first, "sample")
        return array.astype(np.float32)

    def _check_scaled(self, scaled: np.ndarray) -> np.ndarray:
        """Refuse values too far out for the network to score (see :data:`SCALED_LIMIT`)."""
        bad = ~(np.abs(scaled) <= SCALED_LIMIT)
        if bad.any():
            flat = bad.reshape(len(scaled), -1)
            first = int(np.nonzero(flat.any(axis=1))[0][0])
            raise InvalidValueError(
                f"The {self.kind} data has value(s) too far out for the model to score (first{{where}}: more than "
                f"{SCALED_LIMIT:.0e} training spreads from the training centre); check the units of the "
                f"{_describe_sample(self.kind)}s.",
                first,
                "sample",
            )
        return scaled

    def transform(self, X) -> np.ndarray:
        """Return a float32 matrix ``(n, channels * prod(spatial))``, channel-first."""
        array = sample_array(X, self.kind)
        if list(array.shape[1:]) != self.sample_shape_:
            what = "images" if self.kind == "image" else "windows"
            raise ValueError(
                f"The {what} have shape {tuple(array.shape[1:])} but the model was trained on "
                f"{tuple(self.sample_shape_)}; resize them (or cut windows of the training length) first."
            )
        with np.errstate(over="ignore"):  # an overflow is inf, which _check_scaled refuses
            scaled = (self._check_values(array) - np.float32(self.offset_)) / np.float32(self.scale_)
        self._check_scaled(scaled)
        return np.ascontiguousarray(np.moveaxis(scaled, -1, 1).reshape(len(array), -1), dtype=np.float32)

    def to_samples(self, matrix: np.ndarray, units: bool = True) -> np.ndarray:
        """Flattened matrix -> channel-last samples, in the input's units when ``units``."""
        channels, *spatial = self.input_shape_
        samples = np.moveaxis(np.asarray(matrix).reshape(len(matrix), channels, *spatial), 1, -1)
        return samples * np.asarray(self.scale_) + np.asarray(self.offset_) if units else samples

    def get_state(self) -> dict:
        return {
            "kind": self.kind,
            "scaler": self.scaler,
            "sample_shape": self.sample_shape_,
            "offset": self.offset_,
            "scale": self.scale_,
        }

    @classmethod
    def from_state(cls, state: dict) -> ArrayPreprocessor:
        prep = cls(state["kind"], state["scaler"])
        prep.sample_shape_ = [int(s) for s in state["sample_shape"]]
        prep.offset_ = [float(v) for v in state["offset"]]
        prep.scale_ = [float(v) for v in state["scale"]]
        if len(prep.offset_) != prep.sample_shape_[-1] or len(prep.scale_) != prep.sample_shape_[-1]:
            raise ValueError("The preprocessing state is inconsistent (scaler size differs from the channels).")
        return prep
