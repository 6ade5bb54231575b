"""The database's guard against a double booking: a visit holds one `SlotClaim` row per slot of
the doctor's grid it covers, unique per (doctor, slot start, lane), written in the booking's
transaction. Two desks booking the same time at once both pass the checks (neither sees the
other's uncommitted visit), but only one claim insert can succeed: on PostgreSQL the second waits
on the unique index and fails when the first commits; on SQLite the second writer waits for the
write lock and then fails the same way. The loser gets SlotTaken and nothing of its attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, exists
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.models import Appointment, SlotClaim
from callcenter.schedule.errors import SlotTaken
from callcenter.schedule.slots import OCCUPYING

REGULAR, SQUEEZED = 0, 1


def hold(session: Session, appointment: Appointment, units: Iterable[datetime]) -> None:
    """Insert the visit and its claims; a claim already held means the time was just taken.

    A lost race rolls the whole transaction back (PostgreSQL has aborted it anyway), so the
    caller must not go on with the session's earlier changes: it answers the refusal.
    """
    lane = SQUEEZED if appointment.overbooked else REGULAR
    starts = sorted(set(units))
    session.add(appointment)
    session.flush()
    try:
        # Claims of visits since cancelled or moved by a path that did not release them (an
        # automatic call's "cancel", an erasure) would block the slot forever: they go first.
        # Asked per claim found (by the visit's id), not as "among every visit not occupying":
        # SQLite listed the clinic's whole history (past visits occupy nothing) for each booking.
        stale = exists().where(Appointment.id == SlotClaim.appointment_id,
                               Appointment.status.not_in(OCCUPYING))
        session.execute(delete(SlotClaim).where(
            SlotClaim.doctor_id == appointment.doctor_id, SlotClaim.lane == lane,
            SlotClaim.starts_at.in_(starts), stale),
            execution_options={"synchronize_session": False})
        session.add_all(SlotClaim(clinic_id=appointment.clinic_id, doctor_id=appointment.doctor_id,
                                  appointment_id=appointment.id, starts_at=at, lane=lane)
                        for at in starts)
        session.flush()
    except IntegrityError:
        session.rollback()
        raise SlotTaken("starts_at", N_("someone has just booked this time; pick another slot")) from None


def release(session: Session, appointment: Appointment) -> None:
    """The visit no longer holds the doctor's time (cancelled, moved, undone)."""
    session.execute(delete(SlotClaim).where(SlotClaim.appointment_id == appointment.id),
                    execution_options={"synchronize_session": False})
