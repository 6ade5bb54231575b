"""Events out (both databases): a booking at the desk reaches the clinic's receiver, a local HTTP
server, as an event signed like our own webhooks; with the receiver refusing connections for a
while, a real `python worker.py` retries until every event arrives once, in order per patient.
The same events come out of the sync API's changes feed, one clinic's only. Issue 16's connector
acceptance (10,000 patients through the API, then the desk's events through a receiver stopped and
started again) is the last test."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import EventAttempt, EventReceiver, OutboxEvent, utcnow
from callcenter.exchange.delivery import EVENT_ID_HEADER, deliver_clinic
from callcenter.exchange.tokens import create_token
from tests import desk_world as w
from tests import factories as f
from tests.campaign_env import start_worker, stop_worker, wait_until, worker_env
from tests.conftest import app_settings
from webhooks.events import InboundRequest, SignatureError
from webhooks.hmac_signing import verify_signed

SIGNING_SECRET = "receiver-signing-secret-1"


class Receiver:
    """The clinic's system: checks each POST's signature, answers 200 and keeps what came."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []  # every delivery, duplicates included
        self.refused: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = InboundRequest(provider="clinic", subpath="", method="POST", url=outer.url,
                                         headers=dict(self.headers.items()), body=body)
                try:
                    verify_signed(request, SIGNING_SECRET, 300, datetime.now(UTC))
                except SignatureError as exc:
                    outer.refused.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                assert event["id"] == self.headers[EVENT_ID_HEADER]
                outer.received.append(event)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/callcenter"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, CLICK_TO_CALL="off")


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _starts(days: int, hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(ZoneInfo("Europe/Moscow")).date()
    return datetime.combine(day, datetime.min.time().replace(hour=hour), ZoneInfo("Europe/Moscow")).isoformat()


def _configure(app: Any, session: Session, world: w.World, url: str) -> None:
    admin = app.test_client()
    f.signed_in(admin, session, role="admin", clinic_row=world.clinic, extension=None, locale="en")
    saved = admin.post("/admin/events", data={"clinic_id": world.clinic.id, "url": url,
                                              "secret": SIGNING_SECRET, "enabled": "1"})
    assert saved.status_code == 303, saved.get_data(as_text=True)


def _desk(client: Any, session: Session, world: w.World) -> None:
    f.open_session(client, session, world.anna, csrf="t")
    f.unlock_all(session)


def _book(client: Any, patient_id: int, doctor_id: int, starts_at: str) -> int:
    booked = client.post("/api/desk/schedule/book", json={
        "patient_id": patient_id, "doctor_id": doctor_id, "starts_at": starts_at})
    assert booked.status_code == 200, booked.get_data(as_text=True)
    return int(booked.json["appointment_id"])


def _config(app: Any) -> dict[str, Any]:
    return {**app.config, "EVENTS_RETRY_SECONDS": 1, "EVENTS_RETRY_MAX": 2}


def test_a_booking_reaches_the_receiver_signed_and_the_changes_feed(
        app: Any, client: Any, session: Session, world: w.World, receiver: Receiver) -> None:
    _configure(app, session, world, receiver.url)
    sealed = session.scalar(select(EventReceiver.sealed_secret))
    assert sealed and SIGNING_SECRET not in sealed
    _desk(client, session, world)
    visit_id = _book(client, world.emily.id, world.doctor.id, _starts(2, 12))

    counts = deliver_clinic(session, world.clinic.id, _config(app), utcnow)
    assert counts == {"delivered": 1, "failed": 0} and receiver.refused == []
    [event] = receiver.received
    assert event["type"] == "appointment.booked" and event["patient_id"] == world.emily.id
    assert event["data"]["id"] == visit_id and event["data"]["status"] == "booked"
    assert event["data"]["starts_at"] == datetime.fromisoformat(_starts(2, 12)).astimezone(UTC).isoformat()
    # Delivered once: another round sends nothing.
    assert deliver_clinic(session, world.clinic.id, _config(app), utcnow)["delivered"] == 0

    admin = app.test_client()
    f.signed_in(admin, session, role="admin", clinic_row=world.clinic, extension="900", locale="en")
    page = admin.get("/admin/events").get_data(as_text=True)
    assert "appointment.booked" in page and event["id"] in page and " 200" in page
    row = session.scalar(select(OutboxEvent).where(OutboxEvent.uid == event["id"]))
    assert admin.post(f"/admin/events/{row.id}/replay").status_code == 303
    deliver_clinic(session, world.clinic.id, _config(app), utcnow)
    assert [e["id"] for e in receiver.received] == [event["id"]] * 2  # replayed: the same event id

    _, token = create_token(session, world.clinic.id, "feed")
    other = f.clinic(session, name="Other")
    _, other_token = create_token(session, other.id, "other")
    session.commit()
    feed = client.get("/api/sync/changes", headers={"Authorization": f"Bearer {token}"})
    assert feed.status_code == 200, feed.json
    assert [c["id"] for c in feed.json["changes"]] == [event["id"]] and feed.json["more"] is False
    later = client.get(f"/api/sync/changes?since={feed.json['next']}",
                       headers={"Authorization": f"Bearer {token}"})
    assert later.json == {"changes": [], "next": feed.json["next"], "more": False}
    theirs = client.get("/api/sync/changes", headers={"Authorization": f"Bearer {other_token}"})
    assert theirs.json["changes"] == []
    bad = client.get("/api/sync/changes?since=abc", headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400 and bad.json["field"] == "since"


def test_admin_form_names_the_bad_field(app: Any, session: Session, world: w.World) -> None:
    admin = app.test_client()
    f.signed_in(admin, session, role="admin", clinic_row=world.clinic, extension=None, locale="en")
    bad = admin.post("/admin/events", data={"url": "ftp://example.org", "secret": SIGNING_SECRET})
    assert bad.status_code == 400 and "an http:// or https:// address is needed" in bad.get_data(as_text=True)
    short = admin.post("/admin/events", data={"url": "https://example.org/hook", "secret": "short"})
    assert short.status_code == 400 and "from 16 to 200 characters" in short.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(EventReceiver)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unanswered(session: Session) -> int:
    """Delivery attempts nothing answered (the receiver down)."""
    session.expire_all()
    return int(session.scalar(select(func.count(EventAttempt.id))
                              .where(EventAttempt.status_code.is_(None))) or 0)


def _undelivered(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count(OutboxEvent.id))
                              .where(OutboxEvent.state != "delivered")) or 0)


def test_receiver_down_then_up_gets_every_event_once_in_order(
        app: Any, client: Any, session: Session, world: w.World, database_url: str,
        redis_url: str, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there yet: connections are refused
    _configure(app, session, world, f"http://127.0.0.1:{port}/hooks/callcenter")
    _desk(client, session, world)
    patients = [world.maria, world.emily, *world.family[:1]]
    for index, patient in enumerate(patients):
        visit = _book(client, patient.id, world.doctor.id, _starts(2, 9 + index))
        moved = client.post(f"/api/desk/appointments/{visit}/move",
                            json={"starts_at": _starts(3, 9 + index)})
        assert moved.status_code == 200, moved.get_data(as_text=True)
        marked = client.post(f"/api/desk/appointments/{moved.json['appointment_id']}/mark",
                             json={"mark": "confirmed"})
        assert marked.status_code == 200, marked.get_data(as_text=True)
    events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [e.type for e in events[:3]] == ["appointment.booked", "appointment.rescheduled",
                                           "appointment.confirmed"]
    assert len(events) == 9

    env = worker_env(database_url, redis_url, tmp_path, CALLCENTER_EVENTS_RETRY_SECONDS="1",
                     CALLCENTER_EVENTS_RETRY_MAX="2")
    proc = start_worker(env, tmp_path / "worker.log")
    receiver = None
    try:
        wait_until(lambda: _unanswered(session) >= 4, 120,
                   "the worker to try the refusing receiver a few times")
        receiver = Receiver(port)
        wait_until(lambda: _undelivered(session) == 0, 120, "every event to be delivered")
    finally:
        stop_worker(proc)
        if receiver is not None:
            receiver.close()
    assert receiver.refused == []
    got = [e["id"] for e in receiver.received]
    assert sorted(got) == sorted(e.uid for e in events) and len(got) == len(set(got))  # once each
    for patient in patients:
        theirs = [e["sequence"] for e in receiver.received if e["patient_id"] == patient.id]
        assert theirs == sorted(theirs) and len(theirs) == 3
    session.expire_all()
    failed_first = session.scalar(select(func.min(EventAttempt.event_id))
                                  .where(EventAttempt.status_code.is_(None)))
    assert failed_first == events[0].id  # the first event was refused, then retried and delivered


def test_connector_acceptance_ten_thousand_patients_then_desk_events_through_a_restarted_receiver(
        app: Any, client: Any, session: Session, world: w.World, database_url: str,
        redis_url: str, tmp_path: Path) -> None:
    """Issue 16's acceptance: a client upserts 10,000 patients in batches through the API; a
    booking at the desk reaches the receiver as a signed event; the receiver stopped and started
    again gets every event once. A real `python worker.py` delivers; the receiver is a real HTTP
    server checking each signature."""
    _, token = create_token(session, world.clinic.id, "IDENT")
    session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    ids: dict[str, int] = {}
    for start in range(0, 10_000, 1000):
        batch = [{"external_id": f"P-{n}", "last_name": f"Пациент{n}", "first_name": "Тест",
                  "phones": [{"number": f"+7 916 {n:07d}", "label": "mobile"}]}
                 for n in range(start, start + 1000)]
        answer = client.post("/api/sync/patients", json={"records": batch},
                             headers={**auth, "Idempotency-Key": f"batch-{start}"})
        assert answer.status_code == 200 and answer.json["counts"]["created"] == 1000, answer.json
        ids.update({r["external_id"]: r["id"] for r in answer.json["results"]})
    assert len(set(ids.values())) == 10_000
    assert session.scalar(select(func.count(OutboxEvent.id))) == 0  # theirs: nothing echoed back

    receiver = Receiver()
    port = receiver.server.server_port
    _configure(app, session, world, receiver.url)
    env = worker_env(database_url, redis_url, tmp_path, CALLCENTER_EVENTS_RETRY_SECONDS="1",
                     CALLCENTER_EVENTS_RETRY_MAX="2")
    proc = start_worker(env, tmp_path / "worker.log")

    try:
        _desk(client, session, world)
        first, second = ids["P-17"], ids["P-4242"]
        visit = _book(client, first, world.doctor.id, _starts(4, 10))
        wait_until(lambda: len(receiver.received) >= 1, 120, "the booking to reach the receiver")
        [booked] = receiver.received
        assert (booked["type"], booked["patient_id"], booked["data"]["id"]) == (
            "appointment.booked", first, visit)

        receiver.close()  # the clinic's system goes down; the desk carries on
        moved = client.post(f"/api/desk/appointments/{visit}/move", json={"starts_at": _starts(5, 11)})
        assert moved.status_code == 200, moved.get_data(as_text=True)
        edited = client.post(f"/desk/patients/{first}/edit", data={
            "last_name": "Пациент17", "first_name": "Тест", "phone": ["+79160000017", "+74950000017"],
            "phone_label": ["mobile", "home"], "consent_calls": "1", "language": "ru", "sex": "unknown"})
        assert edited.status_code == 303, edited.get_data(as_text=True)
        _book(client, second, world.doctor.id, _starts(4, 12))

        wait_until(lambda: _unanswered(session) >= 1, 120, "the worker to find the receiver down")
        receiver = Receiver(port)  # started again where it was
        wait_until(lambda: _undelivered(session) == 0, 120, "every event to be delivered")
    finally:
        stop_worker(proc)
        receiver.close()
    session.expire_all()
    events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [e.type for e in events] == ["appointment.booked", "appointment.rescheduled",
                                        "patient.updated", "appointment.booked"]
    got = [booked["id"], *(e["id"] for e in receiver.received)]
    assert sorted(got) == sorted(e.uid for e in events) and len(got) == len(set(got))  # once each
    assert receiver.refused == []  # every delivery carried a valid signature
    update = next(e for e in receiver.received if e["type"] == "patient.updated")
    assert update["data"]["external_id"] == "P-17" and update["data"]["changed"] == ["phones"]
    theirs = [e["sequence"] for e in [booked, *receiver.received] if e["patient_id"] == first]
    assert theirs == sorted(theirs)  # in order per patient
