"""Small builders for test data (real rows through the real models)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from callcenter.access import staff_sessions
from callcenter.core.models import (
    Channel,
    Clinic,
    Patient,
    PatientPhone,
    Staff,
    StaffRole,
    StaffSession,
    TrackingNumber,
    utcnow,
)
from webhooks import CallEvent, CallEventKind, Direction

T0 = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


def clinic(session: Session, **kw: Any) -> Clinic:
    row = Clinic(name=kw.pop("name", "Dental Plus"), timezone=kw.pop("timezone", "Europe/Moscow"),
                 locale=kw.pop("locale", "ru"), region=kw.pop("region", "RU"),
                 opening_hours=kw.pop("opening_hours", {}), **kw)
    session.add(row)
    session.flush()
    return row


ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def always_open(clinic_row: Clinic) -> Clinic:
    """Open and calling every day, all day: for tests that dial at the wall clock's time (the
    dial rules refuse a call outside the clinic's calling hours)."""
    clinic_row.opening_hours = ALL_DAY
    clinic_row.call_window_start, clinic_row.call_window_end = time(0), time.max
    return clinic_row


def channel_number(session: Session, clinic_row: Clinic, code: str, e164: str) -> TrackingNumber:
    channel = Channel(code=code, name=code.replace("_", " ").title())
    session.add(channel)
    session.flush()
    number = TrackingNumber(clinic_id=clinic_row.id, e164=e164, channel_id=channel.id, label=code)
    session.add(number)
    session.flush()
    return number


def patient(session: Session, clinic_row: Clinic, *phones: str, **kw: Any) -> Patient:
    row = Patient(clinic_id=clinic_row.id, first_name=kw.pop("first_name", "Ivan"),
                  last_name=kw.pop("last_name", "Petrov"), **kw)
    row.phones = [PatientPhone(e164=p) for p in phones]
    session.add(row)
    session.flush()
    return row


def receptionist(session: Session, clinic_row: Clinic, extension: str, login: str = "anna") -> Staff:
    row = Staff(clinic_id=clinic_row.id, role=StaffRole.RECEPTIONIST, login=login,
                first_name=login.title(), last_name="Desk", sip_extension=extension)
    session.add(row)
    session.flush()
    return row


def event(kind: CallEventKind, seconds: int = 0, call_id: str = "c1", **kw: Any) -> CallEvent:
    kw.setdefault("caller", "+79001234567")
    kw.setdefault("dialed", "+74951230001")
    kw.setdefault("direction", Direction.INBOUND)
    return CallEvent(provider=kw.pop("provider", "test"), provider_call_id=call_id, kind=kind,
                     occurred_at=T0 + timedelta(seconds=seconds), **kw)


def signed_in(client: Any, session: Session, role: str = "receptionist", clinic_row: Clinic | None = None,
              extension: str | None = "101", locale: str = "ru") -> Staff:
    """A staff member with a live session in the test client; mutating calls send X-CSRF-Token."""
    clinic_row = clinic_row or session.query(Clinic).first() or clinic(session)
    staff = Staff(clinic_id=clinic_row.id, role=StaffRole(role), login=f"{role}-{extension}",
                  first_name="Anna", last_name="Smirnova", sip_extension=extension, locale=locale)
    session.add(staff)
    session.commit()
    open_session(client, session, staff)
    return staff


def set_up(session: Session, clinic_row: Clinic | None = None) -> Staff:
    """An installation past its first run (an account exists): before it, every page leads to
    /setup and every API answers 503, so a test of an anonymous refusal starts here."""
    clinic_row = clinic_row or session.query(Clinic).first() or clinic(session)
    staff = Staff(clinic_id=clinic_row.id, role=StaffRole.ADMIN, login="first-admin",
                  first_name="First", last_name="Admin")
    session.add(staff)
    session.commit()
    return staff


def open_session(client: Any, session: Session, staff: Staff, csrf: str = "test-csrf") -> str:
    """A real server-side session for staff, its token in the client's cookie; returns the token."""
    token = staff_sessions.start(session, staff, utcnow())
    session.commit()
    with client.session_transaction() as flask_session:
        flask_session.clear()
        flask_session["sid"] = token
        flask_session["csrf"] = csrf
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    return token


def unlock_all(session: Session) -> None:
    """Unlock every session (a test whose subject is not the idle lock)."""
    session.execute(update(StaffSession).values(locked_at=None))
    session.commit()
