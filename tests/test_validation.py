"""Parameter validation: one uniform message, raised by fit (never by __init__)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from aedetect import AutoencoderDetector
from aedetect._validation import NONE, Check, Interval, InvalidParameterError, Options, validate_params
from aedetect.parameters import ALL_SCORES


def test_interval_accepts_and_describes():
    positive = Interval(int, 1)
    assert positive.accepts(1) and positive.accepts(np.int64(5))
    assert not positive.accepts(0) and not positive.accepts(1.5) and not positive.accepts(True)
    assert positive.describe() == "an int >= 1"
    unit = Interval(float, 0, 1, closed="left")
    assert unit.accepts(0) and unit.accepts(0.5) and not unit.accepts(1.0)
    assert not unit.accepts(float("nan")) and not unit.accepts("0.5")
    assert unit.describe() == "a float in the range [0, 1)"
    assert Interval(float, 0, None, closed="neither").describe() == "a float > 0"
    assert Interval(float, None, 2, closed="neither").describe() == "a float < 2"


def test_options_and_check():
    assert Options(("a", "b")).accepts("a") and not Options(("a", "b")).accepts("c")
    assert Options(("a", "b")).describe() == "a str among {'a', 'b'}"
    broken = Check(lambda v: len(v) > 0, "a non-empty list")
    assert broken.accepts([1]) and not broken.accepts(3)  # TypeError inside is a rejection
    assert NONE.accepts(None) and not NONE.accepts(0)


def test_validate_params_names_owner_parameter_expectation_and_value():
    with pytest.raises(InvalidParameterError) as caught:
        validate_params("Thing", {"size": -2}, {"size": [NONE, Interval(int, 0)]})
    assert str(caught.value) == "The 'size' parameter of Thing must be None or an int >= 0; got -2."
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("latent_dim", 0, "None or an int >= 1"),
        ("latent_dim", 2.5, "None or an int >= 1"),
        ("hidden_dims", [8, 0], "None or a list of ints >= 1"),
        ("hidden_dims", [], "None or a list of ints >= 1"),
        ("optimizer", "adagrad", "a str among {'adam', 'adamw', 'sgd', 'rmsprop'}"),
        ("loss", "hinge", "a str among {'mse', 'mae', 'huber', 'bce'}"),
        ("metrics", ["mae", "accuracy"], "a list of names among {mse, mae, huber, rmse}"),
        ("metrics", "mae", "a list of names among {mse, mae, huber, rmse}"),
        ("activation", "swish", "a str among {'relu', 'leaky_relu', 'elu', 'gelu', 'tanh', 'silu'}"),
        ("dropout", 1.0, "a float in the range [0, 1)"),
        ("dropout", -0.1, "a float in the range [0, 1)"),
        ("normalization", "group", "a str among {'none', 'batch', 'layer'}"),
        ("output_activation", "softmax", "a str among {'linear', 'sigmoid'}"),
        ("scaler", "zscore", "a str among {'auto', 'standard', 'robust', 'minmax', 'none'}"),
        ("impute", "zero", "a str among {'none', 'median', 'mean'}"),
        ("learning_rate", 0.0, "None or a float > 0"),
        ("weight_decay", -1.0, "a float >= 0"),
        ("epochs", 0, "None or an int >= 1"),
        ("batch_size", 0, "None or an int >= 1"),
        ("validation_fraction", 1.0, "a float in the range [0, 1)"),
        ("patience", 0, "an int >= 1"),
        ("score", "magic", "a str among {" + ", ".join(repr(name) for name in ALL_SCORES) + "}"),
        ("threshold", 0.5, "a threshold rule or a str like 'false_alarm_rate:0.01'"),
        ("random_state", -1, "an int >= 0"),
        ("device", "tpu", "'auto', 'cpu' or 'cuda[:N]'"),
        ("verbose", 1, "a bool"),
        ("categorical_features", [1, 2], "None or a list of str"),
    ],
)
def test_bad_parameter_values_raise_the_uniform_message_at_fit(normal_frame, param, value, expected):
    detector = AutoencoderDetector(**{param: value})  # __init__ accepts anything
    with pytest.raises(ValueError) as caught:
        detector.fit(normal_frame)
    message = str(caught.value)
    assert message.startswith(f"The {param!r} parameter of AutoencoderDetector must be ")
    assert expected in message
    assert message.endswith(f"; got {value!r}.")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("bogus:3", "Unknown threshold rule 'bogus'; choose one of: percentile"),
        ("percentile:150", "The 'percentile' of a threshold must be a number in (0, 100); got 150.0"),
        ("best_f1:0.5", "The 'best_f1' threshold takes no value"),
        ("mean_std:nan", "must be a finite number"),
        ("iqr:inf", "must be a finite number"),
    ],
)
def test_a_bad_threshold_string_names_what_is_wrong_with_it(normal_frame, value, reason):
    with pytest.raises(ValueError) as caught:
        AutoencoderDetector(threshold=value).fit(normal_frame)
    message = str(caught.value)
    assert message.startswith(
        f"The 'threshold' parameter of AutoencoderDetector must be a valid threshold rule; got {value!r}: "
    )
    assert reason in message


def test_latent_dim_zero_message_in_full(normal_frame):
    with pytest.raises(
        ValueError,
        match=re.escape("The 'latent_dim' parameter of AutoencoderDetector must be None or an int >= 1; got 0."),
    ):
        AutoencoderDetector(latent_dim=0).fit(normal_frame)


def test_bce_needs_minmax_scaling(normal_frame):
    with pytest.raises(ValueError, match="loss='bce' needs inputs in \\[0, 1\\]: use scaler='minmax'"):
        AutoencoderDetector(loss="bce").fit(normal_frame)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("latent_dim", 3),
        ("hidden_dims", (8, 4)),
        ("dropout", 0),
        ("learning_rate", 1),
        ("metrics", ()),
        ("validation_fraction", 0.0),
        ("device", "cuda:1"),
        ("threshold", "fixed:-2"),
    ],
)
def test_good_edge_values_pass_validation(param, value):
    AutoencoderDetector(**{param: value})._validate_params()
