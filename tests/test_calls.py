"""record_call_event: one call per provider call, idempotent, order-independent, linked and attributed."""

from __future__ import annotations

import itertools
import random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Call,
    CallerKind,
    CallEventRecord,
    CallStatus,
    TrackingNumber,
)
from callcenter.inbound.calls import record_call_event
from tests import factories as f
from webhooks import CallEventKind as K

CONFIG: dict[str, Any] = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}

FULL_CALL = [
    f.event(K.RINGING, 0, extension="101"),
    f.event(K.ANSWERED, 8, extension="101"),
    f.event(K.ENDED, 190, duration=182),
    f.event(K.RECORDING, 200, recording_url="https://rec.example/c1.mp3"),
]


def _apply(session: Session, events: list) -> None:
    for ev in events:
        record_call_event(session, ev, config=CONFIG)
    session.commit()


def _snapshot(session: Session) -> list[tuple]:
    return [
        (c.provider_call_id, c.status, c.ringing_at, c.answered_at, c.ended_at, c.duration,
         c.recording_url, c.extension, c.agent_id, c.patient_id, c.caller_kind, c.channel_id,
         c.first_time)
        for c in session.scalars(select(Call).order_by(Call.provider_call_id))
    ]


def test_full_inbound_call(session: Session) -> None:
    clinic = f.clinic(session)
    number = f.channel_number(session, clinic, "maps_listing", "+74951230001")
    patient = f.patient(session, clinic, "+79001234567")
    agent = f.receptionist(session, clinic, "101")
    _apply(session, FULL_CALL)
    call = session.scalars(select(Call)).one()
    assert call.status == CallStatus.COMPLETED
    assert call.patient_id == patient.id and call.caller_kind == CallerKind.REPEAT
    assert call.channel_id == number.channel_id and call.tracking_number_id == number.id
    assert call.agent_id == agent.id and call.extension == "101"
    assert call.duration == 182 and call.recording_url == "https://rec.example/c1.mp3"
    assert (call.answered_at - call.ringing_at).total_seconds() == 8
    assert session.scalar(select(func.count(CallEventRecord.id))) == 4


def test_redelivery_and_any_order_converge(session: Session) -> None:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "maps_listing", "+74951230001")
    f.patient(session, clinic, "+79001234567")
    f.receptionist(session, clinic, "101")
    _apply(session, FULL_CALL)
    expected = _snapshot(session)
    for order in itertools.islice(itertools.permutations(FULL_CALL), 0, 24, 5):
        session.execute(Call.__table__.delete())
        session.commit()
        doubled = list(order) + list(order)
        random.Random(7).shuffle(doubled)
        _apply(session, doubled)
        assert _snapshot(session)[0][1:9] == expected[0][1:9]
        assert session.scalar(select(func.count(Call.id))) == 1
        assert session.scalar(select(func.count(CallEventRecord.id))) == 4


def test_missed_call_enters_and_leaves_the_callback_list(session: Session) -> None:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "website", "+74951230001")
    _apply(session, [f.event(K.RINGING, 0, call_id="m1"), f.event(K.MISSED, 25, call_id="m1")])
    missed = session.scalars(select(Call)).one()
    assert missed.status == CallStatus.MISSED and missed.callback_done_at is None
    assert missed.caller_kind == CallerKind.NEW and missed.first_time
    # The caller gets through an hour later: the missed call leaves the list.
    _apply(session, [f.event(K.RINGING, 3600, call_id="m2"), f.event(K.ANSWERED, 3605, call_id="m2")])
    session.expire_all()
    later = session.scalar(select(Call).where(Call.provider_call_id == "m2"))
    assert later.first_time is False
    missed = session.scalar(select(Call).where(Call.provider_call_id == "m1"))
    assert missed.callback_done_at == later.answered_at and missed.callback_call_id == later.id


def test_family_number_keeps_every_candidate(session: Session) -> None:
    clinic = f.clinic(session)
    mother = f.patient(session, clinic, "+79001234567", first_name="Olga")
    son = f.patient(session, clinic, "+79001234567", first_name="Pavel")
    _apply(session, [f.event(K.RINGING)])
    call = session.scalars(select(Call)).one()
    assert call.caller_kind == CallerKind.FAMILY and call.patient_id is None
    assert sorted(c.patient_id for c in call.candidates) == sorted([mother.id, son.id])


def test_hidden_caller_and_unknown_tracking_number(session: Session) -> None:
    f.clinic(session)
    _apply(session, [f.event(K.RINGING, caller=None, caller_raw="anonymous", dialed="+74950000000")])
    call = session.scalars(select(Call)).one()
    assert call.caller is None and call.caller_kind == CallerKind.HIDDEN and not call.first_time
    number = session.scalars(select(TrackingNumber)).one()
    assert number.e164 == "+74950000000" and number.auto_created and number.channel_id is None
    assert call.tracking_number_id == number.id and call.channel_id is None


def test_fresh_install_gets_a_default_clinic(session: Session) -> None:
    _apply(session, [f.event(K.RINGING)])
    call = session.scalars(select(Call)).one()
    assert call.clinic_id is not None and call.status == CallStatus.RINGING
