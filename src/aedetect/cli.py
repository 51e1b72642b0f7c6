"""The ``aedetect`` command: a thin layer over AutoencoderDetector.

Every error a user can cause ends in one line on standard error and exit code 2, with no traceback
and no partial output left behind.
"""

from __future__ import annotations

import functools
import json
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from sklearn.exceptions import NotFittedError

app = typer.Typer(
    help="Anomaly detection with autoencoders: train on normal rows, score by reconstruction error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
errors = Console(stderr=True)

USER_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    NotFittedError,
    FloatingPointError,
    tomllib.TOMLDecodeError,
    OSError,
)
DATASET_PREFIX = "dataset:"


def user_errors(command):
    """Turn the errors a user can cause into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as error:
            message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
            message = " ".join(message.split()) or type(error).__name__
            errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _int_list(value: str | None, option: str) -> list[int] | None:
    """``"64,32"`` as ``[64, 32]``; one line naming ``option`` when a part is not an integer."""
    if value is None:
        return None
    try:
        return [int(part) for part in _csv(value)]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, e.g. 64,32; got {value!r}.") from None


def _label(value: str | None):
    if value is None:
        return None
    return None if value == "*" else value


def read_input(
    source: str, label_column: str | None, normal_label: Any, anomaly_label: Any, drop: list[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]:
    """Read ``source`` (a file or ``dataset:NAME``); return features, 0/1 labels and the raw table."""
    from aedetect.data.datasets import load_dataset
    from aedetect.data.io import read_table, split_labels

    if source.startswith(DATASET_PREFIX):
        name = source[len(DATASET_PREFIX) :]
        features, labels = load_dataset(name)
        raw = features.assign(label=labels)
        return features, labels, raw
    raw = read_table(source)
    features, labels = split_labels(raw, label_column, normal_label, anomaly_label)
    if drop:
        features = features.drop(columns=[c for c in drop if c in features.columns])
    return features, labels, raw


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    if not path.is_file():
        raise FileNotFoundError(f"Config file {str(path)!r} does not exist; check the path.")
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    return config.get("train", config)


def _detector_kwargs(config: dict, overrides: dict) -> dict:
    from aedetect.detector import AutoencoderDetector

    known = set(AutoencoderDetector().get_params())
    data_keys = {
        "label_column",
        "normal_label",
        "anomaly_label",
        "features",
        "drop",
        "id_column",
        "window",
        "stride",
        "timestamp_column",
        "values",
    }
    unknown = sorted(set(config) - known - data_keys)
    if unknown:
        raise ValueError(f"Unknown option(s) in the config file: {unknown}; see 'aedetect train --help'.")
    merged = {k: v for k, v in config.items() if k in known}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return merged


def _print_evaluation(result, title: str) -> None:
    console.print(f"\n[bold]{title}[/]  (threshold {result.threshold:.6g}; 1 = anomaly)")
    console.print(result.report, highlight=False)
    table = Table(show_header=True, header_style="bold")
    for name in ("ROC-AUC", "PR-AUC", "precision@n", "false-alarm rate"):
        table.add_column(name, justify="right")
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    table.add_row(fmt(result.roc_auc), fmt(result.pr_auc), fmt(result.precision_at_n), fmt(result.false_alarm_rate))
    console.print(table)
    (tn, fp), (fn, tp) = result.confusion_matrix
    console.print(f"confusion matrix (rows: true normal / anomaly): [[{tn}, {fp}], [{fn}, {tp}]]", highlight=False)


# -- train ------------------------------------------------------------------------------------------
@app.command()
@user_errors
def train(
    data: Annotated[
        str, typer.Argument(help="CSV, Parquet, .npy/.npz file, or dataset:NAME (see 'aedetect datasets').")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    config: Annotated[Path | None, typer.Option(help="TOML file with training options; flags override it.")] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Label column: only its normal rows train the network.")
    ] = None,
    normal_label: Annotated[str | None, typer.Option(help="Value of the label column that means normal [0].")] = None,
    anomaly_label: Annotated[
        str | None, typer.Option(help="Value that means anomaly [1]; '*' = every other value.")
    ] = None,
    features: Annotated[str | None, typer.Option(help="Comma-separated feature columns (default: all others).")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns to leave out (ids, timestamps).")] = None,
    categorical: Annotated[str | None, typer.Option(help="Comma-separated columns to one-hot encode.")] = None,
    labels_file: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Labels for an IDX images file (an IDX labels file), mapped by --normal-label/--anomaly-label.",
        ),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(help="Series: cut DATA into windows of this many points (then --architecture conv1d or lstm)."),
    ] = None,
    stride: Annotated[int | None, typer.Option(help="Series: points between window starts [1].")] = None,
    timestamp_column: Annotated[str | None, typer.Option(help="Series: the timestamp column (not a feature).")] = None,
    values: Annotated[
        str | None, typer.Option(help="Series: comma-separated value columns (default: every numeric column).")
    ] = None,
    architecture: Annotated[
        str | None,
        typer.Option(
            help="auto (dense for tables, conv2d for images, conv1d for series), dense, conv2d, conv1d or lstm."
        ),
    ] = None,
    hidden_dims: Annotated[
        str | None,
        typer.Option(help="Encoder widths: dense units, conv channels or LSTM sizes, e.g. 64,32 (default: adapts)."),
    ] = None,
    latent_dim: Annotated[int | None, typer.Option(help="Latent code size (default: adapts).")] = None,
    activation: Annotated[str | None, typer.Option(help="relu, leaky_relu, elu, gelu, tanh or silu.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout after hidden layers, in [0, 1).")] = None,
    normalization: Annotated[str | None, typer.Option(help="none, batch or layer.")] = None,
    output_activation: Annotated[
        str | None, typer.Option(help="linear or sigmoid (sigmoid needs --scaler minmax).")
    ] = None,
    rotation_head: Annotated[
        bool | None,
        typer.Option(
            "--rotation-head/--no-rotation-head",
            help="Square images: also learn to tell an image's quarter turn, and score how badly it is read [on]. Off for images with no upright pose (textures, microscopy, aerial views).",
        ),
    ] = None,
    scaler: Annotated[
        str | None, typer.Option(help="auto (minmax for images, standard otherwise), standard, robust, minmax or none.")
    ] = None,
    impute: Annotated[str | None, typer.Option(help="none (reject NaN), median or mean.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="adam, adamw, sgd or rmsprop.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Optimizer learning rate.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 weight decay.")] = None,
    loss: Annotated[str | None, typer.Option(help="mse, mae, huber or bce.")] = None,
    metrics: Annotated[
        str | None, typer.Option(help="Comma-separated metrics tracked per epoch: mse, mae, huber, rmse.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default: adapts).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per optimizer step (default: adapts).")] = None,
    validation_fraction: Annotated[float | None, typer.Option(help="Share of normal rows held out.")] = None,
    patience: Annotated[int | None, typer.Option(help="Early stopping patience in epochs.")] = None,
    trim_fraction: Annotated[
        float | None,
        typer.Option(
            help="Training rows may hold anomalies: about their expected share (e.g. 0.1, with --scaler robust). The worst-reconstructed rows are left out of training and of the normal reference."
        ),
    ] = None,
    variant: Annotated[str | None, typer.Option(help="plain (default), denoising, sparse or variational.")] = None,
    noise: Annotated[str | None, typer.Option(help="Denoising: gaussian (default) or masking.")] = None,
    noise_level: Annotated[
        float | None, typer.Option(help="Denoising: noise std in scaled units, or masking probability [0.1].")
    ] = None,
    sparsity_weight: Annotated[
        float | None, typer.Option(help="Sparse: weight of the L1 penalty on latent activity [0.001].")
    ] = None,
    beta: Annotated[float | None, typer.Option(help="Variational: weight of the KL term [1.0].")] = None,
    score: Annotated[
        str | None,
        typer.Option(
            help="latent_knn (default), standardized, reconstruction, latent_mahalanobis or (variational) negative_elbo."
        ),
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Rule, e.g. false_alarm_rate:0.01, percentile:99, fixed:0.5.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    ensemble: Annotated[
        int | None,
        typer.Option(
            help="Train N members (seeds seed, seed+1, ...) and average their standardised scores: steadier scores, N times the time and size."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding downloadable datasets (kddcup99).")] = None,
) -> None:
    """Train a detector on the normal rows of DATA (a table, images or a series) and save it to a model directory.

    Images: a folder of PNG/JPEG (with optional normal/ and anomaly/ sub-folders), an IDX file or a
    .npy array. Series: a table with --window (and --timestamp-column).
    """
    from aedetect.data.io import check_output
    from aedetect.detector import AutoencoderDetector

    file_config = _load_config(config)
    label_column = label_column or file_config.get("label_column")
    normal = normal_label if normal_label is not None else file_config.get("normal_label", 0)
    anomaly = _label(anomaly_label) if anomaly_label is not None else _label(file_config.get("anomaly_label", 1))
    feature_list = _csv(features) or file_config.get("features")
    drop_list = _csv(drop) or file_config.get("drop") or []
    window = window if window is not None else file_config.get("window")
    stride = stride if stride is not None else file_config.get("stride", 1)
    timestamp_column = timestamp_column or file_config.get("timestamp_column")
    value_list = _csv(values) or file_config.get("values")
    overrides = dict(
        architecture=architecture,
        hidden_dims=_int_list(hidden_dims, "--hidden-dims") or None,
        latent_dim=latent_dim,
        activation=activation,
        dropout=dropout,
        normalization=normalization,
        output_activation=output_activation,
        rotation_head=rotation_head,
        scaler=scaler,
        impute=impute,
        optimizer=optimizer,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        loss=loss,
        metrics=_csv(metrics),
        epochs=epochs,
        batch_size=batch_size,
        validation_fraction=validation_fraction,
        patience=patience,
        trim_fraction=trim_fraction,
        variant=variant,
        noise=noise,
        noise_level=noise_level,
        sparsity_weight=sparsity_weight,
        beta=beta,
        score=score,
        threshold=threshold,
        random_state=seed,
        device=device,
        categorical_features=_csv(categorical),
    )
    kwargs = _detector_kwargs(file_config, overrides)
    kwargs["verbose"] = not quiet and sys.stderr.isatty()
    detector = AutoencoderDetector(**kwargs)
    detector._validate_params()  # fail on a bad option before reading a large file
    model = detector if ensemble is None else _ensemble(detector, ensemble)  # clones detector as set up below
    check_output(output, inputs=[data, config, labels_file], directory=True)
    _use_data_dir(data_dir)

    from aedetect.data.inputs import is_image_source, read_images, read_windows

    meta: dict[str, Any] = {}
    if window is not None:
        series = read_windows(data, window, stride, timestamp_column, value_list, label_column, normal, anomaly)
        frame, labels = series.windows, series.window_labels
        if detector.architecture == "auto":
            detector.set_params(architecture="conv1d")
        meta = {
            "window": int(window),
            "stride": int(stride),
            "timestamp_column": timestamp_column,
            "values": series.value_columns,
        }
    elif not data.startswith(DATASET_PREFIX) and is_image_source(data):
        images = read_images(data, labels_file, normal, anomaly)
        frame, labels = images.images, images.labels
    else:
        frame, labels, _ = read_input(data, label_column, normal, anomaly, drop_list)
    if feature_list and isinstance(frame, pd.DataFrame):
        from aedetect.data.io import select_features

        frame = select_features(frame, feature_list)
    if data.startswith(DATASET_PREFIX):
        from aedetect.data.datasets import DATASETS

        dataset = DATASETS[data[len(DATASET_PREFIX) :]]
        if dataset.categorical and not detector.categorical_features:
            detector.set_params(categorical_features=list(dataset.categorical))
    from aedetect.persistence.model import check_save_target

    check_save_target(output)  # refuse a folder that is not a model before training, not after
    started = time.perf_counter()
    model.fit(frame, labels)
    seconds = time.perf_counter() - started
    model.metadata_ = {
        "source": data,
        "label_column": label_column,
        "drop": drop_list,
        "normal_label": str(normal),
        "anomaly_label": None if anomaly is None else str(anomaly),
        **meta,
    }
    model.save(output)
    n_normal = len(frame) if labels is None else int((labels == 0).sum())
    unit, width = {"table": ("rows", "columns"), "image": ("images", "pixel values"), "series": ("windows", "values")}[
        model.data_kind_
    ]
    console.print(
        f"trained on {n_normal} normal {unit} x {model.n_features_in_} {width} in {seconds:.1f} s "
        f"({_epochs(model)}); "
        f"threshold {model.threshold_rule_.to_spec()} = {model.threshold_:.6g}; saved to {output}",
        highlight=False,
    )
    if labels is not None and 0 < labels.sum() < len(labels):
        from aedetect.evaluation import evaluate as evaluate_scores

        _print_evaluation(
            evaluate_scores(labels, model.decision_scores_, model.threshold_),
            "on the training table (optimistic: normal rows were trained on)",
        )


def _ensemble(detector, n_members: int):
    """An ensemble of ``n_members`` clones of ``detector`` (its threshold, hold-out share and seed)."""
    from aedetect.ensemble import EnsembleDetector

    model = EnsembleDetector(
        detector,
        n_members=n_members,
        validation_fraction=detector.validation_fraction,
        threshold=detector.threshold,
        random_state=detector.random_state or 0,
    )
    model._validate_params()
    return model


def _epochs(model) -> str:
    """How long training ran: epochs (and the best one), or each member's epochs for an ensemble."""
    members = getattr(model, "members_", None)
    if members is None:
        return f"{model.history_.stopped_epoch} epochs, best {model.history_.best_epoch}"
    return f"ensemble of {len(members)} members, {'/'.join(str(m.history_.stopped_epoch) for m in members)} epochs"


def _use_data_dir(folder: Path | None) -> None:
    if folder is not None:
        import os

        if not folder.is_dir():
            raise ValueError(
                f"--data-dir {str(folder)!r} is not a folder; give the folder that holds the dataset files."
            )
        os.environ["AEDETECT_DATA_DIR"] = str(folder)


# -- scoring helpers -------------------------------------------------------------------------------
def _scoring_frame(detector, frame: pd.DataFrame, extra_drop: list[str]) -> pd.DataFrame:
    from aedetect.batch.core import RowScoringCore

    return RowScoringCore(detector, drop=extra_drop).features(frame)


@dataclass
class ModelInput:
    """Data read for a saved model: what the detector scores, labels, and the table to write back."""

    features: Any
    labels: np.ndarray | None
    table: pd.DataFrame  # one row per score written: a row, an image or a series' time point
    series: Any = None  # aedetect.data.inputs.Series for a series model

    def scores(self, detector) -> np.ndarray:
        """Per-row scores; for a series, each time point's score from the windows covering it."""
        scores = detector.decision_function(self.features)
        if self.series is None:
            return scores
        from aedetect.data.windows import point_scores

        return point_scores(scores, len(self.series.table), self.series.window, self.series.stride)


def model_input(
    detector,
    data: str,
    label_column: str | None = None,
    normal_label: Any = 0,
    anomaly_label: Any = 1,
    drop: list[str] | None = None,
    labels_file: str | None = None,
) -> ModelInput:
    """Read ``data`` the way the saved model was trained: a table, images or a windowed series."""
    from aedetect.data.inputs import read_images, read_windows

    meta = getattr(detector, "metadata_", {}) or {}
    if detector.data_kind_ == "image":
        images = read_images(data, labels_file, normal_label, anomaly_label)
        return ModelInput(images.images, images.labels, pd.DataFrame({"image": images.ids}))
    if detector.data_kind_ == "series" and meta.get("window"):
        series = read_windows(
            data,
            meta["window"],
            meta.get("stride", 1),
            meta.get("timestamp_column"),
            meta.get("values"),
            label_column,
            normal_label,
            anomaly_label,
        )
        return ModelInput(series.windows, series.point_labels, series.table, series)
    frame, labels, raw = read_input(data, label_column, normal_label, anomaly_label)
    return ModelInput(_scoring_frame(detector, frame, drop or []), labels, raw)


def _apply_threshold(detector, threshold: str | None, frame=None, labels=None) -> None:
    if threshold is None:
        return
    if threshold.startswith("best_f1"):
        if labels is None:
            raise ValueError("The 'best_f1' threshold needs labels; give --label-column.")
        detector.set_threshold(threshold, frame, labels)
    else:
        detector.set_threshold(threshold)


def _load_model(model: Path):
    from aedetect.persistence.load import load

    return load(model)


# -- score ------------------------------------------------------------------------------------------
@app.command()
@user_errors
def score(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    data: Annotated[
        str,
        typer.Argument(
            help="CSV, Parquet or .npy/.npz file, image folder or IDX file to score, or '-' for CSV / JSON Lines on standard input."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Scores file to write (.csv or .parquet); a stream ('-') writes to standard output."
        ),
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Write only this column with the scores.")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    threshold: Annotated[str | None, typer.Option(help="Override the model's threshold rule.")] = None,
    only_anomalies: Annotated[bool, typer.Option(help="Write only the rows flagged as anomalies.")] = False,
    stream_format: Annotated[str, typer.Option("--format", help="Stream format: auto, csv or jsonl.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Stream: most records per scored batch.")] = 64,
    max_wait: Annotated[
        float, typer.Option(help="Stream: seconds a record may wait before its batch is scored.")
    ] = 1.0,
    skip_invalid: Annotated[
        bool, typer.Option(help="Stream: report and leave out records that cannot be scored.")
    ] = False,
) -> None:
    """Score DATA: write its rows (or an id column) with 'score' and 'is_anomaly' columns.

    Image models write one row per image; series models one row per time point, scored from the
    windows that cover it. CSV and Parquet tables are scored in chunks (memory stays flat however
    large the file); '-' scores records from standard input as they arrive:
    'tail -f log.jsonl | aedetect score MODEL - --only-anomalies'.
    """
    from aedetect.batch.files import file_kind, score_file
    from aedetect.data.io import WRITABLE, check_output

    if data != "-" and output is not None:  # before the slow part
        check_output(output, inputs=[data], folders=[model], suffixes=WRITABLE)
    detector = _load_model(model)
    _apply_threshold(detector, threshold)
    drop_list = _csv(drop) or []
    if data == "-":
        if detector.data_kind_ != "table":
            raise ValueError("Standard input takes table records; score images or series from a file or folder.")
        _score_stdin(
            detector, output, id_column, drop_list, only_anomalies, stream_format, batch_size, max_wait, skip_invalid
        )
        return
    if output is None:
        raise ValueError(
            "Give --output FILE (.csv or .parquet) to write the scores to, or score standard input with DATA '-'."
        )
    if detector.data_kind_ != "table":
        _score_samples(detector, data, output, only_anomalies)
        return
    if file_kind(data) is not None:
        summary = score_file(detector, data, output, id_column, drop_list, only_anomalies)
        rows, flagged = summary.rows, summary.flagged
    else:
        rows, flagged = _score_in_memory(detector, data, output, id_column, drop_list, only_anomalies)
    console.print(
        f"scored {rows} rows: {flagged} flagged ({flagged / max(rows, 1):.2%}) at threshold "
        f"{detector.threshold_:.6g}; wrote {output}",
        highlight=False,
    )


def _score_samples(detector, data: str, output: Path, only_anomalies: bool) -> None:
    """Images (one row each) or a series (one row per time point) to a scores file."""
    from aedetect.batch.core import RowScoringCore
    from aedetect.data.io import check_output_folder, write_table

    check_output_folder(output)
    loaded = model_input(detector, data)
    core = RowScoringCore(detector, only_anomalies=only_anomalies)
    scored = core.flag(loaded.scores(detector))
    write_table(core.output(loaded.table, scored), output)
    console.print(
        f"scored {len(scored.scores)} {'images' if detector.data_kind_ == 'image' else 'time points'}: "
        f"{scored.flagged} flagged ({scored.flags.mean():.2%}) at threshold {core.threshold:.6g}; "
        f"wrote {output}",
        highlight=False,
    )


def _score_in_memory(detector, data: str, output: Path, id_column, drop_list, only_anomalies) -> tuple[int, int]:
    from aedetect.batch.core import RowScoringCore
    from aedetect.data.io import check_output_folder, read_table, write_table

    check_output_folder(output)
    raw = read_table(data)
    core = RowScoringCore(detector, id_column=id_column, drop=drop_list, only_anomalies=only_anomalies)
    scored = core.score(raw)
    write_table(core.output(raw, scored), output)
    return len(raw), scored.flagged


def _score_stdin(
    detector, output, id_column, drop_list, only_anomalies, stream_format, batch_size, max_wait, skip_invalid
) -> None:
    import os

    from aedetect.batch.streams import score_stream

    if output is not None and str(output) != "-":
        raise ValueError("Scores of a stream go to standard output; leave out --output (redirect with '>').")
    try:
        summary = score_stream(
            detector,
            sys.stdin,
            sys.stdout,
            stream_format,
            batch_size,
            max_wait,
            id_column,
            drop_list,
            only_anomalies,
            skip_invalid,
            warn=lambda m: errors.print(f"[yellow]warning:[/] {m}", highlight=False),
        )
    except BrokenPipeError:  # the reader went away (e.g. '| head'): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    errors.print(
        f"scored {summary.rows} records: {summary.flagged} flagged at threshold {summary.threshold:.6g}",
        highlight=False,
    )


# -- export -----------------------------------------------------------------------------------------
@app.command()
@user_errors
def export(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write, e.g. model.onnx.")],
    export_format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
) -> None:
    """Export the preprocessing, network and score as one ONNX graph (onnxruntime alone scores with it)."""
    from aedetect.data.io import check_output
    from aedetect.export.onnx import export as export_model

    check_output(output, folders=[model])  # before the slow part
    detector = _load_model(model)
    path = export_model(detector, output, export_format)
    names = detector.preprocessor_.numeric_columns_
    console.print(
        f"exported {detector.score} scores to {path}: input 'features' (float32, rows x {len(names)}: "
        f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}), outputs 'score' and 'is_anomaly' "
        f"(threshold {detector.threshold_:.6g})",
        highlight=False,
    )


# -- serve ------------------------------------------------------------------------------------------
@app.command()
@user_errors
def serve(
    models: Annotated[
        list[str], typer.Argument(help="Model directories, as PATH or NAME=PATH; the first is the default.")
    ],
    host: Annotated[str, typer.Option(help="Address to bind; anything but localhost needs an API key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(envvar="AEDETECT_API_KEY", help="Key that clients send in the X-API-Key header.")
    ] = None,
    allow_unauthenticated: Annotated[bool, typer.Option(help="Serve beyond localhost without an API key.")] = False,
    max_rows: Annotated[int, typer.Option(help="Most rows per request (413 beyond).")] = 10_000,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body in MB (413 beyond).")] = 16.0,
) -> None:
    """Serve models over HTTP: POST /score, GET /model, GET /health, docs at /docs."""
    from aedetect.serve.app import check_binding, load_models
    from aedetect.serve.app import serve as run_server

    api_key = check_binding(host, api_key, allow_unauthenticated)  # before the slow part; a blank key is none
    if max_rows < 1 or max_body_mb <= 0:
        raise ValueError(f"--max-rows must be >= 1 and --max-body-mb > 0; got {max_rows} and {max_body_mb}.")
    served = load_models(models)
    errors.print(
        f"serving {', '.join(served)} on http://{host}:{port} (docs at /docs){'; API key required' if api_key else ''}",
        highlight=False,
    )
    run_server(served, host, port, api_key, allow_unauthenticated, max_rows, int(max_body_mb * (1 << 20)))


# -- evaluate ---------------------------------------------------------------------------------------
@app.command()
@user_errors
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    data: Annotated[str, typer.Argument(help="Labelled CSV, Parquet, .npz file, or dataset:NAME.")],
    label_column: Annotated[str | None, typer.Option(help="Label column (default: the one used in training).")] = None,
    normal_label: Annotated[str | None, typer.Option(help="Value meaning normal (default: as in training).")] = None,
    anomaly_label: Annotated[str | None, typer.Option(help="Value meaning anomaly; '*' = every other value.")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    labels_file: Annotated[
        str | None, typer.Option("--labels", help="Labels for IDX images (an IDX labels file).")
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Override the threshold rule (best_f1 uses these labels).")
    ] = None,
    json_output: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding downloadable datasets (kddcup99).")] = None,
) -> None:
    """Evaluate a model on labelled data: classification report, confusion matrix, ROC-AUC, PR-AUC."""
    from aedetect.data.io import check_output
    from aedetect.evaluation import evaluate as evaluate_scores

    if json_output is not None:  # before the slow part
        check_output(json_output, inputs=[data, labels_file], folders=[model])
    detector = _load_model(model)
    _use_data_dir(data_dir)
    meta = getattr(detector, "metadata_", {}) or {}
    label_column = label_column or meta.get("label_column")
    if label_column is None and not data.startswith(DATASET_PREFIX) and detector.data_kind_ != "image":
        raise ValueError("Evaluation needs labels: give --label-column.")
    normal = normal_label if normal_label is not None else meta.get("normal_label", 0)
    anomaly = _label(anomaly_label) if anomaly_label is not None else meta.get("anomaly_label", 1)
    loaded = model_input(detector, data, label_column, normal, anomaly, _csv(drop), labels_file)
    labels = loaded.labels
    if labels is None:
        raise ValueError("Evaluation needs labels: an image folder with normal/ and anomaly/ sub-folders, or --labels.")
    window_labels = loaded.series.window_labels if loaded.series is not None else labels
    _apply_threshold(detector, threshold, loaded.features, window_labels)
    scores = loaded.scores(detector)
    result = evaluate_scores(labels, scores, detector.threshold_)
    _print_evaluation(result, f"{data}: {result.n_rows} rows, {result.n_anomalies} anomalies")
    if json_output is not None:
        _write_json(result.to_dict(), json_output)


def _write_json(payload: dict, path: Path) -> None:
    from aedetect.data.io import atomic_write

    atomic_write(path, lambda temporary: Path(temporary).write_text(json.dumps(payload, indent=2)))


# -- report -----------------------------------------------------------------------------------------
@app.command()
@user_errors
def report(
    model: Annotated[Path, typer.Argument(help="Model directory written by 'aedetect train'.")],
    data: Annotated[str, typer.Argument(help="CSV, Parquet, .npy/.npz file, or dataset:NAME.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write (self-contained).")],
    label_column: Annotated[
        str | None, typer.Option(help="Label column (default: the training one, if the data has it).")
    ] = None,
    normal_label: Annotated[str | None, typer.Option(help="Value meaning normal (default: as in training).")] = None,
    anomaly_label: Annotated[str | None, typer.Option(help="Value meaning anomaly; '*' = every other value.")] = None,
    drop: Annotated[str | None, typer.Option(help="Comma-separated columns that are not features.")] = None,
    labels_file: Annotated[
        str | None, typer.Option("--labels", help="Labels for IDX images (an IDX labels file).")
    ] = None,
    threshold: Annotated[
        str | None, typer.Option(help="Override the threshold rule (best_f1 uses these labels).")
    ] = None,
    figures_dir: Annotated[
        Path | None, typer.Option(help="Also save every figure in this folder as PNG and SVG.")
    ] = None,
) -> None:
    """Write a self-contained HTML report: figures, metrics (with labels) and a model summary."""
    from aedetect.data.io import check_output, split_labels
    from aedetect.report.page import write_report

    check_output(output, inputs=[data, labels_file], folders=[model])  # fail before the slow part
    detector = _load_model(model)
    meta = getattr(detector, "metadata_", {}) or {}
    normal = normal_label if normal_label is not None else meta.get("normal_label", 0)
    anomaly = _label(anomaly_label) if anomaly_label is not None else meta.get("anomaly_label", 1)
    if detector.data_kind_ != "table":
        loaded = model_input(
            detector, data, label_column or meta.get("label_column"), normal, anomaly, labels_file=labels_file
        )
        features = loaded.features
        labels = loaded.series.window_labels if loaded.series is not None else loaded.labels
        unit = "images" if detector.data_kind_ == "image" else "windows"
    else:
        frame, labels, _ = read_input(data, label_column, normal, anomaly)
        if labels is None and label_column is None and meta.get("label_column") in frame.columns:
            frame, labels = split_labels(frame, meta["label_column"], normal, anomaly)
        features = _scoring_frame(detector, frame, _csv(drop) or [])
        unit = "rows"
    _apply_threshold(detector, threshold, features, labels)
    write_report(detector, features, labels, path=output, source=data, figures_dir=figures_dir)
    console.print(
        f"report on {len(features)} {unit}{'' if labels is not None else ' (no labels)'} written to "
        f"{output}" + (f"; figures in {figures_dir}" if figures_dir else ""),
        highlight=False,
    )


# -- demo -------------------------------------------------------------------------------------------
@app.command()
@user_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to save the demo model.")] = Path(
        "artifacts/demo-model"
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train on the built-in seed-imbalanced table (the tutorials' task) and evaluate on its test split."""
    from sklearn.model_selection import train_test_split

    from aedetect.data.datasets import load_dataset
    from aedetect.data.io import check_output
    from aedetect.detector import AutoencoderDetector
    from aedetect.evaluation import evaluate as evaluate_scores

    output.parent.mkdir(parents=True, exist_ok=True)
    report_path = output.with_name(f"{output.name.removesuffix('-model')}-report.html")
    check_output(output, directory=True)  # before training, not after it
    check_output(report_path)
    from aedetect.persistence.model import check_save_target

    check_save_target(output)  # saving replaces the folder: only a model or an empty folder may be there
    frame, labels = load_dataset("seed-imbalanced")
    X_train, X_test, y_train, y_test = train_test_split(frame, labels, test_size=0.2, random_state=42)
    console.print(
        f"seed-imbalanced: {len(frame)} rows x {frame.shape[1]} features, {labels.mean():.2%} anomalies; "
        f"training on the {int((y_train == 0).sum())} normal rows of the 80 % split",
        highlight=False,
    )
    detector = AutoencoderDetector(random_state=seed, verbose=sys.stderr.isatty())
    started = time.perf_counter()
    detector.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    console.print(
        f"trained in {seconds:.1f} s ({detector.history_.stopped_epoch} epochs); threshold "
        f"{detector.threshold_rule_.to_spec()} = {detector.threshold_:.4g}",
        highlight=False,
    )
    scores = detector.decision_function(X_test)
    _print_evaluation(evaluate_scores(y_test, scores, detector.threshold_), f"test split: {len(X_test)} rows")
    tutorial = np.percentile(scores, 98)
    top = evaluate_scores(y_test, scores, tutorial)
    console.print(
        f"at the tutorials' rule (98th percentile of test scores): precision {top.precision:.3f}, "
        f"recall {top.recall:.3f}, F1 {top.f1:.3f}",
        highlight=False,
    )
    detector.metadata_ = {"source": "dataset:seed-imbalanced", "label_column": None, "drop": []}
    detector.save(output)
    console.print(f"model saved to {output}", highlight=False)
    from aedetect.report.page import write_report

    write_report(detector, X_test, y_test, path=report_path, source="dataset:seed-imbalanced (20 % test split)")
    console.print(f"report written to {report_path}", highlight=False)


# -- datasets ---------------------------------------------------------------------------------------
@app.command()
@user_errors
def datasets(
    name: Annotated[str | None, typer.Argument(help="Dataset to write out (omit to list them).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write the dataset to (.csv or .parquet).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding downloadable datasets (kddcup99).")] = None,
) -> None:
    """List the built-in datasets, or write one (features plus a 'label' column, 1 = anomaly) to a file."""
    from aedetect.data.datasets import DATASETS, load_dataset
    from aedetect.data.io import WRITABLE, check_output, write_table

    if name is None:
        table = Table("name", "description", header_style="bold")
        for dataset in DATASETS.values():
            table.add_row(dataset.name, dataset.description)
        console.print(table)
        console.print("Use one as DATA with 'dataset:NAME', or write it out with 'aedetect datasets NAME -o FILE'.")
        return
    if output is None:
        raise ValueError("Give --output FILE (.csv or .parquet) to write the dataset to.")
    check_output(output, suffixes=WRITABLE)  # before the slow part (kddcup99)
    _use_data_dir(data_dir)
    frame, labels = load_dataset(name)
    write_table(frame.assign(label=labels), output)
    console.print(f"wrote {len(frame)} rows ({int(labels.sum())} anomalies) to {output}", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
