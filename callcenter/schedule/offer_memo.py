"""A clinic's slot offer, reused for a moment by the screen-pops of one process.

Under a ringing peak every pop asks for the same two slots (the clinic's, or its doctor's): the
offer reads the doctors' schedules, absences, days off and bookings, and was the largest part
of a card's CPU. A pop reuses an offer made within the last `seconds` for the same clinic,
doctor, specialty and kind, unless this process has written a booking or a schedule since (a
listener on every session's flush). Another process's booking is seen at most `seconds` later;
booking itself checks the slot again (schedule.booking), so a stale offer costs a "that time
is taken" and never a double booking.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from callcenter.core.models import Appointment, Clinic, DayOff, DoctorAbsence, DoctorSchedule, Staff
from callcenter.schedule.slots import Slot, offer_for_clinic

# What an offer is made of: a change to any of these makes every remembered offer stale.
_INPUTS = (Appointment, DoctorSchedule, DoctorAbsence, DayOff, Staff, Clinic)


class _Generation:
    """Counts this process's flushes that touched an offer's inputs."""

    def __init__(self) -> None:
        self.value = 0

    def after_flush(self, session: Session, _context: Any) -> None:
        for group in (session.new, session.dirty, session.deleted):
            if any(isinstance(item, _INPUTS) for item in group):
                self.value += 1  # a plain int under the GIL: a lost race only costs a recompute
                return


generation = _Generation()
event.listen(Session, "after_flush", generation.after_flush)


class OfferMemo:
    def __init__(self, seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self.lock = threading.Lock()
        self.kept: dict[tuple[Any, ...], tuple[float, int, list[Slot]]] = {}

    def offer(self, session: Session, clinic: Clinic, now: datetime, *, acute: bool,
              doctor_id: int | None, specialty: str | None) -> list[Slot]:
        """offer_for_clinic's answer, from a moment ago when nothing it reads has changed here."""
        key = (clinic.id, acute, doctor_id, specialty)
        seen = generation.value
        with self.lock:
            kept = self.kept.get(key)
        if kept is not None and kept[1] == seen and self.clock() - kept[0] < self.seconds:
            return kept[2]
        made = self.clock()
        slots = offer_for_clinic(session, clinic, now, acute=acute, doctor_id=doctor_id, specialty=specialty)
        with self.lock:
            if len(self.kept) > 1000:  # many clinics × doctors: start over rather than grow
                self.kept.clear()
            self.kept[key] = (made, seen, slots)
        return slots
