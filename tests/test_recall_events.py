"""`recall.due` events (both databases, real Redis): the worker's planner, on the clinic's clock,
writes one event per patient and recall as the check-up comes due, never again however often it
runs; a patient already booked is not due. The event reaches the changes feed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    OutboxEvent,
    Staff,
    StaffRole,
    Treatment,
    TreatmentType,
)
from callcenter.exchange.tokens import create_token
from callcenter.outbound import jobs
from tests import factories as f

TZ = ZoneInfo("Asia/Shanghai")  # not the installation's zone: the day is the clinic's


def test_a_recall_coming_due_is_announced_once(app: Any, client: Any, session: Session,
                                               redis_url: str) -> None:
    clinic = f.clinic(session, timezone="Asia/Shanghai")
    f.set_up(session, clinic)
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Olga", last_name="Doc")
    session.add(doctor)
    # 00:30 on 10 March in Shanghai is still 9 March in UTC: the due day must be the clinic's.
    now = datetime(2026, 3, 10, 0, 30, tzinfo=TZ)
    today = date(2026, 3, 10)
    due = f.patient(session, clinic, "+79160000001")
    no_consent = f.patient(session, clinic, "+79160000002", consent_calls=False)
    booked = f.patient(session, clinic, "+79160000003")
    not_yet = f.patient(session, clinic, "+79160000004")
    for patient, days in ((due, 180), (no_consent, 360), (booked, 180), (not_yet, 179)):
        session.add(Treatment(clinic_id=clinic.id, patient_id=patient.id, type=TreatmentType.CLEANING,
                              performed_on=today - timedelta(days=days)))
    session.flush()
    session.add(Appointment(clinic_id=clinic.id, patient_id=booked.id, doctor_id=doctor.id,
                            starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=3, minutes=30),
                            status=AppointmentStatus.BOOKED))
    session.commit()
    connection = redis.Redis.from_url(redis_url)
    config = {**app.config, "LISTS_AT": "00:00"}

    jobs.build_lists(session, connection, clinic, now, config)
    events = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "recall.due")
                             .order_by(OutboxEvent.patient_id)).all()
    # Not calling a patient is the desk's rule; the recall is due all the same.
    assert [e.patient_id for e in events] == [due.id, no_consent.id]
    assert events[0].data == {
        "patient_id": due.id, "due_date": "2026-03-10", "treatment_id": events[0].data["treatment_id"],
        "treatment_type": "cleaning", "performed_on": (today - timedelta(days=180)).isoformat(),
        "after_days": 180}
    assert events[1].data["after_days"] == 360 and events[0].state == "held"  # no receiver yet
    postgres = session.get_bind().dialect.name == "postgresql"
    assert all((e.xid > 0) == postgres for e in events)  # the feed's watermark

    connection.flushall()  # the once-a-day marker gone: the daily run runs again
    jobs.build_lists(session, connection, clinic, now + timedelta(hours=1), config)
    session.expire_all()
    assert len(session.scalars(select(OutboxEvent).where(OutboxEvent.type == "recall.due")).all()) == 2
    # The next day (today's still in the catch-up days): only the one that came due since.
    jobs.build_lists(session, connection, clinic, now + timedelta(days=1), config)
    newest = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "recall.due")
                             .order_by(OutboxEvent.id)).all()
    assert [e.patient_id for e in newest] == [due.id, no_consent.id, not_yet.id]

    _, token = create_token(session, clinic.id, "feed", ["changes:read"])
    session.commit()
    feed = client.get("/api/sync/changes", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(c["type"], c["patient_id"]) for c in feed["changes"]] == [
        ("recall.due", due.id), ("recall.due", no_consent.id), ("recall.due", not_yet.id)]
