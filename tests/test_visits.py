"""The visit's lifecycle (arrived, completed with the treatment, no-show, the day's end), the
cancellation rule with the doctor told, and the gap-fill list: domain functions and the desk's
API, on both databases."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    Campaign,
    DialMode,
    DialTask,
    DoctorNotice,
    OptOut,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
    utcnow,
)
from callcenter.outbound import gap_fill, jobs, lists
from callcenter.schedule import booking, visits
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings

TZ = "Europe/Moscow"
ZONE = ZoneInfo(TZ)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, CLICK_TO_CALL="off")


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


def _visit(session: Session, world: w.World, starts_at: datetime, patient: Any = None,
           status: AppointmentStatus = AppointmentStatus.CONFIRMED, **kw: Any) -> Appointment:
    visit = Appointment(clinic_id=world.clinic.id, patient_id=(patient or world.maria).id,
                        doctor_id=world.doctor.id, starts_at=starts_at,
                        ends_at=starts_at + timedelta(minutes=30), service="Осмотр", status=status, **kw)
    session.add(visit)
    session.commit()
    return visit


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def test_arrived_then_completed_records_the_treatment_and_starts_its_follow_ups(
        session: Session, world: w.World) -> None:
    day = date(2026, 3, 10)
    visit = _visit(session, world, _at(day, 10))
    now = _at(day, 10, 5)
    with pytest.raises(booking.BookingError, match="later day"):
        visits.arrived(_visit(session, world, _at(day + timedelta(days=1), 10), world.emily),
                       now=now, tz=TZ)
    visits.arrived(visit, now=now, tz=TZ)
    assert visit.status is AppointmentStatus.ARRIVED
    with pytest.raises(booking.BookingError) as refused:
        visits.completed(session, visit, [], now=now, tz=TZ)
    assert refused.value.field == "treatments"
    done = visits.completed(session, visit, [TreatmentType.FILLING], now=_at(day, 10, 40), tz=TZ)
    session.commit()
    assert visit.status is AppointmentStatus.COMPLETED
    treatment = session.scalars(select(Treatment).where(Treatment.appointment_id == visit.id)).one()
    assert (treatment.type, treatment.performed_on, treatment.doctor_id) == (
        TreatmentType.FILLING, day, world.doctor.id)
    # The seed table: a filling is called 1, 90, 180 and 360 days after.
    assert done.follow_ups[TreatmentType.FILLING] == [day + timedelta(days=d) for d in (1, 90, 180, 360)]
    task = done.first_task
    assert task is not None
    assert (task.purpose, task.due_date, task.treatment_id, task.phone, task.state) == (
        TaskPurpose.FOLLOW_UP, day + timedelta(days=1), treatment.id, w.MARIA_PHONE, TaskState.PENDING)
    # Tomorrow's list builder finds the same call already there: no second one.
    tomorrow = _at(day + timedelta(days=1), 12)
    assert [t.patient_id for t in lists.build_follow_ups(session, world.clinic, tomorrow)] == []
    with pytest.raises(booking.BookingError):
        visits.no_show(session, visit, now=tomorrow, tz=TZ)  # completed is final


def test_a_no_show_puts_its_call_back_on_the_list_at_once(session: Session, world: w.World) -> None:
    day = date(2026, 3, 10)
    visit = _visit(session, world, _at(day, 11))
    with pytest.raises(booking.BookingError, match="not started"):
        visits.no_show(session, visit, now=_at(day, 10), tz=TZ)
    task = visits.no_show(session, visit, now=_at(day, 11, 20), tz=TZ)
    session.commit()
    assert visit.status is AppointmentStatus.NO_SHOW
    assert (task.purpose, task.appointment_id, task.due_date, task.next_attempt_at) == (
        TaskPurpose.NO_SHOW, visit.id, day, _at(day, 11, 20))
    assert lists.build_no_shows(session, world.clinic, _at(day, 12)) == []  # the builder's is ours


def test_the_days_end_lists_unmarked_visits_and_guesses_nothing(session: Session, world: w.World) -> None:
    day = date(2026, 3, 10)
    booked = _visit(session, world, _at(day, 9), status=AppointmentStatus.BOOKED)
    only_arrived = _visit(session, world, _at(day, 12), world.emily, status=AppointmentStatus.ARRIVED)
    _visit(session, world, _at(day, 15), world.family[0], status=AppointmentStatus.COMPLETED)
    next_morning = _at(day + timedelta(days=1), 8)
    found = visits.unresolved(session, world.clinic.id, next_morning, TZ)
    assert [v.id for v in found] == [booked.id, only_arrived.id]
    assert (booked.status, only_arrived.status) == (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)
    # The desk resolves them with the same functions: a late no-show, a late completion.
    visits.no_show(session, booked, now=next_morning, tz=TZ)
    visits.completed(session, only_arrived, [TreatmentType.CLEANING], now=next_morning, tz=TZ)
    assert visits.unresolved(session, world.clinic.id, next_morning, TZ) == []


def test_a_refusal_cancels_and_tells_the_doctor(session: Session, world: w.World) -> None:
    now = utcnow()
    visit = _visit(session, world, now + timedelta(days=3))
    with pytest.raises(booking.BookingError) as refused:
        booking.cancel(session, visit, booking.NextContact(), now=now)
    assert refused.value.field == "next_contact" and visit.status is AppointmentStatus.CONFIRMED
    notice = booking.cancel(session, visit, booking.NextContact(refused="moving to another city"),
                            now=now, staff_id=world.anna.id)
    session.commit()
    assert isinstance(notice, DoctorNotice)
    assert (visit.status, notice.doctor_id, notice.patient_id, notice.note, notice.created_by_id) == (
        AppointmentStatus.CANCELLED, world.doctor.id, world.maria.id, "moving to another city", world.anna.id)


def _due_patients(session: Session, world: w.World, now: datetime) -> dict[str, Any]:
    """A waiting-list patient, an implant without its crown, a recall due, and one opted out."""
    waiting = f.patient(session, world.clinic, "+79160000001", first_name="Wait", last_name="Ing")
    implant = f.patient(session, world.clinic, "+79160000002", first_name="Im", last_name="Plant")
    recall = f.patient(session, world.clinic, "+79160000003", first_name="Re", last_name="Call")
    refused = f.patient(session, world.clinic, "+79160000004", first_name="No", last_name="Calls")
    _visit(session, world, now + timedelta(days=20), waiting, wants_earlier=True)
    session.add_all([
        Treatment(clinic_id=world.clinic.id, patient_id=implant.id, type=TreatmentType.IMPLANT,
                  performed_on=now.date() - timedelta(days=40)),
        DialTask(clinic_id=world.clinic.id, patient_id=recall.id, purpose=TaskPurpose.RECALL,
                 due_date=now.date(), phone="+79160000003", state=TaskState.PENDING),
        Treatment(clinic_id=world.clinic.id, patient_id=refused.id, type=TreatmentType.IMPLANT,
                  performed_on=now.date() - timedelta(days=10)),
        OptOut(e164="+79160000004", clinic_id=world.clinic.id, scope="all", source="desk"),
    ])
    session.commit()
    return {"waiting": waiting, "implant": implant, "recall": recall, "refused": refused}


def test_a_freed_slot_is_offered_to_the_patients_who_are_due(session: Session, world: w.World) -> None:
    now = utcnow()
    due = _due_patients(session, world, now)
    visit = _visit(session, world, now + timedelta(days=2))
    booking.cancel(session, visit, booking.NextContact(call_back_at=now + timedelta(days=1)), now=now)
    assert gap_fill.offer_now(session, world.clinic, now) == 3
    session.commit()
    offers = session.scalars(select(DialTask).where(DialTask.purpose == TaskPurpose.GAP_FILL)
                             .order_by(DialTask.priority)).all()
    # The waiting list first, then the unfinished treatment, then the recall; never the opted-out.
    assert [(t.patient_id, t.notes, t.appointment_id) for t in offers] == [
        (due["waiting"].id, "waiting_list", visit.id), (due["implant"].id, "unfinished_treatment", visit.id),
        (due["recall"].id, "recall_due", visit.id)]
    assert all(t.deadline_at == visit.starts_at for t in offers)
    assert gap_fill.offer_now(session, world.clinic, now) == 0  # once per freed slot
    # Somebody takes the slot: it is no longer open, so the offers leave the desk's list.
    assert gap_fill.slot_open(session, visit, now)
    _visit(session, world, visit.starts_at, due["recall"])
    assert not gap_fill.slot_open(session, visit, now)


def test_the_desk_api_marks_visits_and_lists_the_days_end(client: Any, session: Session,
                                                            world: w.World) -> None:
    f.signed_in(client, session, role="receptionist", clinic_row=world.clinic, locale="en")
    now = utcnow()
    today_visit = _visit(session, world, now - timedelta(minutes=5))
    yesterday = _visit(session, world, now - timedelta(days=1, minutes=5), world.emily,
                       status=AppointmentStatus.BOOKED)
    listing = client.get("/api/desk/visits").get_json()
    assert today_visit.id in [v["appointment_id"] for v in listing["visits"]]
    assert [v["appointment_id"] for v in listing["unresolved"]] == [yesterday.id]
    bad = client.post(f"/api/desk/visits/{today_visit.id}/completed", json={"treatments": ["gold"]})
    assert (bad.status_code, bad.get_json()["field"]) == (400, "treatments")
    assert client.post(f"/api/desk/visits/{today_visit.id}/arrived").get_json()["status"] == "arrived"
    again = client.post(f"/api/desk/visits/{today_visit.id}/arrived")
    assert (again.status_code, again.get_json()["field"]) == (409, "appointment_id")
    done = client.post(f"/api/desk/visits/{today_visit.id}/completed",
                       json={"treatments": ["root_canal"]}).get_json()
    local_day = today_visit.starts_at.astimezone(ZONE).date()
    assert done["follow_ups"] == {"root_canal": [(local_day + timedelta(days=d)).isoformat() for d in (1, 15)]}
    assert session.get(DialTask, done["follow_up_task_id"]).purpose is TaskPurpose.FOLLOW_UP
    missed = client.post(f"/api/desk/visits/{yesterday.id}/no-show").get_json()
    assert session.get(DialTask, missed["call_back_task_id"]).purpose is TaskPurpose.NO_SHOW
    assert client.get("/api/desk/visits").get_json()["unresolved"] == []
    actions = set(session.scalars(select(AuditLog.action)))
    assert {"view_visits", "visit_arrived", "visit_completed", "visit_no_show"} <= actions
    assert client.get("/api/desk/visits?day=yesterday").status_code == 400


def test_the_desk_cancel_with_a_refusal_tells_the_doctor_and_offers_the_slot(
        client: Any, session: Session, world: w.World) -> None:
    f.signed_in(client, session, role="receptionist", clinic_row=world.clinic, locale="en")
    now = utcnow()
    due = _due_patients(session, world, now)
    visit = _visit(session, world, now + timedelta(days=2))
    refused = client.post(f"/api/desk/appointments/{visit.id}/cancel", json={})
    assert (refused.status_code, refused.get_json()["field"]) == (409, "next_contact")
    reply = client.post(f"/api/desk/appointments/{visit.id}/cancel", json={"refused": "no reason given"})
    assert reply.status_code == 200
    notice_id = reply.get_json()["doctor_notice_id"]
    listing = client.get("/api/desk/visits").get_json()
    assert [n["notice_id"] for n in listing["notices"]] == [notice_id]
    assert client.post(f"/api/desk/notices/{notice_id}/seen").status_code == 200
    assert client.get("/api/desk/visits").get_json()["notices"] == []
    offered = {t.patient_id for t in session.scalars(select(DialTask).where(
        DialTask.purpose == TaskPurpose.GAP_FILL, DialTask.appointment_id == visit.id))}
    assert offered == {due["waiting"].id, due["implant"].id, due["recall"].id}


def test_the_list_gives_the_no_show_call_its_script_and_two_slots(client: Any, session: Session,
                                                                  world: w.World) -> None:
    f.signed_in(client, session, role="receptionist", clinic_row=world.clinic, locale="en")
    visit = _visit(session, world, utcnow() - timedelta(hours=1), world.emily)
    task = visits.no_show(session, visit, now=utcnow(), tz=TZ)
    session.commit()
    script = client.get(f"/api/campaigns/tasks/{task.id}/script").get_json()
    assert (script["scenario"], script["locale"]) == ("no_show", "en")  # Emily's language
    assert len(script["slots"]) == 2 and {s["doctor_id"] for s in script["slots"]} == {world.doctor.id}
    said = " ".join(i["text"] + i.get("answer", "") for section in script["sections"]
                    for i in section["items"])
    assert all(slot["label"] in said for slot in script["slots"]) and "Ms. Clark" in said
    assert script["missing"] == []  # the visit, the doctor and the slots are all filled in
    assert "view_script" in set(session.scalars(select(AuditLog.action)))
    assert client.get("/api/campaigns/tasks/999999/script").status_code == 404


def test_the_planner_puts_the_desks_own_tasks_on_their_days_lists(app: Any, session: Session,
                                                                   world: w.World, redis_url: str) -> None:
    day = date(2026, 3, 10)
    visit = _visit(session, world, _at(day, 11), world.emily)
    no_show = visits.no_show(session, visit, now=_at(day, 11, 30), tz=TZ)
    session.commit()
    assert no_show.campaign_id is None  # on the desk's list at once, before any day's list exists
    jobs.build_lists(session, redis.Redis.from_url(redis_url), world.clinic, _at(day, 12), dict(app.config))
    session.refresh(no_show)
    campaign = session.get(Campaign, no_show.campaign_id)
    assert campaign is not None and (campaign.purpose, campaign.mode) == (TaskPurpose.NO_SHOW, DialMode.PREVIEW)
