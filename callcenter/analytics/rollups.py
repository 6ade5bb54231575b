"""Keeping the roll-ups exact: recompute what the `analytics_dirty` rows name, before a report reads.

Triggers (migration 0032) mark every change to a call, an appointment or a patient's phones in the
writer's own transaction. `refresh` claims a clinic's marks (DELETE … RETURNING, so a mark
written meanwhile stays for the next refresh) and, in the same transaction:

- re-credits the bookings whose credited call may have changed: the marked appointments, the
  appointments of marked patients, those credited to a marked call, and those a marked call could
  now take (the caller's patients' bookings made up to a year after it: a late webhook);
- rebuilds the local days of the marked calls (a call's UTC day spans two local days) and of the
  missed calls a marked call closed (its receptionist and direction are theirs in the reports),
  the caller sets of their weeks and months, and marks those weeks and months stale for the
  summed roll-ups; `settle` sums a stale span again once a report's period holds it whole (or
  the worker's job, once it has ended).

A mark with only the clinic rebuilds the clinic from scratch (the migration leaves one per clinic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, case, delete, func, insert, literal, select
from sqlalchemy.orm import aliased

from callcenter.analytics import caller_sets
from callcenter.analytics.bookings import ATTENDED, credited_call_id
from callcenter.analytics.funnel import ANSWERED, call_conditions
from callcenter.analytics.periods import DAY, EPOCH_DAY, Filters, LocalClock, rolled_days, spans
from callcenter.analytics.sqltime import epoch_seconds, shifted
from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import (
    AnalyticsDirty,
    Appointment,
    BookingCredit,
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Clinic,
    PatientPhone,
    RollupCall,
    RollupCallback,
    RollupCaller,
    RollupHour,
    RollupStale,
    Span,
)
from webhooks import TEST_CALLER

MAX_WINDOW = 365 * DAY  # the longest attribution window a report may ask for
CHUNK = 2000  # ids per IN (…): well under SQLite's bound-parameter limit
LOCK_KEY = 7218  # pg_advisory_xact_lock(LOCK_KEY, clinic): one refresher per clinic at a time


def pending(conn: Connection, clinic_ids: Sequence[int]) -> bool:
    return conn.execute(select(AnalyticsDirty.id).where(AnalyticsDirty.clinic_id.in_(clinic_ids))
                        .limit(1)).first() is not None


def refresh(conn: Connection, clinic_id: int) -> int:
    """Bring one clinic's roll-ups up to date within the connection's transaction; the number of
    marks it took."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(LOCK_KEY, clinic_id)))
    marks = conn.execute(delete(AnalyticsDirty).where(AnalyticsDirty.clinic_id == clinic_id)
                         .returning(AnalyticsDirty.utc_day, AnalyticsDirty.call_id,
                                    AnalyticsDirty.appointment_id, AnalyticsDirty.patient_id)).all()
    if not marks:
        return 0
    clinic = conn.execute(select(Clinic.timezone).where(Clinic.id == clinic_id)).scalar_one_or_none()
    if clinic is None:  # the clinic is gone, and its marks with it
        return len(marks)
    tz = ZoneInfo(clinic)
    if any(m.utc_day is None and m.call_id is None and m.appointment_id is None
           and m.patient_id is None for m in marks):
        _rebuild(conn, clinic_id, tz)
        return len(marks)
    call_ids = {m.call_id for m in marks if m.call_id is not None}
    appointments = {m.appointment_id for m in marks if m.appointment_id is not None}
    patients = {m.patient_id for m in marks if m.patient_id is not None}
    appointments |= _affected_bookings(conn, call_ids, patients)
    recredit(conn, appointments)
    days = {d for m in marks if m.utc_day is not None for d in _local_days(m.utc_day, tz)}
    days |= _closed_missed_days(conn, call_ids, tz)
    rebuild_days(conn, clinic_id, tz, days)
    return len(marks)


def _rebuild(conn: Connection, clinic_id: int, tz: ZoneInfo) -> None:
    for model in (RollupCall, RollupHour, RollupCallback, RollupCaller, RollupStale, BookingCredit):
        conn.execute(delete(model).where(model.clinic_id == clinic_id))
    first, last = conn.execute(select(func.min(Call.started_at), func.max(Call.started_at))
                               .where(Call.clinic_id == clinic_id)).one()
    if first is not None:
        first_day, last_day = _local_day(first, tz), _local_day(last, tz)
        rebuild_days(conn, clinic_id, tz, set(range(first_day, last_day + 1)))
    recredit(conn, set(conn.scalars(select(Appointment.id).where(Appointment.clinic_id == clinic_id))))


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _affected_bookings(conn: Connection, call_ids: set[int], patients: set[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(call_ids):
        found.update(conn.scalars(select(BookingCredit.appointment_id)
                                  .where(BookingCredit.call_id.in_(chunk))))
        found.update(conn.scalars(
            select(Appointment.id)
            .join(PatientPhone, PatientPhone.patient_id == Appointment.patient_id)
            .join(Call, and_(Call.caller == PatientPhone.e164, Call.clinic_id == Appointment.clinic_id))
            .where(Call.id.in_(chunk), Call.direction == CallDirection.INBOUND,
                   Appointment.created_at >= Call.started_at,
                   Appointment.created_at <= shifted(Call.started_at, MAX_WINDOW))))
    for chunk in _chunks(patients):
        found.update(conn.scalars(select(Appointment.id).where(Appointment.patient_id.in_(chunk))))
    return found


def _closed_missed_days(conn: Connection, call_ids: set[int], tz: ZoneInfo) -> set[int]:
    days: set[int] = set()
    for chunk in _chunks(call_ids):
        days.update(_local_day(started, tz) for started in conn.scalars(
            select(Call.started_at).where(Call.callback_call_id.in_(chunk))))
    return days


def _local_day(instant: datetime, tz: ZoneInfo) -> int:
    return (instant.astimezone(tz).date() - EPOCH_DAY).days


def _local_days(utc_day: int, tz: ZoneInfo) -> set[int]:
    start = datetime.combine(EPOCH_DAY + timedelta(days=utc_day), datetime.min.time(), UTC)
    return {_local_day(start, tz), _local_day(start + timedelta(days=1, microseconds=-1), tz)}


def recredit(conn: Connection, appointment_ids: set[int]) -> None:
    """Write each booking's credit afresh (and drop it where there is none, or no booking)."""
    zones = {cid: ZoneInfo(zone) for cid, zone in conn.execute(select(Clinic.id, Clinic.timezone))}
    credited = credited_call_id(MAX_WINDOW).label("call_id")
    for chunk in _chunks(appointment_ids):
        conn.execute(delete(BookingCredit).where(BookingCredit.appointment_id.in_(chunk)))
        bookings = conn.execute(
            select(Appointment.id, Appointment.clinic_id, Appointment.created_by_call_id,
                   Appointment.created_at, Appointment.starts_at, Appointment.status,
                   Appointment.price, credited)
            .where(Appointment.id.in_(chunk), Appointment.rescheduled_from_id.is_(None))).all()
        call_ids = {b.call_id for b in bookings if b.call_id is not None}
        calls = {c.id: c for part in _chunks(call_ids) for c in conn.execute(
            select(Call.id, Call.clinic_id, Call.started_at, Call.direction, Call.caller,
                   Call.caller_kind, Call.tracking_number_id, Call.channel_id,
                   Call.heard_from_channel_id, Call.agent_id).where(Call.id.in_(part)))}
        rows = [_credit(b, calls[b.call_id], zones[b.clinic_id])
                for b in bookings if b.call_id in calls]
        if rows:
            conn.execute(insert(BookingCredit), rows)


def _credit(booking: Any, call: Any, tz: ZoneInfo) -> dict[str, Any]:
    if booking.created_by_call_id is not None:
        lag = 0
    else:  # the window reaches back W days: credited under W exactly when lag_days <= W
        lag = max(0, math.ceil((booking.created_at - call.started_at).total_seconds() / DAY))
    attended = booking.status in ATTENDED
    counted = (call.direction == CallDirection.INBOUND and call.caller != TEST_CALLER
               and call.caller_kind != CallerKind.NON_PATIENT and call.clinic_id == booking.clinic_id)
    return {"appointment_id": booking.id, "clinic_id": booking.clinic_id, "call_id": call.id,
            "lag_days": lag, "call_day": _local_day(call.started_at, tz), "counted": counted,
            "tracking_number_id": call.tracking_number_id, "channel_id": call.channel_id,
            "heard_from_channel_id": call.heard_from_channel_id, "agent_id": call.agent_id,
            "attended": int(attended), "revenue": booking.price if attended else None,
            "visit_day": _local_day(booking.starts_at, tz)}


def _runs(days: set[int]) -> Iterator[tuple[int, int]]:
    """Contiguous runs of days, so a run is rebuilt with one statement per roll-up."""
    ordered = sorted(days)
    start = previous = ordered[0] if ordered else 0
    for day in ordered[1:]:
        if day != previous + 1:
            yield start, previous
            start = day
        previous = day
    if ordered:
        yield start, previous


# What a week's or month's row of each summed roll-up adds up from its days' rows, and which of
# those spans it keeps; its other columns but the key (id, clinic, day, span) are the dimensions.
SUMS: dict[Any, tuple[str, ...]] = {
    RollupCall: ("calls", "answered", "missed", "hidden", "hidden_first", "answer_seconds",
                 "answer_count"),
    RollupHour: ("calls", "answered", "missed"),
    RollupCallback: ("missed", "delay_seconds", "delay_count"),
}
KEPT: dict[Any, tuple[Span, ...]] = {
    RollupCall: (Span.WEEK, Span.MONTH), RollupCaller: caller_sets.KEPT,
    RollupCallback: (Span.WEEK, Span.MONTH),
    RollupHour: (Span.MONTH,),  # a week's rows, one per weekday, would be its days' rows again
}


def rebuild_days(conn: Connection, clinic_id: int, tz: ZoneInfo, days: set[int]) -> None:
    """Recompute the local days `days` of every roll-up and the caller sets of the weeks and months
    they fall in, and mark those weeks and months stale for the summed roll-ups (`settle`)."""
    grown: caller_sets.Grown = {}
    for first, last in _runs(days):
        flt = Filters(clinic_id=clinic_id, tz=tz, start=EPOCH_DAY + timedelta(days=first),
                      end=EPOCH_DAY + timedelta(days=last))
        for model, query in ((RollupCall, _calls(flt)), (RollupHour, _hours(flt)),
                             (RollupCallback, _callbacks(flt))):
            conn.execute(delete(model).where(model.clinic_id == clinic_id, model.span == Span.DAY,
                                             model.day >= first, model.day <= last))
            conn.execute(insert(model).from_select(list(query.selected_columns.keys()), query))
        caller_sets.rebuild_days(conn, flt, first, last, grown)
    caller_sets.rebuild_spans(conn, clinic_id, grown)
    stale = {(span, first) for span in {kept for model in SUMS for kept in KEPT[model]}
             for run in _runs(days) for first, _ in spans(span, *run)}
    if stale:
        conn.execute(insert_ignoring_conflicts(conn, RollupStale), [
            {"clinic_id": clinic_id, "span": int(span), "day": first} for span, first in sorted(stale)])


def _stale_inside(conn: Connection, clinic_id: int, first: int, last: int) -> list[tuple[Span, int, int]]:
    """The clinic's stale weeks and months that lie wholly inside days `first`..`last`, weeks
    first: (span, first day, last day)."""
    found = conn.execute(select(RollupStale.span, RollupStale.day).where(
        RollupStale.clinic_id == clinic_id, RollupStale.day >= first, RollupStale.day <= last)).all()
    inside = [(Span(span), day, next(spans(Span(span), day, day))[1]) for span, day in found]
    return sorted(item for item in inside if item[2] <= last)


def unsettled(conn: Connection, clinic_id: int, first: int, last: int) -> bool:
    return bool(_stale_inside(conn, clinic_id, first, last))


def settle(conn: Connection, clinic_id: int, first: int, last: int) -> int:
    """Sum again the clinic's stale weeks and months wholly inside days `first`..`last` (a
    report's period, or every ended span for the worker), weeks before the months summed from
    them; the number settled."""
    inside = _stale_inside(conn, clinic_id, first, last)
    for span, span_first, span_last in inside:
        for model, sums in SUMS.items():
            if span in KEPT[model]:
                _sum_span(conn, model, sums, clinic_id, span, span_first, span_last)
        conn.execute(delete(RollupStale).where(RollupStale.clinic_id == clinic_id,
                                               RollupStale.span == span, RollupStale.day == span_first))
    return len(inside)


def _sum_span(conn: Connection, model: Any, sums: Sequence[str], clinic_id: int, span: Span,
              first: int, last: int) -> None:
    """A week's or month's rows of one roll-up: its days' rows summed per dimension. Summed afresh
    (a month from its weeks, just summed, and its edge days), not adjusted by the changed days'
    difference: one statement that cannot drift from the days it stands for."""
    table = model.__table__
    finer = [kept for kept in KEPT[model] if kept < span]
    dims = [c for c in table.c if c.name not in {"id", "clinic_id", "day", "span", *sums}]
    conn.execute(delete(model).where(model.clinic_id == clinic_id, model.span == span,
                                     model.day == first))
    conn.execute(insert(model).from_select(
        ["clinic_id", "day", "span", *(c.name for c in dims), *sums],
        select(literal(clinic_id), literal(first), literal(int(span)), *dims,
               *(func.sum(table.c[name]) for name in sums))
        .where(model.clinic_id == clinic_id,
               rolled_days(model, EPOCH_DAY + timedelta(days=first), EPOCH_DAY + timedelta(days=last),
                           finer))
        .group_by(*dims)))


_DAY_ROW = literal(int(Span.DAY)).label("span")


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _grouped(inner: Any, dims: Sequence[str], sums: dict[str, Any]) -> Any:
    rows = inner.subquery()
    return (select(*(rows.c[d] for d in dims), *(s(rows).label(n) for n, s in sums.items()))
            .group_by(*(rows.c[d] for d in dims)))


def _calls(flt: Filters) -> Any:
    clock = LocalClock(Call.started_at, flt)
    answer = epoch_seconds(Call.answered_at) - epoch_seconds(func.coalesce(Call.ringing_at, Call.started_at))
    inner = select(
        literal(flt.clinic_id).label("clinic_id"), clock.day.label("day"), _DAY_ROW,
        Call.tracking_number_id, Call.channel_id, Call.heard_from_channel_id, Call.agent_id,
        case((Call.status.in_(ANSWERED), 1), else_=0).label("answered"),
        case((Call.status == CallStatus.MISSED, 1), else_=0).label("missed"),
        case((Call.caller.is_(None), 1), else_=0).label("hidden"),
        case((and_(Call.caller.is_(None), Call.first_time.is_(True)), 1), else_=0).label("hidden_first"),
        case((Call.answered_at.is_not(None), answer), else_=0).label("answer_seconds"),
        case((Call.answered_at.is_not(None), 1), else_=0).label("answer_count"),
    ).where(*call_conditions(flt))
    dims = ("clinic_id", "day", "span", "tracking_number_id", "channel_id", "heard_from_channel_id",
            "agent_id")
    return _grouped(inner, dims, {
        "calls": lambda r: func.count(), **{n: (lambda r, n=n: func.sum(r.c[n])) for n in (
            "answered", "missed", "hidden", "hidden_first", "answer_seconds", "answer_count")}})


def _hours(flt: Filters) -> Any:
    clock = LocalClock(Call.started_at, flt)
    inner = select(
        literal(flt.clinic_id).label("clinic_id"), clock.day.label("day"), _DAY_ROW,
        clock.weekday.label("weekday"), clock.hour.label("hour"), Call.tracking_number_id,
        Call.channel_id,
        case((Call.status.in_(ANSWERED), 1), else_=0).label("answered"),
        case((Call.status == CallStatus.MISSED, 1), else_=0).label("missed"),
    ).where(*call_conditions(flt))
    dims = ("clinic_id", "day", "span", "weekday", "hour", "tracking_number_id", "channel_id")
    return _grouped(inner, dims, {
        "calls": lambda r: func.count(), "answered": lambda r: func.sum(r.c.answered),
        "missed": lambda r: func.sum(r.c.missed)})


def _callbacks(flt: Filters) -> Any:
    clock = LocalClock(Call.started_at, flt)
    back = aliased(Call)
    delay = epoch_seconds(Call.callback_done_at) - epoch_seconds(Call.started_at)
    done = Call.callback_done_at.is_not(None)
    inner = (
        select(literal(flt.clinic_id).label("clinic_id"), clock.day.label("day"), _DAY_ROW,
               Call.tracking_number_id, Call.channel_id, back.agent_id.label("back_agent_id"),
               back.direction.label("back_direction"),
               case((done, delay), else_=0).label("delay_seconds"),
               case((done, 1), else_=0).label("delay_count"))
        .select_from(Call).outerjoin(back, back.id == Call.callback_call_id)
        .where(*call_conditions(flt), Call.status == CallStatus.MISSED))
    dims = ("clinic_id", "day", "span", "tracking_number_id", "channel_id", "back_agent_id",
            "back_direction")
    return _grouped(inner, dims, {
        "missed": lambda r: func.count(), "delay_seconds": lambda r: func.sum(r.c.delay_seconds),
        "delay_count": lambda r: func.sum(r.c.delay_count)})

