"""The parameters of :class:`~aedetect.AutoencoderDetector`, declared once.

Each :class:`Parameter` gives its name, default, the constraints that :func:`validate` checks (one
uniform message, scikit-learn's style), a one-line help and the ``aedetect train`` option that sets
it. The detector's ``__init__`` signature and docstring, and the command line's options, are checked
against this table by the tests (``tests/test_architecture.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aedetect import _validation as v
from aedetect.models.dense import ACTIVATIONS, NORMALIZATIONS, OUTPUT_ACTIVATIONS
from aedetect.preprocessing.tables import IMPUTES, SCALERS
from aedetect.thresholds import RULES, ThresholdRule, parse_threshold
from aedetect.training.loop import LOSSES, METRICS, OPTIMIZERS
from aedetect.training.variants import NOISES, VARIANTS

#: Networks; "auto" picks one from the data's kind (see :mod:`aedetect.kinds`).
ARCHITECTURES = ("auto", "dense", "conv2d", "conv1d", "lstm")
#: Scores that every variant offers; the variational variant adds "negative_elbo".
SCORES = ("reconstruction", "standardized", "latent_mahalanobis", "latent_knn")
ALL_SCORES = (*SCORES, "negative_elbo")


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter: its default, what it accepts, what it does, and its CLI option."""

    name: str
    default: Any
    constraints: tuple
    help: str
    option: str = ""  # the ``aedetect train`` option (without ``--``); the name by default

    @property
    def cli_option(self) -> str:
        return self.option or self.name


def _is_threshold(value) -> bool:
    return isinstance(value, ThresholdRule) or parse_threshold(value) is not None


_INT_LIST = v.Check(lambda x: len(x) >= 1 and all(int(h) == h >= 1 for h in x), "a list of ints >= 1")
_STR_LIST = v.Check(lambda x: all(isinstance(c, str) for c in x), "a list of str")
_BOOL = v.Check(lambda x: isinstance(x, bool), "a bool")
_METRICS = v.Check(
    lambda x: not isinstance(x, str) and all(m in METRICS for m in x),
    "a list of names among {" + ", ".join(METRICS) + "}",
)
_THRESHOLD = v.Check(
    _is_threshold, "a threshold rule or a str like 'false_alarm_rate:0.01' (rules: " + ", ".join(RULES) + ")"
)
_DEVICE = v.Check(
    lambda d: isinstance(d, str) and (d in ("auto", "cpu") or d.startswith("cuda")), "'auto', 'cpu' or 'cuda[:N]'"
)

PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "architecture",
        "auto",
        (v.Options(ARCHITECTURES),),
        "The network: auto (dense for tables, conv2d for images), dense, conv2d, conv1d or lstm.",
    ),
    Parameter(
        "hidden_dims",
        None,
        (v.NONE, _INT_LIST),
        "Encoder widths: dense units, conv channels or LSTM sizes (None: adapts to the data).",
    ),
    Parameter("latent_dim", None, (v.NONE, v.Interval(int, 1)), "Latent code size (None: adapts to the data)."),
    Parameter("activation", "relu", (v.Options(tuple(ACTIVATIONS)),), "Activation of the hidden layers."),
    Parameter("dropout", 0.0, (v.Interval(float, 0, 1, closed="left"),), "Dropout after each hidden layer."),
    Parameter("normalization", "none", (v.Options(NORMALIZATIONS),), "Normalisation of the hidden layers."),
    Parameter(
        "output_activation",
        "linear",
        (v.Options(OUTPUT_ACTIVATIONS),),
        "Activation of the output (sigmoid needs scaler='minmax').",
    ),
    Parameter(
        "rotation_head",
        True,
        (_BOOL,),
        "Square images: also learn an image's quarter turn and score how badly it is read.",
    ),
    Parameter(
        "scaler",
        "auto",
        (v.Options(("auto", *SCALERS)),),
        "Scaling fitted on normal rows (auto: minmax for images, standard otherwise).",
    ),
    Parameter("categorical_features", None, (v.NONE, _STR_LIST), "Columns to one-hot encode.", option="categorical"),
    Parameter("impute", "none", (v.Options(IMPUTES),), "Missing values: rejected (none), or the median or mean."),
    Parameter("optimizer", "adam", (v.Options(tuple(OPTIMIZERS)),), "The optimizer."),
    Parameter(
        "learning_rate",
        None,
        (v.NONE, v.Interval(float, 0, None, closed="neither")),
        "Optimizer learning rate (None: adapts to the batch size).",
    ),
    Parameter("weight_decay", 0.0, (v.Interval(float, 0, None),), "L2 weight decay."),
    Parameter("loss", "mse", (v.Options(LOSSES),), "Training loss, also the element-wise error that scores use."),
    Parameter("metrics", ("mae",), (_METRICS,), "Extra measures tracked per epoch on training and validation rows."),
    Parameter("epochs", None, (v.NONE, v.Interval(int, 1)), "Maximum epochs (None: adapts to the rows)."),
    Parameter("batch_size", None, (v.NONE, v.Interval(int, 1)), "Rows per optimizer step (None: adapts to the rows)."),
    Parameter(
        "validation_fraction",
        0.1,
        (v.Interval(float, 0, 1, closed="left"),),
        "Share of normal rows held out for early stopping and the threshold.",
    ),
    Parameter("patience", 10, (v.Interval(int, 1),), "Epochs without a better validation loss before stopping."),
    Parameter(
        "trim_fraction",
        0.0,
        (v.Interval(float, 0, 0.5, closed="left"),),
        "Expected share of anomalies among the training rows; the worst-reconstructed are left out.",
    ),
    Parameter("variant", "plain", (v.Options(VARIANTS),), "The autoencoder: plain, denoising, sparse or variational."),
    Parameter("noise", "gaussian", (v.Options(NOISES),), "Denoising: gaussian noise or masking."),
    Parameter(
        "noise_level",
        0.1,
        (v.Interval(float, 0, None),),
        "Denoising: noise standard deviation in scaled units, or masking probability.",
    ),
    Parameter("sparsity_weight", 1e-3, (v.Interval(float, 0, None),), "Sparse: weight of the L1 penalty on the code."),
    Parameter("beta", 1.0, (v.Interval(float, 0, None),), "Variational: weight of the KL term."),
    Parameter("score", "latent_knn", (v.Options(ALL_SCORES),), "How a row's anomaly score is computed."),
    Parameter(
        "threshold",
        "false_alarm_rate:0.01",
        (_THRESHOLD,),
        "Threshold rule fitted on held-out normal scores, e.g. false_alarm_rate:0.01.",
    ),
    Parameter(
        "random_state", 0, (v.NONE, v.Interval(int, 0)), "Random seed (None: a fresh one each fit).", option="seed"
    ),
    Parameter("device", "auto", (_DEVICE,), "auto (CUDA when present), cpu or cuda[:N]."),
    Parameter("verbose", False, (_BOOL,), "Show a progress bar during training.", option="quiet"),
)
#: Constraints by parameter name, as :func:`aedetect._validation.validate_params` takes them.
CONSTRAINTS = {parameter.name: list(parameter.constraints) for parameter in PARAMETERS}
DEFAULTS = {parameter.name: parameter.default for parameter in PARAMETERS}


def validate(owner: str, params: dict[str, Any]) -> None:
    """Raise :class:`~aedetect._validation.InvalidParameterError` for the first invalid parameter."""
    threshold = params["threshold"]
    if isinstance(threshold, str):  # the rule's own message names its valid range
        try:
            parse_threshold(threshold)
        except ValueError as error:
            raise v.InvalidParameterError(
                f"The 'threshold' parameter of {owner} must be a valid threshold rule; got {threshold!r}: {error}"
            ) from None
    v.validate_params(owner, params, CONSTRAINTS)
    if params["noise"] == "masking" and params["noise_level"] >= 1:
        raise v.InvalidParameterError(
            f"The 'noise_level' parameter of {owner} must be a float in the range "
            f"[0, 1) with noise='masking'; got {params['noise_level']!r}."
        )
    if params["score"] == "negative_elbo" and params["variant"] != "variational":
        raise v.InvalidParameterError(
            f"The 'score' parameter of {owner} may be 'negative_elbo' only with "
            f"variant='variational'; got variant={params['variant']!r}."
        )


__all__ = ["Parameter", "PARAMETERS", "CONSTRAINTS", "DEFAULTS", "validate", "ARCHITECTURES", "SCORES", "ALL_SCORES"]
