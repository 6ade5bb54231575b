"""Text-message figures against a month computed by hand, on SQLite and PostgreSQL.

Moscow clinic (UTC+3), March 2026, segment price 2.50 where the provider reported none.
Visits of March and how they were confirmed:
  v1 on a confirmation call                          -> call
  v8 on a call, 1 March 00:30 Moscow (28 Feb in UTC)  -> call
  v2 by replying "yes" to its reminder               -> text
  v5 a call nobody answered, then a "yes" by text    -> text
  v3 on a call and by text                           -> both
  v4 "yes" to an after-care text (no reminder)       -> not a confirmation
  v6 confirmed on a call, 1 April 01:30 Moscow       -> outside the period
Texts written in March: reminders r2 delivered (1 segment), r3 delivered (2, provider's cost
0.05), r5 sent (1), after-care a4 delivered (1, 1 March 00:30 Moscow), text-back u undelivered (1),
text-back fl failed, recall q queued, recall c cancelled; outside: one on 1 April Moscow.
  sent 5, delivered 3, failures 2 (u, fl), segments 6, cost 2.5+0.05+2.5+2.5+2.5 = 10.05
Replies in March: "yes" ×4 (v2, v3, v4, v5), STOP, "no texts and no calls", one unreadable -> 7,
opt-outs 2; one reply in February is outside.
Clinic B (same network): a visit confirmed by text, a delivered reminder, a STOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.analytics import REPORTS, Filters, network
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    DialAttempt,
    DialMode,
    DialTask,
    Message,
    MessagePurpose,
    MessageStatus,
    Staff,
    StaffRole,
    TaskPurpose,
    TaskState,
)
from tests import factories as f
from tests.conftest import app_settings

MOSCOW = ZoneInfo("Europe/Moscow")
PHONE = "+79001234567"


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Place:
    session: Session
    clinic: Clinic
    doctor: Staff
    patient_id: int

    def visit(self, starts: datetime) -> Appointment:
        row = Appointment(clinic_id=self.clinic.id, patient_id=self.patient_id, doctor_id=self.doctor.id,
                          starts_at=starts, ends_at=starts + timedelta(minutes=30),
                          status=AppointmentStatus.CONFIRMED, created_at=at(1, 6, month=2))
        self.session.add(row)
        self.session.flush()
        return row

    def call(self, visit: Appointment, result: str) -> None:
        task = DialTask(clinic_id=self.clinic.id, patient_id=self.patient_id,
                        purpose=TaskPurpose.CONFIRMATION, due_date=visit.starts_at.date(),
                        phone=PHONE, appointment_id=visit.id, state=TaskState.DONE, result=result)
        self.session.add(task)
        self.session.flush()
        self.session.add(DialAttempt(task_id=task.id, attempt_no=1, mode=DialMode.TWILIO, phone=PHONE,
                                     state="ended", result=result))

    def text(self, created: datetime, status: MessageStatus = MessageStatus.DELIVERED, *,
             purpose: MessagePurpose = MessagePurpose.CONFIRMATION, visit: Appointment | None = None,
             segments: int = 1, cost: str | None = None, reading: str = "") -> None:
        inbound = status is MessageStatus.RECEIVED
        self.session.add(Message(
            clinic_id=self.clinic.id, patient_id=self.patient_id,
            appointment_id=visit.id if visit else None, direction="inbound" if inbound else "outbound",
            purpose=MessagePurpose.REPLY if inbound else purpose, phone=PHONE, body="…",
            provider="twilio", status=status, segments=segments,
            cost=Decimal(cost) if cost else None, reading=reading, created_at=created))

    def reply(self, created: datetime, reading: str, visit: Appointment | None = None) -> None:
        self.text(created, MessageStatus.RECEIVED, visit=visit, reading=reading)


def _place(session: Session, name: str) -> Place:
    clinic = f.clinic(session, name=name)
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, last_name="Doc", first_name="Dina")
    session.add(doctor)
    session.flush()
    return Place(session, clinic, doctor, f.patient(session, clinic, PHONE).id)


@pytest.fixture
def clinics(session: Session) -> tuple[Place, Place]:
    a, b = _place(session, "A"), _place(session, "B")
    a.call(a.visit(at(10, 9)), "confirmed")
    a.call(a.visit(at(28, 21, 30, month=2)), "confirmed")
    v2, v3, v4, v5 = (a.visit(at(day, 9)) for day in (12, 13, 14, 15))
    a.call(v5, "no_answer")
    a.call(v3, "confirmed")
    a.call(a.visit(at(31, 22, 30)), "confirmed")
    a.text(at(10, 8), visit=v2)
    a.text(at(11, 8), visit=v3, segments=2, cost="0.05")
    a.text(at(12, 8), MessageStatus.SENT, visit=v5)
    a.text(at(28, 21, 30, month=2), purpose=MessagePurpose.AFTER_CARE, visit=v4)
    a.text(at(15, 10), MessageStatus.UNDELIVERED, purpose=MessagePurpose.TEXT_BACK)
    a.text(at(15, 11), MessageStatus.FAILED, purpose=MessagePurpose.TEXT_BACK, segments=0)
    a.text(at(20, 10), MessageStatus.QUEUED, purpose=MessagePurpose.RECALL)
    a.text(at(20, 11), MessageStatus.CANCELLED, purpose=MessagePurpose.RECALL)
    a.text(at(31, 21, 30))
    for visit, day in ((v2, 10), (v3, 11), (v4, 1), (v5, 12)):
        a.reply(at(day, 12), "confirm", visit)
    a.reply(at(16, 12), "opt_out")
    a.reply(at(17, 12), "opt_out_all")
    a.reply(at(18, 12), "unknown")
    a.reply(at(27, 12, month=2), "opt_out")
    vb = b.visit(at(12, 9))
    b.text(at(11, 8), visit=vb)
    b.reply(at(11, 9), "confirm", vb)
    b.reply(at(12, 9), "opt_out")
    session.commit()
    return a, b


def _march(place: Place) -> Filters:
    return Filters(clinic_id=place.clinic.id, tz=MOSCOW, start=date(2026, 3, 1), end=date(2026, 3, 31),
                   sms_price=2.5)


CLINIC_A = {"confirmed_by_call": 2, "confirmed_by_text": 2, "confirmed_by_both": 1, "texts_sent": 5,
            "delivered": 3, "delivery_failures": 2, "replies": 7, "opt_outs": 2, "segments": 6,
            "cost": 10.05}


def test_text_figures_of_a_clinic_month(session: Session, clinics: tuple[Place, Place]) -> None:
    a, b = clinics
    assert REPORTS["texts"].build(session, _march(a)) == [CLINIC_A]
    assert REPORTS["texts"].build(session, _march(b)) == [{
        "confirmed_by_call": 0, "confirmed_by_text": 1, "confirmed_by_both": 0, "texts_sent": 1,
        "delivered": 1, "delivery_failures": 0, "replies": 2, "opt_outs": 1, "segments": 1, "cost": 2.5}]
    assert network.build(session, "texts", [_march(a), _march(b)]) == [{
        "confirmed_by_call": 2, "confirmed_by_text": 3, "confirmed_by_both": 1, "texts_sent": 6,
        "delivered": 4, "delivery_failures": 2, "replies": 9, "opt_outs": 3, "segments": 7, "cost": 12.55}]
    empty = Filters(clinic_id=a.clinic.id, tz=MOSCOW, start=date(2025, 1, 1), end=date(2025, 1, 2))
    assert REPORTS["texts"].build(session, empty) == [dict.fromkeys(CLINIC_A, 0) | {"cost": 0.0}]


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, SMS_PRICE="2.5")


def test_text_figures_on_the_dashboard_the_api_and_the_export(
        client: Any, session: Session, clinics: tuple[Place, Place]) -> None:
    a, _ = clinics
    f.signed_in(client, session, role="marketing", clinic_row=a.clinic, extension=None)
    period = "from=2026-03-01&to=2026-03-31"
    answer = client.get(f"/api/analytics/texts?{period}")
    assert answer.status_code == 200 and answer.get_json()["rows"] == [CLINIC_A]
    page = client.get(f"/marketing?{period}").get_data(as_text=True)
    assert 'id="report-texts"' in page and "Подтверждено по СМС" in page and "10,05" in page
    csv = client.get(f"/marketing/export/texts.csv?{period}").get_data(as_text=True)
    assert csv.splitlines()[1] == "2,2,1,5,3,2,7,2,6,10.05"
