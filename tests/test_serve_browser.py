"""``/docs`` in a real browser with no network beyond the loopback: Swagger UI renders from the package.

Headless Chromium resolves every host name but 127.0.0.1 to nothing, as on a machine without
internet; the page must still list the service's operations, and every file it loaded must have come
from the service itself. Skipped when Chromium, its driver or selenium is missing.
"""

from __future__ import annotations

import time

import pytest
from conftest import CHROMEDRIVER, CHROMIUM, FAST, ThreadServer, headless_chromium

from aedetect import AutoencoderDetector
from aedetect.serve.app import ServedModel, create_app

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="headless Chromium is not installed")
if CHROMIUM and CHROMEDRIVER:
    pytest.importorskip("selenium.webdriver")
FLAGS = (  # beside conftest.HEADLESS_FLAGS
    # No internet: any host but the loopback address resolves to nothing (a CDN cannot load).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(FLAGS, tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def test_docs_render_without_internet(browser, normal_frame):
    detector = AutoencoderDetector(**FAST).fit(normal_frame)
    with ThreadServer(create_app({"main": ServedModel("main", detector)})) as url:
        browser.get(f"{url}/docs")
        deadline = time.monotonic() + 30
        operations = 0
        while time.monotonic() < deadline and not operations:
            operations = browser.execute_script("return document.querySelectorAll('.opblock').length")
            time.sleep(0.2)
        assert operations >= 6, browser.page_source[:2000]
        paths = browser.execute_script(
            "return Array.from(document.querySelectorAll('.opblock-summary-path')).map(e => e.textContent)"
        )
        assert "/score" in paths and "/score/bulk" in paths
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
        assert loaded and all(name.startswith(url) for name in loaded), loaded
        severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
