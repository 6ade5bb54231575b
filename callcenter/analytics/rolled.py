"""The call reports read from the roll-ups: whole local days summed, never the calls one by one.

Each function gives exactly what its namesake in funnel.py / agents.py computes from the raw rows
(tests/test_rollups_exact.py proves it on random data). The one figure no sum can give, distinct
callers, is the size of a union of the days' caller sets (`caller_sets`), the hidden-number
callers (each a caller of its own) added from the call roll-up. Roll-ups are brought up to date
first: `fresh` refreshes whatever the triggers marked for the clinic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, case, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from callcenter.analytics import agents, caller_sets, funnel
from callcenter.analytics.funnel import Row, empty_row, money
from callcenter.analytics.periods import (
    Filters,
    Granularity,
    buckets,
    day_bucket,
    local_day_number,
    rolled_days,
)
from callcenter.analytics.rollups import KEPT, pending, refresh, settle, unsettled
from callcenter.core.models import (
    BookingCredit,
    RollupCall,
    RollupCallback,
    RollupCaller,
    RollupHour,
    Span,
    TrackingNumber,
)
from callcenter.core.runtime import occasional_write_guard

PAIR = 1 << 32  # (channel, heard-from channel) as one key: channel × PAIR + heard-from


def fresh(session: Session, flt: Filters) -> None:
    """Recompute what changed since the roll-ups were last brought up to date (usually today), and
    sum again the changed weeks and months the period holds whole."""
    engine = session.get_bind()
    first, last = local_day_number(flt.start), local_day_number(flt.end)
    with engine.connect() as conn:
        if not pending(conn, [flt.clinic_id]) and not unsettled(conn, flt.clinic_id, first, last):
            return
    # In the queue of SQLite's writers, not beside it: outside it, each refresh made the
    # webhooks it met wait in SQLite's busy handler (pops' p99 above a second with reports
    # read over and over beside 60 webhooks/s).
    with occasional_write_guard(engine), engine.begin() as conn:
        refresh(conn, flt.clinic_id)
        settle(conn, flt.clinic_id, first, last)


@dataclass(frozen=True)
class Dims:
    """The columns a report groups by, as each source names them."""

    tracking_number_id: Any
    channel_id: Any
    heard_from_channel_id: Any
    day: Any


def _dims(source: Any) -> Dims:
    day = source.call_day if source is BookingCredit else source.day
    return Dims(source.tracking_number_id, source.channel_id, source.heard_from_channel_id, day)


EVERY_SPAN = (Span.MONTH, Span.WEEK)


def _where(source: Any, flt: Filters, coarser: Sequence[Span] = EVERY_SPAN) -> list[ColumnElement[bool]]:
    """The clinic, the filters and the period's days: the booking credits by their call's day; a
    roll-up by the rows of the months and weeks (those of `coarser` it keeps) wholly inside the
    period and day rows for the rest. A report whose buckets a span's row could straddle asks for
    fewer spans: by day none, by week weeks alone, by month months alone."""
    if source is BookingCredit:
        day = BookingCredit.call_day
        conditions = [day >= local_day_number(flt.start), day <= local_day_number(flt.end)]
    else:
        conditions = [rolled_days(source, flt.start, flt.end,
                                  [span for span in coarser if span in KEPT[source]])]
    conditions.append(source.clinic_id == flt.clinic_id)
    if flt.channel_ids:
        conditions.append(source.channel_id.in_(flt.channel_ids))
    if flt.tracking_number_ids:
        conditions.append(source.tracking_number_id.in_(flt.tracking_number_ids))
    return conditions


def _credits(flt: Filters) -> list[ColumnElement[bool]]:
    return [*_where(BookingCredit, flt), BookingCredit.counted.is_(True),
            BookingCredit.lag_days <= flt.window_days]


Pick = Callable[[Dims], Any]
Keep = Callable[[Dims], list[ColumnElement[bool]]]


def rolled_funnel(session: Session, flt: Filters, pick: Pick | None = None,
                  keep: Keep = lambda d: [], coarser: Sequence[Span] = EVERY_SPAN) -> dict[Any, Row]:
    """funnel.funnel from the roll-ups: `pick` names the dimension on any source, `keep` narrows;
    `coarser` the spans whose rows `pick` can tell apart (a month's row knows no days)."""
    fresh(session, flt)

    def key(source: Any) -> tuple[list[Any], list[Any], Dims]:
        dims = _dims(source)
        value = pick(dims) if pick is not None else None
        return ([value.label("key")] if value is not None else [literal(None).label("key")],
                [value] if value is not None else [], dims)

    cols, group, dims = key(RollupCall)
    rows: dict[Any, Row] = {}
    for k, n, answered, missed, hidden, hidden_first in session.execute(
        select(*cols, func.sum(RollupCall.calls), func.sum(RollupCall.answered),
               func.sum(RollupCall.missed), func.sum(RollupCall.hidden),
               func.sum(RollupCall.hidden_first))
        .where(*_where(RollupCall, flt, coarser), *keep(dims)).group_by(*group)
    ).all():
        if n:
            rows[k] = {"calls": int(n), "unique_callers": int(hidden),
                       "first_time_callers": int(hidden_first), "answered": int(answered),
                       "missed": int(missed), "bookings": 0, "arrivals": 0, "revenue": 0.0}
    cols, _, dims = key(RollupCaller)
    for k, (unique, first) in caller_sets.counted(session.execute(
        select(*cols, RollupCaller.callers, RollupCaller.first_callers)
        .where(*_where(RollupCaller, flt, coarser), *keep(dims))
    )).items():
        if k in rows:
            rows[k]["unique_callers"] += unique
            rows[k]["first_time_callers"] += first
    cols, group, dims = key(BookingCredit)
    for k, n, attended, revenue in session.execute(
        select(*cols, func.count(), func.sum(BookingCredit.attended),
               func.sum(BookingCredit.revenue))
        .where(*_credits(flt), *keep(dims)).group_by(*group)
    ).all():
        if n and k in rows:
            rows[k].update(bookings=n, arrivals=int(attended), revenue=money(revenue))
    return {k: funnel.add_rates(row) for k, row in rows.items()}


# A call without a channel counts under its line (funnel.LINES): keys below every channel id, so
# channels and lines come from one pass over the roll-ups, not one pass each.
LINE_KEYS = {-1: "no_number", -2: "main_line", -3: "no_channel"}


def _channel_or_line(dims: Dims) -> ColumnElement[int]:
    main = select(TrackingNumber.id).where(TrackingNumber.main_line.is_(True))
    return case((dims.channel_id.is_not(None), dims.channel_id),
                (dims.tracking_number_id.is_(None), literal(-1)),
                (dims.tracking_number_id.in_(main), literal(-2)), else_=literal(-3))


def summary(session: Session, flt: Filters) -> list[Row]:
    return [rolled_funnel(session, flt).get(None, empty_row())]


def by_channel(session: Session, flt: Filters) -> list[Row]:
    rows = rolled_funnel(session, flt, _channel_or_line)
    return funnel.channel_rows(session, {k: r for k, r in rows.items() if k not in LINE_KEYS},
                               {LINE_KEYS[k]: r for k, r in rows.items() if k in LINE_KEYS})


def by_heard_from(session: Session, flt: Filters) -> list[Row]:
    return funnel.heard_rows(session, rolled_funnel(session, flt, lambda d: d.heard_from_channel_id))


def by_tracking_number(session: Session, flt: Filters) -> list[Row]:
    return funnel.number_rows(session, flt, rolled_funnel(session, flt, lambda d: d.tracking_number_id))


SERIES_SPANS = {Granularity.DAY: (), Granularity.WEEK: (Span.WEEK,), Granularity.MONTH: (Span.MONTH,)}


def series(session: Session, flt: Filters) -> list[Row]:
    rows = rolled_funnel(session, flt, lambda d: day_bucket(d.day, flt),
                         coarser=SERIES_SPANS[flt.granularity])
    return [{"period": first.isoformat(), **rows.get(key, empty_row())} for key, first in buckets(flt)]


def disagreements(session: Session, flt: Filters) -> list[Row]:
    """Calls whose tracking channel and "how did you hear" answer name different channels."""
    rows = rolled_funnel(
        session, flt, lambda d: cast(d.channel_id, BigInteger) * PAIR + d.heard_from_channel_id,
        lambda d: [d.channel_id.is_not(None), d.heard_from_channel_id.is_not(None),
                   d.channel_id != d.heard_from_channel_id])
    pairs = [(k // PAIR, k % PAIR, r["calls"], r["unique_callers"])
             for k, r in rows.items()]
    return funnel.disagreement_rows(session, pairs)


def _answering(session: Session, flt: Filters, pick: Callable[[Any], Any], keys: range,
               name: str) -> list[Row]:
    fresh(session, flt)
    dimension = pick(RollupHour)
    found = {k: (int(n), int(a), int(m)) for k, n, a, m in session.execute(
        select(dimension, func.sum(RollupHour.calls), func.sum(RollupHour.answered),
               func.sum(RollupHour.missed))
        .where(*_where(RollupHour, flt)).group_by(dimension)).all()}
    return funnel.answering_rows(found, keys, name)


def by_hour(session: Session, flt: Filters) -> list[Row]:
    return _answering(session, flt, lambda r: r.hour, range(24), "hour")


def by_weekday(session: Session, flt: Filters) -> list[Row]:
    return _answering(session, flt, lambda r: r.weekday, range(7), "weekday")


def _ratio(total: Any, count: Any) -> float | None:
    return float(total) / float(count) if count else None


def receptionists(session: Session, flt: Filters) -> list[Row]:
    fresh(session, flt)
    offered = {agent: (int(n), int(taken), int(missed), _ratio(seconds, answers))
               for agent, n, taken, missed, seconds, answers in session.execute(
                   select(RollupCall.agent_id, func.sum(RollupCall.calls), func.sum(RollupCall.answered),
                          func.sum(RollupCall.missed), func.sum(RollupCall.answer_seconds),
                          func.sum(RollupCall.answer_count))
                   .where(*_where(RollupCall, flt)).group_by(RollupCall.agent_id))}
    callbacks = {agent: (int(n), _ratio(seconds, done))
                 for agent, n, seconds, done in session.execute(
                     select(RollupCallback.back_agent_id, func.sum(RollupCallback.missed),
                            func.sum(RollupCallback.delay_seconds), func.sum(RollupCallback.delay_count))
                     .where(*_where(RollupCallback, flt),
                            RollupCallback.back_direction == "outbound")
                     .group_by(RollupCallback.back_agent_id))}
    bookings = dict(session.execute(
        select(BookingCredit.agent_id, func.count()).where(*_credits(flt))
        .group_by(BookingCredit.agent_id)).all())
    return agents.receptionist_rows(session, flt, offered, callbacks, bookings)


def callbacks(session: Session, flt: Filters) -> list[Row]:
    fresh(session, flt)
    found = {direction: (int(n), int(seconds), int(done)) for direction, n, seconds, done in session.execute(
        select(RollupCallback.back_direction, func.sum(RollupCallback.missed),
               func.sum(RollupCallback.delay_seconds), func.sum(RollupCallback.delay_count))
        .where(*_where(RollupCallback, flt))
        .group_by(RollupCallback.back_direction))}
    missed = sum(n for n, _, _ in found.values())
    back, seconds, done = found.get("outbound", (0, 0, 0))
    return agents.callback_row(missed, back, found.get("inbound", (0, 0, 0))[0], _ratio(seconds, done))


def invitations(session: Session, flt: Filters) -> list[Row]:
    fresh(session, flt)
    monthly = Filters(flt.clinic_id, flt.tz, flt.start, flt.end, Granularity.MONTH)
    month = day_bucket(BookingCredit.visit_day, monthly)
    counts = {(agent, key): n for agent, key, n in session.execute(
        select(BookingCredit.agent_id, month, func.count())
        .where(BookingCredit.clinic_id == flt.clinic_id,
               BookingCredit.visit_day >= local_day_number(flt.start),
               BookingCredit.visit_day <= local_day_number(flt.end),
               BookingCredit.lag_days <= flt.window_days, BookingCredit.attended == 1,
               BookingCredit.agent_id.is_not(None))
        .group_by(BookingCredit.agent_id, month))}
    return agents.invitation_rows(session, flt, counts)
