"""Small-data one-class image benchmarks: aedetect's image default against PCA, a dense network and kNN.

Data sets (one-class protocol: each class in turn is normal, every other class an anomaly)
-----------------------------------------------------------------------------------------
fashion500
    Fashion-MNIST with 500 training images per class (a seeded random draw from the class's 6,000);
    scored on the whole 10,000-image test set.
digits
    scikit-learn's bundled 8x8 digits (``load_digits``, about 180 images per class, values 0-16,
    given to every system as uint8 images scaled to 0-255): train on a seeded random half of the
    class, test on the other half plus every image of the other classes.

Systems, in the same run and on the same images
-----------------------------------------------
aedetect
    ``AutoencoderDetector(random_state=seed)`` with its defaults (``--params`` to change them).
pca
    scikit-learn ``PCA`` keeping 90 % of the variance of the class's training pixels (scaled to
    [0, 1]); score = squared reconstruction error.
tutorial-dense
    The tutorial's network in PyTorch: Flatten -> Dense(64, relu) -> Dense(pixels, sigmoid), Adam
    (lr 1e-3), MSE, 10 epochs, batch 32, pixels / 255 (for 8x8 digits the hidden layer has 32 units,
    half the pixels, so that it is not the identity); score = per-image MSE.
knn
    PyOD ``KNN()`` (defaults: distance to the 5th neighbour) on the raw pixels / 255.

Usage::

    python benchmarks/small_images.py [--sets digits,fashion500] [--seeds 3] [--params JSON] [--tag T]

Writes ``small_images.md`` and ``small_images.csv`` under ``benchmarks/results/`` (``_T`` added with
``--tag``): ROC-AUC per class and set, the means, seconds per system.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import write_atomically  # noqa: E402
from fashion_mnist import DEFAULT_DATA, load_fashion_mnist, pca_scores, tutorial_dense_scores  # noqa: E402

from aedetect import AutoencoderDetector  # noqa: E402

TRAIN_PER_CLASS = {"fashion500": 500}


def aedetect_scores(train: np.ndarray, test: np.ndarray, seed: int, params: dict) -> tuple[np.ndarray, str]:
    detector = AutoencoderDetector(random_state=seed, device="cpu", **params).fit(train)
    chose = getattr(detector.model_config_, "rotation_head", None)
    note = "" if chose is None else ("rotation head kept" if chose else "no rotation head")
    return detector.decision_function(test), note


def knn_scores(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.knn import KNN

    flat_train, flat_test = train.reshape(len(train), -1) / 255.0, test.reshape(len(test), -1) / 255.0
    return KNN().fit(flat_train).decision_function(flat_test)


SYSTEMS = ("aedetect", "pca", "tutorial-dense", "knn")


def one_class_splits(name: str, seed: int, data: Path):
    """(class, training images, test images, test labels with 1 = anomaly) for each class of a set."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.clip(np.round(digits.images * 255 / 16), 0, 255).astype(np.uint8)
        labels = digits.target
        for number in range(10):
            own = rng.permutation(np.flatnonzero(labels == number))
            train, held = own[: len(own) // 2], own[len(own) // 2 :]
            test = np.concatenate([held, np.flatnonzero(labels != number)])
            yield number, images[train], images[test], (labels[test] != number).astype(int)
        return
    arrays = load_fashion_mnist(data)
    if arrays is None:
        raise SystemExit(f"Fashion-MNIST IDX files not found in {data}; pass --data")
    train_x, train_y, test_x, test_y = arrays
    for number in range(10):
        own = rng.permutation(np.flatnonzero(train_y == number))[: TRAIN_PER_CLASS[name]]
        yield number, train_x[own], test_x, (test_y != number).astype(int)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="digits,fashion500")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--seeds", type=int, default=3, help="runs with seeds 0 .. seeds-1")
    parser.add_argument("--params", default="{}", help="JSON of aedetect parameters (default: none = defaults)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Fashion-MNIST IDX folder")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    systems = [s for s in args.systems.split(",") if s]
    command = "python benchmarks/small_images.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for name in args.sets.split(","):
        for seed in range(args.seeds):
            for number, train, test, anomaly in one_class_splits(name, seed, args.data):
                for system in systems:
                    begun = time.perf_counter()
                    note = ""
                    if system == "aedetect":
                        scores, note = aedetect_scores(train, test, seed, params)
                    else:
                        scores = {"pca": pca_scores, "tutorial-dense": tutorial_dense_scores, "knn": knn_scores}[
                            system
                        ](train, test, seed)
                    rows.append(
                        dict(
                            set=name,
                            seed=seed,
                            cls=number,
                            system=system,
                            train_images=len(train),
                            roc_auc=roc_auc_score(anomaly, scores),
                            seconds=time.perf_counter() - begun,
                            note=note,
                        )
                    )
                    print(
                        f"{name} seed {seed} class {number} {system:14s} roc {rows[-1]['roc_auc']:.4f} "
                        f"{rows[-1]['seconds']:.1f}s {note}",
                        flush=True,
                    )
    frame = pd.DataFrame(rows)
    lines = [
        "# Small-data one-class image benchmarks",
        "",
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}; aedetect parameters: {json.dumps(params) if params else 'defaults'}",
    ]
    for name, group in frame.groupby("set", sort=False):
        table = group.pivot_table(index="cls", columns="system", values="roc_auc", aggfunc="mean")[systems]
        per_seed = group.groupby(["seed", "system"])["roc_auc"].mean().unstack()[systems]
        seconds = group.groupby("system")["seconds"].sum() / group["seed"].nunique()
        lines += [
            "",
            f"## {name} ({int(group['train_images'].median())} training images per class), ROC-AUC per class, "
            f"mean over {group['seed'].nunique()} seed(s)",
            "",
            "| class | " + " | ".join(systems) + " |",
            "|---|" + "---|" * len(systems),
        ]
        for number, values in table.iterrows():
            best = values.max()
            lines.append(
                f"| {number} | " + " | ".join(f"**{v:.4f}**" if v == best else f"{v:.4f}" for v in values) + " |"
            )
        lines.append("| **mean** | " + " | ".join(f"**{table[s].mean():.4f}**" for s in systems) + " |")
        lines.append(
            "| std of the mean over seeds | "
            + " | ".join(f"{per_seed[s].std(ddof=1):.4f}" if len(per_seed) > 1 else "-" for s in systems)
            + " |"
        )
        lines.append("| seconds (all classes, one seed) | " + " | ".join(f"{seconds[s]:.0f}" for s in systems) + " |")
        notes = group[(group["system"] == "aedetect") & (group["note"] != "")]
        if len(notes):
            counts = notes.groupby("note").size()
            kept = notes[notes["note"] == "rotation head kept"].groupby("cls").size()
            lines += [
                "",
                "aedetect's choice: "
                + ", ".join(f"{n} in {c} fits" for n, c in counts.items())
                + (f" (kept for classes {', '.join(str(c) for c in kept.index)})" if len(kept) else "")
                + ".",
            ]
    text = "\n".join(lines) + "\n"
    print(text)
    suffix = f"_{args.tag}" if args.tag else ""
    write_atomically(args.output_dir / f"small_images{suffix}.md", text)
    write_atomically(args.output_dir / f"small_images{suffix}.csv", frame.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
