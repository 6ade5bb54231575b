"""The issue's acceptance in a real browser: a local landing page (its own origin) carrying the
site snippet, opened by two visitors with different UTM tags and click ids, shows each a number of
their own in the page's own format; a signed webhook call to the first number is attributed to
the first visit's campaign and keyword; the visit booked on that call is in the Google Ads and
Metrica files with that click id; a third visitor, with the pool full, sees the fallback number,
and is counted; a page whose pool is unknown keeps its own number."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from callcenter import create_app
from callcenter.core.models import Call, Clinic, WebCallLink, utcnow
from callcenter.webtracking.jobs import track
from callcenter.webtracking.pools import PoolForm, pool_values, save_pool
from callcenter.webtracking.report import funnel, pool_health
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings, require
from tests.services import free_port
from tests.test_desk_browser import ARGS
from tests.webtracking_world import FALLBACK, POOL, booking, numbers, pool_form

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Dental Plus: implants</title></head>
<body><h1>Implants</h1>
<p>Call us: <span id="phone">8 (495) 111-00-00</span>, <a id="call" href="tel:+74951110000">call</a></p>
<p id="other">Another clinic: +7 (495) 999-88-77</p>
<script src="{service}/static/webtracking.js" data-pool="{key}" data-timeout="5000" async></script>
</body></html>"""


class Site:
    """The clinic's website on its own origin (localhost, the service is on 127.0.0.1)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path.split("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def live(sqlite_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    app = create_app(app_settings(sqlite_url, redis_url, tmp_path, LOCALE="en", GENERIC_SECRET=w.SECRET))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["callcenter"].close()


@pytest.fixture
def browser() -> Iterator[Any]:
    require(shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "no Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)  # ARGS: hermetic, --host-resolver-rules
        yield chromium
        chromium.close()


def _visit(browser: Any, url: str) -> tuple[Any, Any]:
    """A visitor of their own (own storage) on the landing page."""
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    page.goto(url)
    return context, page


def test_two_visitors_two_numbers_the_call_attributed_and_exported(live: tuple[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    service, app = live
    site = Site()
    session = app.extensions["callcenter"].sessions()
    clinic = f.clinic(session)
    f.set_up(session, clinic)  # past the first run
    pool_numbers, fallback = numbers(session, clinic)
    form = pool_form(pool_numbers, fallback, sites=site.origin)
    values, problems = pool_values(session, PoolForm(**{**form, "active": True}), clinic, None)
    assert values is not None, problems
    pool = save_pool(session, clinic, None, values)
    session.commit()
    site.pages["/implants"] = PAGE.format(service=service, key=pool.key)
    site.pages["/broken"] = PAGE.format(service=service, key="no-such-pool")
    shown = {"+74951110001": "8 (495) 111-00-01", "+74951110002": "8 (495) 111-00-02"}

    one = _visit(browser, f"{site.origin}/implants?utm_source=google&utm_medium=cpc"
                          "&utm_campaign=implants&utm_term=dental%20implant&gclid=Cj0-browser")
    # Both numbers free since ever: the tie goes to the lower one.
    first = POOL[0]
    expect(one[1].locator("html")).to_have_attribute("data-cc-number", first, timeout=30_000)
    expect(one[1].locator("#phone")).to_have_text(shown[first], timeout=30_000)
    expect(one[1].locator("#call")).to_have_attribute("href", f"tel:{first}")
    expect(one[1].locator("#other")).to_have_text("Another clinic: +7 (495) 999-88-77")

    two = _visit(browser, f"{site.origin}/implants?utm_source=yandex&utm_medium=cpc"
                          "&utm_campaign=crowns&yclid=5550001")
    expect(two[1].locator("html")).to_have_attribute("data-cc-number", POOL[1], timeout=30_000)
    expect(two[1].locator("#phone")).to_have_text(shown[POOL[1]])

    three = _visit(browser, f"{site.origin}/implants?utm_source=google&utm_medium=cpc&gclid=Cj0-third")
    expect(three[1].locator("html")).to_have_attribute("data-cc-number", FALLBACK, timeout=30_000)
    expect(three[1].locator("#phone")).to_have_text("8 (495) 111-00-00")

    broken = _visit(browser, f"{site.origin}/broken?utm_source=google")
    expect(broken[1].locator("html")).to_have_attribute("data-cc-number", "original", timeout=30_000)
    expect(broken[1].locator("#phone")).to_have_text("8 (495) 111-00-00")

    body, headers = w.webhook("landing-call", "ringing", to=first, caller="+79161234567")
    assert requests.post(f"{service}/webhooks/generic", data=body, headers=headers, timeout=30).status_code == 204
    call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "landing-call"))
    assert call_id is not None
    track(session, app.extensions["callcenter"].redis, utcnow())
    link = session.get(WebCallLink, call_id)
    assert link is not None and link.visit is not None
    assert (link.visit.utm_campaign, link.visit.utm_term, link.visit.gclid) == (
        "implants", "dental implant", "Cj0-browser")
    day = (utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1))
    assert [(r.key, r.calls) for r in funnel(session, clinic.id, *day, "campaign")] == [("implants", 1)]
    assert [(r.key, r.calls) for r in funnel(session, clinic.id, *day, "keyword")] == [("dental implant", 1)]
    health = pool_health(session, clinic.id, *day)[0]
    assert (health.fallback_visits, health.peak_in_use) == (1, 2)

    booking(session, session.get(Clinic, clinic.id), call_id, utcnow() - timedelta(minutes=10))
    marketing = app.test_client()
    f.signed_in(marketing, session, role="marketing", clinic_row=clinic, extension=None, locale="en")
    google = marketing.get("/marketing/web/conversions/google.csv").get_data(as_text=True)
    assert "\nCj0-browser,Booked visit," in google
    report = marketing.get("/marketing/web?by=keyword").get_data(as_text=True)
    assert 'data-key="dental implant"' in report
    for context, _page in (one, two, three, broken):
        context.close()
    session.close()
    site.server.shutdown()
