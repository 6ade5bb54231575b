"""The measures page computed on a hand-built clinic month with known answers, in ru, en and zh,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.analytics.measures import follow_ups_same_day
from callcenter.analytics.periods import Filters
from callcenter.core.models import (
    Appointment,
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Complaint,
    ComplaintSeverity,
    ComplaintSubject,
    DialTask,
    Rating,
    Staff,
    StaffRole,
    TaskPurpose,
)
from tests import factories as f

DAY = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


def _month(session: Session) -> tuple[Any, Staff]:
    clinic = f.clinic(session, name="Measured")
    number = f.channel_number(session, clinic, "billboard", "+74951110000")
    desk = Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, first_name="Vera", last_name="Desk",
                 login="vera")
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Doc", last_name="Tor")
    session.add_all([desk, doctor])
    complete = f.patient(session, clinic, "+79160000001", first_name="Ann", last_name="Full",
                         birth_date=date(1990, 1, 1), created_at=DAY)
    partial = f.patient(session, clinic, "+79160000002", first_name="Bob", last_name="Part",
                        created_at=DAY)
    session.flush()

    def call(n: int, caller: str, patient_id: int | None, kind: CallerKind) -> Call:
        row = Call(clinic_id=clinic.id, provider="generic", provider_call_id=f"m-{n}",
                   direction=CallDirection.INBOUND, caller=caller, dialed=number.e164,
                   tracking_number_id=number.id, channel_id=number.channel_id, patient_id=patient_id,
                   caller_kind=kind, first_time=kind == CallerKind.NEW, agent_id=desk.id,
                   started_at=DAY + timedelta(minutes=n), status=CallStatus.COMPLETED)
        session.add(row)
        return row

    call(1, "+79160000001", complete.id, CallerKind.NEW)
    call(2, "+79160000002", partial.id, CallerKind.NEW)
    call(3, "+74957770011", None, CallerKind.NON_PATIENT)  # a vendor: not in the flow
    session.flush()
    # Ann is booked the same day; Bob only two days later.
    for patient, made in ((complete, DAY + timedelta(hours=2)), (partial, DAY + timedelta(days=2))):
        session.add(Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                                starts_at=DAY + timedelta(days=7), ends_at=DAY + timedelta(days=7, minutes=30),
                                created_at=made))
    session.add(Complaint(clinic_id=clinic.id, patient_id=partial.id, subject=ComplaintSubject.WAITING,
                          severity=ComplaintSeverity.LOW, words="Long wait", owner_id=desk.id,
                          callback_by_id=desk.id, created_by_id=desk.id, due_on=date(2026, 3, 12),
                          created_at=DAY))
    session.add_all([Rating(clinic_id=clinic.id, agent_id=desk.id, channel="ivr", score=s,
                            created_at=DAY) for s in (4, 5)])
    session.commit()
    return clinic, desk


@pytest.mark.parametrize(("locale", "heading", "accuracy"), [
    ("en", "Data accuracy", "Data accuracy"), ("ru", "Показатели", "Точность данных"),
    ("zh", "指标", "数据准确率")])
def test_the_measures_of_a_known_month(client: Any, session: Session, locale: str, heading: str,
                                       accuracy: str) -> None:
    clinic, desk = _month(session)
    manager = f.signed_in(client, session, role="admin", clinic_row=clinic, locale=locale)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    page = client.get("/measures?period=month&at=2026-03-15")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert heading in html and accuracy in html
    clinic_row = html[html.index('data-staff="clinic"'):html.index(f'data-staff="{desk.id}"')]
    # 1 of 2 cards complete; 1 of 2 first-time requests booked that day; 1 complaint in 2 patient
    # calls (the vendor's call is not in the flow); ratings 4 and 5.
    assert "50.0 %</a> <small>(1/2)" in clinic_row  # accuracy and same-day booking
    assert clinic_row.count("50.0 %") == 3
    assert "4.50</a> <small>(2)" in clinic_row
    assert 'data-measure="satisfaction" data-met="yes"' in clinic_row
    assert 'data-measure="complaint_share" data-met="no"' in clinic_row
    rows = client.get(f"/measures/rows?measure=booked_same_day&clinic={clinic.id}&period=month"
                      f"&at=2026-03-01&staff={desk.id}").get_data(as_text=True)
    assert rows.count("<tr>") == 3 and "Full" not in rows and "+7916" not in rows
    assert manager.role == StaffRole.ADMIN


def test_marketing_sees_no_patient_data(client: Any, session: Session) -> None:
    clinic, _desk = _month(session)
    f.signed_in(client, session, role="marketing", clinic_row=clinic, locale="en")
    rows = client.get(f"/measures/rows?measure=data_accuracy&clinic={clinic.id}&at=2026-03-01")
    html = rows.get_data(as_text=True)
    assert rows.status_code == 200 and "/desk/patients/" not in html
    assert "Full" not in html and "Part" not in html and "+7916" not in html
    assert client.get("/measures?period=year").status_code == 400


def test_follow_up_calls_made_on_their_day(client: Any, session: Session) -> None:
    """Vera records three follow-up calls through the desk's outcome route: two on their due
    day, one a day late; Ira one on its day. A confirmation call is not a follow-up."""
    clinic, _desk = _month(session)
    vera = f.signed_in(client, session, clinic_row=clinic, extension="201")
    other = client.application.test_client()
    ira = f.signed_in(other, session, clinic_row=clinic, extension="202")
    patient = f.patient(session, clinic, "+79160000009")
    session.flush()
    today = datetime.now(UTC).astimezone(ZoneInfo(clinic.timezone)).date()

    def task(purpose: TaskPurpose, due: date) -> DialTask:
        row = DialTask(clinic_id=clinic.id, patient_id=patient.id, purpose=purpose, due_date=due,
                       phone="+79160000009")
        session.add(row)
        session.flush()
        return row

    late = task(TaskPurpose.RECALL, today - timedelta(days=1))
    made = [task(TaskPurpose.FOLLOW_UP, today), task(TaskPurpose.MISSED_CALL, today + timedelta(days=2)), late]
    robot = task(TaskPurpose.CONFIRMATION, today)
    for_ira = task(TaskPurpose.CALL_BACK, today)
    session.commit()
    for row in [*made, robot]:
        outcome = "confirmed" if row is robot else "no_answer"
        assert client.post(f"/api/campaigns/tasks/{row.id}/outcome", json={"outcome": outcome}).status_code == 200
    # A second outcome on the same task is the same call list entry: counted once.
    assert client.post(f"/api/campaigns/tasks/{late.id}/outcome", json={"outcome": "booked"}).status_code == 200
    assert other.post(f"/api/campaigns/tasks/{for_ira.id}/outcome", json={"outcome": "booked"}).status_code == 200

    session.expire_all()
    flt = Filters(clinic.id, ZoneInfo(clinic.timezone), today.replace(day=1), today + timedelta(days=1))
    found = follow_ups_same_day(session, flt)
    assert (found[vera.id].part, found[vera.id].whole) == (2, 3)
    assert (found[ira.id].part, found[ira.id].whole) == (1, 1)
    assert (found[None].part, found[None].whole, found[None].met) == (3, 4, False)
    assert {r["task"] for r in found[vera.id].rows if not r["counted"]} == {late.id}
    assert all(set(r) == {"task", "purpose", "due", "day", "counted"} for r in found[None].rows)
