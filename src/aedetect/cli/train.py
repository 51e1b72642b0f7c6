"""``aedetect train``: fit a detector (or an ensemble) on the normal rows of some data and save it."""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from aedetect.cli.common import (
    console,
    label_value,
    print_evaluation,
    split_list,
    use_data_dir,
    user_errors,
    uses_idle_cpus,
)
from aedetect.cli.inputs import DATASET_PREFIX
from aedetect.cli.training_data import TrainingData


def _load_config(path: Path | None) -> dict:
    """The ``[train]`` table of a TOML file (or the whole file), empty without one."""
    if path is None:
        return {}
    if not path.is_file():
        raise FileNotFoundError(f"Config file {str(path)!r} does not exist; check the path.")
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    return config.get("train", config)


def _detector_kwargs(config: dict, overrides: dict) -> dict:
    """The config file's detector parameters, overridden by the options given on the command line."""
    from aedetect.parameters import DEFAULTS

    known = set(DEFAULTS)
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


DATA_PANEL = "Data"


def _option(help: str, *declarations: str, default: str | None = None) -> Any:
    """A data option; ``default`` says in the help what an option left out means."""
    text = help if default is None else f"{help} [default: {default}]"
    return typer.Option(*declarations, help=text, rich_help_panel=DATA_PANEL)


@user_errors
@uses_idle_cpus
def train(
    data: Annotated[
        str,
        typer.Argument(metavar="DATA", help="CSV, Parquet, .npy/.npz file, or dataset:NAME (see 'aedetect datasets')."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    config: Annotated[Path | None, typer.Option(help="TOML file with training options; flags override it.")] = None,
    label_column: Annotated[str | None, _option("Label column: only its normal rows train the network.")] = None,
    no_label_column: Annotated[
        bool,
        _option(
            "The data has no label column: train on every column, even one named like a label.", "--no-label-column"
        ),
    ] = False,
    normal_label: Annotated[str | None, _option("Value of the label column that means normal.", default="0")] = None,
    anomaly_label: Annotated[
        str | None, _option("Value that means anomaly; '*' = every other value.", default="1")
    ] = None,
    features: Annotated[str | None, _option("Comma-separated feature columns (default: all others).")] = None,
    drop: Annotated[str | None, _option("Comma-separated columns to leave out (ids, timestamps).")] = None,
    labels_file: Annotated[
        str | None,
        _option("Labels for an IDX images file (an IDX labels file), mapped like --normal-label.", "--labels"),
    ] = None,
    window: Annotated[
        int | None, _option("Series: cut DATA into windows of this many points (then --architecture conv1d or lstm).")
    ] = None,
    stride: Annotated[int | None, _option("Series: points between window starts.", default="1")] = None,
    timestamp_column: Annotated[str | None, _option("Series: the timestamp column (not a feature).")] = None,
    values: Annotated[
        str | None, _option("Series: comma-separated value columns (default: every numeric one).")
    ] = None,
    data_dir: Annotated[Path | None, _option("Folder holding downloadable datasets (kddcup99).")] = None,
    ensemble: Annotated[
        int | None,
        typer.Option(
            help="Train N members (seeds seed, seed+1, ...) and average their standardised scores: steadier scores, N times the time and size."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    max_memory: Annotated[
        str | None,
        _option(
            "Parquet DATA: train streaming from the files when the table would take more memory than this (300MB, 2GB)."
        ),
    ] = None,
    **parameter_values: Any,
) -> None:
    """Train a detector on the normal rows of DATA and save it.

    DATA is a table (CSV, Parquet, .npy/.npz, dataset:NAME), images (a folder of PNG/JPEG with optional
    normal/ and anomaly/ sub-folders, an IDX file or a .npy array) or a series (a table with --window and
    --timestamp-column). Every detector parameter has an option; a --config file sets the same names,
    and options given here override it.
    """
    from aedetect.cli.parameter_options import detector_values
    from aedetect.data.io import check_output
    from aedetect.detector import AutoencoderDetector

    file_config = _load_config(config)
    if label_column is not None and no_label_column:
        raise ValueError("Give either --label-column or --no-label-column, not both.")
    label_column = None if no_label_column else label_column or file_config.get("label_column")
    normal = normal_label if normal_label is not None else file_config.get("normal_label", 0)
    anomaly = (
        label_value(anomaly_label) if anomaly_label is not None else label_value(file_config.get("anomaly_label", 1))
    )
    kwargs = _detector_kwargs(file_config, detector_values(parameter_values))
    kwargs["verbose"] = not quiet and sys.stderr.isatty()
    detector = AutoencoderDetector(**kwargs)
    detector._validate_params()  # fail on a bad option before reading a large file
    model = detector if ensemble is None else _ensemble(detector, ensemble)  # clones detector as set up below
    check_output(output, inputs=[data, config, labels_file], directory=True)
    use_data_dir(data_dir)
    source = TrainingData(
        data,
        label_column,
        normal,
        anomaly,
        split_list(features) or file_config.get("features"),
        split_list(drop) or file_config.get("drop") or [],
        labels_file,
        window if window is not None else file_config.get("window"),
        stride if stride is not None else file_config.get("stride", 1),
        timestamp_column or file_config.get("timestamp_column"),
        split_list(values) or file_config.get("values"),
        check_label_like=not no_label_column,
    )
    from aedetect.training.distributed import end_process, launched

    if launched():  # one of several processes (torchrun): it ends with its exit code, see end_process
        try:
            user_errors(_train_job)(model, source, output, ensemble, max_memory)
        except typer.Exit as done:  # a user error, said in one line
            end_process(done.exit_code)
        end_process(0)
    if max_memory is not None:  # one process within a memory budget
        _train_job(model, source, output, ensemble, max_memory)
        return
    frame, labels, meta = source.read(detector)
    from aedetect.persistence.storage import check_save_target

    check_save_target(output)  # refuse a folder that is not a model before training, not after
    started = time.perf_counter()
    model.fit(frame, labels)
    seconds = time.perf_counter() - started
    metadata = {
        "source": data,
        "label_column": label_column,
        "drop": source.drop,
        "normal_label": str(normal),
        "anomaly_label": None if anomaly is None else str(anomaly),
        **meta,
    }
    model.save(output, metadata=metadata)
    _print_summary(model, frame, labels, seconds, output, source)


def _print_summary(model, frame, labels, seconds: float, output: Path, source: TrainingData) -> None:
    """What was trained, and on labelled data the scores the fit already holds (no second scoring pass)."""
    n_normal = len(frame) if labels is None else int((labels == 0).sum())
    unit, width = {"table": ("rows", "columns"), "image": ("images", "pixel values"), "series": ("windows", "values")}[
        model.data_kind_
    ]
    console.print(
        f"trained on {n_normal} normal {unit} x {model.n_features_in_} {width} in {seconds:.1f} s "
        f"({_epochs(model)}); saved to {output}",
        highlight=False,
    )
    scores, labels, unit = source.scored(model, labels)
    if labels is not None and 0 < labels.sum() < len(labels):
        from aedetect.evaluation import evaluate as evaluate_scores

        print_evaluation(
            evaluate_scores(labels, scores, model.threshold_),
            f"on the training data, {len(scores)} {unit} (optimistic: normal {unit} were trained on)",
        )
    from aedetect.diagnostics import summary_lines

    # What the threshold means in rows, then any warning (training cut short, a misfiring threshold).
    for line in summary_lines(model, scores, labels):
        console.print(line, highlight=False, markup=False)


def _train_job(model, source: TrainingData, output: Path, ensemble: int | None, max_memory: str | None = None) -> None:
    """One process of a job: read this process's share of the table, train with the others (see
    :func:`aedetect.distributed.fit_distributed`); the first process saves the model and prints.
    ``--max-memory`` (on one process or several) takes this path too."""
    from aedetect.cli.training_data import refuse_label_like_column
    from aedetect.data.io import select_features
    from aedetect.data.shards import empty_frame, iter_shard
    from aedetect.distributed import fit_distributed, is_parquet_source, parquet_paths, read_share
    from aedetect.partitions import Group
    from aedetect.persistence.storage import check_save_target
    from aedetect.training.distributed import init_from_environment

    if (
        ensemble is not None
        or source.window is not None
        or source.labels_file
        or source.data.startswith(DATASET_PREFIX)
    ):
        how = "--max-memory" if max_memory is not None else "Training on several processes (torchrun)"
        raise ValueError(
            f"{how} takes a table (CSV or Parquet) and one detector; "
            "leave out --ensemble, --window, --labels and dataset: sources."
        )
    check_label_like = source.label_column is None and source.check_label_like
    group = init_from_environment(model.device)  # before reading: each process reads its share, not the whole
    if max_memory is not None:  # the Parquet files, streamed from if they take more than max_memory
        if not is_parquet_source(source.data):
            raise ValueError("--max-memory streams from Parquet files; convert the table to Parquet or leave it out.")
        data = parquet_paths(source.data)
        if check_label_like:  # on the first chunk: the files are not read whole
            refuse_label_like_column(next(iter_shard(data, Group()))[0])
        check_save_target(output)
        started = time.perf_counter()
        shown = [c for c in empty_frame(data).columns if c != source.label_column]
        fit_distributed(
            model,
            data,
            label_column=source.label_column,
            normal_label=source.normal,
            anomaly_label=source.anomaly,
            columns=source.features or [c for c in shown if c not in source.drop],
            max_memory=max_memory,
        )
        frame, labels = None, None
    else:
        frame, labels, keys = read_share(
            source.data, source.label_column, source.normal, source.anomaly, source.drop, group=group
        )
        if check_label_like:
            refuse_label_like_column(frame)
        if source.features:
            frame = select_features(frame, source.features)
        check_save_target(output)
        started = time.perf_counter()
        fit_distributed(model, frame, labels, row_keys=keys)
    seconds = time.perf_counter() - started
    n_normal = None  # streamed: counted nowhere whole
    if frame is not None:
        n_normal = int(group.sum([len(frame) if labels is None else int((labels == 0).sum())])[0])
    if group.rank != 0:
        return
    metadata = {
        "source": source.data,
        "label_column": source.label_column,
        "drop": source.drop,
        "normal_label": str(source.normal),
        "anomaly_label": None if source.anomaly is None else str(source.anomaly),
    }
    model.save(output, metadata=metadata)
    rows = "the normal rows" if n_normal is None else f"{n_normal} normal rows"
    processes = f" on {group.size} processes" if group.distributed else ""
    console.print(
        f"trained on {rows} x {model.n_features_in_} columns in {seconds:.1f} s{processes} ({_epochs(model)}); "
        f"saved to {output}",
        highlight=False,
    )
    from aedetect.diagnostics import summary_lines

    # What the threshold means in held-out rows (gathered from every process), then any warning.
    for line in summary_lines(model):
        console.print(line, highlight=False, markup=False)


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
