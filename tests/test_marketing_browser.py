"""The dashboard in a real browser: Chromium via Playwright against the app in a server thread.

Demo clinic loaded, the marketing user signs in through the login form, the charts render, a
channel filter changes the numbers, a CSV downloads. SCREENSHOTS=docs also refreshes
docs/marketing.png for the README.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from callcenter import create_app
from callcenter.core.db import make_engine, make_session_factory, session_scope
from callcenter.demo.builder import load_demo
from tests.conftest import app_settings, require
from tests.services import free_port
from tests.test_desk_browser import ARGS

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
TODAY = date(2026, 11, 20)


@pytest.fixture
def live_url(sqlite_url: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    settings = app_settings(sqlite_url, redis_url, tmp_path, LOCALE="en")
    engine = make_engine(sqlite_url)
    with session_scope(make_session_factory(engine)) as session:
        load_demo(session, seed=7, patients=600, config=settings, today=TODAY)
    engine.dispose()
    app = create_app(settings)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["callcenter"].close()


@pytest.fixture
def page(live_url: str) -> Iterator[Any]:
    require(shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "no Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)  # ARGS: hermetic, --host-resolver-rules
        context = browser.new_context(accept_downloads=True, locale="en-US",
                                      viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def _calls_tile(page: Any) -> str:
    return page.locator('#summary [data-metric="calls"] .value').inner_text()


def test_dashboard_charts_filter_and_csv(page: Any, live_url: str, tmp_path: Path) -> None:
    page.goto(f"{live_url}/marketing?from=2026-08-01&to=2026-11-20&group=week")
    page.fill('input[name="login"]', "marketing")
    page.fill('input[name="password"]', "marketing")
    page.click('button[type="submit"]')
    page.wait_for_url("**/marketing?**")
    assert page.locator("svg.chart").count() == 6
    assert page.locator("svg.chart rect.s0").count() > 20  # bars, not empty axes
    everything = _calls_tile(page)
    assert int(everything.replace("\u00a0", "").replace(",", "").replace(" ", "")) > 100
    if os.environ.get("SCREENSHOTS") == "docs":
        page.screenshot(path=str(DOCS / "marketing.png"), full_page=False)

    options = page.locator('select[name="channel"] option')
    assert options.count() > 2
    page.select_option('select[name="channel"]', index=1)
    page.click('form.filters button[type="submit"]')
    page.wait_for_load_state()
    assert "channel=" in page.url
    assert _calls_tile(page) != everything

    with page.expect_download() as download_info:
        page.click("#report-channels a.csv")
    saved = tmp_path / "channels.csv"
    download_info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 1 and int(rows[0]["calls"]) > 0
    assert rows[0]["calls"] == _calls_tile(page).replace("\u00a0", "").replace(",", "").replace(" ", "")
