"""Built-in datasets and KDD Cup 99 (from the shared folder; skipped when it is absent)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aedetect import AutoencoderDetector
from aedetect.data.datasets import DATASETS, KDD_COLUMNS, data_dir, load_dataset, load_kddcup99


@pytest.mark.parametrize(
    ("name", "shape", "anomalies"),
    [
        ("seed-gaussian", (1050, 20), 50),
        ("breast-cancer", (569, 30), 212),
        ("wine", (178, 13), 48),
        ("digits-zero", (1797, 64), 178),
    ],
)
def test_small_builtin_datasets(name, shape, anomalies):
    frame, labels = load_dataset(name)
    assert frame.shape == shape
    assert labels.dtype == np.int64 and set(np.unique(labels)) == {0, 1}
    assert int(labels.sum()) == anomalies
    assert all(isinstance(c, str) for c in frame.columns)


def test_seed_imbalanced_shape_only():
    # Cheap to generate (about 0.2 s); never trained on in the tests.
    frame, labels = load_dataset("seed-imbalanced")
    assert frame.shape == (100_000, 32)
    # 0.5 % by the class weights, plus make_classification's default 1 % of randomly flipped labels.
    assert 0.008 < labels.mean() < 0.012


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset 'nope'; choose one of: seed-imbalanced"):
        load_dataset("nope")


def test_registry_describes_kddcup99_categoricals():
    assert DATASETS["kddcup99"].categorical == ("protocol_type", "service", "flag")
    assert len(KDD_COLUMNS) == 42 and KDD_COLUMNS[-1] == "label"


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AEDETECT_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("AEDETECT_DATA_DIR")
    assert data_dir() == Path.home() / ".cache" / "aedetect"


def test_missing_kddcup99_without_network_is_a_clear_error(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(FileNotFoundError, match="could not be downloaded.*AEDETECT_DATA_DIR / --data-dir"):
        load_kddcup99(folder=tmp_path)
    assert not list(tmp_path.glob("*.part"))


def test_kddcup99_is_found_in_a_local_folder(monkeypatch, tmp_path):
    # A tiny stand-in file in the layout of the shared folder (kddcup99/kddcup.data_10_percent.gz).
    import gzip

    folder = tmp_path / "kddcup99"
    folder.mkdir()
    row = ["0", "tcp", "http", "SF"] + ["1"] * 37
    with gzip.open(folder / "kddcup.data_10_percent.gz", "wt") as handle:
        handle.write(",".join(row + ["normal."]) + "\n" + ",".join(row + ["smurf."]) + "\n")
    monkeypatch.setattr(urllib.request, "urlretrieve", lambda *a, **k: pytest.fail("tried to download"))
    frame, labels = load_kddcup99(folder=str(tmp_path))  # a str or a Path
    assert frame.shape == (2, 41) and labels.tolist() == [0, 1]


@pytest.fixture(scope="module")
def kddcup99(shared_datasets_dir):
    folder = shared_datasets_dir / "kddcup99"
    if not (folder / "kddcup.data_10_percent.gz").is_file():
        pytest.skip("kddcup.data_10_percent.gz is not in the shared datasets folder")
    return load_kddcup99(folder=folder)  # about 1 s for 494,021 rows


def test_shared_kddcup99_loads_with_text_columns_and_labels(kddcup99):
    frame, labels = kddcup99
    assert frame.shape == (494_021, 41)
    assert list(frame.columns) == list(KDD_COLUMNS[:-1])
    assert int((labels == 0).sum()) == 97_278  # 'normal.' rows
    for column in ("protocol_type", "service", "flag"):
        assert not pd.api.types.is_numeric_dtype(frame[column])
    assert set(frame["protocol_type"]) == {"tcp", "udp", "icmp"}


def test_detector_on_a_kddcup99_sample(kddcup99):
    frame, labels = kddcup99
    rng = np.random.default_rng(0)
    normal = rng.choice(np.flatnonzero(labels == 0), 600, replace=False)
    attack = rng.choice(np.flatnonzero(labels == 1), 200, replace=False)
    train, test = normal[:400], np.r_[normal[400:], attack]
    detector = AutoencoderDetector(
        categorical_features=list(DATASETS["kddcup99"].categorical),
        hidden_dims=[32],
        latent_dim=8,
        epochs=10,
        random_state=0,
        device="cpu",
    ).fit(frame.iloc[train])
    scores = detector.decision_function(frame.iloc[test])
    assert roc_auc_score(labels[test], scores) > 0.9
