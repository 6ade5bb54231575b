"""Distinct callers from the roll-ups: each local day's callers as a Roaring bitmap.

The one figure of the funnel no sum can give is distinct callers: a caller who rang on two days
counts once. Counting them from the calls meant a `COUNT(DISTINCT caller)` over every call of the
period, 560 ms for a year of half a million calls on SQLite whatever the indexes. Here each
local day keeps, per tracking number, channel and "how did you hear" answer, the set of its
callers (as `CallerNumber` ids, and a second set of those calling for the first time); a
period's distinct callers are the size of the union of its days' sets, per report row; each
calendar month also keeps the union of its days, so a year joins twelve sets per row, not 365.
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
from callcenter.analytics.periods import EPOCH_DAY, Filters, LocalClock, month_spans
from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import Call, CallerNumber, RollupCaller

CHUNK = 500  # numbers per IN (…) when their ids are looked up
FRESH_STATISTICS = 1000  # numbers added before PostgreSQL is told to re-count the table

Key = tuple[int, int | None, int | None, int | None]  # day, number, channel, heard from


Sets = tuple[dict[Key, BitMap], dict[Key, BitMap]]  # every caller, first-time callers
# Month (its first day) → its days' new sets when each only gained callers, None when one lost any.
Grown = dict[int, Sets | None]


def rebuild_days(conn: Connection, flt: Filters, first: int, last: int, grown: Grown) -> None:
    """Recompute the caller sets of local days `first`..`last` (those `flt` spans), a month at a
    time, so a clinic rebuilt from scratch holds one month's calls in memory, not years of them;
    note in `grown` how each month's days changed, for `rebuild_months`."""
    for month_first, month_last in month_spans(first, last):
        low, high = max(first, month_first), min(last, month_last)
        new = _rebuild_days(conn, replace(flt, start=EPOCH_DAY + timedelta(days=low),
                                          end=EPOCH_DAY + timedelta(days=high)), low, high)
        before = grown.setdefault(month_first, ({}, {}))
        if new is None or before is None:
            grown[month_first] = None
        else:
            for into, sets in zip(before, new, strict=True):
                into.update(sets)


def rebuild_months(conn: Connection, clinic_id: int, grown: Grown) -> None:
    """Bring the sets of the months `grown` names up to date: where the month's changed days only
    gained callers (the usual case: today's calls coming in), the month's sets gain their new sets;
    otherwise (a call deleted, moved to another day, number or answer) the month's sets are
    rebuilt from all its days'."""
    for month_first, added in sorted(grown.items()):
        if added is None:
            _rebuild_month(conn, clinic_id, month_first, next(month_spans(month_first, month_first))[1])
        else:
            _grow_month(conn, clinic_id, month_first, added)


def _rebuild_days(conn: Connection, flt: Filters, first: int, last: int) -> Sets | None:
    """The days' new sets if every old set is within its new one, else None."""
    days = (RollupCaller.clinic_id == flt.clinic_id, RollupCaller.month.is_(False),
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
    _insert(conn, flt.clinic_id, False, everyone, first_time)
    for was, now in zip(old, (everyone, first_time), strict=True):
        if any(not callers <= now.get(key, BitMap()) for key, callers in was.items()):
            return None
    return everyone, first_time


def _rebuild_month(conn: Connection, clinic_id: int, first: int, last: int) -> None:
    """The month's sets: the union of its days' sets, per number, channel and answer."""
    conn.execute(delete(RollupCaller).where(RollupCaller.clinic_id == clinic_id,
                                            RollupCaller.month.is_(True), RollupCaller.day == first))
    everyone, first_time = _read(conn, select(RollupCaller.day, *_SETS).where(
        RollupCaller.clinic_id == clinic_id, RollupCaller.month.is_(False),
        RollupCaller.day >= first, RollupCaller.day <= last), month=first)
    _insert(conn, clinic_id, True, everyone, first_time)


def _grow_month(conn: Connection, clinic_id: int, first: int, added: Sets) -> None:
    """The month's sets joined with its changed days' new sets."""
    month = (RollupCaller.clinic_id == clinic_id, RollupCaller.month.is_(True), RollupCaller.day == first)
    everyone, first_time = _read(conn, select(RollupCaller.day, *_SETS).where(*month))
    for into, sets in zip((everyone, first_time), added, strict=True):
        for (_day, *dims), callers in sets.items():
            into[(first, *dims)] |= callers
    conn.execute(delete(RollupCaller).where(*month))
    _insert(conn, clinic_id, True, everyone, first_time)


_SETS = (RollupCaller.tracking_number_id, RollupCaller.channel_id, RollupCaller.heard_from_channel_id,
         RollupCaller.callers, RollupCaller.first_callers)


def _read(conn: Connection, query: Any, month: int | None = None) -> Sets:
    """(day, number, channel, answer, callers, first-time callers) rows → the sets by key, the
    rows of one key joined; with `month` (its first day), every day's row counts as the month's."""
    everyone: dict[Key, BitMap] = defaultdict(BitMap)
    first_time: dict[Key, BitMap] = defaultdict(BitMap)
    for day, number, channel, heard, callers, first_callers in conn.execute(query):
        key = (day if month is None else month, number, channel, heard)
        everyone[key] |= BitMap.deserialize(callers)
        first_time[key] |= BitMap.deserialize(first_callers)
    return everyone, first_time


def _insert(conn: Connection, clinic_id: int, month: bool, everyone: Mapping[Key, BitMap],
            first_time: Mapping[Key, BitMap]) -> None:
    if everyone:
        conn.execute(insert(RollupCaller), [
            {"clinic_id": clinic_id, "day": key[0], "month": month, "tracking_number_id": key[1],
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
