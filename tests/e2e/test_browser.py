"""One end-to-end test in a real browser: start the dashboard, launch a tiny run from the
sidebar, watch it finish, find it in the Gallery and open its detail page.

Uses Debian's Chromium through Playwright (no browser download). Skipped where Chromium
or Playwright is missing, unless NST_REQUIRE_BROWSER=1 (CI sets it) makes that a failure.
Set NST_SCREENSHOTS=DIR to keep a screenshot of each page (README's come from here).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from store import runs as store_runs
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _require_browser():
    missing = None
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "the playwright package is not installed"
        sync_playwright = None
    if missing:
        if os.environ.get("NST_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def dashboard(db, tmp_path):
    """A real `streamlit run dashboard/Home.py` on a free loopback port and a fresh store."""
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/Home.py", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    env = {**os.environ, "NST_DB": str(db), "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = open(tmp_path / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the dashboard did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("NST_SCREENSHOTS")
    if folder:
        for _ in range(40):  # charts render after the page: wait for their placeholders to go
            if page.locator("[data-testid=stSkeleton]").count() == 0:
                break
            page.wait_for_timeout(250)
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _fill(page, key: str, value: str) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(300)  # let Streamlit rerun before the next widget


def _click_until(page, button: str, expect: re.Pattern, tries: int = 3) -> None:
    """Click, and click again if Streamlit swallowed the click in a rerun (a cold first
    render can still be running); fail with what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        page.wait_for_timeout(1000)
        page.locator(button).click()
        try:
            page.get_by_text(expect).first.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    pytest.fail("the run was not queued; the page shows:\n" + page.inner_text("body")[:3000])


def test_launch_watch_browse_open(dashboard, image_files, db):
    sync_playwright = _require_browser()
    content, style = image_files
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(f"{dashboard}/launch")
        # A cold first render builds the layer list; upload only once the page is whole,
        # and go on only once each file shows in its uploader.
        page.get_by_text("Nothing queued or running").wait_for(timeout=180_000)
        for role, path in (("content", content), ("style", style)):
            page.locator(f".st-key-launch_{role}_upload input[type=file]").set_input_files(str(path))
            page.locator(f".st-key-launch_{role}_upload").get_by_text(path.name).wait_for()
        page.locator(".st-key-launch_weights").get_by_text("none", exact=True).click()
        _fill(page, "launch_size", "32")
        _fill(page, "launch_iterations", "15")
        _fill(page, "launch_snapshot_every", "5")
        _click_until(page, ".st-key-launch_run button", re.compile(r"Queued run #\d+"))
        run_id = int(store_runs.list_runs(db)["id"].iloc[0])

        # The live view follows the run until it finishes (a real background worker).
        page.get_by_text(f"Open run #{run_id} in Run detail").wait_for(timeout=180_000)
        _shot(page, "launch")

        page.goto(f"{dashboard}/gallery")
        page.get_by_text("Open run detail").first.wait_for()
        _shot(page, "gallery")
        page.get_by_text("Open run detail").first.click()
        page.wait_for_url(f"**/run?run={run_id}")
        page.get_by_text("finished").first.wait_for()
        page.get_by_text("random weights", exact=False).first.wait_for()
        _shot(page, "run_detail")

        for name in ("compare", "studies", ""):
            page.goto(f"{dashboard}/{name}")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)
            assert page.locator("[data-testid=stException]").count() == 0
            _shot(page, name or "home")
        browser.close()

    run = store_runs.get_run(db, run_id)
    assert run["status"] == "finished" and run["steps_done"] == 15 and run["size"] == 32
