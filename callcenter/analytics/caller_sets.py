"""Distinct callers from the roll-ups: each local day's callers as a Roaring bitmap.

The one figure of the funnel no sum can give is distinct callers: a caller who rang on two days
counts once. Counting them from the calls meant a `COUNT(DISTINCT caller)` over every call of the
period, 560 ms for a year of half a million calls on SQLite whatever the indexes. Here each
local day keeps, per tracking number, channel and "how did you hear" answer, the set of its
callers (as `CallerNumber` ids, and a second set of those calling for the first time); a
period's distinct callers are the size of the union of its days' sets, per report row; each
week and calendar month also keeps the union of its days, so a year joins twelve sets per row,
not 365, and half a year by week some 28.
The union is exact: a set holds ids, never a sketch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, delete, insert, select, text

from callcenter.analytics.funnel import call_conditions
from callcenter.analytics.periods import EPOCH_DAY, Filters, LocalClock, spans
from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import Call, CallerNumber, RollupCaller, Span

CHUNK = 500  # numbers per IN (…) when their ids are looked up
KEPT = (Span.WEEK, Span.MONTH)  # the spans whose rows hold their days' sets united
FRESH_STATISTICS = 1000  # numbers added before PostgreSQL is told to re-count the table

Key = tuple[int, int | None, int | None, int | None]  # day, number, channel, heard from


Sets = tuple[dict[Key, BitMap], dict[Key, BitMap]]  # every caller, first-time callers
# A week or month (its span, first and last day) → its changed days' new sets when each only
# gained callers, None when one lost any.
Grown = dict[tuple[Span, int, int], Sets | None]


def rebuild_days(conn: Connection, flt: Filters, first: int, last: int, grown: Grown) -> None:
    """Recompute the caller sets of local days `first`..`last` (those `flt` spans), a month at a
    time, so a clinic rebuilt from scratch holds one month's calls in memory, not years of them;
    note in `grown` how each week's and month's days changed, for `rebuild_spans`."""
    for month_first, month_last in spans(Span.MONTH, first, last):
        low, high = max(first, month_first), min(last, month_last)
        new = _rebuild_days(conn, replace(flt, start=EPOCH_DAY + timedelta(days=low),
                                          end=EPOCH_DAY + timedelta(days=high)), low, high)
        for span in KEPT:
            for span_first, span_last in spans(span, low, high):
                before = grown.setdefault((span, span_first, span_last), ({}, {}))
                if new is None or before is None:
                    grown[(span, span_first, span_last)] = None
                    continue
                for into, sets in zip(before, new, strict=True):
                    into.update((key, callers) for key, callers in sets.items()
                                if span_first <= key[0] <= span_last)


def rebuild_spans(conn: Connection, clinic_id: int, grown: Grown) -> None:
    """Bring the sets of the weeks and months `grown` names up to date: where the changed days
    only gained callers (the usual case: today's calls coming in), the span's sets gain their new
    sets; otherwise (a call deleted, moved to another day, number or answer) the span's sets are
    rebuilt from all its days'."""
    for (span, first, last), added in sorted(grown.items()):
        if added is None:
            _rebuild_span(conn, clinic_id, span, first, last)
        else:
            _grow_span(conn, clinic_id, span, first, added)


def _rebuild_days(conn: Connection, flt: Filters, first: int, last: int) -> Sets | None:
    """The days' new sets if every old set is within its new one, else None."""
    days = (RollupCaller.clinic_id == flt.clinic_id, RollupCaller.span == Span.DAY,
            RollupCaller.day >= first, RollupCaller.day <= last)
    old = _read(conn, select(RollupCaller.day, *_SETS).where(*days))
    conn.execute(delete(RollupCaller).where(*days))
    clock = LocalClock(Call.started_at, flt)
    rows = conn.execute(
        select(clock.day, Call.tracking_number_id, Call.channel_id, Call.heard_from_channel_id,
               Call.caller, Call.first_time)
        .where(*call_conditions(flt), Call.caller.is_not(None))).all()
    ids = _number_ids(conn, flt.clinic_id, {row.caller for row in rows})
    everyone: dict[Key, BitMap] = defaultdict(BitMap)
    first_time: dict[Key, BitMap] = defaultdict(BitMap)
    for day, number, channel, heard, caller, is_first in rows:
        key = (day, number, channel, heard)
        everyone[key].add(ids[caller])
        if is_first:
            first_time[key].add(ids[caller])
    _insert(conn, flt.clinic_id, Span.DAY, everyone, first_time)
    for was, now in zip(old, (everyone, first_time), strict=True):
        if any(not callers <= now.get(key, BitMap()) for key, callers in was.items()):
            return None
    return everyone, first_time


def _rebuild_span(conn: Connection, clinic_id: int, span: Span, first: int, last: int) -> None:
    """A week's or month's sets: the union of its days' sets, per number, channel and answer."""
    conn.execute(delete(RollupCaller).where(RollupCaller.clinic_id == clinic_id,
                                            RollupCaller.span == span, RollupCaller.day == first))
    everyone, first_time = _read(conn, select(RollupCaller.day, *_SETS).where(
        RollupCaller.clinic_id == clinic_id, RollupCaller.span == Span.DAY,
        RollupCaller.day >= first, RollupCaller.day <= last), span_first=first)
    _insert(conn, clinic_id, span, everyone, first_time)


def _grow_span(conn: Connection, clinic_id: int, span: Span, first: int, added: Sets) -> None:
    """A week's or month's sets joined with its changed days' new sets: only the rows that gained
    a caller are written again (today's calls touch a few of a month's hundreds)."""
    gained: Sets = (defaultdict(BitMap), defaultdict(BitMap))
    for into, sets in zip(gained, added, strict=True):
        for (_day, *dims), callers in sets.items():
            into[(first, *dims)] |= callers
    stored = {(first, number, channel, heard): (id_, callers, first_callers)
              for id_, number, channel, heard, callers, first_callers in conn.execute(
                  select(RollupCaller.id, *_SETS).where(RollupCaller.clinic_id == clinic_id,
                                                        RollupCaller.span == span, RollupCaller.day == first))}
    stale: list[int] = []
    everyone: dict[Key, BitMap] = {}
    first_time: dict[Key, BitMap] = {}
    for key, callers in gained[0].items():
        id_, was, was_first = stored.get(key, (None, None, None))
        old = BitMap.deserialize(was) if was is not None else BitMap()
        old_first = BitMap.deserialize(was_first) if was_first is not None else BitMap()
        if callers <= old and gained[1][key] <= old_first:
            continue
        if id_ is not None:
            stale.append(id_)
        everyone[key], first_time[key] = old | callers, old_first | gained[1][key]
    if stale:
        conn.execute(delete(RollupCaller).where(RollupCaller.id.in_(stale)))
    _insert(conn, clinic_id, span, everyone, first_time)


_SETS = (RollupCaller.tracking_number_id, RollupCaller.channel_id, RollupCaller.heard_from_channel_id,
         RollupCaller.callers, RollupCaller.first_callers)


def _read(conn: Connection, query: Any, span_first: int | None = None) -> Sets:
    """(day, number, channel, answer, callers, first-time callers) rows → the sets by key, the
    rows of one key joined; with `span_first` (a week's or month's first day), every day's row
    counts as the span's."""
    everyone: dict[Key, BitMap] = defaultdict(BitMap)
    first_time: dict[Key, BitMap] = defaultdict(BitMap)
    for day, number, channel, heard, callers, first_callers in conn.execute(query):
        key = (day if span_first is None else span_first, number, channel, heard)
        everyone[key] |= BitMap.deserialize(callers)
        first_time[key] |= BitMap.deserialize(first_callers)
    return everyone, first_time


def _insert(conn: Connection, clinic_id: int, span: Span, everyone: Mapping[Key, BitMap],
            first_time: Mapping[Key, BitMap]) -> None:
    if everyone:
        conn.execute(insert(RollupCaller), [
            {"clinic_id": clinic_id, "day": key[0], "span": span, "tracking_number_id": key[1],
             "channel_id": key[2], "heard_from_channel_id": key[3], "callers": callers.serialize(),
             "first_callers": first_time.get(key, BitMap()).serialize()}
            for key, callers in everyone.items()])


def _number_ids(conn: Connection, clinic_id: int, numbers: set[str]) -> dict[str, int]:
    """Each number's id, numbers seen for the first time given one (a concurrent refresh of the
    same clinic waits on the advisory lock; of another clinic, it has numbers of its own)."""
    found: dict[str, int] = {}
    ordered = sorted(numbers)
    added = 0
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        found.update(_lookup(conn, clinic_id, chunk))
        new = [n for n in chunk if n not in found]
        if new:
            conn.execute(insert_ignoring_conflicts(conn, CallerNumber),
                         [{"clinic_id": clinic_id, "e164": n} for n in new])
            found.update(_lookup(conn, clinic_id, new))
            added += len(new)
    if added >= FRESH_STATISTICS and conn.dialect.name == "postgresql":
        # A clinic rebuilt from scratch grows the table from nothing within one transaction,
        # where autovacuum cannot re-count it: on the statistics of an empty table PostgreSQL
        # scanned the whole table for each lookup (0.3 s each, the rebuild took many minutes).
        conn.execute(text("ANALYZE caller_numbers"))
    return found


def _lookup(conn: Connection, clinic_id: int, numbers: list[str]) -> dict[str, int]:
    return {e164: id_ for e164, id_ in conn.execute(select(CallerNumber.e164, CallerNumber.id).where(
        CallerNumber.clinic_id == clinic_id, CallerNumber.e164.in_(numbers)))}


def counted(rows: Iterable[Sequence[Any]]) -> Mapping[Any, tuple[int, int]]:
    """(report key, callers, first-time callers) rows → key: (distinct callers, distinct
    first-time callers), the sets of each key joined."""
    everyone: dict[Any, list[BitMap]] = defaultdict(list)
    first_time: dict[Any, list[BitMap]] = defaultdict(list)
    for key, callers, first in rows:
        everyone[key].append(BitMap.deserialize(callers))
        first_time[key].append(BitMap.deserialize(first))
    return {key: (len(BitMap.union(*sets)), len(BitMap.union(*first_time[key])))
            for key, sets in everyone.items()}
