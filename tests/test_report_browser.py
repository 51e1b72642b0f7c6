"""The report in a real browser: headless Chromium opens it from disk, offline, and it renders.

Skipped when Chromium, its driver or selenium is missing. The screenshot and the page are kept in
``$AEDETECT_TEST_ARTIFACTS`` (default: ``aedetect-test-artifacts`` in the temporary folder) for CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CHROMEDRIVER, CHROMIUM, headless_chromium

from aedetect import AutoencoderDetector
from aedetect.evaluation import evaluate
from aedetect.report import figure_specs
from aedetect.report import page as report
from aedetect.thresholds import parse_threshold

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="headless Chromium is not installed")
if CHROMIUM and CHROMEDRIVER:
    pytest.importorskip("selenium.webdriver")

torch.set_num_threads(1)
FLAGS = (  # beside conftest.HEADLESS_FLAGS
    "--disable-quic",
    "--window-size=1280,900",
)


def artifacts() -> Path:
    default = Path(tempfile.gettempdir()) / "aedetect-test-artifacts"
    folder = Path(os.environ.get("AEDETECT_TEST_ARTIFACTS", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(FLAGS, tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def case():
    """A small model and labelled test rows."""
    rng = np.random.default_rng(0)
    normal = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    test = pd.concat(
        [
            pd.DataFrame(rng.normal(size=(120, 4)), columns=normal.columns),
            pd.DataFrame(rng.normal(6, 1, size=(8, 4)), columns=normal.columns),
        ],
        ignore_index=True,
    )
    labels = np.r_[np.zeros(120), np.ones(8)].astype(np.int64)
    detector = AutoencoderDetector(hidden_dims=[8], latent_dim=2, epochs=10, random_state=0, device="cpu")
    detector.fit(normal)
    return detector, test, labels


@pytest.fixture(scope="module")
def pages(case, tmp_path_factory):
    """A labelled and an unlabelled report of a small model."""
    detector, test, labels = case
    folder = tmp_path_factory.mktemp("pages")
    labelled = report.write_report(detector, test, labels, path=folder / "labelled.html", source="browser test")
    unlabelled = report.write_report(detector, test, path=folder / "unlabelled.html", source="no labels")
    return labelled, unlabelled


def _open(browser, path: Path) -> None:
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(path.resolve().as_uri())


def _severe(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_report_renders_offline_with_every_figure_loaded(browser, pages):
    labelled, _ = pages
    _open(browser, labelled)
    assert browser.title == "aedetect report: browser test"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
        " natural: i.naturalWidth, width: i.getBoundingClientRect().width,"
        " height: i.getBoundingClientRect().height}))"
    )
    assert [image["alt"] for image in images] == [
        spec.title for spec in figure_specs.FIGURES if not spec.requires & figure_specs.DATA_KINDS - {"table"}
    ]
    for image in images:
        assert image["complete"] and image["natural"] > 0, image
        assert image["width"] > 100 and image["height"] > 100, image
    # Nothing was fetched: every resource is inline.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert _severe(browser) == []
    # The page fits the window: no horizontal scrolling.
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    metrics = browser.execute_script(
        "return Array.from(document.querySelectorAll('[data-metric]')).map(c => c.textContent)"
    )
    assert len(metrics) == 7 and all(text and text != "n/a" for text in metrics)

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height + 120, 16000))
    screenshot = artifacts() / "report-labelled.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    shutil.copy(labelled, artifacts() / "report-labelled.html")


def test_unlabelled_report_says_why_figures_are_missing(browser, pages):
    _, unlabelled = pages
    _open(browser, unlabelled)
    assert browser.title == "aedetect report: no labels"
    note = browser.execute_script("return document.getElementById('no-labels').innerText")
    assert "no labels" in note
    left_out = browser.execute_script("return document.getElementById('left-out').innerText")
    for spec in figure_specs.FIGURES:
        assert (spec.title in left_out) == ("labels" in spec.requires)
    loaded = browser.execute_script("return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert loaded and _severe(browser) == []
    browser.save_screenshot(str(artifacts() / "report-unlabelled.png"))


PAYLOAD_IMG = "<img src=x onerror=alert(1)>"
PAYLOAD_SCRIPT = "<script>alert(2)</script>"


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    """A report whose source name, feature names, class labels and metadata carry HTML payloads."""
    names = [f"a{PAYLOAD_IMG}", f"b{PAYLOAD_SCRIPT}", 'c" onmouseover="alert(3)', "d"]
    rng = np.random.default_rng(1)
    normal = pd.DataFrame(rng.normal(size=(120, 4)), columns=names)
    test = pd.DataFrame(np.r_[rng.normal(size=(30, 4)), rng.normal(6, 1, size=(4, 4))], columns=names)
    detector = AutoencoderDetector(hidden_dims=[8], latent_dim=2, epochs=2, random_state=0, device="cpu")
    detector.fit(normal)
    detector.metadata_ = {"source": PAYLOAD_IMG, "label_column": PAYLOAD_SCRIPT, "drop": [PAYLOAD_IMG]}
    source = f"x{PAYLOAD_IMG}{PAYLOAD_SCRIPT}.csv"
    path = report.write_report(
        detector,
        test,
        np.r_[np.zeros(30), np.ones(4)].astype(np.int64),
        path=tmp_path_factory.mktemp("hostile") / "report.html",
        source=source,
    )
    return path, source


def test_text_from_the_data_cannot_inject_markup_or_script(browser, hostile_page):
    from selenium.common.exceptions import NoAlertPresentException

    path, source = hostile_page
    _open(browser, path)
    with pytest.raises(NoAlertPresentException):  # no alert() fired
        browser.switch_to.alert.text  # noqa: B018
    injected = browser.execute_script(
        "return {img: document.querySelectorAll('img[src=x], img:not([src^=\"data:image/png;base64,\"])').length,"
        " scripts: document.scripts.length, handlers: document.querySelectorAll('[onerror],[onmouseover]').length}"
    )
    assert injected == {"img": 0, "scripts": 2, "handlers": 0}
    # The two scripts are the page's own: the explorer's data (JSON, not run) and its code.
    assert browser.execute_script("return Array.from(document.scripts).map(s => s.id || s.type || 'code')") == [
        "explorer-data",
        "code",
    ]
    # Feature names reach the flagged-rows table as text.
    features = browser.execute_script(
        "return Array.from(document.querySelectorAll('#explorer-rows td:last-child')).map(td => td.textContent)"
    )
    assert features and any(PAYLOAD_SCRIPT in text or PAYLOAD_IMG in text for text in features)
    # The payload is shown as text, as written.
    assert browser.execute_script("return document.getElementById('data-source').textContent") == source
    assert browser.title == f"aedetect report: {source}"
    # The page's own figures and styles still load under its Content-Security-Policy, and nothing was
    # blocked (a blocked resource or script would be logged as an error).
    csp = browser.execute_script(
        "return document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
    )
    assert "default-src 'none'" in csp
    loaded = browser.execute_script("return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert loaded and _severe(browser) == []
    assert browser.execute_script("return getComputedStyle(document.querySelector('main')).maxWidth") == "1180px"


# -- the threshold explorer ---------------------------------------------------------------------------
FIGURES_JS = """return Object.fromEntries(['threshold', 'flagged', 'held-out', 'precision', 'recall', 'f1',
  'false-alarm-rate', 'tn', 'fp', 'fn', 'tp'].map(n => [n, document.getElementById('explorer-' + n).dataset.value]))"""


def _figures(browser) -> dict:
    return {name: float(value) for name, value in browser.execute_script(FIGURES_JS).items()}


def _listed(browser) -> list[list[str]]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#explorer-rows tr'))"
        ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
    )


def _check_against_evaluate(figures: dict, labels, scores, threshold: float, calibration) -> None:
    result = evaluate(labels, scores, threshold)
    assert figures["threshold"] == threshold
    assert figures["flagged"] == int((scores > threshold).sum())
    assert figures["held-out"] == float((calibration > threshold).mean())
    for name, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1")):
        assert figures[name] == getattr(result, key), name  # exactly, not approximately
    assert figures["false-alarm-rate"] == result.false_alarm_rate
    (tn, fp), (fn, tp) = result.confusion_matrix
    assert [figures[k] for k in ("tn", "fp", "fn", "tp")] == [tn, fp, fn, tp]


def test_the_slider_updates_the_figures_which_equal_evaluate_at_every_step(browser, pages, case):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    labelled, _ = pages
    detector, test, labels = case
    scores, calibration = detector.decision_function(test), detector.calibration_scores_
    _open(browser, labelled)
    data = browser.execute_script("return JSON.parse(document.getElementById('explorer-data').textContent)")
    # At the model's own threshold the page's figures are evaluate()'s and the rule is named.
    start = _figures(browser)
    _check_against_evaluate(start, labels, scores, detector.threshold_, calibration)
    text = browser.find_element(By.ID, "explorer-threshold").text
    assert f"the model's threshold, {detector.threshold_rule_.to_spec()}" in text
    assert browser.find_element(By.ID, "explorer-spec").get_attribute("value") == f"fixed:{detector.threshold_!r}"
    assert len(_listed(browser)) == start["flagged"]

    # Move the slider down with the keyboard, as a user would: more rows flagged, recall up.
    slider = browser.find_element(By.ID, "explorer-slider")
    assert int(slider.get_attribute("value")) == data["model_index"]
    slider.click()
    slider.send_keys(Keys.HOME)
    for _ in range(3):
        slider.send_keys(Keys.PAGE_UP)
    moved = int(slider.get_attribute("value"))
    assert moved != data["model_index"]
    figures = _figures(browser)
    threshold = data["grid"][moved]
    _check_against_evaluate(figures, labels, scores, threshold, calibration)
    assert figures["flagged"] > start["flagged"] and figures["recall"] >= start["recall"]
    line = browser.find_element(By.ID, "explorer-line").get_attribute("x1")
    assert float(line) < float(browser.find_element(By.ID, "explorer-model-line").get_attribute("x1"))
    # The table lists the rows flagged at the slider's value, highest score first; a click sorts it.
    rows = _listed(browser)
    assert len(rows) == figures["flagged"]
    listed_scores = [float(row[1]) for row in rows]
    assert listed_scores == sorted(listed_scores, reverse=True) and min(listed_scores) > threshold
    positions = [int(row[0]) for row in rows]
    assert sorted(positions) == np.flatnonzero(scores > threshold).tolist()
    assert all(row[2] == ("anomaly" if labels[int(row[0])] else "normal") for row in rows)
    browser.find_element(By.CSS_SELECTOR, "#explorer-table th[data-key='1']").click()
    assert [float(row[1]) for row in _listed(browser)] == sorted(listed_scores)
    # The copied threshold gives back the slider's value exactly.
    spec = browser.find_element(By.ID, "explorer-spec").get_attribute("value")
    assert parse_threshold(spec).threshold_ == threshold
    browser.find_element(By.ID, "explorer-copy").click()
    from selenium.webdriver.support.ui import WebDriverWait

    status = WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "explorer-copied").text)
    assert status in ("copied", "select and copy the text")  # the clipboard answers asynchronously
    # Back to the model's threshold.
    browser.find_element(By.ID, "explorer-reset").click()
    assert _figures(browser) == start and int(slider.get_attribute("value")) == data["model_index"]
    assert _severe(browser) == []
    browser.execute_script("document.getElementById('explorer').scrollIntoView()")
    browser.save_screenshot(str(artifacts() / "report-explorer.png"))


def test_the_explorer_without_labels_shows_shares_only(browser, pages, case):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _, unlabelled = pages
    detector, test, _ = case
    scores = detector.decision_function(test)
    _open(browser, unlabelled)
    assert browser.execute_script("return document.getElementById('explorer-precision')") is None
    slider = browser.find_element(By.ID, "explorer-slider")
    slider.click()
    slider.send_keys(Keys.END)
    assert browser.find_element(By.ID, "explorer-flagged").get_attribute("data-value") == "0"
    assert _listed(browser) == []
    slider.send_keys(Keys.HOME)
    flagged = int(browser.find_element(By.ID, "explorer-flagged").get_attribute("data-value"))
    assert flagged == int((scores > scores.min()).sum()) and _severe(browser) == []
