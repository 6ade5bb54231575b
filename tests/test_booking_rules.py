"""Booking checks itself (domain, both databases): the doctor's windows and slot grid, split
shifts, the clinic's opening hours, days off, absences, overlaps for the doctor and the patient,
the doctor named or implied by the service, the acute squeeze, undo, and the claims a visit holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callcenter.core.models import (
    AbsenceKind,
    Appointment,
    AppointmentStatus,
    DayOff,
    DoctorAbsence,
    DoctorSchedule,
    Patient,
    Service,
    SlotClaim,
    Staff,
    StaffRole,
)
from callcenter.schedule import booking
from callcenter.schedule.errors import BookingError, SlotTaken
from tests import factories as f

ZONE = "Europe/Moscow"
MONDAY = date(2030, 3, 4)  # a Monday; the clinic's clock is UTC+3
NOW = datetime(2030, 3, 3, 23, 0, tzinfo=UTC)  # 02:00 on Monday in Moscow
WEEKDAYS_9_TO_20 = {**{d: [["09:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                    "sat": [["10:00", "14:00"]], "sun": []}


@dataclass
class Clinic:
    row: Any
    therapist: Staff  # split shift 09–13 and 14–18, 30-minute slots, Monday to Saturday
    surgeon: Staff  # 09–20 in 20-minute slots on Monday; Sunday 10–12 (the clinic is closed)
    ivan: Patient
    olga: Patient
    filling: Service  # therapists only, 60 minutes
    advice: Service  # anyone, 30 minutes


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=3)


@pytest.fixture
def clinic(session: Session) -> Clinic:
    row = f.clinic(session, opening_hours=WEEKDAYS_9_TO_20, timezone=ZONE)
    therapist = Staff(clinic_id=row.id, role=StaffRole.DOCTOR, first_name="Olga", last_name="Lebedeva",
                      specialties=["therapist"])
    therapist.schedules = [DoctorSchedule(weekday=d, starts=a, ends=b, slot_minutes=30) for d in range(6)
                           for a, b in ((clock(9), clock(13)), (clock(14), clock(18)))]
    surgeon = Staff(clinic_id=row.id, role=StaffRole.DOCTOR, first_name="Petr", last_name="Zubov",
                    specialties=["surgeon"])
    surgeon.schedules = [DoctorSchedule(weekday=0, starts=clock(9), ends=clock(20), slot_minutes=20),
                         DoctorSchedule(weekday=6, starts=clock(10), ends=clock(12), slot_minutes=20)]
    session.add_all([therapist, surgeon])
    session.add(DayOff(clinic_id=row.id, day=MONDAY + timedelta(days=1), reason="Holiday"))
    filling = Service(clinic_id=row.id, names={"en": "Filling"}, duration_minutes=60, specialties=["therapist"])
    advice = Service(clinic_id=row.id, names={"en": "Advice"}, duration_minutes=30, specialties=[])
    session.add_all([filling, advice])
    session.flush()
    session.add(DoctorAbsence(doctor_id=therapist.id, starts_on=MONDAY + timedelta(days=2),
                              ends_on=MONDAY + timedelta(days=2), kind=AbsenceKind.VACATION, created_at=NOW))
    ivan = f.patient(session, row, "+79160000001")
    olga = f.patient(session, row, "+79160000002", first_name="Olga")
    session.commit()
    return Clinic(row, therapist, surgeon, ivan, olga, filling, advice)


def book(session: Session, c: Clinic, at: datetime, *, doctor: Staff | None = None,
         patient: Patient | None = None, now: datetime = NOW, **kw: Any) -> Appointment:
    visit = booking.book(session, clinic=c.row, patient=patient or c.ivan,
                         doctor_id=doctor.id if doctor else None, starts_at=at, now=now, **kw)
    session.commit()
    return visit


def refused(session: Session, c: Clinic, at: datetime, **kw: Any) -> BookingError:
    with pytest.raises(BookingError) as caught:
        book(session, c, at, **kw)
    session.rollback()
    return caught.value


def claims_of(session: Session, visit: Appointment) -> list[datetime]:
    return list(session.scalars(select(SlotClaim.starts_at).where(SlotClaim.appointment_id == visit.id)
                                .order_by(SlotClaim.starts_at)))


@pytest.mark.parametrize(("day", "hour", "minute", "words"), [
    (0, 3, 0, "outside the doctor's working hours (09:00–13:00, 14:00–18:00)"),  # the 03:00 of the issue
    (0, 13, 30, "outside the doctor's working hours"),  # the split shift's break
    (0, 17, 45, "outside the doctor's working hours"),  # would end after 18:00
    (0, 9, 15, "not the start of a slot: the doctor's slots are 30 minutes from 09:00"),
    (0, 14, 10, "not the start of a slot: the doctor's slots are 30 minutes from 14:00"),
    (1, 10, 0, "the clinic is closed on 2030-03-05"),  # the day off
    (2, 10, 0, "the doctor is away on that day"),  # the absence
    (6, 10, 0, "the doctor does not work on that day"),
])
def test_a_time_outside_the_schedule_is_refused_naming_why(session: Session, clinic: Clinic, day: int,
                                                           hour: int, minute: int, words: str) -> None:
    error = refused(session, clinic, local(MONDAY + timedelta(days=day), hour, minute), doctor=clinic.therapist)
    assert error.field == "starts_at" and words in error.message
    assert session.scalar(select(func.count(Appointment.id))) == 0


def test_the_clinic_hours_bound_a_doctor_scheduled_when_it_is_closed(session: Session, clinic: Clinic) -> None:
    sunday = MONDAY + timedelta(days=6)
    error = refused(session, clinic, local(sunday, 10, 0), doctor=clinic.surgeon)
    assert error.field == "starts_at" and "outside the clinic's opening hours (—)" in error.message
    # The surgeon's 20-minute grid: 09:20 is a slot start, 09:30 is not.
    assert book(session, clinic, local(MONDAY, 9, 20), doctor=clinic.surgeon).ends_at == local(MONDAY, 9, 40)
    assert "20 minutes" in refused(session, clinic, local(MONDAY, 9, 30), doctor=clinic.surgeon,
                                   patient=clinic.olga).message


def test_no_overlap_for_the_doctor_or_the_patient(session: Session, clinic: Clinic) -> None:
    first = book(session, clinic, local(MONDAY, 10), doctor=clinic.therapist)
    assert claims_of(session, first) == [local(MONDAY, 10)]
    taken = refused(session, clinic, local(MONDAY, 10), doctor=clinic.therapist, patient=clinic.olga)
    assert isinstance(taken, SlotTaken) and taken.code == "slot_taken"
    busy = refused(session, clinic, local(MONDAY, 10), doctor=clinic.surgeon)
    assert busy.field == "starts_at" and "the patient already has a visit at this time" in busy.message
    # A 60-minute filling covers two of the therapist's slots: the next free one is 11:30.
    long = book(session, clinic, local(MONDAY, 10, 30), patient=clinic.olga, offered=clinic.filling)
    assert long.doctor_id == clinic.therapist.id and long.ends_at == local(MONDAY, 11, 30)
    assert claims_of(session, long) == [local(MONDAY, 10, 30), local(MONDAY, 11)]
    assert isinstance(refused(session, clinic, local(MONDAY, 11), doctor=clinic.therapist), SlotTaken)


def test_the_doctor_is_named_or_implied_by_the_service_never_defaulted(session: Session,
                                                                      clinic: Clinic) -> None:
    at = local(MONDAY, 11)
    assert refused(session, clinic, at).field == "doctor_id"
    ambiguous = refused(session, clinic, at, offered=clinic.advice)
    assert ambiguous.field == "doctor_id" and "several doctors" in ambiguous.message
    wrong = refused(session, clinic, local(MONDAY, 11, 20), doctor=clinic.surgeon, offered=clinic.filling)
    assert wrong.field == "doctor_id" and "does not perform" in wrong.message
    session.execute(update(Staff).where(Staff.id == clinic.therapist.id).values(active=False))
    session.commit()
    assert refused(session, clinic, at, offered=clinic.filling).field == "service_id"


def test_the_acute_squeeze_books_on_top_flagged_today_only(session: Session, clinic: Clinic) -> None:
    regular = book(session, clinic, local(MONDAY, 11), doctor=clinic.therapist)
    squeezed = book(session, clinic, local(MONDAY, 11), doctor=clinic.therapist, patient=clinic.olga,
                    squeeze=True)
    assert (regular.overbooked, squeezed.overbooked) == (False, True)
    third = f.patient(session, clinic.row, "+79160000003", first_name="Anna")
    session.commit()
    assert isinstance(refused(session, clinic, local(MONDAY, 11, 10), doctor=clinic.therapist,
                              patient=third, squeeze=True), SlotTaken)
    # A squeeze into a free time is an ordinary visit: nobody waits.
    free = book(session, clinic, local(MONDAY, 12, 10), doctor=clinic.therapist, patient=third, squeeze=True)
    assert free.overbooked is False
    tomorrow = refused(session, clinic, local(MONDAY + timedelta(days=3), 11), doctor=clinic.therapist,
                       squeeze=True)
    assert tomorrow.field == "squeeze"


def test_undo_cancel_and_move_give_the_slot_back(session: Session, clinic: Clinic) -> None:
    visit = book(session, clinic, local(MONDAY, 10), doctor=clinic.therapist)
    booking.undo(session, visit, now=NOW + timedelta(seconds=5))
    session.commit()
    assert visit.status is AppointmentStatus.CANCELLED and claims_of(session, visit) == []
    again = book(session, clinic, local(MONDAY, 10), doctor=clinic.therapist, patient=clinic.olga)
    with pytest.raises(BookingError) as late:
        booking.undo(session, again, now=NOW + booking.UNDO_WINDOW + timedelta(seconds=1))
    assert late.value.field == "appointment_id"
    session.rollback()
    moved = booking.reschedule(session, again, doctor_id=None, starts_at=local(MONDAY, 10, 30), now=NOW)
    session.commit()
    assert claims_of(session, again) == [] and claims_of(session, moved) == [local(MONDAY, 10, 30)]
    booking.cancel(session, moved, booking.NextContact(call_back_at=NOW + timedelta(days=1)), now=NOW)
    session.commit()
    assert claims_of(session, moved) == []
    # A path that cancels without releasing (an automatic call's "cancel") leaves a stale claim:
    # the next booking of that slot sweeps it.
    last = book(session, clinic, local(MONDAY, 12), doctor=clinic.therapist)
    session.execute(update(Appointment).where(Appointment.id == last.id)
                    .values(status=AppointmentStatus.CANCELLED))
    session.commit()
    assert book(session, clinic, local(MONDAY, 12), doctor=clinic.therapist, patient=clinic.olga).id != last.id
