"""Built-in datasets (generated or shipped with scikit-learn: no download) and KDD Cup 99.

Every loader returns a DataFrame of features and a 0/1 label vector (1 = anomaly).

Examples
--------
>>> X, y = load_dataset("seed-gaussian")
>>> X.shape, int(y.sum())
((1050, 20), 50)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    loader: Callable[[], tuple[pd.DataFrame, np.ndarray]]
    categorical: tuple[str, ...] = ()


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _seed_imbalanced():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=100000,
        n_features=32,
        n_informative=32,
        n_redundant=0,
        n_repeated=0,
        n_classes=2,
        n_clusters_per_class=1,
        weights=[0.995, 0.005],
        class_sep=0.5,
        random_state=0,
    )
    return _frame(X), y.astype(np.int64)


def _seed_gaussian():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, size=(1000, 20)), rng.normal(0, 5, size=(50, 20))])
    return _frame(X), np.r_[np.zeros(1000), np.ones(50)].astype(np.int64)


def _sklearn(loader_name: str, anomaly: Callable[[np.ndarray, list], np.ndarray]):
    def load():
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
        return frame, anomaly(bunch.target, list(bunch.target_names)).astype(np.int64)

    return load


KDD_COLUMNS = (
    "duration protocol_type service flag src_bytes dst_bytes land wrong_fragment urgent hot "
    "num_failed_logins logged_in num_compromised root_shell su_attempted num_root num_file_creations "
    "num_shells num_access_files num_outbound_cmds is_host_login is_guest_login count srv_count "
    "serror_rate srv_serror_rate rerror_rate srv_rerror_rate same_srv_rate diff_srv_rate "
    "srv_diff_host_rate dst_host_count dst_host_srv_count dst_host_same_srv_rate dst_host_diff_srv_rate "
    "dst_host_same_src_port_rate dst_host_srv_diff_host_rate dst_host_serror_rate "
    "dst_host_srv_serror_rate dst_host_rerror_rate dst_host_srv_rerror_rate label"
).split()
KDD_URL = "http://kdd.ics.uci.edu/databases/kddcup99/kddcup.data_10_percent.gz"
KDD_FILE = "kddcup.data_10_percent.gz"


def data_dir() -> Path:
    """Where downloadable datasets are looked for: ``$AEDETECT_DATA_DIR`` or ``~/.cache/aedetect``."""
    return Path(os.environ.get("AEDETECT_DATA_DIR", Path.home() / ".cache" / "aedetect"))


def _find(filename: str, url: str, folder: Path | None) -> Path:
    base = Path(folder) if folder is not None else data_dir()
    for candidate in (base / filename, base / "kddcup99" / filename):
        if candidate.is_file():
            return candidate
    target = base / filename
    try:
        import urllib.request

        base.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(target.suffix + ".part")
        urllib.request.urlretrieve(url, temporary)  # noqa: S310 - fixed public URL
        temporary.replace(target)
        return target
    except OSError as error:
        raise FileNotFoundError(
            f"{filename} is not in {str(base)!r} and could not be downloaded from {url} ({error}); "
            "download it there yourself or set AEDETECT_DATA_DIR / --data-dir to the folder that holds it."
        ) from None


def load_kddcup99(folder: str | Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """KDD Cup 99 (10 %): 494,021 connections, three text columns; ``normal.`` = normal, attacks = 1."""
    path = _find(KDD_FILE, KDD_URL, folder)
    frame = pd.read_csv(path, header=None, names=KDD_COLUMNS)
    labels = (frame.pop("label") != "normal.").to_numpy().astype(np.int64)
    return frame, labels


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "seed-imbalanced",
            "make_classification, 100,000 x 32, about 1 % anomalies (the tutorials' task)",
            _seed_imbalanced,
        ),
        Dataset("seed-gaussian", "1,000 rows N(0, 1) in 20 dimensions plus 50 anomalies N(0, 5)", _seed_gaussian),
        Dataset(
            "breast-cancer",
            "scikit-learn's Wisconsin breast cancer, 569 x 30, malignant = anomaly",
            _sklearn("load_breast_cancer", lambda t, names: t == names.index("malignant")),
        ),
        Dataset(
            "wine",
            "scikit-learn's wine, 178 x 13, cultivar class_2 = anomaly",
            _sklearn("load_wine", lambda t, names: t == 2),
        ),
        Dataset(
            "digits-zero",
            "scikit-learn's 8x8 digits, 1,797 x 64, digit 0 = anomaly",
            _sklearn("load_digits", lambda t, names: t == 0),
        ),
        Dataset(
            "kddcup99",
            "KDD Cup 99 10 % (downloaded or from AEDETECT_DATA_DIR), attacks = 1",
            load_kddcup99,
            categorical=("protocol_type", "service", "flag"),
        ),
    )
}


def load_dataset(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Return ``(features, labels)`` of a built-in dataset; labels are 0 (normal) / 1 (anomaly)."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    return DATASETS[name].loader()
