"""A clinic with a website number pool, for the web call tracking tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Staff,
    StaffRole,
    TrackingNumber,
    WebPool,
)
from callcenter.inbound.calls import record_call_event
from callcenter.webtracking.leases import Leaser
from callcenter.webtracking.records import flush
from callcenter.webtracking.visits import read_facts, request_number
from tests import factories as f
from webhooks import CallEvent, CallEventKind, Direction

CALL_CONFIG = {"TIMEZONE": "Europe/Moscow", "REGION": "RU", "ATTRIBUTION_DAYS": 14}

SITE = "https://clinic.example"
POOL = ("+74951110001", "+74951110002")
FALLBACK = "+74951110000"


def numbers(session: Session, clinic: Clinic) -> tuple[list[TrackingNumber], TrackingNumber]:
    pool = [f.channel_number(session, clinic, f"site_{i}", e164) for i, e164 in enumerate(POOL)]
    fallback = f.channel_number(session, clinic, "site_static", FALLBACK)
    session.commit()
    return pool, fallback


def pool_form(pool: list[TrackingNumber], fallback: TrackingNumber, **changes: Any) -> dict[str, Any]:
    form = {"name": "Main site", "sites": f"{SITE}\nhttps://www.clinic.example/",
            "number_ids": [str(n.id) for n in pool], "fallback_number_id": str(fallback.id),
            "serves": "all", "sources": "", "hold_minutes": "5", "grace_minutes": "3", "active": "1"}
    form.update(changes)
    return form


def make_pool(client: Any, session: Session, **changes: Any) -> WebPool:
    clinic = session.scalars(select(Clinic)).first() or f.clinic(session)
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None, locale="en")
    pool, fallback = numbers(session, clinic)
    answer = client.post("/admin/webtracking/pools",
                         data={**pool_form(pool, fallback, **changes), "clinic_id": clinic.id})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return session.scalars(select(WebPool)).one()


def ask(client: Any, key: str, visitor: str, origin: str = SITE, **body: Any) -> Any:
    return client.post(f"/wt/{key}/number", json={"visitor": visitor, **body},
                       headers={"Origin": origin})


def web_call(session: Session, leaser: Leaser, pool: WebPool, facts: dict[str, Any], at: datetime,
             name: str, caller: str) -> int:
    """A visit shown a pool number at `at`, and a call to that number a minute later that is
    answered and lasts two minutes; the call's id."""
    number = request_number(session, leaser, pool, read_facts(facts), at).number
    flush(session, leaser.client)
    for kind, seconds in ((CallEventKind.RINGING, 60), (CallEventKind.ANSWERED, 70),
                          (CallEventKind.ENDED, 190)):
        change = record_call_event(session, CallEvent(
            provider="generic", provider_call_id=name, kind=kind, direction=Direction.INBOUND,
            occurred_at=at + timedelta(seconds=seconds), caller=caller, dialed=number,
            duration=120 if kind == CallEventKind.ENDED else None), config=CALL_CONFIG)
    session.commit()
    return change.call_id


def booking(session: Session, clinic: Clinic, call_id: int, at: datetime, *,
            arrived: bool = False, price: str | None = None) -> Appointment:
    """A visit booked on the call at `at` + 5 minutes for half an hour later, arrived when asked."""
    doctor = session.scalars(select(Staff).where(Staff.role == StaffRole.DOCTOR)).first()
    if doctor is None:
        doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Oleg",
                       last_name="Doctor")
        session.add(doctor)
    patient = f.patient(session, clinic, f"+7916{call_id:07}")
    starts = at + timedelta(minutes=30)
    row = Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor=doctor, starts_at=starts,
                      ends_at=starts + timedelta(minutes=30), created_by_call_id=call_id,
                      status=AppointmentStatus.ARRIVED if arrived else AppointmentStatus.BOOKED,
                      price=Decimal(price) if price else None, created_at=at + timedelta(minutes=5))
    session.add(row)
    session.commit()
    return row
