"""The parameters of :class:`~aedetect.AutoencoderDetector`, declared once.

Each :class:`Parameter` gives its name, default, the constraints that :func:`validate` checks (one
uniform message, scikit-learn's style), a one-line help, the details that the detector's docstring
adds to it and the ``aedetect train`` option that sets it. The detector's docstring section
"Parameters" is generated from this table (:func:`numpydoc_parameters`); its ``__init__`` signature
and the command line's options are checked against it by the tests (``tests/test_architecture.py``).
The names that string parameters accept are data (:mod:`.choices`), so that the declaration imports
neither PyTorch nor NumPy and ``aedetect train --help`` answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aedetect import _validation as v
from aedetect.parameters import choices
from aedetect.parameters.checks import BOOL, DEVICE, INT_LIST, METRICS, STR_LIST, THRESHOLD
from aedetect.parameters.choices import ALL_SCORES, ARCHITECTURES, SCORES


@dataclass(frozen=True)
class Parameter:
    """One constructor parameter: its default, what it accepts, what it does, and its CLI option."""

    name: str
    default: Any
    constraints: tuple
    help: str
    option: str = ""  # the ``aedetect train`` option (without ``--``); the name by default
    details: str = ""  # what the docstring adds to the help (reST, one paragraph)

    @property
    def cli_option(self) -> str:
        return self.option or self.name


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "architecture",
        "auto",
        (v.Options(ARCHITECTURES),),
        "The network: auto (dense for tables, conv2d for images), dense, conv2d, conv1d or lstm.",
        details='``"auto"``: dense for a table (2-D), convolutional for images (an array ``(n, height, width)`` '
        "or ``(n, height, width, channels)``). Series windows (a table whose rows are windows, or an array "
        '``(n, length, channels)``; see :mod:`aedetect.data.windows`) take ``"conv1d"`` (1-D convolutions) or '
        '``"lstm"``.',
    ),
    Parameter(
        "hidden_dims",
        None,
        (v.NONE, INT_LIST),
        "Encoder widths: dense units, conv channels or LSTM sizes (None: adapts to the data).",
        details="Mirrored by the decoder: units of each dense layer, channels of each stride-2 convolution block "
        "(so the list's length is the depth), or hidden sizes of the stacked LSTMs (see "
        ":mod:`aedetect.training.sizing`).",
    ),
    Parameter(
        "latent_dim",
        None,
        (v.NONE, v.Interval(int, 1)),
        "Latent code size (None: adapts to the data).",
        details="Adapted: about three quarters of a table's width; 1/16 of an image's or window's values, 8 to 64.",
    ),
    Parameter("activation", "relu", (v.Options(choices.ACTIVATIONS),), "Activation of the hidden layers."),
    Parameter("dropout", 0.0, (v.Interval(float, 0, 1, closed="left"),), "Dropout after each hidden layer."),
    Parameter("normalization", "none", (v.Options(choices.NORMALIZATIONS),), "Normalisation of the hidden layers."),
    Parameter(
        "output_activation",
        "linear",
        (v.Options(choices.OUTPUT_ACTIVATIONS),),
        "Activation of the output (sigmoid needs scaler='minmax').",
        details='``"sigmoid"`` gives outputs in [0, 1], which only ``scaler="minmax"`` inputs match.',
    ),
    Parameter(
        "rotation_head",
        "auto",
        (v.Options(("auto",)), BOOL),
        "Square images: also learn an image's quarter turn and score how badly it is read "
        "(auto: kept where the held-out images show their turns are read).",
        details="Other inputs ignore it. The encoder also learns to tell which of four quarter turns an image was "
        "given, and the latent scores add how badly it reads the turns of the scored image (for the normal "
        "class's pose it reads them well). It separates better on Fashion-MNIST, for a longer fit "
        '(``benchmarks/results/tuning.md``). With ``"auto"`` the head is trained and then kept only when, at '
        "the best epoch, at least 90 % of the held-out normal images' quarter turns were told right, judged "
        "on at least 50 held-out images; otherwise it is dropped and the score leaves it out "
        "(``benchmarks/results/quality.md``). ``True`` keeps it, ``False`` trains without it (images with "
        "no upright pose: textures, microscopy, aerial views).",
    ),
    Parameter(
        "scaler",
        "auto",
        (v.Options(("auto", *choices.SCALERS)),),
        "Scaling fitted on normal rows (auto: minmax for images, standard otherwise).",
        details='Per column for tables, per channel for images and series. For images ``"auto"`` scales pixels '
        "to [0, 1]; the range is stored with the model.",
    ),
    Parameter("categorical_features", None, (v.NONE, STR_LIST), "Columns to one-hot encode.", option="categorical"),
    Parameter(
        "impute", "none", (v.Options(choices.IMPUTES),), "Missing values: rejected (none), or the median or mean."
    ),
    Parameter("optimizer", "adam", (v.Options(choices.OPTIMIZERS),), "The optimizer."),
    Parameter(
        "learning_rate",
        None,
        (v.NONE, v.Interval(float, 0, None, closed="neither")),
        "Optimizer learning rate (None: adapts to the batch size).",
        details="Adapted: 1e-3 at 64 rows per batch, growing with the batch size's square root.",
    ),
    Parameter("weight_decay", 0.0, (v.Interval(float, 0, None),), "L2 weight decay."),
    Parameter(
        "loss", "mse", (v.Options(choices.LOSSES),), "Training loss, also the element-wise error that scores use."
    ),
    Parameter(
        "metrics",
        ("mae",),
        (METRICS,),
        "Extra measures tracked per epoch on training and validation rows.",
        details="Names among " + ", ".join(f"``{name}``" for name in choices.METRICS) + ".",
    ),
    Parameter(
        "epochs",
        None,
        (v.NONE, v.Interval(int, 1)),
        "Maximum epochs (None: adapts to the rows).",
        details="Adapted to the number of training rows (see :mod:`aedetect.training.sizing`).",
    ),
    Parameter(
        "batch_size",
        None,
        (v.NONE, v.Interval(int, 1)),
        "Rows per optimizer step (None: adapts to the rows).",
        details="Adapted to the number of training rows (see :mod:`aedetect.training.sizing`).",
    ),
    Parameter(
        "validation_fraction",
        0.1,
        (v.Interval(float, 0, 1, closed="left"),),
        "Share of normal rows held out for early stopping and the threshold.",
        details="The threshold is fitted on scores of rows the network never trained on.",
    ),
    Parameter(
        "patience",
        10,
        (v.Interval(int, 1),),
        "Epochs without a better validation loss before stopping.",
        details="The best epoch's weights are kept.",
    ),
    Parameter(
        "trim_fraction",
        0.0,
        (v.Interval(float, 0, 0.5, closed="left"),),
        "Expected share of anomalies among the training rows; the worst-reconstructed are left out.",
        details="For training rows that may hold anomalies (no labels, or labels you do not trust); 0 (default) "
        "for clean normal rows. Each batch's worst-reconstructed rows are left out of the gradient after the "
        "first epoch; the worst-reconstructed training rows (and held-out rows) are left out of the normal "
        "error levels, the latent scale and the reference codes; and ``latent_knn`` measures the distance to a "
        "farther neighbour (see :attr:`n_neighbours_`), so that a cluster of anomalies among the reference codes "
        'does not vouch for anomalies of its kind. Combine it with ``scaler="robust"``, whose median and '
        "quartiles anomalies do not shift (compared with the defaults in "
        "``benchmarks/results/adbench_contaminated_robust.md``).",
    ),
    Parameter(
        "variant",
        "plain",
        (v.Options(choices.VARIANTS),),
        "The autoencoder: plain, denoising, sparse or variational.",
        details='Each works with every architecture (see :mod:`aedetect.training.variants`). ``"denoising"``: '
        "trained to reconstruct the clean row from a corrupted one (``noise``, ``noise_level``). "
        '``"sparse"``: an L1 penalty on the latent activity (``sparsity_weight``). ``"variational"``: a '
        "Gaussian latent space trained on the evidence lower bound, with the KL term weighted by ``beta``; "
        "scores use the posterior mean, so the same input always gets the same score.",
    ),
    Parameter("noise", "gaussian", (v.Options(choices.NOISES),), "Denoising: gaussian noise or masking."),
    Parameter(
        "noise_level",
        0.1,
        (v.Interval(float, 0, None),),
        "Denoising: noise standard deviation in scaled units, or masking probability.",
        details="Gaussian noise of this standard deviation, or each value set to 0 with this probability (below 1).",
    ),
    Parameter(
        "sparsity_weight",
        1e-3,
        (v.Interval(float, 0, None),),
        "Sparse: weight of the L1 penalty on the code.",
        details="The penalty is the sum of absolute latent values per row.",
    ),
    Parameter(
        "beta",
        1.0,
        (v.Interval(float, 0, None),),
        "Variational: weight of the KL term.",
        details="1 is the true ELBO; 0 trains a plain autoencoder with a noisy code.",
    ),
    Parameter(
        "score",
        "latent_knn",
        (v.Options(ALL_SCORES),),
        "How a row's anomaly score is computed.",
        details='``"reconstruction"``: mean reconstruction error of the row. ``"standardized"``: each '
        "feature's error divided by its mean on normal training rows, so no single noisy feature dominates. "
        '``"latent_knn"`` (default): the standardized error plus the distance from the row\'s latent code to a '
        "near normal training code (see :attr:`n_neighbours_` and :mod:`aedetect.scoring.statistics`; each "
        "latent unit scaled to unit variance), each part divided by its level on held-out normal rows and the "
        "distance weighted more, so an input that is reconstructed well but lands far from normal codes is "
        "caught too; tables and images of at most 4,096 values add the row's distance to the nearest of "
        "their training rows (see ``input_rows``) in the scaled input space, weighted four "
        'times the other parts together. ``"latent_mahalanobis"``: the standardized error plus the squared Mahalanobis distance '
        'of the code from the normal codes, likewise scaled. ``"negative_elbo"`` (``variant="variational"`` '
        "only): mean reconstruction error at the posterior mean plus the posterior's KL divergence from the "
        "prior over the number of values: the negative ELBO per value, without sampling.",
    ),
    Parameter(
        "input_rows",
        None,
        (v.NONE, v.Interval(int, 0)),
        "Most training rows kept for latent_knn's input part (None: 32,768 for tables, 4,096 for images; "
        "0: no input part, faster scoring).",
        details="The distinct training rows (a row repeated in the data counts once), all of them up to this "
        "many, a uniform sample of them beyond, and at most 4,194,304 values in all (16 MB): a wider table "
        "keeps fewer. Where they are a sample, the part is added only while the nearest kept row lies at most "
        "about twice as far as the nearest training row would (a sample of one in s rows over d intrinsic "
        "dimensions, estimated from the rows' nearest neighbours, stretches distances s ** (1 / d) times), and, "
        "for a table, sample or not, while that dimension is at most 16, beyond which near rows are all about "
        "as far (see "
        ":mod:`aedetect.scoring.statistics`). Each scored row is compared with every kept row (a row that occurs "
        "several times, once): on 2 cores a table keeping 32,768 rows scores about 30,000 (118 columns) to "
        "85,000 (10 columns) distinct rows/s, where one keeping none scores "
        "about a million; ``0`` trades the part's separation on large tables for that speed.",
    ),
    Parameter(
        "threshold",
        "false_alarm_rate:0.01",
        (THRESHOLD,),
        "Threshold rule fitted on held-out normal scores, e.g. false_alarm_rate:0.01.",
        details='Also ``"percentile:99"``, ``"contamination:0.02"``, ``"mean_std:3"``, ``"iqr:3"``, '
        '``"fixed:0.5"``, ``"best_f1"`` or a rule object (see :mod:`aedetect.thresholds`).',
    ),
    Parameter(
        "random_state",
        0,
        (v.NONE, v.Interval(int, 0)),
        "Random seed (None: a fresh one each fit).",
        option="seed",
        details="Seeds weight initialisation, the validation split and shuffling: the same seed and data give "
        "the same model. ``None`` draws a fresh seed at each fit (recorded in ``random_state_``), so fits are "
        "not reproducible.",
    ),
    Parameter("device", "auto", (DEVICE,), "auto (CUDA when present), cpu or cuda[:N]."),
    Parameter("verbose", False, (BOOL,), "Show a progress bar during training.", option="quiet"),
)
#: Constraints by parameter name, as :func:`aedetect._validation.validate_params` takes them.
CONSTRAINTS = {parameter.name: list(parameter.constraints) for parameter in PARAMETERS}
DEFAULTS = {parameter.name: parameter.default for parameter in PARAMETERS}


def numpydoc_parameters(indent: str = "    ", width: int = 100) -> str:
    """The numpydoc section "Parameters" of the declared parameters (see :mod:`.docstring`)."""
    from aedetect.parameters import docstring

    return docstring.numpydoc_parameters(PARAMETERS, indent, width)


def validate(owner: str, params: dict[str, Any]) -> None:
    """Raise :class:`~aedetect._validation.InvalidParameterError` for the first invalid parameter."""
    threshold = params["threshold"]
    if isinstance(threshold, str):  # the rule's own message names its valid range
        from aedetect.thresholds import parse_threshold

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


__all__ = [
    "Parameter",
    "PARAMETERS",
    "CONSTRAINTS",
    "DEFAULTS",
    "validate",
    "numpydoc_parameters",
    "ARCHITECTURES",
    "SCORES",
    "ALL_SCORES",
]
