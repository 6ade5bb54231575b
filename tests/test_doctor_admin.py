"""/admin/doctors on both databases: the weekly schedule editor (split shifts, slot length) and
its refusals, absences that close the doctor's slots in the real offer and refuse a booking,
and another clinic's doctor and absences answering 404."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.i18n import t
from callcenter.core.models import (
    AuditLog,
    Clinic,
    DoctorAbsence,
    DoctorSchedule,
    Staff,
    StaffRole,
    utcnow,
)
from callcenter.schedule import booking
from callcenter.schedule.slots import offer_for_clinic
from tests import factories as f

ZONE = ZoneInfo("Europe/Moscow")


@pytest.fixture
def clinic(session: Session) -> Clinic:
    row = f.clinic(session, name="Улыбка")
    session.commit()
    return row


@pytest.fixture
def admin(client: Any, session: Session, clinic: Clinic) -> Staff:
    return f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None)


def _doctor(session: Session, clinic: Clinic, name: str = "Лебедева", every_day: bool = False) -> Staff:
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Ольга", last_name=name,
                   specialties=["therapist"])
    if every_day:
        doctor.schedules = [DoctorSchedule(weekday=d, starts=time(8), ends=time(21), slot_minutes=30)
                            for d in range(7)]
    session.add(doctor)
    session.commit()
    return doctor


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" role="alert">([^<]+)<', page)
    assert found, f"no error shown for {field}"
    return found.group(1)


def _windows(session: Session, doctor: Staff) -> list[tuple[int, time, time, int]]:
    session.expire_all()
    return [(r.weekday, r.starts, r.ends, r.slot_minutes) for r in session.scalars(
        select(DoctorSchedule).where(DoctorSchedule.doctor_id == doctor.id)
        .order_by(DoctorSchedule.weekday, DoctorSchedule.starts))]


def test_a_split_shift_is_saved_and_shown(client: Any, session: Session, clinic: Clinic,
                                          admin: Staff) -> None:
    doctor = _doctor(session, clinic)
    saved = client.post(f"/admin/doctors/{doctor.id}/schedule", data={
        "slot_minutes": "45", "mon-1-from": "09:00", "mon-1-to": "13:00",
        "mon-2-from": "15:00", "mon-2-to": "20:00", "thu-1-from": "9:30", "thu-1-to": "24:00"})
    assert saved.status_code == 302
    assert _windows(session, doctor) == [(0, time(9), time(13), 45), (0, time(15), time(20), 45),
                                         (3, time(9, 30), time(23, 59), 45)]
    page = client.get(f"/admin/doctors/{doctor.id}").get_data(as_text=True)
    assert 'value="15:00"' in page and 'value="45"' in page
    listed = client.get("/admin/doctors").get_data(as_text=True)
    assert "Лебедева" in listed and "15:00–20:00" in listed
    assert session.scalar(select(AuditLog.action).where(AuditLog.staff_id == admin.id)) == \
        "doctor_schedule_saved"


@pytest.mark.parametrize(("form", "field", "english"), [
    ({"mon-1-from": "09:00", "mon-1-to": "13:00", "mon-2-from": "12:00", "mon-2-to": "18:00"},
     "mon-2-from", "Overlaps another window of the day"),
    ({"tue-1-from": "08:00", "tue-1-to": "20:00", "tue-2-from": "10:00", "tue-2-to": "11:00",
      "tue-3-from": "12:00", "tue-3-to": "13:00"}, "tue-3-from", "Overlaps another window of the day"),
    ({"wed-1-from": "9.00", "wed-1-to": "13:00"}, "wed-1-from", "A time like 09:00"),
    ({"wed-1-from": "25:00", "wed-1-to": "26:00"}, "wed-1-to", "A time like 09:00"),
    ({"fri-1-from": "18:00", "fri-1-to": "09:00"}, "fri-1-to", "Ends before it starts"),
    ({"sat-1-from": "10:00"}, "sat-1-to", "Required"),
    ({"sun-1-from": "10:00", "sun-1-to": "10:15"}, "sun-1-to", "Shorter than one slot"),
    ({"slot_minutes": "0", "mon-1-from": "09:00", "mon-1-to": "13:00"}, "slot_minutes",
     "Minutes from {low} to {high}"),
])
def test_a_bad_schedule_names_the_field_and_keeps_the_old_one(
        client: Any, session: Session, clinic: Clinic, admin: Staff, form: dict[str, str],
        field: str, english: str) -> None:
    doctor = _doctor(session, clinic, every_day=True)
    before = _windows(session, doctor)
    answer = client.post(f"/admin/doctors/{doctor.id}/schedule", data={"slot_minutes": "30", **form})
    assert answer.status_code == 400
    shown = _field_error(answer.get_data(as_text=True), field)
    assert shown == t(english, "ru").format(low=5, high=240) != english.format(low=5, high=240)
    assert _windows(session, doctor) == before


def test_an_absence_closes_the_doctors_slots_and_refuses_a_booking(
        client: Any, session: Session, clinic: Clinic, admin: Staff) -> None:
    doctor = _doctor(session, clinic, every_day=True)
    now = utcnow()
    offered = offer_for_clinic(session, clinic, now)
    assert offered, "the doctor works every day: there is an offer"
    first_day = offered[0].starts_at.astimezone(ZONE).date()
    last_day = first_day + timedelta(days=2)
    added = client.post(f"/admin/doctors/{doctor.id}/absences", data={
        "starts_on": first_day.isoformat(), "ends_on": last_day.isoformat(), "kind": "vacation",
        "note": "Sochi"})
    assert added.status_code == 302
    session.expire_all()
    after = offer_for_clinic(session, clinic, now)
    assert after and all(s.starts_at.astimezone(ZONE).date() > last_day for s in after)
    acute = offer_for_clinic(session, clinic, now, acute=True)
    assert acute and all(s.starts_at.astimezone(ZONE).date() > last_day for s in acute)

    patient = f.patient(session, clinic, "+79161234567")
    session.commit()
    with pytest.raises(booking.BookingError) as refused:
        booking.book(session, clinic=clinic, patient=patient, doctor_id=doctor.id,
                     starts_at=offered[0].starts_at, now=now)
    assert refused.value.field == "starts_at"
    session.rollback()
    visit = booking.book(session, clinic=clinic, patient=patient, doctor_id=doctor.id,
                         starts_at=after[0].starts_at, now=now)
    session.commit()
    assert visit.id is not None

    page = client.get(f"/admin/doctors/{doctor.id}").get_data(as_text=True)
    assert "Sochi" in page
    absence = session.scalar(select(DoctorAbsence).where(DoctorAbsence.doctor_id == doctor.id))
    assert absence is not None
    removed = client.post(f"/admin/doctors/{doctor.id}/absences/{absence.id}/delete")
    assert removed.status_code == 302
    session.expire_all()
    assert offer_for_clinic(session, clinic, now)[0].starts_at.astimezone(ZONE).date() == first_day


@pytest.mark.parametrize(("form", "field", "english"), [
    ({"starts_on": "2099-07-10", "ends_on": "2099-07-01"}, "ends_on", "Ends before it starts"),
    ({"starts_on": "10.07.2099", "ends_on": "2099-07-11"}, "starts_on", "A date like 2026-07-01"),
    ({"starts_on": "2099-02-30", "ends_on": "2099-03-01"}, "starts_on", "A date like 2026-07-01"),
    ({"starts_on": "2000-01-01", "ends_on": "2000-01-02"}, "ends_on", "Already over"),
    ({"kind": "holiday"}, "kind", "Unknown kind of absence"),
])
def test_a_bad_absence_names_the_field_and_saves_nothing(
        client: Any, session: Session, clinic: Clinic, admin: Staff, form: dict[str, str],
        field: str, english: str) -> None:
    doctor = _doctor(session, clinic)
    body = {"starts_on": "2099-07-01", "ends_on": "2099-07-14", "kind": "sick_leave", **form}
    answer = client.post(f"/admin/doctors/{doctor.id}/absences", data=body)
    assert answer.status_code == 400
    assert _field_error(answer.get_data(as_text=True), field) == t(english, "ru") != english
    assert session.scalar(select(func.count(DoctorAbsence.id))) == 0


def test_another_clinics_doctor_and_absences_are_not_there(
        client: Any, session: Session, clinic: Clinic, admin: Staff) -> None:
    foreign = f.clinic(session, name="Not yours")
    theirs = _doctor(session, foreign, name="Чужая", every_day=True)
    ours = _doctor(session, clinic)
    absence = DoctorAbsence(doctor_id=theirs.id, starts_on=utcnow().date(),
                            ends_on=utcnow().date() + timedelta(days=3), kind="vacation",
                            note="Secret trip")
    session.add(absence)
    session.commit()
    assert "Чужая" not in client.get("/admin/doctors").get_data(as_text=True)
    assert client.get(f"/admin/doctors/{theirs.id}").status_code == 404
    assert client.get(f"/admin/staff/{theirs.id}").status_code == 404
    assert client.post(f"/admin/doctors/{theirs.id}/schedule", data={"slot_minutes": "30"}).status_code == 404
    assert client.post(f"/admin/doctors/{theirs.id}/absences", data={
        "starts_on": "2099-01-01", "ends_on": "2099-01-02", "kind": "other"}).status_code == 404
    for doctor in (theirs, ours):
        gone = client.post(f"/admin/doctors/{doctor.id}/absences/{absence.id}/delete")
        assert gone.status_code == 404
    session.expire_all()
    assert len(_windows(session, theirs)) == 7
    assert session.scalar(select(func.count(DoctorAbsence.id))) == 1
    # A receptionist's staff page is not a doctor's schedule page.
    desk = f.receptionist(session, clinic, "101")
    session.commit()
    assert client.get(f"/admin/doctors/{desk.id}").status_code == 404
