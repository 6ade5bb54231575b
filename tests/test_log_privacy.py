"""No full phone number and no patient name in any log line, whatever path the call takes."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter import create_app
from callcenter.logging_setup import configure, scrub
from callcenter.models import Call, Staff, StaffRole
from tests.conftest import app_settings
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

from . import factories as f

SECRET = "generic-secret"
CALLER = "+79001234567"
FAMILY = "+79161112233"
NAMES = ("Кузнецова", "Мария", "Ивановна", "Petrov", "Ivan")


@pytest.mark.parametrize("text", [
    "+79001234567", "+7 (900) 123-45-67", "+7 900 123 45 67", "%2B79001234567", "79001234567",
    "89001234567", "8 900 123-45-67", "8 (900) 123-45-67", "9001234567", "+8613912345678",
    "tel:+442071838750", "caller=79001234567&x=1",
])
def test_every_way_of_writing_a_number_is_masked(text: str) -> None:
    masked = scrub(text)
    assert "*" in masked and not re.search(r"\d{3}", re.sub(r"[\s\-()]", "", masked).replace("%2B", "")), masked


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
