"""The dashboard in a real browser: ``llm-monitor``'s Streamlit app on a seeded SQLite database,
each page opened in headless Chromium (Debian's, kept off the network), checked for its title and
for the absence of error boxes, and screenshotted.

``.ci/run`` installs Chromium and ChromeDriver; elsewhere the test is skipped when they are absent.
Screenshots go to ``LLM_MONITOR_SCREENSHOT_DIR`` when set, else to the test's temporary directory;
``docs/screenshots`` is refreshed from the demo's database with::

    LLM_MONITOR_SCREENSHOT_DB=sqlite:///llm-monitor.db LLM_MONITOR_SCREENSHOT_DIR=docs/screenshots \
        .venv/bin/python -m pytest -q tests/e2e/test_browser.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dashboard import launch
from monitor.config import Settings
from monitor.migrate import upgrade
from monitor.server import free_port
from monitor.store import make_engine
from tests.integration.test_query_views import hour_aligned_t0, seed_calls, seed_settings

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser test: .ci/run installs chromium and chromium-driver", pytrace=False)
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
OFFLINE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")
PAGES = {"": "Overview", "traces": "Traces", "evaluations": "Evaluations", "annotate": "Annotate", "drift": "Drift",
         "servers": "Servers & GPUs", "cost": "Cost", "alerts": "Alerts"}


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LLM_MONITOR_SCREENSHOT_DB")  # e.g. the demo's database, for docs/screenshots
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'seeded.db'}"
        upgrade(url)
        engine = make_engine(url)
        seed_calls(seed_settings(url), engine, hour_aligned_t0())
        engine.dispose()
    port = free_port()
    proc = launch.run(Settings(database_url=url), port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "the dashboard exited during start-up"
            time.sleep(0.5)
        else:
            pytest.fail("the dashboard did not answer /_stcore/health within 60 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*OFFLINE_FLAGS, "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def screenshot_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("LLM_MONITOR_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_in_chromium(dashboard_url: str, browser: webdriver.Chrome, path: str, tmp_path: Path) -> None:
    title = PAGES[path]
    browser.get(f"{dashboard_url}/{path}")
    wait = WebDriverWait(browser, 60)
    wait.until(expected_conditions.presence_of_element_located((By.XPATH, f"//h1[contains(., '{title}')]")))
    # the page script has finished once Streamlit stops showing its running indicator
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    time.sleep(1.0)  # charts draw after the script ends
    errors = [e for e in browser.find_elements(
        By.CSS_SELECTOR, '[data-testid="stException"], [data-testid="stAlertContentError"]')
        if not e.find_elements(By.XPATH, "ancestor::*[contains(@class, 'st-key-firing_alerts')]")]  # alerts banner
    assert not errors, [e.text for e in errors]
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h1")]
    assert any(title in h for h in headings), headings
    shot = screenshot_dir(tmp_path) / f"{path or 'overview'}.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
