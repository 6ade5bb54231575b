"""The demo clinic: deterministic, realistic enough to demo, consistent with itself."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access.passwords import verify_password
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory, session_scope
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallCandidate,
    CallerKind,
    CallStatus,
    Channel,
    Clinic,
    DayOff,
    DoctorSchedule,
    Patient,
    PatientPhone,
    Staff,
    StaffRole,
    TrackingNumber,
    Treatment,
    TreatmentType,
)
from callcenter.demo.builder import load_demo

CONFIG = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}
TODAY = date(2026, 11, 22)
ZONE = ZoneInfo(CONFIG["TIMEZONE"])
# Columns that make up the data; password hashes are salted, so they are left out.
DIGESTED = {
    Clinic: ("name", "timezone", "locale", "region", "opening_hours"),
    DayOff: ("day", "reason"),
    Staff: ("role", "login", "last_name", "first_name", "patronymic", "locale", "sip_extension",
            "specialties"),
    DoctorSchedule: ("doctor_id", "weekday", "starts", "ends", "slot_minutes"),
    Channel: ("code", "name"),
    TrackingNumber: ("e164", "channel_id", "auto_created", "created_at"),
    Patient: ("last_name", "first_name", "patronymic", "birth_date", "sex", "preferred_language",
              "consent_calls", "consent_marketing", "is_lead", "created_at"),
    PatientPhone: ("patient_id", "e164", "label"),
    Appointment: ("patient_id", "doctor_id", "starts_at", "ends_at", "service", "status", "price",
                  "created_by_call_id", "rescheduled_from_id", "created_at"),
    Treatment: ("patient_id", "doctor_id", "appointment_id", "type", "performed_on"),
    Call: ("provider_call_id", "caller", "dialed", "channel_id", "patient_id", "caller_kind",
           "first_time", "agent_id", "started_at", "answered_at", "ended_at", "duration", "status",
           "outcome", "heard_from_channel_id", "callback_done_at", "callback_call_id"),
    CallCandidate: ("call_id", "patient_id"),
}


def _load(url: str, *, seed: int = 7, patients: int = 300) -> str:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return load_demo(session, seed=seed, patients=patients, config=CONFIG, today=TODAY)
    finally:
        engine.dispose()


def _digest(url: str) -> str:
    engine = make_engine(url)
    digest = hashlib.sha256()
    with Session(engine) as session:
        for model, columns in DIGESTED.items():
            key = model.__mapper__.primary_key
            rows = session.execute(select(*(getattr(model, c) for c in columns)).order_by(*key))
            for row in rows:
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()


@pytest.fixture
def loaded(database_url: str) -> Any:
    _load(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_same_seed_and_day_give_identical_rows(database_url: str, tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'second.db'}"
    migrate.upgrade(fresh)
    _load(database_url)
    _load(fresh)
    assert _digest(database_url) == _digest(fresh)
    other_seed = f"sqlite:///{tmp_path / 'third.db'}"
    migrate.upgrade(other_seed)
    _load(other_seed, seed=8)
    assert _digest(other_seed) != _digest(fresh)


def test_staff_logins_doctors_and_schedules(loaded: Session) -> None:
    staff = {s.login: s for s in loaded.scalars(select(Staff)) if s.login}
    assert {k: (staff[k].role, staff[k].sip_extension, staff[k].locale) for k in staff} == {
        "admin": (StaffRole.ADMIN, None, "ru"),
        "anna": (StaffRole.RECEPTIONIST, "101", "ru"),
        "john": (StaffRole.RECEPTIONIST, "102", "en"),
        "li": (StaffRole.RECEPTIONIST, "103", "zh"),
        "marketing": (StaffRole.MARKETING, None, "ru"),
    }
    for login, member in staff.items():
        assert verify_password(member.password_hash, login)
        assert not verify_password(member.password_hash, login + "x")
    doctors = loaded.scalars(select(Staff).where(Staff.role == StaffRole.DOCTOR)).all()
    assert len(doctors) >= 3
    assert {"therapist", "surgeon", "implantologist", "orthodontist", "hygienist"} <= {
        s for d in doctors for s in d.specialties}
    for doctor in doctors:
        rows = loaded.scalars(select(DoctorSchedule).where(DoctorSchedule.doctor_id == doctor.id)).all()
        weekdays = [r.weekday for r in rows]
        assert rows and len(set(weekdays)) < 7, "every doctor works some days and has a day off"
        assert all(r.starts < r.ends for r in rows)
    split = [d for d in doctors
             if any(n > 1 for n in _per_weekday(loaded, d.id).values())]
    assert split, "at least one doctor has a split shift"


def _per_weekday(session: Session, doctor_id: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for row in session.scalars(select(DoctorSchedule).where(DoctorSchedule.doctor_id == doctor_id)):
        counts[row.weekday] = counts.get(row.weekday, 0) + 1
    return counts


def test_patients_names_languages_families_and_phones(loaded: Session) -> None:
    patients = loaded.scalars(select(Patient)).all()
    assert len(patients) == 300
    languages = {p.preferred_language for p in patients}
    assert languages == {"ru", "en", "zh"}
    russian = [p for p in patients if p.preferred_language == "ru"]
    assert len(russian) > len(patients) / 2
    assert all(p.patronymic and p.last_name[0] in "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ" for p in russian)
    assert all(not p.patronymic and p.last_name.isascii() for p in patients if p.preferred_language == "en")
    assert all("\u4e00" <= p.last_name[0] <= "\u9fff" for p in patients if p.preferred_language == "zh")
    assert all(p.birth_date or p.is_lead for p in patients)
    phones = loaded.scalars(select(PatientPhone)).all()
    owners: dict[str, set[int]] = {}
    per_patient: dict[int, int] = {}
    for phone in phones:
        parsed = phonenumbers.parse(phone.e164)
        assert phonenumbers.is_valid_number(parsed), phone.e164
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone.e164
        owners.setdefault(phone.e164, set()).add(phone.patient_id)
        per_patient[phone.patient_id] = per_patient.get(phone.patient_id, 0) + 1
    shared = [n for n, who in owners.items() if len(who) > 1]
    assert shared and all(2 <= len(owners[n]) <= 4 for n in shared)
    assert any(count == 2 for count in per_patient.values())
    assert set(per_patient) == {p.id for p in patients}


def test_appointments_span_six_months_and_fit_the_schedules(loaded: Session) -> None:
    visits = loaded.scalars(select(Appointment)).all()
    local_days = {v.starts_at.astimezone(ZONE).date() for v in visits}
    assert min(local_days) <= TODAY - timedelta(days=175)
    assert max(local_days) >= TODAY + timedelta(days=14)
    statuses = {v.status for v in visits}
    past = {v.status for v in visits if v.starts_at.astimezone(ZONE).date() < TODAY}
    future = {v.status for v in visits if v.starts_at.astimezone(ZONE).date() > TODAY}
    assert {AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED} <= past
    assert {AppointmentStatus.BOOKED} <= future <= set(AppointmentStatus) - {
        AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW, AppointmentStatus.ARRIVED}
    assert AppointmentStatus.RESCHEDULED in statuses
    occupied: dict[int, list[tuple[datetime, datetime]]] = {}
    for visit in visits:
        assert visit.starts_at.tzinfo == UTC and visit.created_at < visit.starts_at
        if visit.status not in (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED):
            occupied.setdefault(visit.doctor_id, []).append((visit.starts_at, visit.ends_at))
    for spans in occupied.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(spans)), "a doctor double-booked"
    days_off = set(loaded.scalars(select(DayOff.day)))
    assert len(days_off) >= 2 and not days_off & local_days


def test_treatments_cover_every_type(loaded: Session) -> None:
    types = set(loaded.scalars(select(Treatment.type)))
    assert types == set(TreatmentType)
    for treatment in loaded.scalars(select(Treatment).where(Treatment.appointment_id.is_not(None))):
        visit = loaded.get(Appointment, treatment.appointment_id)
        assert visit is not None and visit.status is AppointmentStatus.COMPLETED
        assert visit.patient_id == treatment.patient_id


def test_calls_channels_missed_and_bookings(loaded: Session) -> None:
    calls = loaded.scalars(select(Call).order_by(Call.started_at)).all()
    assert (calls[-1].started_at - calls[0].started_at).days >= 175
    assert calls[-1].started_at < datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=ZONE)
    with_calls = {c.channel_id for c in calls if c.channel_id}
    assert len(with_calls) >= 6
    assert any(c.channel_id is None and c.caller for c in calls), "calls to the unattributed number"
    missed = [c for c in calls if c.status is CallStatus.MISSED]
    assert 0.07 < len(missed) / len(calls) < 0.2
    assert all(c.answered_at is None and c.agent_id is None for c in missed)
    answered = [c for c in calls if c.status is CallStatus.COMPLETED]
    assert all(c.agent_id and c.extension in ("101", "102", "103") and c.outcome for c in answered)
    kinds = {c.caller_kind for c in calls}
    assert {CallerKind.NEW, CallerKind.REPEAT, CallerKind.FAMILY, CallerKind.HIDDEN} <= kinds
    assert all(c.caller is None for c in calls if c.caller_kind is CallerKind.HIDDEN)
    assert any(c.first_time for c in calls) and any(not c.first_time for c in calls)
    heard = [c for c in calls if c.heard_from_channel_id]
    assert any(c.heard_from_channel_id != c.channel_id for c in heard)
    assert any(c.heard_from_channel_id == c.channel_id for c in heard)
    for call in calls:
        assert call.provider == "demo" and call.provider_call_id.startswith("demo-")
        for number in (call.caller, call.dialed):
            assert number is None or phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert call.dialed is not None and call.dialed.startswith("+7")
        if call.callback_call_id:
            later = loaded.get(Call, call.callback_call_id)
            assert later is not None and later.caller == call.caller and later.started_at > call.started_at
    hours = [c.started_at.astimezone(ZONE).hour for c in calls]
    assert len(set(hours)) > 8
    booked = loaded.scalars(select(Appointment).where(Appointment.created_by_call_id.is_not(None))).all()
    assert booked
    for visit in booked:
        call = loaded.get(Call, visit.created_by_call_id)
        assert call is not None and call.patient_id == visit.patient_id
        assert call.started_at == visit.created_at < visit.starts_at


def test_bad_patient_count_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="patients"):
        _load(database_url, patients=5)


def test_five_thousand_patients(sqlite_url: str) -> None:
    summary = _load(sqlite_url, patients=5000)
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        assert session.scalar(select(Patient.id).order_by(Patient.id.desc()).limit(1)) == 5000
        languages = [p for p in session.scalars(select(Patient.preferred_language))]
        assert 0.6 < languages.count("ru") / 5000 < 0.8
        assert session.scalars(select(Appointment).where(
            Appointment.status == AppointmentStatus.ARRIVED)).first() is not None
    engine.dispose()
    assert summary.startswith("clinic 'Улыбка' (Europe/Moscow): 5000 patients")


def test_cli_loads_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CALLCENTER_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env["CALLCENTER_INSTANCE_DIR"] = str(tmp_path / "instance")
    command = [sys.executable, "-m", "callcenter.cli", "demo", "--patients", "300"]
    first = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("demo: loaded clinic '") and "300 patients" in first.stdout
    second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "nothing loaded" in second.stdout
