"""Text messages in figures: visits confirmed by call, by text or both, and the texts themselves
(sent, delivered, failed, replies, opt-outs, segments, cost).

Read from the `messages` table directly: analytics sits below the messaging package and only
counts what it stored. Confirmations are counted over the visits of the period (their start in
the clinic's days); texts over those written in the period.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from callcenter.analytics.funnel import Row, money
from callcenter.analytics.periods import Filters
from callcenter.core.models import (
    Appointment,
    DialAttempt,
    DialTask,
    Message,
    MessagePurpose,
    MessageStatus,
    TaskPurpose,
)
from callcenter.outbound.results import Outcome

# What messaging.replies read a reply as (the `reading` column it writes).
CONFIRM_READING = "confirm"
OPT_OUT_READINGS = ("opt_out", "opt_out_all")
# Handed to the carrier: these cost money whether or not they arrived.
SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
FAILURES = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)
COLUMNS = ("confirmed_by_call", "confirmed_by_text", "confirmed_by_both", "texts_sent", "delivered",
           "delivery_failures", "replies", "opt_outs", "segments", "cost")


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _confirmations(session: Session, flt: Filters) -> tuple[int, int, int]:
    """Visits of the period the patient confirmed on a confirmation call, by replying to the
    reminder text, or both ways."""
    # Uncorrelated IN (…): read once, not once per visit (a planner that sees mostly empty
    # appointment ids on tasks would scan every task for every visit). No NULL in either list,
    # so NOT IN stays true or false.
    on_call = Appointment.id.in_(
        select(DialTask.appointment_id).join(DialAttempt, DialAttempt.task_id == DialTask.id)
        .where(DialTask.appointment_id.is_not(None), DialTask.purpose == TaskPurpose.CONFIRMATION,
               DialAttempt.result == Outcome.CONFIRMED.value))
    reminder = aliased(Message)
    by_text = Appointment.id.in_(
        select(Message.appointment_id)
        .join(reminder, reminder.appointment_id == Message.appointment_id)
        .where(Message.appointment_id.is_not(None), Message.direction == "inbound",
               Message.reading == CONFIRM_READING,
               reminder.direction == "outbound", reminder.purpose == MessagePurpose.CONFIRMATION))
    call, text, both = session.execute(
        select(_count(and_(on_call, ~by_text)), _count(and_(by_text, ~on_call)),
               _count(and_(on_call, by_text)))
        .where(Appointment.clinic_id == flt.clinic_id, Appointment.starts_at >= flt.start_utc,
               Appointment.starts_at < flt.end_utc)).one()
    return int(call), int(text), int(both)


def texts(session: Session, flt: Filters) -> list[Row]:
    """One row for the clinic and period."""
    outbound, inbound = Message.direction == "outbound", Message.direction == "inbound"
    sent = and_(outbound, Message.status.in_(SENT))
    price = Message.segments * flt.sms_price
    found = session.execute(
        select(_count(sent), _count(and_(outbound, Message.status == MessageStatus.DELIVERED)),
               _count(and_(outbound, Message.status.in_(FAILURES))), _count(inbound),
               _count(and_(inbound, Message.reading.in_(OPT_OUT_READINGS))),
               func.coalesce(func.sum(case((sent, Message.segments), else_=0)), 0),
               func.sum(case((sent, func.coalesce(Message.cost, price)), else_=None)))
        .where(Message.clinic_id == flt.clinic_id, Message.created_at >= flt.start_utc,
               Message.created_at < flt.end_utc)).one()
    call, text, both = _confirmations(session, flt)
    n_sent, delivered, failures, replies, opt_outs, n_segments, cost = found
    return [{"confirmed_by_call": call, "confirmed_by_text": text, "confirmed_by_both": both,
             "texts_sent": int(n_sent), "delivered": int(delivered), "delivery_failures": int(failures),
             "replies": int(replies), "opt_outs": int(opt_outs), "segments": int(n_segments),
             "cost": money(cost)}]
