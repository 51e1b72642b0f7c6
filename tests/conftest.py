"""Shared tiny fixtures: a few hundred rows, a handful of features, a few epochs, fixed seeds."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

# Tiny networks train fastest (and reproducibly) on one thread; several threads on a busy machine
# spin against each other and make every fit many times slower.
torch.set_num_threads(1)

N_FEATURES = 4
#: Small, fast settings shared by every test that trains a detector.
FAST = dict(hidden_dims=[8], latent_dim=2, epochs=15, batch_size=32, random_state=0, device="cpu")


def shared_datasets() -> Path | None:
    """The project-external datasets folder (``$AEDETECT_SHARED_DATASETS`` or ``../shared/datasets``)."""
    folder = Path(os.environ.get("AEDETECT_SHARED_DATASETS", Path(__file__).parents[2] / "shared" / "datasets"))
    return folder if folder.is_dir() else None


def normal_rows(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Correlated Gaussian rows: columns c, d follow a, b, so there is structure to learn."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    values = np.column_stack([base, base @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.1 * rng.normal(size=(n, 2))])
    return pd.DataFrame(values, columns=["a", "b", "c", "d"])


def outlier_rows(n: int = 10, seed: int = 1) -> pd.DataFrame:
    """Rows far from the normal cloud (about 8 standard deviations out)."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, N_FEATURES))
    return pd.DataFrame(8.0 * signs + rng.normal(size=(n, N_FEATURES)), columns=["a", "b", "c", "d"])


def batched(core, batcher, requests: list) -> tuple[list[int], dict]:
    """Send ``requests`` while the first one's batch is held, so that the others wait together; return
    the sizes of the batches scored and each request's result (its ``ValueError`` where it failed)."""
    calls, release = [], threading.Event()
    score_features = core.score_features

    def counted(features):
        calls.append(len(features))
        if len(calls) == 1:
            release.wait(10)  # the first batch is still running while the others arrive
        return score_features(features)

    core.score_features = counted
    results: dict[int, object] = {}

    def send(i: int) -> None:
        try:
            results[i] = batcher.score(core, requests[i])
        except ValueError as error:
            results[i] = error

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    threads[0].start()
    while not calls:
        pass
    for thread in threads[1:]:
        thread.start()
    while len(batcher.queue) < len(threads) - 1:
        pass
    release.set()
    for thread in threads:
        thread.join()
    return calls, results


#: Headless Chromium and its driver, where installed (the browser tests skip without them).
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
HEADLESS_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def headless_chromium(flags, profile: Path):
    """A headless Chromium session with :data:`HEADLESS_FLAGS` and ``flags``, its profile in ``profile``,
    the browser console logged; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*HEADLESS_FLAGS, *flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def fast() -> dict:
    """Keyword arguments for a small, fast, seeded detector (a fresh copy per test)."""
    return dict(FAST)


@pytest.fixture(scope="session")
def make_normals():
    return normal_rows


@pytest.fixture(scope="session")
def normal_frame() -> pd.DataFrame:
    return normal_rows()


@pytest.fixture(scope="session")
def fresh_normals() -> pd.DataFrame:
    return normal_rows(200, seed=7)


@pytest.fixture(scope="session")
def outliers() -> pd.DataFrame:
    return outlier_rows()


@pytest.fixture(scope="session")
def labelled(normal_frame, outliers) -> tuple[pd.DataFrame, np.ndarray]:
    """Normal rows followed by outliers, with labels (1 = anomaly)."""
    frame = pd.concat([normal_frame, outliers], ignore_index=True)
    labels = np.r_[np.zeros(len(normal_frame)), np.ones(len(outliers))].astype(np.int64)
    return frame, labels


@pytest.fixture(scope="session")
def fitted(normal_frame):
    """A detector fitted once on the normal rows. Tests must not change it (copy it first)."""
    from aedetect import AutoencoderDetector

    return AutoencoderDetector(**FAST).fit(normal_frame)


@pytest.fixture(scope="session")
def labelled_csv(tmp_path_factory, labelled) -> Path:
    """A CSV with an id column, four features and a 0/1 label column."""
    frame, labels = labelled
    path = tmp_path_factory.mktemp("data") / "train.csv"
    frame.assign(label=labels).rename_axis("id").reset_index().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def shared_datasets_dir() -> Path:
    """The shared datasets folder; tests that need it skip cleanly when it is absent."""
    folder = shared_datasets()
    if folder is None:
        pytest.skip("the shared datasets folder (../shared/datasets or $AEDETECT_SHARED_DATASETS) is absent")
    return folder


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadServer:
    """uvicorn on 127.0.0.1 in a background thread, stopped cleanly on exit."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
