"""The input part's search: aedetect's brute-force kNN against a k-d tree, on large tables.

The default keeps up to 32,768 distinct training rows and scores a row by its distance to the
nearest of them (:mod:`aedetect.scoring.statistics`); on large tables that search is most of the
fit and score time. This compares, on the same kept rows and query rows, in one run:

``aedetect``
    :func:`aedetect.scoring.statistics.knn_distance`: :class:`aedetect.scoring.scorer.LatentKnn` in
    the batches the scorer uses; rows of 2 to 32 columns are searched by FAISS's fused kernel
    (``FUSED_SEARCH_WIDTH``), wider ones by the matrix product.
``matrix product``
    The same with the matrix-product search for every width (what the exported ONNX graph runs).
``ckdtree``
    SciPy's ``cKDTree`` (``leafsize=16``), ``query(k=1, workers=-1)``, the usual exact index for
    low dimensions; its build counts.

Data as in ``large_tables.py`` (clean protocol, seed 0): columns standardised on the training split
(the default's table scaler), the kept rows a uniform sample of the distinct training rows,
``--queries`` test rows drawn at random. It also reports the share of distinct rows among all test
rows: a row that occurs several times is searched once (:func:`aedetect.partitions.distinct_rows`).
Seconds are medians of ``--repeats`` runs; ``max diff`` is the largest difference between a
search's distances and the k-d tree's (exact in float64).

Usage::

    python benchmarks/knn_search.py [--sets generated,kddcup99,shuttle,smtp] [--rows 200000]
        [--queries 20000] [--repeats 3]

Writes ``knn_search.md`` and ``knn_search.csv`` under ``benchmarks/results/``.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import RESULTS, clean_split, write_atomically  # noqa: E402
from large_tables import load  # noqa: E402


def median_seconds(search, reference: np.ndarray, queries: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = search(reference, queries)
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds)), result


def brute_force(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from aedetect.scoring.statistics import knn_distance

    return knn_distance(queries, reference, np.ones(reference.shape[1]), 1)


def matrix_product(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from aedetect.scoring import scorer

    width, scorer.FUSED_SEARCH_WIDTH = scorer.FUSED_SEARCH_WIDTH, 0
    try:
        return brute_force(reference, queries)
    finally:
        scorer.FUSED_SEARCH_WIDTH = width


def kd_tree(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    return cKDTree(reference, leafsize=16).query(queries, k=1, workers=-1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="generated,kddcup99,shuttle,smtp")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the generated table")
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kept", type=int, default=32_768, help="kept rows (the default's input_rows)")
    args = parser.parse_args(argv)
    from aedetect.partitions import distinct_rows

    records = []
    for name in args.sets.split(","):
        X, y = load(name, args.rows, 0)
        train, test, _ = clean_split(X, y, 0)
        mean, scale = train.mean(axis=0), train.std(axis=0)
        scale[scale == 0] = 1.0
        train = ((train - mean) / scale).astype(np.float32)
        test = ((test - mean) / scale).astype(np.float32)
        rng = np.random.default_rng(0)
        distinct = train[distinct_rows(train)[0]]
        reference = distinct[rng.permutation(len(distinct))[: args.kept]]
        queries = test[rng.permutation(len(test))[: args.queries]]
        share = len(distinct_rows(test)[0]) / len(test)
        ours, found = median_seconds(brute_force, reference, queries, args.repeats)
        product, by_product = median_seconds(matrix_product, reference, queries, args.repeats)
        tree, expected = median_seconds(kd_tree, reference, queries, args.repeats)
        records.append(
            {
                "set": name,
                "columns": train.shape[1],
                "kept rows": len(reference),
                "queries": len(queries),
                "aedetect s": round(ours, 3),
                "matrix product s": round(product, 3),
                "ckdtree s": round(tree, 3),
                "matrix product / aedetect": round(product / ours, 2),
                "ckdtree / aedetect": round(tree / ours, 2),
                "max diff": float(np.abs(found - expected).max()),
                "max diff, matrix product": float(np.abs(by_product - expected).max()),
                "distinct test rows": round(share, 3),
            }
        )
        print(records[-1], flush=True)
    frame = pd.DataFrame(records)
    command = "python benchmarks/knn_search.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (
        "# The input part's search: brute force (FAISS's fused kernel, the matrix product) against a k-d tree\n\n"
        f"Command: `{command.strip()}`  \n"
        f"Date: {date.today()}; machine: {torch.get_num_threads()} threads, Python {platform.python_version()}; "
        f"seconds: median of {args.repeats}\n\n"
        + "| "
        + " | ".join(frame.columns)
        + " |\n"
        + "|"
        + "---|" * len(frame.columns)
        + "\n"
        + "".join(
            "| " + " | ".join(f"{value:.3g}" if isinstance(value, float) else str(value) for value in row) + " |\n"
            for row in frame.itertuples(index=False)
        )
    )
    print(text)
    write_atomically(RESULTS / "knn_search.md", text)
    write_atomically(RESULTS / "knn_search.csv", frame.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
