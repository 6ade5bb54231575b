"""The inbound funnel: calls → unique callers → first-time callers → bookings → arrivals.

Every figure is a cohort of the inbound calls that started in the period: a booking counts for
the call it is credited to (see bookings.py), wherever in the window it was made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import String, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from callcenter.analytics.bookings import credited_bookings
from callcenter.analytics.periods import Filters, LocalClock, buckets
from callcenter.core.models import (
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Channel,
    TrackingNumber,
)
from webhooks import TEST_CALLER

Row = dict[str, Any]
ANSWERED = (CallStatus.ANSWERED, CallStatus.COMPLETED)
# Why an inbound call has no channel ("line" of the channel reports); "channel" when it has one.
# The main line is the clinic's own number, a number without a channel is waiting for an admin,
# and a call with no number dialed (some PBXs do not say) has no tracking number at all.
LINES = ("channel", "main_line", "no_channel", "no_number")
FUNNEL_COLUMNS = ("calls", "unique_callers", "first_time_callers", "answered", "missed",
                  "bookings", "arrivals", "revenue", "booking_rate", "arrival_rate", "show_rate")


def call_conditions(flt: Filters) -> list[ColumnElement[bool]]:
    """The inbound calls of the clinic that started in the period, narrowed by the filters
    (test calls never count)."""
    conditions = [
        Call.clinic_id == flt.clinic_id,
        Call.direction == CallDirection.INBOUND,
        # The admin page's test calls prove the PBX connection; they are nobody's call.
        or_(Call.caller.is_(None), Call.caller != TEST_CALLER),
        # Vendors, advertisers and job seekers rang the phone, but they are no patient's demand.
        Call.caller_kind != CallerKind.NON_PATIENT,
        Call.started_at >= flt.start_utc,
        Call.started_at < flt.end_utc,
    ]
    if flt.channel_ids:
        conditions.append(Call.channel_id.in_(flt.channel_ids))
    if flt.tracking_number_ids:
        conditions.append(Call.tracking_number_id.in_(flt.tracking_number_ids))
    return conditions


def caller_key() -> ColumnElement[str]:
    """Who called: the number; each hidden-number call is a caller of its own."""
    return func.coalesce(Call.caller, literal("#") + cast(Call.id, String))


def rate(part: float | int | None, whole: float | int | None) -> float | None:
    return round(part / whole, 4) if part is not None and whole else None


def money(value: Decimal | float | None) -> float:
    return round(float(value or 0), 2)


def funnel(session: Session, flt: Filters, dimension: ColumnElement[Any] | None = None,
           extra: Sequence[ColumnElement[bool]] = ()) -> dict[Any, Row]:
    """Funnel figures keyed by the dimension's value (one key, None, without a dimension), of
    the calls the filters and the `extra` conditions select."""
    dims = [dimension.label("key")] if dimension is not None else [literal(None).label("key")]
    group = [dimension] if dimension is not None else []
    key = caller_key()
    answered = Call.status.in_(ANSWERED)
    calls = session.execute(
        select(
            *dims,
            func.count(),
            func.count(func.distinct(key)),
            func.count(func.distinct(case((Call.first_time.is_(True), key)))),
            func.coalesce(func.sum(case((answered, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Call.status == CallStatus.MISSED, 1), else_=0)), 0),
        ).where(*call_conditions(flt), *extra).group_by(*group)
    ).all()
    booked = credited_bookings(flt).subquery()
    bookings = session.execute(
        select(*dims, func.count(), func.coalesce(func.sum(booked.c.attended), 0),
               func.sum(booked.c.revenue))
        .select_from(booked).join(Call, Call.id == booked.c.call_id)
        .where(*call_conditions(flt), *extra).group_by(*group)
    ).all()
    rows: dict[Any, Row] = {}
    for k, n_calls, unique, first, n_answered, n_missed in calls:
        rows[k] = {"calls": n_calls, "unique_callers": unique, "first_time_callers": first,
                   "answered": int(n_answered), "missed": int(n_missed)}
    for k, n_bookings, attended, revenue in bookings:
        rows.setdefault(k, empty_counts()).update(
            bookings=n_bookings, arrivals=int(attended), revenue=money(revenue))
    for row in rows.values():
        row.setdefault("bookings", 0)
        row.setdefault("arrivals", 0)
        row.setdefault("revenue", 0.0)
        add_rates(row)
    return rows


def empty_counts() -> Row:
    return {"calls": 0, "unique_callers": 0, "first_time_callers": 0, "answered": 0, "missed": 0}


def add_rates(row: Row) -> Row:
    row["booking_rate"] = rate(row["bookings"], row["calls"])
    row["arrival_rate"] = rate(row["arrivals"], row["calls"])
    row["show_rate"] = rate(row["arrivals"], row["bookings"])
    return row


def empty_row() -> Row:
    return add_rates({**empty_counts(), "bookings": 0, "arrivals": 0, "revenue": 0.0})


def summary(session: Session, flt: Filters) -> list[Row]:
    return [funnel(session, flt).get(None, empty_row())]


def _ordered(rows: list[Row], name_field: str) -> list[Row]:
    return sorted(rows, key=lambda r: (-r["calls"], -r["bookings"], str(r[name_field])))


def _named(rows: dict[Any, Row], names: dict[int, str], id_field: str, name_field: str) -> list[Row]:
    # In id order first: two rows alike in counts and name keep one order on every database.
    return _ordered([{id_field: k, name_field: names.get(k) if k is not None else None, **row}
                     for k, row in sorted(rows.items(), key=lambda item: str(item[0]))], name_field)


def _line() -> ColumnElement[str]:
    """Which of LINES a call's missing channel is."""
    main = select(TrackingNumber.id).where(TrackingNumber.main_line.is_(True))
    return case((Call.channel_id.is_not(None), literal("channel")),
                (Call.tracking_number_id.is_(None), literal("no_number")),
                (Call.tracking_number_id.in_(main), literal("main_line")),
                else_=literal("no_channel"))


def _channel_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Channel.id, Channel.name)).all())


def by_channel(session: Session, flt: Filters) -> list[Row]:
    """Channel of the tracking number the caller dialed; calls without one by their `line`
    (main line, a number without a channel, no number), so none reads as another."""
    channels = funnel(session, flt, Call.channel_id, extra=[Call.channel_id.is_not(None)])
    return channel_rows(session, channels, funnel(session, flt, _line(), extra=[Call.channel_id.is_(None)]))


def channel_rows(session: Session, channels: dict[Any, Row], lines: dict[Any, Row]) -> list[Row]:
    rows = [{**r, "line": "channel"}
            for r in _named(channels, _channel_names(session), "channel_id", "channel")]
    rows += [{"channel_id": None, "channel": None, "line": line, **row} for line, row in lines.items()]
    return _ordered(rows, "line")


def by_heard_from(session: Session, flt: Filters) -> list[Row]:
    """Channel the caller named when asked how they heard of the clinic."""
    return heard_rows(session, funnel(session, flt, Call.heard_from_channel_id))


def heard_rows(session: Session, rows: dict[Any, Row]) -> list[Row]:
    return _named(rows, _channel_names(session), "channel_id", "channel")


def by_tracking_number(session: Session, flt: Filters) -> list[Row]:
    return number_rows(session, flt, funnel(session, flt, Call.tracking_number_id))


def number_rows(session: Session, flt: Filters, found: dict[Any, Row]) -> list[Row]:
    numbers = session.execute(
        select(TrackingNumber.id, TrackingNumber.e164, TrackingNumber.label,
               TrackingNumber.main_line, Channel.name)
        .outerjoin(Channel, Channel.id == TrackingNumber.channel_id)
        .where(TrackingNumber.clinic_id == flt.clinic_id)
    ).all()
    names = {n.id: f"{n.e164} {n.label}".strip() for n in numbers}
    channel = {n.id: n.name for n in numbers}
    line = {n.id: "channel" if n.name is not None else "main_line" if n.main_line else "no_channel"
            for n in numbers}
    rows = _named(found, names, "tracking_number_id", "tracking_number")
    return [{**r, "channel": channel.get(r["tracking_number_id"]),
             "line": line.get(r["tracking_number_id"], "no_number")} for r in rows]


def disagreements(session: Session, flt: Filters) -> list[Row]:
    """Calls whose tracking channel and "how did you hear" answer name different channels."""
    pairs = session.execute(
        select(Call.channel_id, Call.heard_from_channel_id, func.count(),
               func.count(func.distinct(caller_key())))
        .where(*call_conditions(flt), Call.channel_id.is_not(None),
               Call.heard_from_channel_id.is_not(None),
               Call.channel_id != Call.heard_from_channel_id)
        .group_by(Call.channel_id, Call.heard_from_channel_id)
    ).all()
    return disagreement_rows(session, [tuple(p) for p in pairs])


def disagreement_rows(session: Session, pairs: Sequence[tuple[Any, ...]]) -> list[Row]:
    names = _channel_names(session)
    rows = [{"tracking_channel": names.get(tracked), "heard_channel": names.get(heard),
             "calls": n, "unique_callers": unique} for tracked, heard, n, unique in pairs]
    # The heard channel breaks ties too, so the order never depends on the database's.
    return sorted(rows, key=lambda r: (-r["calls"], str(r["tracking_channel"]),
                                       str(r["heard_channel"])))


def series(session: Session, flt: Filters) -> list[Row]:
    """The funnel per day, week or month of the clinic's calendar; empty periods included."""
    clock = LocalClock(Call.started_at, flt)
    rows = funnel(session, flt, clock.bucket())
    return [{"period": first.isoformat(), **rows.get(key, empty_row())}
            for key, first in buckets(flt)]


def _answering(session: Session, flt: Filters, pick: Callable[[LocalClock], ColumnElement[int]],
               keys: Iterable[int], name: str) -> list[Row]:
    clock = LocalClock(Call.started_at, flt)
    dimension = pick(clock)
    found = {
        k: (n, int(answered), int(missed))
        for k, n, answered, missed in session.execute(
            select(dimension, func.count(),
                   func.coalesce(func.sum(case((Call.status.in_(ANSWERED), 1), else_=0)), 0),
                   func.coalesce(func.sum(case((Call.status == CallStatus.MISSED, 1), else_=0)), 0))
            .where(*call_conditions(flt)).group_by(dimension)
        ).all()
    }
    return answering_rows(found, keys, name)


def answering_rows(found: dict[int, tuple[int, int, int]], keys: Iterable[int], name: str) -> list[Row]:
    rows = []
    for k in keys:
        n, answered, missed = found.get(k, (0, 0, 0))
        rows.append({name: k, "calls": n, "answered": answered, "missed": missed,
                     "missed_share": rate(missed, n)})
    return rows


def by_hour(session: Session, flt: Filters) -> list[Row]:
    """When calls come and when they are missed, by hour of the clinic's day."""
    return _answering(session, flt, lambda c: c.hour, range(24), "hour")


def by_weekday(session: Session, flt: Filters) -> list[Row]:
    """The same by weekday, 0 = Monday."""
    return _answering(session, flt, lambda c: c.weekday, range(7), "weekday")
