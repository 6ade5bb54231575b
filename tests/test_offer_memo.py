"""The pops' memo of slot offers: reused for a moment, dropped as soon as this process books or
changes a schedule, and never older than its few seconds for a change made elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from callcenter.core.models import (
    AbsenceKind,
    Appointment,
    AppointmentStatus,
    DoctorAbsence,
    DoctorSchedule,
    Staff,
    StaffRole,
)
from callcenter.schedule.offer_memo import OfferMemo
from callcenter.schedule.slots import offer_for_clinic
from tests import factories as f
from tests.campaign_env import ALL_WEEK

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday, 09:00 in Moscow


class Clock:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def _clinic(session: Session) -> tuple[object, Staff, Staff]:
    clinic = f.clinic(session, opening_hours=ALL_WEEK, timezone="Europe/Moscow")
    doctors = []
    for name in ("Olga", "Petr"):
        doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name=name, last_name="Doc")
        doctor.schedules = [DoctorSchedule(weekday=d, starts=time(9), ends=time(18), slot_minutes=30)
                            for d in range(7)]
        doctors.append(doctor)
    session.add_all(doctors)
    session.commit()
    return clinic, doctors[0], doctors[1]


def _booked(session: Session, clinic: object, doctor: Staff, starts: datetime) -> Appointment:
    patient = f.patient(session, clinic, f"+7916000{starts.hour:02d}{starts.minute:02d}")
    return Appointment(clinic_id=doctor.clinic_id, patient_id=patient.id, doctor_id=doctor.id,
                       starts_at=starts, ends_at=starts + timedelta(minutes=30),
                       status=AppointmentStatus.BOOKED)


def test_the_offer_is_reused_then_dropped_by_a_booking_made_here(session: Session) -> None:
    clinic, olga, petr = _clinic(session)
    clock = Clock()
    memo = OfferMemo(seconds=2.0, clock=clock)

    first = memo.offer(session, clinic, NOW, acute=False, doctor_id=olga.id, specialty=None)
    assert first == offer_for_clinic(session, clinic, NOW, doctor_id=olga.id) and len(first) == 2
    assert memo.offer(session, clinic, NOW, acute=False, doctor_id=olga.id, specialty=None) is first
    # Another doctor, or the acute kind, is an offer of its own.
    other = memo.offer(session, clinic, NOW, acute=False, doctor_id=petr.id, specialty=None)
    assert {s.doctor_id for s in other} == {petr.id}

    # The desk books the first slot offered: the next pop offers what is free now.
    session.add(_booked(session, clinic, olga, first[0].starts_at))
    session.commit()
    after = memo.offer(session, clinic, NOW, acute=False, doctor_id=olga.id, specialty=None)
    assert first[0].starts_at not in [s.starts_at for s in after]
    assert after == offer_for_clinic(session, clinic, NOW, doctor_id=olga.id)

    # A doctor's absence written here drops it as well.
    session.add(DoctorAbsence(doctor_id=olga.id, starts_on=after[0].starts_at.date(),
                              ends_on=after[-1].starts_at.date(), kind=AbsenceKind.VACATION, created_at=NOW))
    session.commit()
    away = memo.offer(session, clinic, NOW, acute=False, doctor_id=olga.id, specialty=None)
    assert away == offer_for_clinic(session, clinic, NOW, doctor_id=olga.id) and away != after


def test_a_change_made_elsewhere_is_seen_within_the_moment(session: Session) -> None:
    clinic, olga, _petr = _clinic(session)
    clock = Clock()
    memo = OfferMemo(seconds=2.0, clock=clock)
    first = memo.offer(session, clinic, NOW, acute=True, doctor_id=None, specialty=None)
    taken = first[0]
    # Another process books (a statement this process's sessions do not see as a flush).
    patient = f.patient(session, clinic, "+79160009999")
    session.commit()
    session.execute(insert(Appointment).values(
        clinic_id=olga.clinic_id, patient_id=patient.id, doctor_id=taken.doctor_id,
        starts_at=taken.starts_at, ends_at=taken.ends_at, status=AppointmentStatus.BOOKED, created_at=NOW))
    session.commit()
    clock.value += 1.0
    assert memo.offer(session, clinic, NOW, acute=True, doctor_id=None, specialty=None) is first
    clock.value += 1.5
    later = memo.offer(session, clinic, NOW, acute=True, doctor_id=None, specialty=None)
    assert later == offer_for_clinic(session, clinic, NOW, acute=True)
    assert (taken.doctor_id, taken.starts_at) not in [(s.doctor_id, s.starts_at) for s in later]
