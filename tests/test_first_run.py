"""First run: an installation with no staff account sets itself up once, from /setup or
`callcenter init`. Real browser (Chromium), real `callcenter` processes, both databases.

While pending, pages lead to /setup, APIs answer 503, webhooks are stored; afterwards /setup is
404. Two set-ups at once leave one clinic and one administrator. The demo says so on every page.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import time as clock
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from callcenter import create_app
from callcenter.access.first_run import AlreadySetUp, check, create_first_clinic
from callcenter.access.passwords import verify_password
from callcenter.admin.checklist import services_done
from callcenter.core.db import make_engine, make_session_factory, session_scope
from callcenter.core.i18n import t
from callcenter.core.models import (
    Call,
    Channel,
    Clinic,
    DoctorSchedule,
    FirstRun,
    RawState,
    RawWebhook,
    Staff,
    StaffRole,
    TrackingNumber,
    utcnow,
)
from callcenter.demo.builder import load_demo
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings
from tests.services import ROOT, free_port
from tests.test_desk_browser import browser  # noqa: F401 (fixture)

DEADLINE = 120.0  # generous: the machine is shared
GOOD = "a long walk to the sea"
FORM = {"clinic_name": "Улыбка", "address": "Тверская, 1", "timezone": "Europe/Moscow",
        "language": "ru", "region": "RU", "login": "glavvrach", "first_name": "Мария",
        "last_name": "Соколова", "password": GOOD, "password_again": GOOD}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET)


def _wait(condition: Any, what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)
    return result


def _csrf(client: Any, **headers: str) -> str:
    page = client.get("/setup", headers=headers)
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_while_pending_pages_lead_to_setup_apis_refuse_and_webhooks_are_kept(
        client: Any, session: Session) -> None:
    for path in ("/", "/desk", "/login", "/admin", "/admin/setup", "/marketing"):
        response = client.get(path)
        assert (response.status_code, response.headers.get("Location")) == (302, "/setup"), path
    api = client.get("/api/calls")
    assert api.status_code == 503 and api.get_json()["error"] == "setup_required"
    stream = client.get("/desk/stream", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 503 and stream.get_json()["error"] == "setup_required"
    assert client.get("/api/openapi.json").status_code == 200
    assert "setup_required" not in client.get("/healthz").get_data(as_text=True)
    body, headers = w.webhook("pending-1", "ringing")
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    assert _count(session, RawWebhook) == 1 and _count(session, Call) == 1
    number = client.post("/wt/anykey/number", json={"visitor": "visitor-aaaa"})
    assert number.status_code == 503 and number.get_json()["error"] == "setup_required"

    token = _csrf(client)
    done = client.post("/setup", data={**FORM, "csrf_token": token})
    assert (done.status_code, done.headers["Location"]) == (303, "/admin/setup")
    # The clinic the webhook created meanwhile became the set-up one: its call stays its own.
    clinic = session.scalars(select(Clinic)).one()
    assert (clinic.name, clinic.timezone, clinic.is_demo) == ("Улыбка", "Europe/Moscow", False)
    assert session.scalars(select(Call)).one().clinic_id == clinic.id
    assert client.get("/admin/setup").status_code == 200  # signed in by the set-up
    assert client.post("/wt/anykey/number", json={"visitor": "visitor-aaaa"}).status_code == 404
    other = client.application.test_client()  # another browser, late
    assert other.get("/desk").headers["Location"].startswith("/login")
    assert other.get("/setup").status_code == 404
    late = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/login").get_data(as_text=True))
    assert other.post("/setup", data={**FORM, "csrf_token": late.group(1)}).status_code == 404


def test_every_bad_answer_is_named_and_nothing_is_written(client: Any, session: Session) -> None:
    token = _csrf(client, **{"Accept-Language": "en"})
    bad = {"clinic_name": "", "address": "x" * 301, "timezone": "Europe/Moskva", "language": "fr",
           "region": "XX", "login": "two words", "first_name": "", "password": "two words 123",
           "password_again": "something else", "csrf_token": token}
    page = client.post("/setup", data=bad, headers={"Accept-Language": "en"})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    errors = dict(re.findall(r'<p class="field-error" id="e-([a-z_]+)" role="alert">([^<]*)</p>', html))
    assert errors == {
        "clinic_name": "Required", "address": "longer than 300 characters",
        "timezone": "Not a time zone name (for example Europe/Moscow)",
        "language": "Choose one of: ru, en, zh",
        "region": "Not a two-letter country code (for example RU)",
        "login": "A login has no spaces", "first_name": "Required",
        "password": "The password contains the login or is a known demo password",
        "password_again": "The two passwords differ"}
    assert 'value="two words"' in html and "two words 123" not in html  # passwords are not sent back
    assert (_count(session, Clinic), _count(session, Staff), _count(session, FirstRun)) == (0, 0, 0)


def test_two_browsers_submitting_at_once_make_one_clinic_and_one_admin(
        app: Any, session: Session) -> None:
    clients = [app.test_client(), app.test_client()]
    tokens = [_csrf(c) for c in clients]
    start = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def submit(i: int) -> None:
        start.wait()
        answers[i] = clients[i].post("/setup", data={**FORM, "login": f"boss-{i}",
                                                     "csrf_token": tokens[i]})

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    won, lost = sorted(answers, key=lambda r: r.status_code)
    assert won.status_code == 303
    # Told, whether it lost in the database (409) or arrived once set-up was over (404).
    assert lost.status_code in (404, 409)
    if lost.status_code == 409:
        assert t("Someone else has just set up this installation. Sign in with the administrator "
                 "account they created.", "ru") in lost.get_data(as_text=True)
    assert (_count(session, Clinic), _count(session, Staff), _count(session, FirstRun)) == (1, 1, 1)


def test_the_database_keeps_the_first_of_two_set_ups_that_both_saw_it_empty(
        app: Any, session: Session) -> None:
    sessions = app.extensions["callcenter"].sessions
    first, second = sessions(), sessions()
    outcome: list[str] = []

    def other() -> None:
        try:
            create_first_clinic(second, check({**FORM, "login": "second"}), utcnow())
            outcome.append("created")
        except AlreadySetUp:
            outcome.append("told")

    try:
        create_first_clinic(first, check(FORM), utcnow())  # flushed, not committed
        racer = threading.Thread(target=other)
        racer.start()
        if session.get_bind().dialect.name == "postgresql":
            # The second set-up passed its own check and now waits on the first one's row.
            def waiting() -> int:
                # PostgreSQL keeps one snapshot of pg_stat_activity per transaction: each look
                # clears it, or a first look taken before the wait began would be seen forever.
                session.execute(text("SELECT pg_stat_clear_snapshot()"))
                return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                           "wait_event_type = 'Lock' AND datname = current_database()"))

            _wait(waiting, "the second set-up waiting on the first one's lock")
        first.commit()
        racer.join(DEADLINE)
        second.commit()
    finally:
        first.close()
        second.close()
    assert outcome == ["told"]
    assert [s.login for s in session.scalars(select(Staff))] == ["glavvrach"]
    assert (_count(session, Clinic), _count(session, FirstRun)) == (1, 1)


def test_the_checklist_reads_each_item_from_the_database(client: Any, session: Session) -> None:
    client.post("/setup", data={**FORM, "csrf_token": _csrf(client)})

    def states() -> dict[str, str]:
        html = client.get("/admin/setup").get_data(as_text=True)
        return dict((key, state) for state, key in re.findall(r'<li class="(done|todo)" data-item="([a-z]+)"', html))

    assert states() == dict.fromkeys(("hours", "staff", "doctors", "services", "numbers", "pbx"), "todo")
    clinic = session.scalars(select(Clinic)).one()
    clinic.opening_hours = {"mon": [["09:00", "18:00"]]}
    f.receptionist(session, clinic, "101")
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Ivan", last_name="Doc")
    session.add(doctor)
    session.flush()
    session.add(DoctorSchedule(doctor_id=doctor.id, weekday=0, starts=clock(9), ends=clock(13)))
    f.channel_number(session, clinic, "search", w.TRACKED)
    session.add(RawWebhook(provider="generic", path="/webhooks/generic", method="POST", headers={},
                           body=b"{}", state=RawState.PROCESSED, clinic_id=clinic.id))
    session.commit()
    assert states() == {**dict.fromkeys(("hours", "staff", "doctors", "numbers", "pbx"), "done"),
                        "services": "todo"}
    assert (services_done(None), services_done(0), services_done(3)) == (False, False, True)
    assert _count(session, Channel) == 1 and _count(session, TrackingNumber) == 1


def _cli(database_url: str, tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update({"DATABASE_URL": database_url, "CALLCENTER_INSTANCE_DIR": str(tmp_path / "instance"),
                "PYTHONPATH": str(ROOT)})
    return subprocess.run([sys.executable, "-m", "callcenter.cli", "init", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=DEADLINE, cwd=tmp_path)


def test_callcenter_init_from_a_terminal(database_url: str, tmp_path: Path, session: Session) -> None:
    options = ["--clinic-name", "Smile", "--address", "", "--timezone", "Asia/Shanghai",
               "--language", "zh", "--region", "cn", "--admin-login", "li",
               "--admin-first-name", "Na", "--admin-last-name", "Li"]
    (tmp_path / "weak").write_text("short\n")
    weak = _cli(database_url, tmp_path, *options, "--admin-password-file", str(tmp_path / "weak"))
    assert weak.returncode == 2, weak.stderr
    assert weak.stderr.strip().splitlines() == ["Error: password: The password is shorter than 10 characters"]
    assert _count(session, Staff) == 0 and _count(session, Clinic) == 0

    (tmp_path / "good").write_text(GOOD + "\n")
    done = _cli(database_url, tmp_path, *options, "--admin-password-file", str(tmp_path / "good"))
    assert done.returncode == 0, done.stderr
    admin = session.scalars(select(Staff)).one()
    clinic = session.get(Clinic, admin.clinic_id)
    assert (clinic.name, clinic.timezone, clinic.locale, clinic.region) == ("Smile", "Asia/Shanghai", "zh", "CN")
    assert (admin.login, admin.role, admin.locale) == ("li", StaffRole.ADMIN, "zh")
    assert verify_password(admin.password_hash, GOOD)

    again = _cli(database_url, tmp_path, *options, "--admin-password-file", str(tmp_path / "good"))
    assert again.returncode == 1 and "already set up" in again.stderr
    assert _count(session, Staff) == 1


def test_callcenter_init_from_a_script(database_url: str, tmp_path: Path, session: Session) -> None:
    # The password on stdin and only the answers without a default given: nothing is asked, so
    # no prompt takes the password's line (it once did, for the address).
    required = ["--clinic-name", "Zahn", "--admin-login", "boss", "--admin-first-name", "Anna"]
    missing = _cli(database_url, tmp_path, "--clinic-name", "Zahn", "--admin-password-file", "-",
                   stdin=GOOD + "\n")
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr.strip().splitlines() == [
        "Error: --admin-login: required (nothing to ask: stdin is not a terminal)"]
    no_password = _cli(database_url, tmp_path, *required, stdin="")
    assert no_password.returncode == 2 and "--admin-password-file: required" in no_password.stderr
    assert _count(session, Clinic) == 0

    done = _cli(database_url, tmp_path, *required, "--admin-password-file", "-", stdin=GOOD + "\n")
    assert done.returncode == 0, done.stderr
    admin = session.scalars(select(Staff)).one()
    clinic = session.get(Clinic, admin.clinic_id)
    assert (clinic.name, clinic.address, admin.login, admin.last_name) == ("Zahn", "", "boss", "")
    assert verify_password(admin.password_hash, GOOD)


def test_the_demo_says_so_on_every_page(sqlite_url: str, redis_url: str, tmp_path: Path) -> None:
    banner = t("Demo: invented patients and calls, and sign-in passwords that are published. "
               "Do not enter real patients here.", "en")
    engine = make_engine(sqlite_url)
    with session_scope(make_session_factory(engine)) as session:
        load_demo(session, seed=3, patients=20, config={"TIMEZONE": "Europe/Moscow", "LOCALE": "en",
                                                         "REGION": "RU"})
    engine.dispose()
    app = create_app(app_settings(sqlite_url, redis_url, tmp_path))
    try:
        client = app.test_client()
        en = {"Accept-Language": "en"}
        assert banner in client.get("/login", headers=en).get_data(as_text=True)
        login = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        client.post("/login", data={"login": "john", "password": "john", "csrf_token": token})
        assert banner in client.get("/desk", headers=en).get_data(as_text=True)  # john reads English
    finally:
        app.extensions["callcenter"].close()


def test_no_banner_without_the_demo(client: Any) -> None:
    client.post("/setup", data={**FORM, "csrf_token": _csrf(client)})
    for path in ("/admin/setup", "/login"):
        assert "demo-banner" not in client.get(path).get_data(as_text=True)


def _shoot(page: Any, name: str) -> None:
    if os.environ.get("SCREENSHOTS") == "docs":
        page.screenshot(path=str(ROOT / "docs" / name), full_page=True)


@pytest.fixture
def empty_server(sqlite_url: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    app = create_app(app_settings(sqlite_url, redis_url, tmp_path))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["callcenter"].close()


def test_setup_in_the_browser(empty_server: str, browser: Any) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ru-RU")
    page = context.new_page()
    page.goto(f"{empty_server}/desk")
    expect(page).to_have_url(f"{empty_server}/setup")
    expect(page.locator("h1")).to_have_text(t("Set up your clinic", "ru"))
    expect(page.locator("#f-clinic_name")).to_be_focused()
    expect(page.locator(".demo-banner")).to_have_count(0)
    page.keyboard.type(FORM["clinic_name"])
    page.fill("#f-address", FORM["address"])
    page.fill("#f-timezone", "Europe/Kaliningrad")
    page.select_option("#f-language", "ru")
    page.select_option("#f-region", "RU")
    for field in ("login", "first_name", "last_name"):
        page.fill(f"#f-{field}", FORM[field])
    page.fill("#f-password", "short-1")
    page.fill("#f-password_again", "short-1")
    _shoot(page, "setup-form.png")
    page.press("#f-password_again", "Enter")
    expect(page.locator("#e-password")).to_have_text(t("The password is shorter than 10 characters", "ru"))
    expect(page.locator("#f-password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-clinic_name")).to_have_value(FORM["clinic_name"])
    expect(page.locator("#f-timezone")).to_have_value("Europe/Kaliningrad")
    page.fill("#f-password", GOOD)
    page.fill("#f-password_again", GOOD)
    page.press("#f-password_again", "Enter")
    expect(page).to_have_url(f"{empty_server}/admin/setup")
    expect(page.locator("h1")).to_have_text(t("What is left to set up", "ru"))
    items = page.locator(".checklist li.todo")
    expect(items).to_have_count(6)
    expect(page.locator('li[data-item="staff"] a')).to_have_attribute("href", "/admin/staff")
    expect(page.locator(".topbar .who")).to_have_text("Мария Соколова")
    _shoot(page, "setup-checklist.png")
    context.close()


class Serve:
    """`callcenter serve` as a process of its own session (the test stops what it started)."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("CALLCENTER_") and k not in ("REDIS_URL", "DATABASE_URL")}
        environ.update({"CALLCENTER_INSTANCE_DIR": str(tmp_path / "instance"), "PYTHONPATH": str(ROOT), **env})
        self.log = tmp_path / "serve.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "callcenter.cli", "serve", "--port", str(self.port), *args],
                env=environ, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def get(self, path: str) -> tuple[int, str]:
        """Status and Location, redirects not followed."""
        class Keep(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:
                return None

        try:
            with urllib.request.build_opener(Keep).open(f"http://127.0.0.1:{self.port}{path}",
                                                        timeout=5) as response:
                return response.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")
        except OSError:
            assert self.proc.poll() is None, self.log.read_text()
            return 0, ""

    def stop(self) -> None:
        """SIGTERM to serve stops its worker and Redis too (tests/test_serve_stop.py)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


@pytest.mark.parametrize("args,env", [(("--no-demo",), {}),
                                      ((), {"CALLCENTER_ENV": "production",
                                            "CALLCENTER_SECRET_KEY": "first-run-production-key"})],
                         ids=["no-demo", "production"])
def test_serve_on_an_empty_database_opens_the_setup_page(tmp_path: Path, args: tuple[str, ...],
                                                         env: dict[str, str]) -> None:
    served = Serve(tmp_path, *args, **env)
    try:
        _wait(lambda: served.get("/setup")[0] == 200, "serve answers /setup")
        assert served.get("/desk") == (302, "/setup")
        assert "demo:" not in served.log.read_text()
    finally:
        served.stop()
