"""The network's score beside a nearest neighbour in the input space, and the two added, in one run.

The default score's network parts (reconstruction error, latent kNN distance, rotation) measure
what the network shows; this benchmark asks what a nearest-neighbour distance in the input space
itself adds, computed outside the detector, and compares it with the default score, which since
then holds such a part itself:

network
    ``AutoencoderDetector(random_state=seed)``'s score without its input part (the network's
    parts only: the default score before the input part went in).
default
    The detector's score.
input-nn
    Distance to the nearest of the reference rows in the input space: tables standardised on their
    training rows, 1,024 reference rows drawn at random (the count of the default's latent reference
    codes for tables); images as pixels / 255, every training image a reference (up to the 4,096
    latent codes images keep).
sum
    ``network / mean(network on held-out normal rows) + input-nn / mean(input-nn of the training
    rows, each to its nearest other reference)``: both parts divided by their normal level, as the
    default's own parts are.
knn
    The 5th nearest of every training row (PyOD ``KNN()``'s default, computed with scikit-learn),
    inputs standardised (tables) or pixels / 255 (images).
input xM (``--multiples``)
    The default's score with its input part weighted M times the network's parts together instead
    of :data:`~aedetect.scoring.statistics.INPUT_WEIGHT_MULTIPLE` times: ``network + M /
    INPUT_WEIGHT_MULTIPLE * (default - network)``, the same fitted detector (a multiple equal to
    ``INPUT_WEIGHT_MULTIPLE`` is the ``default`` column and is left out).
rank K, network xW (``--ranks``, ``--network-weights``)
    The default's score with its input part measured to the K-th nearest of the detector's own
    reference rows (model space) instead of the rank the detector uses (the nearest for tables;
    ``input_neighbour_rank``), and its network parts weighted W times: ``W * network +
    input_weight * d_K / level_K``. ``level_K`` is the detector's input level (the mean distance of
    held-out normal rows to their reference row of the detector's rank) times the ratio of the
    reference rows' mean distance to their K-th and to their other reference row of that rank,
    since the held-out rows stay inside the detector. Rank 1 with weight 1 is left out (for tables,
    it is the ``default`` column); a detector without reference rows (no input part) scores as the
    default; a rank beyond the reference rows is refused.

Data: the 25 ADBench sets under the clean protocol (``adbench.py``), and the small image sets of
``small_images.py`` (one-class protocol).

Usage::

    python benchmarks/input_neighbour.py [--tables] [--images digits,fashion500] [--seeds 5] [--image-seeds 3]
        [--datasets SETS] [--multiples 1,2,3,6,8] [--ranks 2,3,5] [--network-weights 0.5] [--tag T]

Writes ``input_neighbour.md`` and ``input_neighbour.csv`` under ``benchmarks/results/`` (``_T`` added
with ``--tag``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import DEFAULT_DATA, clean_split, dataset_name, find_datasets, load_datasets, write_atomically  # noqa: E402
from fashion_mnist import DEFAULT_DATA as FASHION_DATA  # noqa: E402
from small_images import one_class_splits  # noqa: E402

from aedetect import AutoencoderDetector  # noqa: E402
from aedetect.scoring.scorer import score_matrix  # noqa: E402
from aedetect.scoring.statistics import (  # noqa: E402
    INPUT_WEIGHT_MULTIPLE,
    ScoreStatistics,
    input_neighbour_rank,
    input_weight,
    row_scorer,
)

SYSTEMS = ("network", "default", "input-nn", "sum", "knn")
#: The input part's weights (as multiples of the network's parts together) scored beside the default.
MULTIPLES: list[float] = []
#: The input part's neighbour ranks and the network parts' weights scored beside the default.
RANKS: list[int] = [1]
NETWORK_WEIGHTS: list[float] = [1.0]
REFERENCE_ROWS = {"table": 1024, "image": 4096}
SMALL_TABLES = ("hepatitis", "vertebral", "wpbc", "wdbc")


def system_scores(train: np.ndarray, test: np.ndarray, train_inputs, test_inputs, kind: str, seed: int):
    """Test scores of each system, and the seconds of the default's fit and score."""
    begun = time.perf_counter()
    detector = AutoencoderDetector(random_state=seed, device="cpu").fit(train)
    default = detector.decision_function(test)
    seconds = time.perf_counter() - begun
    statistics = ScoreStatistics.of(detector)
    statistics.input_reference = statistics.input_reference[:0]
    network_only = row_scorer(detector.model_, statistics, detector.score, detector.loss, detector.trim_fraction)
    network = score_matrix(network_only, detector._matrix(test))
    # Each network part averages 1 on held-out normal rows, so the weighted sum averages the weights'
    # sum (aedetect.scoring.statistics.input_weight with multiple 1).
    network_level = input_weight(detector._scorer().rotation, multiple=1.0)
    rng = np.random.default_rng(seed)
    reference = train_inputs[rng.choice(len(train_inputs), min(REFERENCE_ROWS[kind], len(train_inputs)), replace=False)]
    search = NearestNeighbors(n_neighbors=2).fit(reference)
    input_nn = search.kneighbors(test_inputs, 1)[0][:, 0]
    # A reference row's own distance is 0: its level is the distance to its nearest other reference.
    own = search.kneighbors(train_inputs, 2)[0]
    level = np.where(own[:, 0] < 1e-12, own[:, 1], own[:, 0]).mean()
    added = network / network_level + input_nn / max(level, 1e-12)
    knn = NearestNeighbors(n_neighbors=5).fit(train_inputs).kneighbors(test_inputs, 5)[0][:, 4]
    scores = {"network": network, "default": default, "input-nn": input_nn, "sum": added, "knn": knn}
    for multiple in MULTIPLES:
        scores[f"input x{multiple:g}"] = network + multiple / INPUT_WEIGHT_MULTIPLE * (default - network)
    scores.update(rank_scores(detector, test, network, default))
    return scores, seconds


def rank_name(rank: int, weight: float) -> str:
    return f"rank {rank}, network x{weight:g}"


def rank_scores(detector, test: np.ndarray, network: np.ndarray, default: np.ndarray) -> dict[str, np.ndarray]:
    """The ``rank K, network xW`` systems (see the docstring) of one fitted detector."""
    pairs = [(rank, weight) for rank in RANKS for weight in NETWORK_WEIGHTS if (rank, weight) != (1, 1.0)]
    reference = detector.input_reference_
    if not pairs:
        return {}
    if len(reference) == 0:  # no input part: the default's score whatever the rank
        return {rank_name(rank, weight): weight * network for rank, weight in pairs}
    # The rank the detector itself measures to: the nearest for tables, farther for images with
    # many latent codes or with trim_fraction.
    own_rank = input_neighbour_rank(len(reference), len(detector.latent_reference_), detector.trim_fraction)
    part = (default - network) / float(detector.input_weight_[0])  # d_own_rank / the detector's input level
    deepest = min(max(*RANKS, own_rank), len(reference) - 1)
    if deepest >= 1 and any(rank != own_rank for rank, _ in pairs):  # other ranks than the detector's
        search = NearestNeighbors(n_neighbors=deepest + 1).fit(reference)
        near = search.kneighbors(detector._matrix(test).reshape(len(test), -1), deepest)[0]
        own = search.kneighbors(reference, deepest + 1)[0][:, 1:]  # each reference row's own (0) skipped
    scores = {}
    for rank, weight in pairs:
        if rank == own_rank:
            distance = part
        elif max(rank, own_rank) > deepest:
            raise SystemExit(f"rank {rank}: this detector keeps {len(reference)} reference rows, too few to compare")
        else:
            level = float(detector.input_scale_[0]) * own[:, rank - 1].mean() / max(own[:, own_rank - 1].mean(), 1e-12)
            distance = near[:, rank - 1] / max(level, 1e-12)
        scores[rank_name(rank, weight)] = weight * network + float(detector.input_weight_[0]) * distance
    return scores


def result_rows(group: str, name: str, seed: int, labels, scores: dict, seconds: float) -> list[dict]:
    """One row per system: its ROC-AUC and PR-AUC on ``labels`` (1 = anomaly)."""
    return [
        dict(
            group=group,
            set=name,
            seed=seed,
            system=system,
            roc_auc=roc_auc_score(labels, values),
            pr_auc=average_precision_score(labels, values),
            default_seconds=seconds,
        )
        for system, values in scores.items()
    ]


def table_rows(seeds: int, keep: set[str]) -> list[dict]:
    """Result rows of the ADBench sets named in ``keep`` (all of them when it is empty)."""
    files = [path for path in find_datasets([DEFAULT_DATA]) if not keep or dataset_name(path) in keep]
    rows = []
    for name, (X, y) in sorted(load_datasets(files).items()):
        for seed in range(seeds):
            X_train, X_test, y_test = clean_split(X, y, seed)
            scaler = StandardScaler().fit(X_train)
            inputs = [np.nan_to_num(scaler.transform(part)) for part in (X_train, X_test)]
            rows += result_rows("tables", name, seed, y_test, *system_scores(X_train, X_test, *inputs, "table", seed))
        print(f"{name}: {seeds} seeds", flush=True)
    return rows


def image_rows(sets: list[str], seeds: int) -> list[dict]:
    rows = []
    for name in sets:
        for seed in range(seeds):
            for number, train, test, anomaly in one_class_splits(name, seed, FASHION_DATA):
                flat = [part.reshape(len(part), -1) / 255.0 for part in (train, test)]
                scored = system_scores(train, test, *flat, "image", seed)
                rows += result_rows(name, f"{name} class {number}", seed, anomaly, *scored)
            print(f"{name}: seed {seed}", flush=True)
    return rows


def systems() -> list[str]:
    ranked = [rank_name(r, w) for r in RANKS for w in NETWORK_WEIGHTS if (r, w) != (1, 1.0)]
    return [*SYSTEMS, *(f"input x{multiple:g}" for multiple in MULTIPLES), *ranked]


def summary_lines(frame: pd.DataFrame) -> list[str]:
    lines = []
    for group, part in frame.groupby("group", sort=False):
        per_set = part.groupby(["set", "system"])
        roc, pr = per_set["roc_auc"].mean().unstack(), per_set["pr_auc"].mean().unstack()
        spread = per_set["roc_auc"].std(ddof=0).unstack()
        lines += [
            "",
            f"## {group}: means over {roc.shape[0]} sets or classes, {part['seed'].nunique()} seed(s)",
            "",
            "| system | ROC-AUC | PR-AUC | mean seed std of ROC-AUC (population std) | sets where ROC-AUC beats the network's (ties within 0.001) |",
            "|---|---|---|---|---|",
        ]
        for system in systems():
            wins = int((roc[system] > roc["network"] + 0.001).sum())
            losses = int((roc[system] < roc["network"] - 0.001).sum())
            lines.append(
                f"| {system} | {roc[system].mean():.4f} | {pr[system].mean():.4f} | {spread[system].mean():.4f} | "
                + ("-" if system == "network" else f"{wins} up, {losses} down")
                + " |"
            )
        small = [s for s in SMALL_TABLES if s in spread.index]
        if small:
            lines += ["", "Seed std of ROC-AUC on the small tables:", "", "| set | " + " | ".join(systems()) + " |"]
            lines.append("|---|" + "---|" * len(systems()))
            lines += [f"| {s} | " + " | ".join(f"{spread.loc[s, x]:.3f}" for x in systems()) + " |" for s in small]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", action="store_true", help="the 25 ADBench sets, clean protocol")
    parser.add_argument("--images", default="", help="small image sets, e.g. digits,fashion500")
    parser.add_argument("--seeds", type=int, default=5, help="table seeds 0 .. seeds-1")
    parser.add_argument("--datasets", default="", help="with --tables: comma-separated set names (default: all 25)")
    parser.add_argument("--image-seeds", type=int, default=3, help="image seeds 0 .. image-seeds-1")
    parser.add_argument(
        "--multiples", default="", help="input part weights to score beside the default, e.g. 1,2,3,6,8"
    )
    parser.add_argument(
        "--ranks", default="", help="input part neighbour ranks to score beside the nearest, e.g. 2,3,5"
    )
    parser.add_argument("--network-weights", default="", help="network part weights to score beside 1, e.g. 0.5")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    # The default's own weight is the ``default`` column already.
    MULTIPLES[:] = [float(m) for m in args.multiples.split(",") if m and float(m) != INPUT_WEIGHT_MULTIPLE]
    RANKS[:] = sorted({1, *(int(r) for r in args.ranks.split(",") if r)})
    if RANKS[0] < 1:
        parser.error("--ranks: each rank is 1 or more (1: the nearest reference row)")
    NETWORK_WEIGHTS[:] = sorted({1.0, *(float(w) for w in args.network_weights.split(",") if w)})
    if not args.tables and not args.images:
        parser.error("choose --tables, --images SETS or both")
    keep = {name.strip().lower() for name in args.datasets.split(",") if name.strip()}
    if keep and not args.tables:
        parser.error("--datasets selects tables: add --tables")
    unknown = keep - {dataset_name(path) for path in find_datasets([DEFAULT_DATA])}
    if unknown:
        parser.error(f"--datasets: no such set {', '.join(sorted(unknown))} in {DEFAULT_DATA}")
    rows = table_rows(args.seeds, keep) if args.tables else []
    rows += image_rows([s for s in args.images.split(",") if s], args.image_seeds)
    frame = pd.DataFrame(rows)
    command = "python benchmarks/input_neighbour.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# The network's score, a nearest neighbour in the input space, and the two added",
        "",
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}. Systems: see the script's docstring.",
        *summary_lines(frame),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    stem = "input_neighbour" + (f"_{args.tag}" if args.tag else "")
    write_atomically(args.output_dir / f"{stem}.md", text)
    write_atomically(args.output_dir / f"{stem}.csv", frame.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
