"""The desk's booking paths over HTTP (both databases): the pop's key booking is idempotent and
undoable, "other time" at 03:00 is refused with a clear message, the schedule page books, moves
and lists arrivals, and the patient search finds by name, number and birth date in one clinic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Appointment, AppointmentStatus, AuditLog, Call
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Any) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, CLICK_TO_CALL="off")


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


def _desk(client: Any, session: Session, world: w.World) -> None:
    f.open_session(client, session, world.anna, csrf="t")
    f.unlock_all(session)


def _ringing(client: Any, session: Session, call_id: str) -> int:
    body, headers = w.webhook(call_id, "ringing")
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    return session.scalar(select(Call.id).where(Call.provider_call_id == call_id))


def _local(days: int, hour: int) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(ZoneInfo("Europe/Moscow")).date()
    return datetime.combine(day, datetime.min.time().replace(hour=hour), ZoneInfo("Europe/Moscow"))


def test_a_second_press_says_already_booked_and_undo_takes_it_back(client: Any, session: Session,
                                                                  world: w.World) -> None:
    _desk(client, session, world)
    call_id = _ringing(client, session, "b-1")
    slot = client.get(f"/api/desk/calls/{call_id}/card").json["script"]["slots"][0]
    first = client.post(f"/api/desk/calls/{call_id}/book",
                        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]})
    assert first.status_code == 200, first.json
    # The card's next offer, pressed again: still one visit.
    fresh = client.get(f"/api/desk/calls/{call_id}/card").json["script"]["slots"][0]
    second = client.post(f"/api/desk/calls/{call_id}/book",
                         json={"doctor_id": fresh["doctor_id"], "starts_at": fresh["starts_at"]})
    assert second.status_code == 409 and second.json["error"] == "already_booked"
    assert second.json["appointment_id"] == first.json["appointment_id"]
    made = session.scalars(select(Appointment).where(Appointment.created_by_call_id == call_id)).all()
    assert len(made) == 1
    undone = client.post(f"/api/desk/appointments/{first.json['appointment_id']}/undo", json={})
    assert undone.status_code == 200 and undone.json["status"] == "cancelled"
    session.expire_all()
    assert session.get(Call, call_id).outcome is None
    assert session.scalar(select(AuditLog.action).where(AuditLog.action == "undo_booking")) == "undo_booking"


def test_other_time_at_three_at_night_is_refused_clearly(client: Any, session: Session,
                                                          world: w.World) -> None:
    _desk(client, session, world)
    call_id = _ringing(client, session, "b-2")
    night = client.post(f"/api/desk/calls/{call_id}/book", json={
        "doctor_id": world.doctor.id, "starts_at": _local(2, 3).isoformat()})
    assert night.status_code == 409 and night.json["field"] == "starts_at"
    assert night.json["message"].startswith("вне рабочего времени врача"), night.json
    nobody = client.post(f"/api/desk/calls/{call_id}/book", json={"starts_at": _local(2, 10).isoformat()})
    assert nobody.status_code == 409 and nobody.json["field"] == "doctor_id"
    assert session.scalar(select(Appointment.id).where(Appointment.created_by_call_id == call_id)) is None


def test_the_schedule_books_moves_and_lists_today(client: Any, session: Session, world: w.World) -> None:
    _desk(client, session, world)
    day = _local(2, 0).date()
    page = client.get(f"/desk/schedule?day={day.isoformat()}&patient_id={world.emily.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    starts = _local(2, 12).astimezone(UTC).isoformat()
    assert f'data-starts="{starts}"' in html and "Clark Emily" not in html
    booked = client.post("/api/desk/schedule/book", json={
        "patient_id": world.emily.id, "doctor_id": world.doctor.id, "starts_at": starts})
    assert booked.status_code == 200, booked.json
    html = client.get(f"/desk/schedule?day={day.isoformat()}").get_data(as_text=True)
    assert f'data-appointment-id="{booked.json["appointment_id"]}"' in html
    moved = client.post(f"/api/desk/appointments/{booked.json['appointment_id']}/move",
                        json={"starts_at": _local(2, 13).isoformat()})
    assert moved.status_code == 200 and datetime.fromisoformat(moved.json["starts_at"]) == _local(2, 13)
    session.expire_all()
    assert session.get(Appointment, booked.json["appointment_id"]).status is AppointmentStatus.RESCHEDULED
    week = client.get(f"/desk/schedule?view=week&day={day.isoformat()}")
    assert week.status_code == 200 and week.get_data(as_text=True).count('class="sched-day"') == 7
    assert session.scalar(select(AuditLog.action).where(AuditLog.action == "view_schedule"))


@pytest.mark.parametrize("query", ["соколова", "Мария Соколова", "8 916 111-22-33", "1122", "1990-05-17",
                                   "17.05.1990"])
def test_patient_search_by_name_number_or_birth_date(client: Any, session: Session, world: w.World,
                                                      query: str) -> None:
    world.maria.birth_date = date(1990, 5, 17)
    other = f.clinic(session, name="Elsewhere")
    f.patient(session, other, w.MARIA_PHONE, first_name="Мария", last_name="Соколова", birth_date=date(1990, 5, 17))
    session.commit()
    _desk(client, session, world)
    found = client.get("/api/desk/patients/search", query_string={"q": query})
    assert found.status_code == 200
    assert [p["id"] for p in found.json["patients"]] == [world.maria.id]
    assert client.get("/api/desk/patients/search?q=x").json["patients"] == []
