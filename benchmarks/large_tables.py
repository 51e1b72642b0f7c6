"""Large tables: aedetect's default against PyOD's kNN, PR-AUC and fit + score time, in the same run.

Data (clean protocol of ``adbench.py``: train on a seeded random half of the normal rows, test on the
other normal rows plus every anomaly; one seed unless ``--seeds``):

shuttle, smtp
    From the shared ADBench folder (49,097 x 9 and 95,156 x 3).
kddcup99
    The KDD Cup 1999 10 % file from the shared folder (494,021 x 41; ``kddcup99/README.md``), under
    the protocol of the autoencoder literature (DAGMM): the attack records (80 %) are the normal
    class and the ``normal.`` connections the anomalies. The three symbolic columns are one-hot
    encoded (118 columns in all) for every detector.
generated
    ``make_classification(n_samples=--rows, n_features=10, n_informative=10, n_redundant=0,
    n_clusters_per_class=4, weights=[0.99, 0.01], class_sep=1.0, flip_y=0, random_state=seed)``:
    the minority class is the anomaly.

kNN is PyOD's ``KNN()`` on standardised inputs, as in ``adbench.py`` (``knn-subN``: fitted on N
training rows drawn at random). The default keeps up to 32,768 distinct training rows for its input
part (``input_rows``; :mod:`aedetect.scoring.statistics`); ``aedetect-rows0`` is the default with
``input_rows=0``, the network's parts alone. ``aedetect-ivf`` is a probe from before the default
kept rows of large tables: the network's parts (``input_rows=0``) plus an input part over *every*
training row, the distance to the 5th nearest training row in model space (standardised columns; a row that occurs several times counts
as often, but is indexed once), found by a FAISS ``IndexIVFFlat`` over the distinct rows (``nlist`` =
the square root of their count, ``nprobe`` = 4; FAISS comes with the package on Linux x86-64),
divided by its mean on the held-out normal rows and weighted as the default weights its input part;
index building counts as fit time, the search as score time. ``aedetect-flat`` is the same with an
exact search (FAISS ``IndexFlatL2``), ``aedetect-hnsw`` with an HNSW graph (``IndexHNSWFlat``, M 32,
efSearch 64), the usual index whose search should not grow with the rows (measured, it grew as
fast as the IVF's: ``benchmarks/results/quality.md``). The IVF search is approximate: on the generated table it
separated better than the exact 5th nearest does (see ``benchmarks/results/quality.md``), so its
PR-AUC is not the exact method's. The table gives ROC-AUC, PR-AUC, fit and score seconds per system
and the ratio of kNN's fit + score time to aedetect's.

Usage::

    python benchmarks/large_tables.py [--sets shuttle,smtp,generated] [--rows 300000] [--seeds 1]
        [--detectors aedetect,aedetect-rows0,knn,knn-sub4096,aedetect-ivf,aedetect-flat,aedetect-hnsw]
        [--reference-codes 4096]

``--sets`` takes any of shuttle, smtp, kddcup99 and generated.

Writes ``large_tables.md`` and ``large_tables.csv`` under ``benchmarks/results/`` (``large_tables_T``
with ``--tag T``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import (  # noqa: E402
    DEFAULT_DATA,
    RESULTS,
    clean_split,
    load_datasets,
    make_detector,
    run_one,
    write_atomically,
)

FILES = {"shuttle": "32_shuttle.npz", "smtp": "34_smtp.npz"}
KDDCUP_FOLDER = DEFAULT_DATA.parent / "kddcup99"


def load(name: str, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name in FILES:
        return next(iter(load_datasets([DEFAULT_DATA / FILES[name]]).values()))
    if name == "kddcup99":
        # The package's loader (dataset:kddcup99) labels the attacks 1; here the normal connections
        # are the anomalies, as in the autoencoder literature.
        from aedetect.data.datasets import DATASETS, load_kddcup99

        frame, attacks = load_kddcup99(KDDCUP_FOLDER)
        encoded = pd.get_dummies(frame, columns=list(DATASETS["kddcup99"].categorical), dtype=np.float64)
        return encoded.to_numpy(dtype=np.float64), 1 - attacks
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows,
        n_features=10,
        n_informative=10,
        n_redundant=0,
        n_clusters_per_class=4,
        weights=[0.99, 0.01],
        class_sep=1.0,
        flip_y=0,
        random_state=seed,
    )
    return X, y


class InputPartProbe:
    """``aedetect-ivf`` (see the module's docstring): the default detector, and the distance of a row to
    the 5th nearest of every row it trained on (repeated rows counted once each time they occur, but
    indexed once), found by a FAISS index: ``search="ivf"`` an IVF index, ``"flat"``
    (``aedetect-flat``) an exact search, ``"hnsw"`` (``aedetect-hnsw``) an HNSW graph (M 32,
    efSearch 64; built on several threads, so not bit-reproducible)."""

    NEIGHBOURS, PROBES = 5, 4
    HNSW_LINKS, HNSW_SEARCH = 32, 64

    def __init__(self, seed: int, params: dict, search: str = "ivf") -> None:
        from aedetect import AutoencoderDetector

        self.detector = AutoencoderDetector(random_state=seed, device="cpu", **{**params, "input_rows": 0})
        self.search = search

    def fit(self, X):
        import faiss

        from aedetect.training.split import held_out_split

        detector = self.detector.fit(X)
        if len(detector.input_reference_):
            raise ValueError("the probes are for tables that keep no input rows (the default adds its own part)")
        held, train = held_out_split(len(X), detector.validation_fraction, detector.random_state_)
        matrix = detector._matrix(X)
        # Each distinct row once, with its count: a table that repeats rows (the KDD Cup file holds
        # each of some attack records thousands of times) would otherwise crowd a few IVF lists.
        rows, self.counts = np.unique(np.asarray(matrix[train], dtype=np.float32), axis=0, return_counts=True)
        rows = np.ascontiguousarray(rows)
        if self.search == "flat":
            self.index = faiss.IndexFlatL2(rows.shape[1])
        elif self.search == "hnsw":
            self.index = faiss.IndexHNSWFlat(rows.shape[1], self.HNSW_LINKS)
            self.index.hnsw.efSearch = self.HNSW_SEARCH
        else:
            lists = max(1, int(len(rows) ** 0.5))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(rows.shape[1]), rows.shape[1], lists)
            self.index.train(rows)
            self.index.nprobe = self.PROBES
        self.index.add(rows)
        self.exact = self.index  # searches again the rows an approximate search leaves short
        if self.search != "flat":
            self.exact = faiss.IndexFlatL2(rows.shape[1])
            self.exact.add(rows)
        # The level on held-out normal rows; without them, on the training rows, each skipping itself.
        level = (
            self._distance(matrix[held]).mean()
            if len(held)
            else np.average(self._distance(rows, skip_own=True), weights=self.counts)  # each row as often as it occurs
        )
        self.level = max(float(level), 1e-12)
        self.weight = float(detector.input_weight_[0])
        return self

    def _distance(self, matrix: np.ndarray, skip_own: bool = False) -> np.ndarray:
        query = np.ascontiguousarray(matrix, dtype=np.float32)
        k = self.NEIGHBOURS + int(skip_own)
        squared, labels = self.index.search(query, k)
        # FAISS answers -1 (and the largest float) where an approximate search found fewer than k
        # rows (an IVF's probed lists hold fewer, an HNSW walk reached fewer): those rows are searched
        # again exactly.
        short = np.flatnonzero(labels[:, -1] < 0)
        if len(short):
            squared[short], labels[short] = self.exact.search(query[short], k)
        # The k-th nearest training row, repeats counted: among the k nearest distinct rows, the first
        # at which the running count of rows reaches k.
        counts = np.where(labels >= 0, self.counts[np.maximum(labels, 0)], 0)
        kth = (np.cumsum(counts, axis=1) >= k).argmax(axis=1)
        return np.sqrt(np.maximum(squared[np.arange(len(squared)), kth], 0.0))

    def decision_function(self, X):
        return self.detector.decision_function(X) + self.weight * self._distance(self.detector._matrix(X)) / self.level


def make(name: str, seed: int, params: dict):
    """``adbench.make_detector``, plus ``aedetect-rows0``, ``aedetect-ivf``, ``aedetect-flat`` and ``aedetect-hnsw``."""
    if name == "aedetect-rows0":
        return make_detector("aedetect", seed, {**params, "input_rows": 0})
    if name in ("aedetect-ivf", "aedetect-flat", "aedetect-hnsw"):
        return InputPartProbe(seed, params, search=name.removeprefix("aedetect-")), False
    return make_detector(name, seed, params)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="shuttle,smtp,generated")
    parser.add_argument("--rows", type=int, default=300_000, help="rows of the generated table")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--detectors", default="aedetect,knn")
    parser.add_argument("--params", default="{}", help="JSON of aedetect parameters (default: none = defaults)")
    parser.add_argument(
        "--reference-codes",
        type=int,
        help="latent reference codes a table keeps (aedetect.scoring.statistics.KNN_REFERENCE_ROWS; default: as set)",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    params = json.loads(args.params)
    if args.reference_codes is not None:
        from aedetect.kinds import TABLE
        from aedetect.scoring.statistics import KNN_REFERENCE_ROWS

        KNN_REFERENCE_ROWS[TABLE] = args.reference_codes
    command = "python benchmarks/large_tables.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for name in args.sets.split(","):
        for seed in range(args.seeds):
            X, y = load(name, args.rows, seed)
            X_train, X_test, y_test = clean_split(X, y, seed)
            for detector in args.detectors.split(","):
                scores, fit_s, score_s = run_one(detector, seed, params, X_train, X_test, make=make)
                rows.append(
                    dict(
                        set=name,
                        rows=len(X),
                        features=X.shape[1],
                        seed=seed,
                        detector=detector,
                        roc_auc=roc_auc_score(y_test, scores),
                        pr_auc=average_precision_score(y_test, scores),
                        fit_seconds=fit_s,
                        score_seconds=score_s,
                    )
                )
                print(
                    f"{name} seed {seed} {detector:9s} roc {rows[-1]['roc_auc']:.4f} pr {rows[-1]['pr_auc']:.4f} "
                    f"fit {fit_s:.1f}s score {score_s:.1f}s",
                    flush=True,
                )
    frame = pd.DataFrame(rows)
    per = frame.groupby(["set", "detector"], sort=False).agg(
        rows=("rows", "first"),
        features=("features", "first"),
        roc_auc=("roc_auc", "mean"),
        pr_auc=("pr_auc", "mean"),
        fit_s=("fit_seconds", "median"),
        score_s=("score_seconds", "median"),
    )
    lines = [
        "# Large tables: aedetect against kNN",
        "",
        f"Command: `{command}`  ",
        f"Date: {date.today().isoformat()}; machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"aedetect parameters: {json.dumps(params) if params else 'defaults'}"
        + ("" if args.reference_codes is None else f"; table reference codes: {args.reference_codes}"),
        "",
        "| set | rows | features | detector | ROC-AUC | PR-AUC | fit s | score s | kNN time / this |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, detector), row in per.iterrows():
        knn = per.loc[(name, "knn")] if (name, "knn") in per.index else None
        ratio = "" if knn is None else f"{(knn.fit_s + knn.score_s) / (row.fit_s + row.score_s):.1f}x"
        lines.append(
            f"| {name} | {int(row.rows)} | {int(row.features)} | {detector} | {row.roc_auc:.4f} | {row.pr_auc:.4f} | "
            f"{row.fit_s:.1f} | {row.score_s:.1f} | {ratio} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    suffix = f"_{args.tag}" if args.tag else ""
    write_atomically(args.output_dir / f"large_tables{suffix}.md", text)
    write_atomically(args.output_dir / f"large_tables{suffix}.csv", frame.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
