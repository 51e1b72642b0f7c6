"""Golden scores: model folders saved by an earlier aedetect load and score as they did, and the same
data and seeds train to the same scores (see ``tests/golden/make_golden.py``).

Bit for bit on the CPU they were made on; another CPU's float32 kernels (AVX-512 against AVX2, say)
round sums in another order, which moved scores by up to 6.4e-5 of their own size, and 3e-6 of the
largest score, training included. So each score is compared within :data:`RTOL` of itself (about
five times that), plus :data:`ATOL` of the largest score for scores near 0: a change in what a model
computes moves them by far more.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from golden.make_golden import SAVED_BY_EARLIER_CODE, cases
from safetensors import safe_open

from aedetect import load

GOLDEN = Path(__file__).parent / "golden"
#: Tolerances for float32 rounding on another CPU (see above): of each score, and of the largest.
RTOL, ATOL = 3e-4, 1e-6
NAMES = sorted(p.name for p in GOLDEN.iterdir() if (p / "model").is_dir())


def _data(folder: Path):
    with np.load(folder / "data.npz", allow_pickle=False) as archive:
        if "columns" in archive.files:
            return pd.DataFrame(archive["X"], columns=list(archive["columns"]))
        return archive["X"]


def test_every_case_has_a_golden_folder():
    assert NAMES == sorted(name for name, *_ in cases())


@pytest.mark.parametrize("name", NAMES)
def test_saved_models_score_as_when_saved(name):
    folder = GOLDEN / name
    scores = load(folder / "model").decision_function(_data(folder))
    _assert_same_scores(scores, np.load(folder / "scores.npy"))


@pytest.mark.parametrize("name", [name for name in NAMES if name not in SAVED_BY_EARLIER_CODE])
def test_training_is_unchanged(name):
    _, detector, train, test = next(case for case in cases() if case[0] == name)
    scores = detector.fit(train).decision_function(test)
    retrained = GOLDEN / name / "retrained.npy"  # training changed on purpose since the folder was saved
    _assert_same_scores(scores, np.load(retrained if retrained.exists() else GOLDEN / name / "scores.npy"))


def test_the_folder_saved_without_the_input_weight_is_as_format_version_1_wrote_it():
    """What makes the ``table-input-rows-unweighted`` case worth its place: input rows, no weight."""
    model = GOLDEN / "table-input-rows-unweighted" / "model"
    assert json.loads((model / "model.json").read_text())["format_version"] == 1
    with safe_open(model / "weights.safetensors", "pt") as weights:
        names = set(weights.keys())
    assert "stats.input_reference_" in names and "stats.input_weight_" not in names


def _assert_same_scores(scores: np.ndarray, golden: np.ndarray) -> None:
    np.testing.assert_allclose(scores, golden, rtol=RTOL, atol=ATOL * np.abs(golden).max())
