"""Write the golden model folders and scores that ``tests/test_golden.py`` checks.

Run once with the code whose behaviour is to be pinned (the folders then prove that later code loads
and scores them as that code did: bit for bit on the same CPU, within float32 rounding on
another)::

    PYTHONPATH=src python tests/golden/make_golden.py tests/golden

Each case is a folder ``NAME/`` holding ``model/`` (as saved), ``data.npz`` (the rows scored, as
``X`` plus column names) and ``scores.npy`` (``decision_function`` of those rows when the model was
fitted, bit for bit).

A deliberate change of training re-pins only what training gives, never the saved folders that
later code must load as they are::

    PYTHONPATH=src python tests/golden/make_golden.py tests/golden --retrain

writes ``retrained.npy`` (the scores of the same rows after fitting with the current code) beside
each case, which the retraining test then compares with instead of ``scores.npy``. Neither command
touches the folders of :data:`SAVED_BY_EARLIER_CODE`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aedetect import AutoencoderDetector, EnsembleDetector

torch.set_num_threads(1)
#: Folders saved by earlier code that stay as saved: they pin how later code loads such folders, so
#: this script neither rewrites nor retrains them (their training is another case's).
SAVED_BY_EARLIER_CODE = ("table-input-rows-unweighted",)
TINY = dict(hidden_dims=[8], latent_dim=2, epochs=6, batch_size=32, random_state=0, device="cpu")


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    values = np.column_stack([base, base @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.1 * rng.normal(size=(n, 2))])
    return pd.DataFrame(values, columns=["a", "b", "c", "d"])


def images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = 0.1 * rng.random((n, 8, 8))
    out[:, 1:4, 1:3] += 0.8  # an upright mark, so the pose can be read
    return out.astype(np.float32)


def cases():
    train, test = table(160, 0), pd.concat([table(40, 1), 6.0 + table(5, 2)], ignore_index=True)
    yield "table-latent-knn", AutoencoderDetector(**TINY), train, test
    # Saved with input rows by the code before the input part's weight was saved (format version 1):
    # it must score with the weight it was fitted with (see aedetect.persistence.detector_state).
    # Trained as table-latent-knn.
    yield "table-input-rows-unweighted", AutoencoderDetector(**TINY), train, test
    yield "table-reconstruction", AutoencoderDetector(**TINY, score="reconstruction"), train, test
    yield "table-standardized", AutoencoderDetector(**TINY, score="standardized"), train, test
    yield "table-variational", AutoencoderDetector(**TINY, variant="variational"), train, test
    yield "ensemble", EnsembleDetector(AutoencoderDetector(**TINY), n_members=2), train, test
    yield "image-conv2d", AutoencoderDetector(**{**TINY, "hidden_dims": [4]}), images(64, 0), images(12, 1)[::-1].copy()


def main(root: Path, retrain: bool = False) -> None:
    for name, detector, train, test in cases():
        if name in SAVED_BY_EARLIER_CODE:
            continue
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        detector.fit(train)
        scores = detector.decision_function(test)
        if retrain:
            old = np.load(folder / "retrained.npy" if (folder / "retrained.npy").exists() else folder / "scores.npy")
            np.save(folder / "retrained.npy", scores)
            print(f"{name}: largest relative score difference {np.max(np.abs(scores - old) / np.abs(old)):.3g}")
            continue
        detector.save(folder / "model")
        if isinstance(test, pd.DataFrame):
            np.savez(folder / "data.npz", X=test.to_numpy(), columns=np.asarray(test.columns, dtype=str))
        else:
            np.savez(folder / "data.npz", X=test)
        np.save(folder / "scores.npy", scores)
        print(f"{name}: {len(scores)} scores, first {scores[0]!r}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), retrain="--retrain" in sys.argv[2:])
