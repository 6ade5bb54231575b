"""Receptionists: calls taken, answer speed, missed calls and call-backs, bookings, the monthly KPI."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from callcenter.analytics.bookings import credited_bookings
from callcenter.analytics.funnel import ANSWERED, Row, call_conditions, rate
from callcenter.analytics.periods import Filters, Granularity, LocalClock, buckets
from callcenter.analytics.sqltime import epoch_seconds
from callcenter.core.models import Call, CallDirection, CallStatus, Staff, StaffRole


def _names(session: Session, flt: Filters, ids: set[int]) -> dict[int, str]:
    staff = session.scalars(
        select(Staff).where(Staff.clinic_id == flt.clinic_id)
        .where((Staff.id.in_(ids)) | ((Staff.role == StaffRole.RECEPTIONIST) & Staff.active))
    ).all()
    return {s.id: s.display_name for s in staff}


def _seconds_between(later: Any, earlier: Any) -> Any:
    return epoch_seconds(later) - epoch_seconds(earlier)


def _avg(value: Any) -> float | None:
    return round(float(value), 1) if value is not None else None


def receptionists(session: Session, flt: Filters) -> list[Row]:
    """One row per receptionist who had inbound calls ringing at their extension, or works the desk.

    The row without a receptionist holds the calls that rang at no one in particular.
    """
    answered = Call.status.in_(ANSWERED)
    ring_to_answer = _seconds_between(Call.answered_at, func.coalesce(Call.ringing_at, Call.started_at))
    offered = {
        agent: (n, int(taken), int(missed), speed)
        for agent, n, taken, missed, speed in session.execute(
            select(Call.agent_id, func.count(),
                   func.coalesce(func.sum(case((answered, 1), else_=0)), 0),
                   func.coalesce(func.sum(case((Call.status == CallStatus.MISSED, 1), else_=0)), 0),
                   func.avg(case((Call.answered_at.is_not(None), ring_to_answer))))
            .where(*call_conditions(flt)).group_by(Call.agent_id)
        ).all()
    }
    back = aliased(Call)
    callbacks = {
        agent: (n, delay)
        for agent, n, delay in session.execute(
            select(back.agent_id, func.count(),
                   func.avg(_seconds_between(Call.callback_done_at, Call.started_at)))
            .join(back, back.id == Call.callback_call_id)
            .where(*call_conditions(flt), Call.status == CallStatus.MISSED,
                   back.direction == CallDirection.OUTBOUND)
            .group_by(back.agent_id)
        ).all()
    }
    booked = credited_bookings(flt).subquery()
    bookings = dict(session.execute(
        select(Call.agent_id, func.count()).select_from(booked)
        .join(Call, Call.id == booked.c.call_id)
        .where(*call_conditions(flt)).group_by(Call.agent_id)
    ).all())
    return receptionist_rows(session, flt, offered, callbacks, bookings)


def receptionist_rows(session: Session, flt: Filters, offered: dict[Any, tuple[int, int, int, Any]],
                      callbacks: dict[Any, tuple[int, Any]], bookings: dict[Any, int]) -> list[Row]:
    """offered: agent → (calls, taken, missed, average answer seconds); callbacks: agent →
    (missed calls they called back, average delay in seconds); bookings: agent → count."""
    ids = {k for k in (*offered, *callbacks, *bookings) if k is not None}
    names = _names(session, flt, ids)
    rows = []
    for agent in sorted(set(names) | set(offered), key=lambda a: (a is None, names.get(a, ""), a or 0)):
        n, taken, missed, speed = offered.get(agent, (0, 0, 0, None))
        n_back, back_delay = callbacks.get(agent, (0, None))
        rows.append({
            "staff_id": agent, "receptionist": names.get(agent) if agent is not None else None,
            "calls": n, "taken": taken, "missed": missed, "missed_share": rate(missed, n),
            "avg_answer_seconds": _avg(speed), "callbacks": n_back,
            "avg_callback_minutes": _avg(back_delay / 60 if back_delay is not None else None),
            "bookings": bookings.get(agent, 0), "booking_rate": rate(bookings.get(agent, 0), taken),
        })
    return rows


def callbacks(session: Session, flt: Filters) -> list[Row]:
    """Missed inbound calls: called back by the desk, caller got through again, or still open."""
    back = aliased(Call)
    delay = _seconds_between(Call.callback_done_at, Call.started_at)
    outbound = back.direction == CallDirection.OUTBOUND
    missed, called_back, again, avg_delay = session.execute(
        select(func.count(),
               func.coalesce(func.sum(case((outbound, 1), else_=0)), 0),
               func.coalesce(func.sum(case((back.direction == CallDirection.INBOUND, 1), else_=0)), 0),
               func.avg(case((outbound, delay))))
        .select_from(Call).outerjoin(back, back.id == Call.callback_call_id)
        .where(*call_conditions(flt), Call.status == CallStatus.MISSED)
    ).one()
    return callback_row(missed, int(called_back), int(again), avg_delay)


def callback_row(missed: int, called_back: int, again: int, avg_delay: Any) -> list[Row]:
    """The callbacks report's one row; avg_delay in seconds (None: nobody called back)."""
    return [{"missed": missed, "called_back": called_back, "caller_called_again": again,
             "open": missed - called_back - again, "called_back_share": rate(called_back, missed),
             "avg_callback_minutes": _avg(avg_delay / 60 if avg_delay is not None else None)}]


def invitations(session: Session, flt: Filters) -> list[Row]:
    """The seed KPI: phone invitations that came to the clinic, per receptionist and month.

    A visit (attended appointment, counted in the month it took place) whose booking is credited
    to a call the receptionist handled, inbound or outbound.
    """
    monthly = replace(flt, granularity=Granularity.MONTH)
    booked = credited_bookings(monthly, by_visit=True).subquery()
    month = LocalClock(booked.c.starts_at, monthly).bucket()
    counts = {
        (agent, key): n
        for agent, key, n in session.execute(
            select(Call.agent_id, month, func.count()).select_from(booked)
            .join(Call, Call.id == booked.c.call_id)
            .where(booked.c.attended == 1, Call.agent_id.is_not(None))
            .group_by(Call.agent_id, month)
        ).all()
    }
    return invitation_rows(session, flt, counts)


def invitation_rows(session: Session, flt: Filters, counts: dict[tuple[Any, int], int]) -> list[Row]:
    """counts: (receptionist, month bucket) → visits."""
    monthly = replace(flt, granularity=Granularity.MONTH)
    names = _names(session, flt, {agent for agent, _ in counts})
    rows = []
    for key, first in buckets(monthly):
        for agent in sorted(names, key=lambda a: (names[a], a)):
            n = counts.get((agent, key), 0)
            rows.append({"month": first.strftime("%Y-%m"), "staff_id": agent,
                         "receptionist": names[agent], "invitations": n,
                         "target": flt.invitation_target,
                         "achieved": rate(n, flt.invitation_target)})
    return rows
