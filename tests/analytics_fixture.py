"""A small clinic month whose analytics are computed by hand (figures in tests/test_analytics.py).

Moscow clinic (UTC+3, no DST), March 2026. Ten inbound calls:
  c1  n1 maps    answered anna  first-time  -> booking b1 made on the call, arrived, 3000
  c2  n2 maps    missed                first-time  (the caller got through later: c3)
  c3  n2 maps    answered boris  repeat caller
  c4  n3 search  answered anna  first-time  heard "maps" (disagrees with the tracking number)
  c5  n3 search  answered anna  second call -> booking b2 next day (credited to c5 only), no-show;
                                 b2 moved later (the copy b5 is not a new booking)
  c6  n4 search  answered boris  family number (mum and child) -> booking b3 for the child, completed, 1500
  c7  n5 maps    missed at anna  first-time  -> called back by anna 30 min later (outbound c12,
                                 which booked b6, a visit on the 20th); b4 made 19 days later: outside the window
  c8, c9 hidden  maps  missed
  c10 n6 no tracking number  answered boris  first-time  heard "maps"
Outside the period: c0 (n1, in February). Dial tasks of two campaigns and the desk, one due in April.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Campaign,
    Clinic,
    DialTask,
    Staff,
    StaffRole,
    TaskPurpose,
)
from tests import factories as f

_ids = itertools.count(1)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def add_call(session: Session, clinic: Clinic, caller: str | None, started: datetime, *,
             status: CallStatus = CallStatus.COMPLETED, number: Any = None, agent: Staff | None = None,
             first_time: bool = False, heard: int | None = None, answer_after: int = 5,
             direction: CallDirection = CallDirection.INBOUND,
             kind: CallerKind = CallerKind.REPEAT) -> Call:
    answered = status in (CallStatus.COMPLETED, CallStatus.ANSWERED)
    call = Call(
        clinic_id=clinic.id, provider="test", provider_call_id=f"fx{next(_ids)}",
        direction=direction, caller=caller, dialed=number.e164 if number else None,
        tracking_number_id=number.id if number else None,
        channel_id=number.channel_id if number else None,
        caller_kind=CallerKind.HIDDEN if caller is None else kind, first_time=first_time,
        agent_id=agent.id if agent else None, started_at=started, ringing_at=started,
        answered_at=started + timedelta(seconds=answer_after) if answered else None,
        ended_at=started + timedelta(minutes=3), status=status, heard_from_channel_id=heard,
    )
    session.add(call)
    session.flush()
    return call


def add_booking(session: Session, clinic: Clinic, patient: Any, doctor: Staff, created: datetime,
                starts: datetime, status: AppointmentStatus, *, call: Call | None = None,
                price: int | None = None, moved_from: Appointment | None = None) -> Appointment:
    row = Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                      starts_at=starts, ends_at=starts + timedelta(minutes=30), status=status,
                      created_by_call_id=call.id if call else None, created_at=created,
                      price=Decimal(price) if price is not None else None,
                      rescheduled_from_id=moved_from.id if moved_from else None)
    session.add(row)
    session.flush()
    return row


@dataclass
class Month:
    clinic: Clinic
    maps: Any
    search: Any
    anna: Staff
    boris: Staff
    calls: dict[str, Call] = field(default_factory=dict)

    period = (date(2026, 3, 1), date(2026, 3, 31))


def march(session: Session) -> Month:
    clinic = f.clinic(session)
    maps = f.channel_number(session, clinic, "maps", "+74950000001")
    search = f.channel_number(session, clinic, "search", "+74950000002")
    anna = f.receptionist(session, clinic, "101", "anna")
    boris = f.receptionist(session, clinic, "102", "boris")
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, last_name="Doc", first_name="Dina")
    session.add(doctor)
    p1 = f.patient(session, clinic, "+79000000001")
    f.patient(session, clinic, "+79000000002")
    p3 = f.patient(session, clinic, "+79000000003")
    mum = f.patient(session, clinic, "+79000000004", first_name="Mum")
    child = f.patient(session, clinic, "+79000000004", first_name="Child")
    p5 = f.patient(session, clinic, "+79000000005")
    m = Month(clinic, maps, search, anna, boris)
    c = m.calls
    c["c0"] = add_call(session, clinic, "+79000000001", at(27, 7, month=2), number=maps, agent=anna)
    c["c1"] = add_call(session, clinic, "+79000000001", at(2, 7), number=maps, agent=anna,
                       first_time=True, heard=maps.channel_id, answer_after=5)
    c["c2"] = add_call(session, clinic, "+79000000002", at(2, 8), number=maps,
                       status=CallStatus.MISSED, first_time=True)
    c["c3"] = add_call(session, clinic, "+79000000002", at(2, 8, 30), number=maps, agent=boris,
                       answer_after=4)
    c["c4"] = add_call(session, clinic, "+79000000003", at(3, 9), number=search, agent=anna,
                       first_time=True, heard=maps.channel_id, answer_after=10)
    c["c5"] = add_call(session, clinic, "+79000000003", at(5, 9), number=search, agent=anna,
                       answer_after=15)
    c["c6"] = add_call(session, clinic, "+79000000004", at(10, 7), number=search, agent=boris,
                       kind=CallerKind.FAMILY, answer_after=6)
    c["c7"] = add_call(session, clinic, "+79000000005", at(11, 7), number=maps, agent=anna,
                       status=CallStatus.MISSED, first_time=True)
    c["c8"] = add_call(session, clinic, None, at(12, 12), number=maps, status=CallStatus.MISSED)
    c["c9"] = add_call(session, clinic, None, at(12, 12, 5), number=maps, status=CallStatus.MISSED)
    c["c10"] = add_call(session, clinic, "+79000000006", at(20, 15), agent=boris, first_time=True,
                        heard=maps.channel_id, answer_after=8)
    c["c12"] = add_call(session, clinic, "+79000000005", at(11, 7, 30), agent=anna,
                        direction=CallDirection.OUTBOUND)
    c["c2"].callback_call_id, c["c2"].callback_done_at = c["c3"].id, c["c3"].answered_at
    c["c7"].callback_call_id, c["c7"].callback_done_at = c["c12"].id, at(11, 7, 30)

    add_booking(session, clinic, p1, doctor, at(2, 7, 3), at(4, 10), AppointmentStatus.ARRIVED,
                call=c["c1"], price=3000)
    b2 = add_booking(session, clinic, p3, doctor, at(6, 10), at(9, 10), AppointmentStatus.NO_SHOW)
    add_booking(session, clinic, p3, doctor, at(7, 10), at(16, 10), AppointmentStatus.BOOKED,
                call=c["c5"], moved_from=b2)
    add_booking(session, clinic, child, doctor, at(12, 10), at(15, 10), AppointmentStatus.COMPLETED,
                price=1500)
    add_booking(session, clinic, p5, doctor, at(30, 10), at(31, 10), AppointmentStatus.BOOKED)
    add_booking(session, clinic, p5, doctor, at(11, 7, 35), at(20, 10), AppointmentStatus.ARRIVED,
                call=c["c12"])

    confirm = Campaign(clinic_id=clinic.id, purpose=TaskPurpose.CONFIRMATION, name="Confirm March")
    recall = Campaign(clinic_id=clinic.id, purpose=TaskPurpose.RECALL, name="Spring recall")
    session.add_all([confirm, recall])
    session.flush()
    tasks = [  # (campaign, purpose, due day, result, patient, task made at)
        (confirm, TaskPurpose.CONFIRMATION, 3, "confirmed", None, at(2, 13)),
        (confirm, TaskPurpose.CONFIRMATION, 4, "confirmed", None, at(3, 13)),
        (confirm, TaskPurpose.CONFIRMATION, 5, "no_answer", None, at(4, 13)),
        (confirm, TaskPurpose.CONFIRMATION, 6, "cancel", None, at(5, 13)),
        (recall, TaskPurpose.RECALL, 10, "acknowledged", child, at(10, 6)),  # child booked on the 12th
        (recall, TaskPurpose.RECALL, 11, "acknowledged", p1, at(11, 6)),  # p1 booked before: no
        (recall, TaskPurpose.RECALL, 12, "", p3, at(12, 6)),
        (None, TaskPurpose.NO_SHOW, 11, "acknowledged", p5, at(11, 6)),  # p5 booked at 07:35
        (None, TaskPurpose.NO_SHOW, 11, "no_answer", mum, at(11, 6)),
        (recall, TaskPurpose.RECALL, 32, "acknowledged", p5, at(31, 6)),  # due 1 April: outside
    ]
    for campaign, purpose, day, result, patient, made in tasks:
        due = date(2026, 3, 1) + timedelta(days=day - 1)
        session.add(DialTask(clinic_id=clinic.id, campaign_id=campaign.id if campaign else None,
                             purpose=purpose, due_date=due, phone="+79000000009", result=result,
                             patient_id=patient.id if patient else None, created_at=made))
    session.commit()
    return m
