"""Server-side staff sessions: the cookie holds only a random token, so ending the row here ends
the session everywhere at once (sign-out, lock, password change, deactivation, idle, shift end)."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core import clinic_scope
from callcenter.core.models import Staff, StaffSession

# Writing last_seen on every request would turn each page view into a write; a minute is far
# below any idle limit worth setting.
TOUCH_EVERY = timedelta(minutes=1)


class Verdict(enum.StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    MISSING = "missing"  # no such token: never issued, or the row was removed
    ENDED = "ended"  # signed out, password changed, deactivated, or ended for idle / age earlier
    IDLE = "idle"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Session, staff: Staff, now: datetime, *, user_agent: str = "",
          address: str = "") -> str:
    """A new session for staff; returns the token for the cookie (the caller commits)."""
    token = secrets.token_urlsafe(32)
    db.add(StaffSession(id=token_id(token), staff_id=staff.id, created_at=now, last_seen_at=now,
                        user_agent=user_agent[:200], remote_addr=address[:64]))
    return token


def verdict(row: StaffSession | None, staff_active: bool, now: datetime,
            lifetimes: Lifetimes) -> Verdict:
    """What a request carrying this session may do (pure: the caller passes now)."""
    if row is None:
        return Verdict.MISSING
    if row.ended_at is not None or not staff_active:
        return Verdict.ENDED
    if now - row.created_at >= lifetimes.absolute:
        return Verdict.EXPIRED
    if now - row.last_seen_at >= lifetimes.idle:
        return Verdict.IDLE
    return Verdict.LOCKED if row.locked_at is not None else Verdict.ACTIVE


def load(db: Session, token: str, now: datetime,
         lifetimes: Lifetimes) -> tuple[StaffSession | None, Staff | None, Verdict]:
    """The session and its staff member in one query; ends it for idle or age, touches it when
    active. Returns the staff member only for an active or locked session (the caller commits)."""
    found = db.execute(select(StaffSession, Staff).join(Staff, Staff.id == StaffSession.staff_id)
                       .where(StaffSession.id == token_id(token))
                       .execution_options(**clinic_scope.PAST_SCOPE)).first()
    row, staff = (found[0], found[1]) if found else (None, None)
    result = verdict(row, bool(staff and staff.active), now, lifetimes)
    if row is not None and result in (Verdict.IDLE, Verdict.EXPIRED):
        row.ended_at, row.end_reason = now, str(result)
    elif row is not None and result is Verdict.ACTIVE and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row, staff if result in (Verdict.ACTIVE, Verdict.LOCKED) else None, result


def still_open(db: Session, session_id: str, now: datetime, lifetimes: Lifetimes) -> bool:
    """For a long response (the desk's live feed): is its session still active and unlocked?"""
    row = db.get(StaffSession, session_id)
    staff = db.get(Staff, row.staff_id) if row is not None else None
    return verdict(row, bool(staff and staff.active), now, lifetimes) is Verdict.ACTIVE


def end(row: StaffSession, now: datetime, reason: str) -> None:
    if row.ended_at is None:
        row.ended_at, row.end_reason = now, reason


def end_all(db: Session, staff_id: int, now: datetime, reason: str) -> int:
    """End every open session of a staff member (password change, deactivation); returns how many."""
    result = db.execute(update(StaffSession)
                        .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
                        .values(ended_at=now, end_reason=reason)
                        .execution_options(synchronize_session="fetch"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def lock(row: StaffSession, now: datetime) -> None:
    if row.locked_at is None:
        row.locked_at = now


def unlock(row: StaffSession, now: datetime) -> str:
    """Unlock after the password was checked; the session gets a new token, so a cookie copied
    before the lock stays dead. Returns that token (the caller commits)."""
    token = secrets.token_urlsafe(32)
    row.id, row.locked_at, row.last_seen_at = token_id(token), None, now
    return token
