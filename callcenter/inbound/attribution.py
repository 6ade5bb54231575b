"""Source channels: the tracking number dialed, and the caller's own "how did you hear" answer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.driver_sql import Statement
from callcenter.core.models import Call, Channel, TrackingNumber

UNATTRIBUTED = "unattributed"
NUMBERS = TrackingNumber.__table__


@dataclass(frozen=True)
class NumberRow:
    """What a call needs of its tracking number: which clinic it is, which channel it credits."""

    id: int
    clinic_id: int
    channel_id: int | None


# Built once: on every new call's path (see inbound/calls.py on statements built once).
_NUMBER_ROW = Statement(select(NUMBERS.c.id, NUMBERS.c.clinic_id, NUMBERS.c.channel_id)
                        .where(NUMBERS.c.e164 == bindparam("_e164")))


def number_row(conn: Connection, e164: str) -> NumberRow | None:
    row = _NUMBER_ROW.one_or_none(conn, {"_e164": e164})
    return None if row is None else NumberRow(*row)


def channel_for_dialed(conn: Connection, clinic_id: int, dialed: str,
                       known: NumberRow | None = None) -> NumberRow | None:
    """The tracking number for a dialed number (`known`: already read); an unknown one is
    created for an admin to assign. None when the number is another clinic's (a clinic's own
    PBX account naming it): that clinic's channel must not be credited with, or reached
    through, this clinic's call."""
    number = known or number_row(conn, dialed)
    if number is not None:
        return number if number.clinic_id == clinic_id else None
    conn.execute(
        insert_ignoring_conflicts(conn, NUMBERS)
        .values(clinic_id=clinic_id, e164=dialed, channel_id=None, auto_created=True,
                label="unassigned number")
    )
    created = number_row(conn, dialed)
    assert created is not None
    return created if created.clinic_id == clinic_id else None


def unattributed_numbers(session: Session) -> list[TrackingNumber]:
    """Numbers with no channel yet: the admin's to-do list. The main line needs none, and a
    retired number is no longer advertised, so neither is on it."""
    return list(session.scalars(
        select(TrackingNumber).where(TrackingNumber.channel_id.is_(None),
                                     TrackingNumber.main_line.is_(False),
                                     TrackingNumber.active.is_(True))
        .order_by(TrackingNumber.id)
    ))


def assign_channel(session: Session, number: TrackingNumber, channel: Channel | None) -> int:
    """Give a tracking number its channel; past calls to it are re-attributed. Returns calls moved."""
    number.channel = channel
    number.auto_created = False
    calls = session.scalars(select(Call).where(Call.tracking_number_id == number.id)).all()
    for call in calls:
        call.channel = channel
    return len(calls)


def set_heard_from(session: Session, call: Call, channel_code: str | None, note: str = "") -> None:
    """Store the receptionist's "how did you hear about us" answer; it never changes attribution."""
    channel = None
    if channel_code is not None:
        channel = session.scalar(select(Channel).where(Channel.code == channel_code))
        if channel is None:
            raise LookupError(f"unknown channel {channel_code!r}")
    call.heard_from_channel = channel
    call.heard_from_note = note[:200]
