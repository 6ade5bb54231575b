"""The desk over HTTP with real Redis and both databases: webhook → SSE pop, the pop/close rule,
resume, booking and cancellation rules, family pick, lists, audit, lock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    Call,
    CallOutcome,
    DialTask,
    TaskPurpose,
    utcnow,
)
from callcenter.desk import feed as desk_feed
from callcenter.desk.feed import CLOSE, POP, UPDATE, desk_action
from callcenter.inbound import screenpop
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET,
                        CLICK_TO_CALL="off")


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


def _sign_in(client: Any, staff: Any) -> None:
    f.open_session(client, object_session(staff), staff, csrf="t")


def _post(client: Any, call_id: str, event: str, **kw: Any) -> None:
    body, headers = w.webhook(call_id, event, **kw)
    response = client.post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 204, response.get_data(as_text=True)


@pytest.mark.parametrize(("kind", "event_ext", "status", "answered_by", "was_answered", "desk", "want"), [
    ("ringing", "101", "ringing", None, False, "101", POP),
    ("ringing", "101", "ringing", None, False, "102", None),
    ("ringing", None, "ringing", None, False, "102", POP),  # ring-all
    ("ringing", "101", "answered", "102", True, "101", None),  # replayed after another desk took it
    ("ringing", "101", "answered", "101", True, "101", POP),  # resumed: still mine
    ("answered", "101", "answered", "101", True, "101", POP),
    ("answered", "101", "answered", "101", True, "102", CLOSE),
    ("answered", None, "answered", None, True, "102", UPDATE),
    ("ended", None, "completed", "101", True, "101", UPDATE),
    ("ended", None, "completed", "101", True, "102", CLOSE),
    ("missed", None, "missed", None, False, "101", CLOSE),
])
def test_pop_and_close_rule(kind: str, event_ext: str | None, status: str, answered_by: str | None,
                            was_answered: bool, desk: str, want: str | None) -> None:
    assert desk_action(kind, event_ext, status, answered_by, was_answered, desk) == want


def test_ringing_webhook_pops_the_card_with_script_and_audit(client, session: Session,
                                                             world: w.World) -> None:
    _sign_in(client, world.anna)
    _post(client, "c-1", "ringing")
    _event_id, message = w.first_message(client, **{"Last-Event-ID": "0-0"})
    assert message["sse"] == "pop" and message["status"] == "ringing"
    card = message["card"]
    assert card["call"]["channel"] == {"code": "maps_listing", "name": "Maps listing", "label": "implants"}
    [maria] = card["patients"]
    assert maria["id"] == world.maria.id and maria["address"] == "Мария Ивановна"
    assert not maria["new"] and maria["visits"] == 1 and maria["last_visit"]["service"] == "Пломба"
    assert [a["service"] for a in maria["next_appointments"]] == ["Чистка"]
    assert [d["purpose"] for d in maria["due"]] == ["recall"]
    assert maria["notes"] == "Боится анестезии"
    script = card["script"]
    assert script["scenario"] == "repeat_patient" and script["locale"] == "ru"
    greeting = " ".join(i["text"] for s in script["sections"] for i in s["items"])
    assert "Мария Ивановна" in greeting and "Анна" in greeting  # the popping desk's own name
    assert len(script["slots"]) == 2 and all(s["doctor_id"] == world.doctor.id for s in script["slots"])
    views = session.scalars(select(AuditLog).where(AuditLog.action == "view_patient")).all()
    assert [(v.staff_id, v.object_id, v.details["via"]) for v in views] == [
        (world.anna.id, str(world.maria.id), "pop")]


def _pops(client: Any, count: int) -> list[int]:
    """Read the desk's stream from the start until `count` pops, then hang up; their patients."""
    read = [message for _id, message in w.messages(client, count, **{"Last-Event-ID": "0-0"})]
    assert [message["sse"] for message in read] == ["pop"] * count
    return [p["id"] for message in read for p in message["card"]["patients"]]


def test_the_cards_of_one_read_are_audited_as_sent(client, session: Session, world: w.World) -> None:
    """Both rings come in one read of the stream: a desk that hangs up after the first card
    is audited for that card only; one that reads both, for both."""
    _sign_in(client, world.anna)
    _post(client, "c-1", "ringing")
    _post(client, "c-2", "ringing", caller=w.EMILY_PHONE)

    def viewed() -> list[str]:
        session.expire_all()
        return sorted(session.scalars(select(AuditLog.object_id).where(
            AuditLog.action == "view_patient", AuditLog.staff_id == world.anna.id)))

    assert _pops(client, 1) == [world.maria.id]
    assert viewed() == [str(world.maria.id)]
    assert _pops(client, 2) == [world.maria.id, world.emily.id]
    assert viewed() == sorted([str(world.maria.id)] * 2 + [str(world.emily.id)])


def test_other_desks_close_when_one_answers(app, client, session: Session, world: w.World) -> None:
    runtime = app.extensions["callcenter"]
    _post(client, "c-2", "ringing", extension=None)  # ring-all
    _post(client, "c-2", "answered", extension="101")
    entries = list(screenpop.read(runtime, "0-0", block_ms=10))
    anna = desk_feed.Desk(world.anna.id, frozenset({world.clinic.id}), "101", "ru")
    john = desk_feed.Desk(world.john.id, frozenset({world.clinic.id}), "102", "en")
    (ring_id, ring), (answer_id, answer) = entries
    # Replayed after the answer (a desk that resumes late): the ringing pop is only for the answerer.
    assert desk_feed.message_for(runtime, john, ring_id, ring, utcnow()) is None
    assert desk_feed.message_for(runtime, anna, ring_id, ring, utcnow()).text.startswith(
        f"id: {ring_id}\nevent: pop")
    assert "event: close" in desk_feed.message_for(runtime, john, answer_id, answer, utcnow()).text
    assert "event: pop" in desk_feed.message_for(runtime, anna, answer_id, answer, utcnow()).text
    call_id = ring["call_id"]  # a desk that popped it already only hears the new state
    assert desk_feed.message_for(runtime, anna, answer_id, answer, utcnow(), {call_id}).kind == "update"


def test_answers_and_ends_are_decided_from_the_event_as_the_row_would(app, client, session: Session,
                                                                    world: w.World) -> None:
    """Every desk hears every event of its clinics: an answer or an end is decided from who
    answered, carried by the event, without reading the call (the desks fell behind at 60
    webhooks a second reading it); the outcome is the one the row gives."""
    runtime = app.extensions["callcenter"]
    _post(client, "c-9", "ringing", extension=None)
    _post(client, "c-9", "answered", extension="101")
    _post(client, "c-9", "ended", extension=None)
    _post(client, "c-10", "ringing", extension=None)
    _post(client, "c-10", "ended", extension=None)  # nobody answered: missed
    entries = list(screenpop.read(runtime, "0-0", block_ms=10))
    anna = desk_feed.Desk(world.anna.id, frozenset({world.clinic.id}), "101", "ru")
    john = desk_feed.Desk(world.john.id, frozenset({world.clinic.id}), "102", "en")
    decided = []
    for event_id, payload in entries[1:]:
        if payload["event"] == "ringing":
            continue
        legacy = {k: v for k, v in payload.items() if k not in ("answered", "answered_by")}
        for desk in (anna, john):
            fast = desk_feed.message_for(runtime, desk, event_id, payload, utcnow(), {payload["call_id"]})
            read = desk_feed.message_for(runtime, desk, event_id, legacy, utcnow(), {payload["call_id"]})
            assert (fast and fast.kind) == (read and read.kind)
            decided.append((payload["event"], desk.extension, fast and fast.kind))
            # A call no longer in the database (or another process's) is decided all the same.
            gone = desk_feed.message_for(runtime, desk, event_id, {**payload, "call_id": 10**9}, utcnow(),
                                         {10**9})
            assert (gone and gone.kind) == (fast and fast.kind)
    assert decided == [("answered", "101", "update"), ("answered", "102", "close"),
                       ("ended", "101", "update"), ("ended", "102", "close"),
                       ("ended", "101", "close"), ("ended", "102", "close")]


def test_stream_resumes_after_last_event_id(client, session: Session, world: w.World) -> None:
    _sign_in(client, world.john)
    _post(client, "c-3", "ringing", extension="102")
    first_id, first = w.first_message(client, **{"Last-Event-ID": "0-0"})
    _post(client, "c-4", "ringing", extension="102", caller=w.STRANGER_PHONE)
    second_id, second = w.first_message(client, **{"Last-Event-ID": first_id})
    assert second_id > first_id and second["call_id"] != first["call_id"]
    assert second["card"]["patients"] == [] and second["card"]["call"]["first_time"] is True
    assert second["card"]["script"]["scenario"] == "first_time"


def test_book_an_offered_slot_and_cancel_only_with_a_next_contact(client, session: Session,
                                                                   world: w.World) -> None:
    _sign_in(client, world.anna)
    _post(client, "c-5", "ringing")
    call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "c-5"))
    card = client.get(f"/api/desk/calls/{call_id}/card").json
    slot = card["script"]["slots"][1]
    booked = client.post(f"/api/desk/calls/{call_id}/book",
                         json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]})
    assert booked.status_code == 200, booked.json
    again = client.post(f"/api/desk/calls/{call_id}/book",
                        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]})
    assert again.status_code == 409 and again.json["field"] == "starts_at"
    appointment = session.get(Appointment, booked.json["appointment_id"])
    assert appointment.patient_id == world.maria.id and appointment.created_by_call_id == call_id
    assert session.get(Call, call_id).outcome == CallOutcome.BOOKED

    refused = client.post(f"/api/desk/appointments/{appointment.id}/cancel", json={"call_id": call_id})
    assert refused.status_code == 409 and refused.json["field"] == "next_contact"
    outcome = client.post(f"/api/desk/calls/{call_id}/wrap-up", json={"outcome": "cancelled"})
    assert outcome.status_code == 409 and outcome.json["field"] == "outcome"
    when = (utcnow() + timedelta(days=1)).isoformat()
    cancelled = client.post(f"/api/desk/appointments/{appointment.id}/cancel",
                            json={"call_id": call_id, "call_back_at": when})
    assert cancelled.status_code == 200, cancelled.json
    session.expire_all()
    assert session.get(Appointment, appointment.id).status == AppointmentStatus.CANCELLED
    task = session.get(DialTask, cancelled.json["task_id"])
    assert task.purpose == TaskPurpose.CALL_BACK and task.call_id == call_id and task.phone == w.MARIA_PHONE
    wrap = client.post(f"/api/desk/calls/{call_id}/wrap-up",
                       json={"outcome": "cancelled", "heard_from": "maps_listing", "notes": "перезвонить"})
    assert wrap.status_code == 200
    session.expire_all()
    call = session.get(Call, call_id)
    assert call.outcome == CallOutcome.CANCELLED and call.heard_from_channel.code == "maps_listing"


def test_family_number_lists_everyone_and_the_pick_sticks(client, session: Session,
                                                           world: w.World) -> None:
    _sign_in(client, world.anna)
    _post(client, "c-6", "ringing", caller=w.FAMILY_PHONE)
    call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "c-6"))
    card = client.get(f"/api/desk/calls/{call_id}/card").json
    assert [p["name"] for p in card["patients"]] == ["Орлов Пётр Андреевич", "Орлова Алиса Петровна"]
    picked = client.post(f"/api/desk/calls/{call_id}/patient", json={"patient_id": world.family[1].id})
    assert picked.json["call"]["patient_id"] == world.family[1].id
    greeting = " ".join(i["text"] for s in picked.json["script"]["sections"] for i in s["items"])
    assert "Алиса Петровна" in greeting


def test_unknown_caller_gets_a_card_and_missed_calls_wait_on_the_list(client, session: Session,
                                                                       world: w.World) -> None:
    _sign_in(client, world.anna)
    _post(client, "c-7", "ringing", caller=w.STRANGER_PHONE, timestamp=(utcnow() - timedelta(minutes=20)).timestamp())
    _post(client, "c-7", "missed", caller=w.STRANGER_PHONE)
    lists = client.get("/api/desk/lists").json
    [missed] = lists["missed"]
    assert missed["number_e164"] == w.STRANGER_PHONE and 19 <= missed["waited_minutes"] <= 21
    call_id = missed["call_id"]
    created = client.post(f"/api/desk/calls/{call_id}/new-patient",
                          json={"last_name": "Зайцев", "first_name": "Олег"})
    assert created.status_code == 200
    [patient] = created.json["patients"]
    assert patient["is_lead"] and patient["phones_e164"] == [w.STRANGER_PHONE]
    empty = client.post(f"/api/desk/calls/{call_id}/new-patient", json={"last_name": " "})
    assert empty.status_code == 400 and empty.json["field"] == "first_name"


def test_confirmation_marks(client, session: Session, world: w.World) -> None:
    _sign_in(client, world.anna)
    lists = client.get("/api/desk/lists").json
    assert [c["patient_id"] for c in lists["confirmations"]] == [world.family[0].id]  # tomorrow's visit
    assert [(b["purpose"], b["patient_id"]) for b in lists["call_backs"]] == [("call_back", world.family[1].id)]
    appointment = session.scalars(select(Appointment).where(
        Appointment.status == AppointmentStatus.BOOKED, Appointment.patient_id == world.maria.id)).one()
    marked = client.post(f"/api/desk/appointments/{appointment.id}/mark", json={"mark": "call"})
    assert marked.json["status"] == "call_back"
    marked = client.post(f"/api/desk/appointments/{appointment.id}/mark", json={"mark": "confirmed"})
    assert marked.json["status"] == "confirmed"
    bad = client.post(f"/api/desk/appointments/{appointment.id}/mark", json={"mark": "maybe"})
    assert bad.status_code == 409 and bad.json["field"] == "mark"


def test_locked_desk_shows_nothing_until_the_password(client, session: Session, world: w.World) -> None:
    _sign_in(client, world.anna)
    assert client.post("/api/desk/lock").status_code == 200
    assert client.get("/api/desk/lists").status_code == 423
    assert client.get("/desk/stream", headers={"Accept": "text/event-stream"}).status_code == 423
    assert client.post("/api/desk/unlock", json={"password": "nope"}).status_code == 403
    assert client.post("/api/desk/unlock", json={"password": w.PASSWORD}).status_code == 200
    assert client.get("/api/desk/lists").status_code == 200


def test_unlock_guessing_is_throttled_like_sign_in(client, session: Session, world: w.World) -> None:
    _sign_in(client, world.anna)
    client.post("/api/desk/lock")
    statuses = [client.post("/api/desk/unlock", json={"password": f"guess{n}"}).status_code
                for n in range(6)]
    assert statuses == [403] * 5 + [429]
    refused = client.post("/api/desk/unlock", json={"password": w.PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_desk_page_speaks_the_staff_language(client, session: Session, world: w.World) -> None:
    _sign_in(client, world.john)
    page = client.get("/desk").get_data(as_text=True)
    assert "Missed calls to return" in page and 'lang="en"' in page
    _sign_in(client, world.anna)
    page = client.get("/desk").get_data(as_text=True)
    assert "Пропущенные — перезвонить" in page



def test_refusals_speak_the_staff_language(client, session: Session, world: w.World) -> None:
    """A JSON refusal's message is in the reader's language; `error` and `field` stay codes."""
    appointment = session.scalars(select(Appointment).where(
        Appointment.status == AppointmentStatus.BOOKED, Appointment.patient_id == world.maria.id)).one()
    _post(client, "c-lang", "ringing")
    call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "c-lang"))
    world.john.locale = "zh"
    session.commit()
    want = {
        "ru": ("такого звонка нет", "одно из: confirmed, call", "содержит символ NUL",
               "длиннее 5000 знаков"),
        "zh": ("没有此通话", "可选值：confirmed, call", "包含 NUL 字符", "超过 5000 个字符"),
    }
    for staff, locale in ((world.anna, "ru"), (world.john, "zh")):
        _sign_in(client, staff)
        missing = client.get("/api/desk/calls/999999999/card")  # DeskError (the desk's handler)
        mark = client.post(f"/api/desk/appointments/{appointment.id}/mark", json={"mark": "maybe"})
        nul = client.post(f"/api/desk/calls/{call_id}/wrap-up", json={"notes": "a\x00b"})
        long = client.post(f"/api/desk/calls/{call_id}/wrap-up", json={"notes": "x" * 5001})
        assert missing.status_code == 404 and mark.status_code == 409
        assert nul.status_code == long.status_code == 400  # InputError (the app's handler)
        assert (missing.json["error"], missing.json["field"]) == ("invalid_request", "call_id")
        assert (mark.json["error"], mark.json["field"]) == ("rejected", "mark")
        assert (nul.json["error"], nul.json["field"]) == ("invalid_request", "notes")
        got = tuple(r.json["message"] for r in (missing, mark, nul, long))
        assert got == want[locale]

def test_desk_needs_a_desk_role(client, session: Session, world: w.World) -> None:
    assert client.get("/api/desk/lists").status_code == 401
    assert client.get("/desk").status_code == 302


def test_patient_card_page_is_audited(client, session: Session, world: w.World) -> None:
    _sign_in(client, world.john)
    page = client.get(f"/desk/patients/{world.emily.id}").get_data(as_text=True)
    assert "Emily Clark" in page and "Ms. Clark" in page and "Prefers evening visits" in page
    assert client.get("/desk/patients/999999").status_code == 404
    [view] = session.scalars(select(AuditLog).where(AuditLog.action == "view_patient")).all()
    assert (view.staff_id, view.object_id, view.details["via"]) == (world.john.id, str(world.emily.id), "card_page")
