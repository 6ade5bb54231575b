"""The set-based list builders against the rules stated plainly: random clinics, every row read
into Python, the domain functions (`follow_up_dues`, `recall_dues`) and the do-not-call and
booking rules applied row by row, and the same tasks expected from the builders' statements."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import followup_table
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Clinic,
    DialTask,
    OptOut,
    Patient,
    PatientPhone,
    Staff,
    StaffRole,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
)
from callcenter.outbound import lists
from callcenter.outbound.reach import callable_phones
from tests import factories as f

WEEKDAYS = {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
# Tuesday 12:00 in Moscow; Monday 08:00 (its catch-up days reach into the weekend).
MOMENTS = (datetime(2026, 3, 10, 9, 0, tzinfo=UTC), datetime(2026, 3, 16, 5, 0, tzinfo=UTC))
SETTINGS = (lists.DEFAULT_SETTINGS,
            lists.ListSettings(follow_ups=followup_table.schedule("filling=1,3;implant=2,30"),
                               recall_days=(90, 92), catch_up_days=2))


@dataclass
class World:
    clinic: Clinic
    patients: list[int] = field(default_factory=list)


def _world(session: Session, rng: random.Random, today: date, settings: lists.ListSettings) -> World:
    """Two clinics (the other one's do-not-call entries must not bind ours), patients sharing
    numbers, treatments on and around the days the tables name, visits, earlier tasks."""
    clinic = f.clinic(session, opening_hours=WEEKDAYS)
    other = f.clinic(session, name="Other")
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Olga", last_name="Doc")
    session.add(doctor)
    session.flush()
    world = World(clinic)
    numbers = [f"+7900111{n:04d}" for n in range(30)]
    offsets = sorted({o for days in settings.follow_ups.values() for o in days} | set(settings.recall_days))
    for index in range(40):
        patient = f.patient(session, clinic if index < 36 else other,
                            *rng.sample(numbers, rng.choice((0, 1, 1, 2, 3))),
                            consent_calls=rng.random() > 0.1,
                            erased_at=datetime(2026, 1, 1, tzinfo=UTC) if rng.random() < 0.05 else None)
        world.patients.append(patient.id)
        for _ in range(rng.randint(0, 4)):
            ago = rng.choice(offsets) + rng.randint(-2, 6) if rng.random() < 0.8 else rng.randint(0, 400)
            session.add(Treatment(clinic_id=patient.clinic_id, patient_id=patient.id,
                                  type=rng.choice(list(TreatmentType)),
                                  performed_on=today - timedelta(days=ago)))
        if rng.random() < 0.3:
            starts = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=rng.randint(-72, 400))
            session.add(Appointment(clinic_id=patient.clinic_id, patient_id=patient.id, doctor_id=doctor.id,
                                    starts_at=starts, ends_at=starts + timedelta(minutes=30),
                                    status=rng.choice(list(AppointmentStatus))))
    for _ in range(8):
        by_card = rng.random() < 0.4
        session.add(OptOut(patient_id=rng.choice(world.patients) if by_card else None,
                           e164=None if by_card else rng.choice(numbers),
                           scope=rng.choice(("all", "all", "marketing")),
                           clinic_id=rng.choice((None, clinic.id, other.id))))
    session.flush()
    for patient_id in rng.sample(world.patients[:36], 10):
        session.add(DialTask(clinic_id=clinic.id, patient_id=patient_id, phone="+79000000000",
                             purpose=rng.choice((TaskPurpose.FOLLOW_UP, TaskPurpose.RECALL)),
                             due_date=today - timedelta(days=rng.randint(0, 3)), priority=40,
                             state=TaskState.PENDING))
    session.flush()
    return world


def _phones(session: Session, clinic: Clinic) -> dict[int, str]:
    """The do-not-call and consent rules, row by row."""
    opt_outs = session.scalars(select(OptOut).where(OptOut.scope == "all")).all()
    phones: dict[int, str] = {}
    for patient in session.scalars(select(Patient)):
        if (not patient.consent_calls or patient.erased_at is not None
                or any(o.patient_id == patient.id for o in opt_outs)):
            continue
        for phone in sorted(session.scalars(select(PatientPhone).where(PatientPhone.patient_id == patient.id)),
                            key=lambda p: p.id):
            if not any(o.e164 == phone.e164 and o.clinic_id in (None, patient.clinic_id) for o in opt_outs):
                phones[patient.id] = phone.e164
                break
    return phones


def _rows(session: Session, clinic: Clinic, now: datetime) -> tuple[list[Treatment], set[int], set[tuple]]:
    treatments = sorted(session.scalars(select(Treatment).where(Treatment.clinic_id == clinic.id)),
                        key=lambda t: t.id)
    booked = {a.patient_id for a in session.scalars(select(Appointment))
              if a.starts_at > now and a.status in ACTIVE_STATUSES}
    tasks = {(t.purpose, t.patient_id, t.due_date) for t in session.scalars(select(DialTask))}
    return treatments, booked, tasks


def _expected_follow_ups(session: Session, clinic: Clinic, now: datetime, days: set[date],
                         settings: lists.ListSettings) -> set[tuple]:
    treatments, booked, tasks = _rows(session, clinic, now)
    phones = _phones(session, clinic)
    rank = list(settings.follow_ups)
    found: dict[tuple[int, date], int] = {}
    for t in sorted(treatments, key=lambda t: (rank.index(t.type), t.performed_on, t.id)):
        stop = followup_table.UNTIL.get(t.type)
        if stop and any(o.patient_id == t.patient_id and o.type is stop and o.performed_on > t.performed_on
                        for o in treatments):
            continue
        for due in lists.follow_up_dues(t.type, t.performed_on, days, settings):
            found.setdefault((t.patient_id, due), t.id)
    return {(p, due, tid, phones[p]) for (p, due), tid in found.items()
            if p not in booked and p in phones and (TaskPurpose.FOLLOW_UP, p, due) not in tasks}


def _expected_recalls(session: Session, clinic: Clinic, now: datetime, days: set[date],
                      settings: lists.ListSettings) -> set[tuple]:
    treatments, booked, tasks = _rows(session, clinic, now)
    phones = _phones(session, clinic)
    found: dict[tuple[int, date], int] = {}
    for t in treatments:
        if any(o.patient_id == t.patient_id and o.performed_on > t.performed_on for o in treatments):
            continue
        for due in lists.recall_dues(t.performed_on, days, settings):
            found.setdefault((t.patient_id, due), t.id)
    return {(p, due, tid, phones[p]) for (p, due), tid in found.items()
            if p not in booked and p in phones and (TaskPurpose.FOLLOW_UP, p, due) not in tasks
            and (TaskPurpose.RECALL, p, due) not in tasks}


@pytest.mark.parametrize("seed", range(6))
def test_set_based_lists_hold_exactly_the_tasks_the_rules_name(session: Session, seed: int) -> None:
    rng = random.Random(seed)
    now, settings = MOMENTS[seed % 2], SETTINGS[seed // 2 % 2]
    today = now.date()
    world = _world(session, rng, today, settings)
    days = {today - timedelta(days=k) for k in range(settings.catch_up_days + 1)}

    follow_ups = lists.build_follow_ups(session, world.clinic, now, settings)
    assert {(t.patient_id, t.due_date, t.treatment_id, t.phone) for t in follow_ups} == \
        _expected_follow_ups(session, world.clinic, now, days, settings)
    recalls = lists.build_recalls(session, world.clinic, now, settings)
    assert {(t.patient_id, t.due_date, t.treatment_id, t.phone) for t in recalls} == \
        _expected_recalls(session, world.clinic, now, days, settings)
    assert callable_phones(session, world.patients) == _phones(session, world.clinic)
    assert follow_ups, "a random clinic this size always has follow-ups due: the data went wrong"
    assert len({(t.patient_id, t.due_date) for t in follow_ups}) == len(follow_ups)
