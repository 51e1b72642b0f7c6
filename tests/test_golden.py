"""Golden scores: model folders saved by an earlier aedetect load and score bit for bit as they did,
and the same data and seeds train to the same scores (see ``tests/golden/make_golden.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from golden.make_golden import cases

from aedetect import load

GOLDEN = Path(__file__).parent / "golden"
NAMES = sorted(p.name for p in GOLDEN.iterdir() if (p / "model").is_dir())


def _data(folder: Path):
    with np.load(folder / "data.npz", allow_pickle=False) as archive:
        if "columns" in archive.files:
            return pd.DataFrame(archive["X"], columns=list(archive["columns"]))
        return archive["X"]


def test_every_case_has_a_golden_folder():
    assert NAMES == sorted(name for name, *_ in cases())


@pytest.mark.parametrize("name", NAMES)
def test_saved_models_score_bit_for_bit_as_when_saved(name):
    folder = GOLDEN / name
    scores = load(folder / "model").decision_function(_data(folder))
    assert np.array_equal(scores, np.load(folder / "scores.npy"))


@pytest.mark.parametrize("name", NAMES)
def test_training_is_unchanged_bit_for_bit(name):
    _, detector, train, test = next(case for case in cases() if case[0] == name)
    scores = detector.fit(train).decision_function(test)
    retrained = GOLDEN / name / "retrained.npy"  # training changed on purpose since the folder was saved
    assert np.array_equal(scores, np.load(retrained if retrained.exists() else GOLDEN / name / "scores.npy"))
