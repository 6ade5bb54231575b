"""The two time options a script offers: the clinic's next free slots, with their doctors' names
and the words the receptionist says for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from callcenter.callscripts.values import doctor_name, format_when
from callcenter.core.models import Clinic, Staff
from callcenter.schedule.offer_memo import OfferMemo
from callcenter.schedule.slots import Slot, offer_for_clinic


@dataclass(frozen=True)
class OfferedSlot:
    doctor_id: int
    doctor: str
    starts_at: str  # ISO, UTC
    ends_at: str
    local: str  # ISO in the clinic's zone
    label: str  # as said aloud
    may_wait: bool


def offered(slots: Sequence[Slot], doctors: Mapping[int, Staff], tz: str, locale: str) -> list[OfferedSlot]:
    """Slots as the desk shows and says them, in the clinic's zone and the script's language."""
    zone = ZoneInfo(tz)
    return [
        OfferedSlot(
            doctor_id=s.doctor_id, doctor=doctor_name(doctors[s.doctor_id], locale),
            starts_at=s.starts_at.isoformat(), ends_at=s.ends_at.isoformat(),
            local=s.starts_at.astimezone(zone).isoformat(), label=format_when(s.starts_at, tz, locale),
            may_wait=s.may_wait,
        )
        for s in slots
    ]


def offer_slots(session: Session, clinic: Clinic, now: datetime, locale: str, *, acute: bool,
                doctor_id: int | None = None, specialty: str | None = None,
                memo: OfferMemo | None = None) -> list[OfferedSlot]:
    """The clinic's next free slots (the doctor's own when given; `memo`: the pops' shared offer)."""
    make = memo.offer if memo else offer_for_clinic
    found = make(session, clinic, now, acute=acute, doctor_id=doctor_id, specialty=specialty)
    return offered(found, held_doctors(session, {s.doctor_id for s in found}), clinic.timezone, locale)


def held_doctors(session: Session, ids: set[int]) -> dict[int, Staff]:
    """The doctors by id, those the session holds already (a card's visits joined them) without
    asking the database again."""
    held = {i: row for i in ids if isinstance(row := session.identity_map.get(identity_key(Staff, i)), Staff)}
    missing = ids - held.keys()
    if missing:
        held.update((d.id, d) for d in session.scalars(select(Staff).where(Staff.id.in_(missing))))
    return held


def slot_values(slots: Sequence[OfferedSlot]) -> dict[str, str]:
    """The first two slots as the script's {slot_1} and {slot_2}."""
    return {f"slot_{n}": s.label for n, s in enumerate(slots[:2], 1)}
