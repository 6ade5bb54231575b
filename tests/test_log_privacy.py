"""No full phone number and no patient name in any log line, whatever path the call takes."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from callcenter import create_app
from callcenter.core.db import make_engine, make_session_factory, session_scope
from callcenter.core.logging_setup import configure, scrub
from callcenter.core.models import Call, DoctorSchedule, Staff, StaffRole
from tests import factories as f
from tests.campaign_env import served
from tests.conftest import app_settings
from tests.services import Gunicorn
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "generic-secret"
CALLER = "+79001234567"
FAMILY = "+79161112233"
NAMES = ("Кузнецова", "Мария", "Ивановна", "Petrov", "Ivan")
LOOKUP_KEY = "3cx-key-Zq81"
LOOKED_UP = "+79161234567"
# The same number the ways a PBX, a browser or curl may put it in a URL, and the key in the query.
LOOKUPS = [
    "/3cx/lookup?number=%2B7%20916%20123-45-67", "/3cx/lookup?number=+7+916+123-45-67",
    "/3cx/lookup?number=89161234567", "/3cx/lookup?number=%2B79161234567",
    "/3cx/lookup?number=+79161234567", "/3cx/lookup?number=8%20(916)%20123-45-67",
]


@pytest.mark.parametrize("text", [
    "+79001234567", "+7 (900) 123-45-67", "+7 900 123 45 67", "%2B79001234567", "79001234567",
    "89001234567", "8 900 123-45-67", "8 (900) 123-45-67", "9001234567", "+8613912345678",
    "tel:+442071838750", "caller=79001234567&x=1", "GET /3cx/lookup?number=%2B7%20900%20123-45-67",
    "GET /3cx/lookup?number=+7+900+123-45-67 HTTP/1.1", "number=8%20(900)%20123%2045%2067",
])
def test_every_way_of_writing_a_number_is_masked(text: str) -> None:
    masked = scrub(text)
    assert "*" in masked and not re.search(r"\d{3}", re.sub(r"[\s\-()]", "", masked).replace("%2B", "")), masked


@pytest.mark.parametrize(("text", "hidden"), [
    ("/3cx/lookup?number=1&key=Zq81", "Zq81"), ("GET /x?api_key=Zq81&a=1 HTTP/1.1", "Zq81"),
    ("?access_token=Zq81", "Zq81"), ("&signature=Zq81%3D", "Zq81"), ("password=Zq81 next", "Zq81"),
    ("DETAIL:  Key (clinic_id, last_name)=(1, Кузнецова) already exists.", "Кузнецова"),
    ("DETAIL:  Failing row contains (7, 1, Кузнецова, Мария, null).", "Мария"),
])
def test_credentials_in_query_strings_and_database_details_are_hidden(text: str, hidden: str) -> None:
    masked = scrub(text)
    assert hidden not in masked and "(hidden)" in masked, masked


@pytest.mark.parametrize("text", ["2+2=4", "monkey=banana", "/desk?day=2026-03-10&page=2"])
def test_ordinary_query_strings_are_left_alone(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize("text", [
    "webhook 42 rejected: signature does not match", "2026-03-10 07:00:00,123", "call 7 lasted 60 s",
    "zadarma call 1714546805.123 ended", "raw ids 1234567 and 7654321", "port 5432",
])
def test_ordinary_figures_are_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_masking_happens_in_the_record_so_every_handler_gets_it(app, caplog) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("callcenter.test").info("caller %s, card %s", CALLER, 17)
    try:
        raise ValueError(f"duplicate key (caller)=({CALLER})")
    except ValueError:
        logging.getLogger("callcenter.test").exception("insert failed")
    assert "+7********67" in caplog.text and "card 17" in caplog.text
    assert "9001234567" not in caplog.text


def _signed(client: Any, events: list[dict[str, Any]]) -> Any:
    body = json.dumps(events).encode()
    stamp = int(time.time())
    return client.post("/webhooks/generic", data=body, content_type="application/json",
                       headers={TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(SECRET, stamp, body)})


def _call_events(call_id: str, caller: str) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    base = {"call_id": call_id, "direction": "inbound", "from": caller, "to": "+74951234567"}
    return [
        {**base, "event": "ringing", "timestamp": start.isoformat()},
        {**base, "event": "answered", "extension": "101", "timestamp": (start + timedelta(seconds=5)).isoformat()},
        {**base, "event": "ended", "extension": "101", "duration": 60,
         "timestamp": (start + timedelta(seconds=65)).isoformat()},
    ]


def test_a_whole_call_and_the_desk_work_leave_no_number_or_name_in_the_logs(
        database_url: str, redis_url: str, tmp_path, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="callcenter")
    caplog.set_level(logging.DEBUG, logger="webhooks")
    settings = app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=SECRET, LOG_LEVEL="DEBUG",
                            LOG_FORMAT="json", **{"3CX_SECRET": "3cx-key"})
    app = create_app(settings)  # made here so its handler writes into this test's captured stderr
    session: Session = app.extensions["callcenter"].sessions()
    try:
        clinic = f.clinic(session)
        f.patient(session, clinic, FAMILY, first_name="Ivan", last_name="Petrov")
        doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, login="doc", first_name="Oleg",
                       last_name="Dentist")
        # Round the clock, so the booking below fits the doctor's schedule whenever this runs.
        doctor.schedules = [DoctorSchedule(weekday=d, starts=clock(0), ends=clock(23, 59)) for d in range(7)]
        session.add(doctor)
        session.commit()
        client = app.test_client()
        assert _signed(client, _call_events("log-1", CALLER)).status_code == 204
        assert _signed(client, _call_events("log-2", FAMILY)).status_code == 204
        assert client.post("/webhooks/generic", data=json.dumps({"from": CALLER}),
                           content_type="application/json").status_code == 403
        call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "log-1"))

        f.signed_in(client, session, extension="101")
        assert client.get(f"/api/desk/calls/{call_id}/card").status_code == 200
        created = client.post(f"/api/desk/calls/{call_id}/new-patient", json={
            "last_name": "Кузнецова", "first_name": "Мария", "patronymic": "Ивановна",
            "notes": f"second number {FAMILY}"})
        assert created.status_code == 200
        session.expire_all()
        patient_id = session.scalar(select(Call.patient_id).where(Call.id == call_id))
        starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        booked = client.post(f"/api/desk/calls/{call_id}/book", json={
            "doctor_id": doctor.id, "starts_at": starts.isoformat(), "service": "consultation"})
        assert booked.status_code == 200, booked.json
        assert client.post(f"/api/desk/calls/{call_id}/wrap-up", json={
            "outcome": "booked", "notes": "asked about implants"}).status_code == 200
        assert client.get(f"/desk/patients/{patient_id}").status_code == 200
        assert client.get("/3cx/lookup?number=%2B79161112233", headers={"X-Api-Key": "3cx-key"}).status_code == 200
        request_id = client.get("/healthz", headers={"X-Request-Id": "probe-1"}).headers["X-Request-Id"]
        assert request_id == "probe-1"
    finally:
        session.close()
        app.extensions["callcenter"].close()

    printed = capsys.readouterr().err
    lines = [json.loads(line) for line in printed.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(x) for x in lines)
    assert any(x["request_id"] != "-" for x in lines)
    assert "+7********67" in printed and "+7********33" in printed  # the calls were logged, masked
    for text in (printed, caplog.text):
        for secret in (CALLER[2:], FAMILY[2:], *NAMES):
            assert secret not in text, secret


def test_json_lines_carry_the_masked_traceback(app) -> None:
    stream = io.StringIO()
    configure("INFO", "json", stream)
    try:
        raise RuntimeError(f"row (caller)=({CALLER}) already exists")
    except RuntimeError:
        logging.getLogger("callcenter.test").exception("could not store call from %s", CALLER)
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["level"] == "ERROR" and line["logger"] == "callcenter.test" and line["request_id"] == "-"
    assert line["message"] == "could not store call from +7********67"
    assert "RuntimeError" in line["exception"] and CALLER[2:] not in line["exception"]


def test_a_failed_insert_logs_neither_the_patient_nor_the_number(
        database_url: str, redis_url: str, tmp_path: Path, capsys: Any, caplog: Any) -> None:
    """The database refuses the new card (a unique index stands in for any constraint): the
    500's traceback is logged without the statement's values or PostgreSQL's DETAIL values."""
    caplog.set_level(logging.DEBUG)
    app = create_app(app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=SECRET))
    session: Session = app.extensions["callcenter"].sessions()
    session.execute(sql("CREATE UNIQUE INDEX test_one_surname ON patients (clinic_id, last_name)"))
    session.commit()
    try:
        f.patient(session, f.clinic(session), FAMILY, first_name="Мария", last_name="Кузнецова")
        session.commit()
        client = app.test_client()
        assert _signed(client, _call_events("dup-1", CALLER)).status_code == 204
        call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "dup-1"))
        f.signed_in(client, session, extension="101")
        refused = client.post(f"/api/desk/calls/{call_id}/new-patient", json={
            "last_name": "Кузнецова", "first_name": "Мария", "patronymic": "Ивановна",
            "notes": f"second number {FAMILY}"})
        assert refused.status_code == 500
    finally:
        session.rollback()
        session.execute(sql("DROP INDEX test_one_surname"))
        session.commit()
        session.close()
        app.extensions["callcenter"].close()

    printed = capsys.readouterr().err
    assert "IntegrityError" in printed and "SQL parameters hidden" in printed
    if database_url.startswith("postgresql"):
        assert "DETAIL:  Key (clinic_id, last_name)=(hidden)" in printed
    for logged in (printed, caplog.text):
        for secret in (CALLER[2:], FAMILY[2:], *NAMES):
            assert secret not in logged, secret


def _lookups(base: str) -> None:
    for path in LOOKUPS:
        request = urllib.request.Request(f"{base}{path}", headers={"X-Api-Key": LOOKUP_KEY})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    # The key belongs in the header; a PBX template that still sends it in the query string is
    # refused, and its access-log line must not keep the key either.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/3cx/lookup?key={LOOKUP_KEY}&number=89161234567", timeout=30)
    assert refused.value.code == 403


def _assert_access_log_masked(text: str, requests: int) -> None:
    assert text.count("/3cx/lookup?") == requests, text
    assert "key=(hidden)" in text and "+7********67" in text
    for secret in (LOOKUP_KEY, LOOKED_UP[2:], "916%20123", "916+123", "916 123", "(916)"):
        assert secret not in text, secret


def _lookup_world(url: str) -> None:
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        f.patient(session, f.clinic(session), LOOKED_UP, first_name="Мария", last_name="Кузнецова")
    engine.dispose()


def test_the_development_servers_request_log_masks_numbers_and_the_key(
        database_url: str, redis_url: str, tmp_path: Path, capsys: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    _lookup_world(database_url)
    app = create_app(app_settings(database_url, redis_url, tmp_path, **{"3CX_SECRET": LOOKUP_KEY}))
    try:
        with served(app) as base:  # the server `callcenter serve` runs; it logs through `werkzeug`
            _lookups(base)
    finally:
        app.extensions["callcenter"].close()
    printed = capsys.readouterr().err
    _assert_access_log_masked(printed, len(LOOKUPS) + 1)
    _assert_access_log_masked(caplog.text, len(LOOKUPS) + 1)


def test_gunicorns_access_log_masks_numbers_and_the_key(sqlite_url: str, redis_url: str,
                                                        tmp_path: Path) -> None:
    """Production serves with gunicorn; its access log (--access-logfile) goes through the mask."""
    _lookup_world(sqlite_url)
    access_log = tmp_path / "access.log"
    with Gunicorn("callcenter.wsgi:app", {
            "DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "CALLCENTER_INSTANCE_DIR": str(tmp_path),
            "CALLCENTER_SECRET_KEY": "access-log", "CALLCENTER_3CX_SECRET": LOOKUP_KEY,
            "GUNICORN_CMD_ARGS": f"--access-logfile {access_log}"}, workers=1, threads=2) as server:
        _lookups(server.base)
        deadline = time.monotonic() + 60
        while access_log.read_text().count("/3cx/lookup?") < len(LOOKUPS) + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
    _assert_access_log_masked(access_log.read_text(), len(LOOKUPS) + 1)
