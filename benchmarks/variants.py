"""Autoencoder variants side by side: plain, denoising, sparse, variational, a seed ensemble and PyOD's VAE.

ADBench tabular sets, clean-training protocol (from :mod:`adbench`: train on a random half of the
normal rows, test on the other half plus every anomaly), ROC-AUC and PR-AUC per dataset and seed.
Every aedetect system uses the defaults except its variant:

plain          ``AutoencoderDetector()`` (the current default)
denoising      ``variant="denoising"`` (Gaussian noise, ``noise_level=0.1``)
denoising-mask ``variant="denoising", noise="masking", noise_level=0.1``
sparse         ``variant="sparse"`` (``sparsity_weight=1e-3``)
variational    ``variant="variational"`` (``beta=1``), default ``latent_knn`` score
variational-elbo  the same fitted model, scored by ``score="negative_elbo"``
ensemble5      ``EnsembleDetector(n_members=5)`` of plain members (seeds seed .. seed + 4)
pyod-vae       ``pyod.models.vae.VAE`` with its defaults (``capacity=0`` clamps the KL term to 0)

Fashion-MNIST, one-class protocol (from :mod:`fashion_mnist`: train on one class's training images,
score the 10,000 test images, the other classes being anomalies), for the variants on the image
default (convolutional autoencoder), seed 0, on the classes given by ``--fashion-classes``.

Usage::

    python benchmarks/variants.py [FOLDER ...] [--seeds 3] [--systems plain,denoising,...]
    python benchmarks/variants.py --fashion-classes 0,6 [--systems plain,denoising,sparse,variational]

Writes ``variants_adbench.{csv,md}`` or ``variants_fashion_mnist.{csv,md}`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adbench import (  # noqa: E402
    DEFAULT_DATA,
    RESULTS,
    clean_split,
    find_datasets,
    load_datasets,
    make_detector,
    markdown,
    run_one,
    write_atomically,
)

VARIANT_PARAMS = {
    "plain": {},
    "denoising": dict(variant="denoising"),
    "denoising-mask": dict(variant="denoising", noise="masking"),
    "sparse": dict(variant="sparse"),
    "variational": dict(variant="variational"),
    "variational-elbo": dict(variant="variational", score="negative_elbo"),
}
SYSTEMS = (*VARIANT_PARAMS, "ensemble5", "pyod-vae")


def make_system(name: str, seed: int, params: dict) -> tuple[object, bool]:
    """(detector, standardise inputs first) for a system of this benchmark."""
    from aedetect import AutoencoderDetector, EnsembleDetector

    if name in VARIANT_PARAMS:
        return AutoencoderDetector(random_state=seed, device="cpu", **VARIANT_PARAMS[name], **params), False
    if name == "ensemble5":
        return EnsembleDetector(AutoencoderDetector(device="cpu", **params), n_members=5, random_state=seed), False
    return make_detector(name, seed, params)


def fashion_mnist(classes: list[int], systems: list[str], output_dir: Path, command: str) -> int:
    from fashion_mnist import CLASSES, load_fashion_mnist
    from fashion_mnist import DEFAULT_DATA as FASHION_DATA

    from aedetect import AutoencoderDetector

    arrays = load_fashion_mnist(FASHION_DATA)
    if arrays is None:
        print(f"error: Fashion-MNIST IDX files not found in {FASHION_DATA}", file=sys.stderr)
        return 2
    train_x, train_y, test_x, test_y = arrays
    rows = []
    for number in classes:
        for system in systems:
            begun = time.perf_counter()
            detector = AutoencoderDetector(random_state=0, **VARIANT_PARAMS[system])
            scores = detector.fit(train_x[train_y == number]).decision_function(test_x)
            rows.append(
                {
                    "class": number,
                    "name": CLASSES[number],
                    "system": system,
                    "roc_auc": roc_auc_score(test_y != number, scores),
                    "seconds": time.perf_counter() - begun,
                }
            )
            print(
                f"class {number} {system:16s} roc {rows[-1]['roc_auc']:.4f} ({rows[-1]['seconds']:.0f} s)", flush=True
            )
    frame = pd.DataFrame(rows)
    table = frame.pivot(index=["class", "name"], columns="system", values="roc_auc")[systems]
    seconds = frame.groupby("system")["seconds"].sum()
    subset = "" if len(classes) == 10 else f" (SUBSET: classes {', '.join(map(str, classes))} of 10)"
    lines = [
        f"# Autoencoder variants on Fashion-MNIST, one-class protocol{subset}",
        "",
        f"Command: `{command}`  ",
        "Image default (convolutional autoencoder), seed 0; ROC-AUC.",
        "",
        "| class | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for (number, name), values in table.iterrows():
        lines.append(
            f"| {number} {name} | "
            + " | ".join(f"**{v:.4f}**" if v == values.max() else f"{v:.4f}" for v in values)
            + " |"
        )
    lines.append("| mean | " + " | ".join(f"{table[s].mean():.4f}" for s in systems) + " |")
    lines.append("| fit + score seconds | " + " | ".join(f"{seconds[s]:.0f}" for s in systems) + " |")
    text = "\n".join(lines) + "\n"
    write_atomically(output_dir / "variants_fashion_mnist.md", text)
    write_atomically(output_dir / "variants_fashion_mnist.csv", frame.to_csv(index=False))
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_DATA])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--fashion-classes", default=None, help="run Fashion-MNIST on these classes instead")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    command = "python benchmarks/variants.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.fashion_classes is not None:
        classes = [int(c) for c in args.fashion_classes.split(",")]
        return fashion_mnist(classes, systems, args.output_dir, command)
    data = load_datasets(find_datasets(args.folders))
    rows, started = [], time.perf_counter()
    for name, (X, y) in data.items():
        for seed in range(args.seeds):
            X_train, X_test, y_test = clean_split(X, y, seed)
            for system in systems:  # interleaved, so machine noise hits every system alike
                try:
                    scores, fit_s, score_s = run_one(system, seed, {}, X_train, X_test, make=make_system)
                    roc, pr, error = roc_auc_score(y_test, scores), average_precision_score(y_test, scores), ""
                except (ValueError, FloatingPointError, np.linalg.LinAlgError) as failure:
                    roc = pr = fit_s = score_s = float("nan")
                    error = f"{type(failure).__name__}: {str(failure).splitlines()[0][:80]}"
                rows.append(
                    dict(
                        dataset=name,
                        detector=system,
                        seed=seed,
                        roc_auc=roc,
                        pr_auc=pr,
                        fit_seconds=fit_s,
                        score_seconds=score_s,
                        error=error,
                    )
                )
                print(
                    f"[{len(rows)} {time.perf_counter() - started:5.0f}s] {name:12s} {system:16s} seed {seed} "
                    f"roc {roc:.4f} pr {pr:.4f} fit {fit_s:.2f}s",
                    flush=True,
                )
    frame = pd.DataFrame(rows)
    write_atomically(args.output_dir / "variants_adbench.csv", frame.to_csv(index=False))
    text = markdown("clean", frame, command, {}).replace(
        "# ADBench, clean protocol", "# Autoencoder variants on ADBench, clean protocol", 1
    )
    text = text.replace("aedetect parameters: defaults", "systems: see benchmarks/variants.py (defaults + variant)")
    write_atomically(args.output_dir / "variants_adbench.md", text)
    print(text.split("## ROC")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
