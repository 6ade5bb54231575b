"""The text thread in a real browser: a patient's text that no rule can read appears on the desk
like a missed call; the receptionist opens the card, sees it beside the patient's calls, replies,
and a real worker hands the reply to the local Twilio Messaging server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from callcenter import create_app
from callcenter.core.db import make_engine, make_session_factory
from tests import desk_world as w
from tests.campaign_env import wait_until
from tests.conftest import app_settings
from tests.services import free_port
from tests.sms_env import point_callbacks, provider_settings, sms_worker_env, start_fake, worker
from tests.test_desk_browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


@pytest.fixture
def fake() -> Iterator[Any]:
    server = start_fake("twilio")
    yield server
    server.stop()


@pytest.fixture
def live(sqlite_url: str, redis_url: str, tmp_path: Path, fake: Any) -> Iterator[tuple[str, w.World]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = app_settings(sqlite_url, redis_url, tmp_path, PUBLIC_URL=base,
                            **provider_settings("twilio", fake))
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        world = w.build(session)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    point_callbacks("twilio", fake, base)
    yield base, world
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["callcenter"].close()
    engine.dispose()


def test_thread_on_the_card(browser: Any, live: tuple[str, w.World], fake: Any, sqlite_url: str,  # noqa: F811
                            redis_url: str, tmp_path: Path) -> None:
    base, world = live
    env = sms_worker_env(sqlite_url, redis_url, tmp_path, "twilio", fake, base)
    with worker(env, tmp_path / "worker.log"):
        page = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="ru-RU").new_page()
        page.goto(f"{base}/desk")
        page.fill('input[name="login"]', "anna")
        page.fill('input[name="password"]', w.PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url("**/desk")

        fake.reply(w.MARIA_PHONE, "Можно перенести на пятницу?")
        unread = page.locator("#list-texts li.text-unread")
        expect(unread).to_have_count(1)
        expect(unread).to_contain_text("Можно перенести на пятницу?")

        unread.locator("a").click()
        page.wait_for_url(f"**/desk/patients/{world.maria.id}")
        thread = page.locator("#thread")
        expect(thread.locator("li.thread-message.thread-inbound")).to_contain_text("перенести на пятницу")
        page.fill("#reply textarea[name=body]", "Да, на пятницу в 14:30 есть время. Записать?")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#reply-note")).to_have_text("Текст поставлен в очередь на отправку")
        expect(thread.locator("li.thread-outbound")).to_contain_text("пятницу в 14:30")
        wait_until(lambda: len(fake.to(w.MARIA_PHONE)) == 1, 60, "the reply reached the provider")
        assert fake.to(w.MARIA_PHONE)[0].body == "Да, на пятницу в 14:30 есть время. Записать?"
        expect(thread.locator("li.thread-outbound")).to_contain_text("delivered")

        page.goto(f"{base}/desk")
        expect(page.locator("#list-texts li.none")).to_be_visible()  # read on the card
