"""Reports over several clinics of a network: each clinic's report on its own calendar, summed.

A clinic's days, hours and weekdays are its own wall clock, so the network's "Monday" or "9 o'clock"
is every clinic's Monday or 9 o'clock. Counts and money add up; a rate is recomputed from the
summed counts, never averaged; an average is weighted by the count it was taken over. Unique
callers are counted per clinic (a patient of two clinics is a caller of each).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from callcenter.analytics import REPORTS, Filters, Row
from callcenter.analytics.funnel import rate

# A row's identity in each report: rows of two clinics with the same key are one row.
KEYS: dict[str, tuple[str, ...]] = {
    "summary": (), "callbacks": (), "texts": (),
    "channels": ("channel_id", "channel"), "heard_from": ("channel_id", "channel"),
    "tracking_numbers": ("tracking_number_id", "tracking_number", "channel"),
    "disagreements": ("tracking_channel", "heard_channel"),
    "periods": ("period",), "hours": ("hour",), "weekdays": ("weekday",),
    "receptionists": ("staff_id", "receptionist"),
    "invitations": ("month", "staff_id", "receptionist", "target"),
    "campaigns": ("campaign_id", "campaign", "purpose"),
}
# Rate column → (part, whole), per report where one column means different things.
_FUNNEL_RATES = {"booking_rate": ("bookings", "calls"), "arrival_rate": ("arrivals", "calls"),
                 "show_rate": ("arrivals", "bookings"), "missed_share": ("missed", "calls")}
RATES: dict[str, dict[str, tuple[str, str]]] = {
    **dict.fromkeys(("summary", "channels", "heard_from", "tracking_numbers", "periods",
                     "hours", "weekdays"), _FUNNEL_RATES),
    "receptionists": {"missed_share": ("missed", "calls"), "booking_rate": ("bookings", "taken")},
    "callbacks": {"called_back_share": ("called_back", "missed")},
    "invitations": {"achieved": ("invitations", "target")},
    "campaigns": {"reached_rate": ("reached", "tasks"), "confirmation_rate": ("confirmed", "tasks"),
                  "booked_rate": ("booked", "tasks")},
}
# Average column → the count it averages over.
AVERAGES = {"avg_answer_seconds": "taken", "avg_callback_minutes": "called_back"}
AVERAGE_WEIGHT_IN = {"receptionists": {"avg_callback_minutes": "callbacks"}}
NAMED = ("channels", "heard_from", "tracking_numbers")


def build(session: Session, name: str, filters: Sequence[Filters],
          opener: Callable[[], Session] | None = None, threads: int = 1) -> list[Row]:
    """The report for one clinic, or the clinics' reports summed (see `build_many`)."""
    return build_many(session, [name], filters, opener, threads)[name]


def build_many(session: Session, names: Sequence[str], filters: Sequence[Filters],
               opener: Callable[[], Session] | None = None, threads: int = 1) -> dict[str, list[Row]]:
    """Each named report for one clinic, or the clinics' reports summed.

    With an `opener` (sessions like `session`: same database, same clinic scope) and more than
    one thread, the reports are built that many at a time, each thread on a session of its own:
    a report's time is the database's, which runs them side by side on as many cores. Clinics
    go in turn within each report, so two threads rarely bring the same clinic's roll-ups up to
    date at once (one would wait for the other's lock). A failure in any thread is raised here,
    never a page with a report missing."""
    units = [(name, flt) for name in names for flt in filters]
    if opener is None or threads < 2 or len(units) < 2:
        built = [REPORTS[name].build(session, flt) for name, flt in units]
    else:
        built = _in_threads(session, opener, units, threads)
    out: dict[str, list[Row]] = {}
    for at, name in enumerate(names):
        reports = built[at * len(filters):(at + 1) * len(filters)]
        out[name] = reports[0] if len(filters) == 1 else merge(name, reports)
    return out


def _in_threads(session: Session, opener: Callable[[], Session],
                units: Sequence[tuple[str, Filters]], threads: int) -> list[list[Row]]:
    """The units built by the calling thread (on `session`) and `threads - 1` more (each on a
    session from `opener`), each taking the next unit as it is free: a request that asks for
    two at a time holds one connection more than it already had, not two."""
    results: list[list[Row]] = [[] for _ in units]
    todo = iter(enumerate(units))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(own: Session) -> None:
        while not errors:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            at, (name, flt) = item
            results[at] = REPORTS[name].build(own, flt)

    def helper() -> None:
        try:
            own = opener()
            try:
                work(own)
            finally:
                own.close()
        except BaseException as exc:  # raised again in the calling thread
            errors.append(exc)

    # Each helper runs in a copy of the request's context: its log records carry the request id.
    helpers = [threading.Thread(target=contextvars.copy_context().run, args=(helper,),
                                name="report", daemon=True)
               for _ in range(min(threads, len(units)) - 1)]
    for thread in helpers:
        thread.start()
    try:
        work(session)
    except BaseException as exc:
        errors.append(exc)
    for thread in helpers:
        thread.join()
    if errors:
        raise errors[0]
    return results


def merge(name: str, reports: Sequence[list[Row]]) -> list[Row]:
    keys, rates = KEYS[name], RATES.get(name, {})
    weights = {**AVERAGES, **AVERAGE_WEIGHT_IN.get(name, {})}
    merged: dict[tuple[Any, ...], Row] = {}
    sums: dict[tuple[Any, ...], dict[str, float]] = {}  # average × weight, summed
    for rows in reports:
        for row in rows:
            key = tuple(row.get(k) for k in keys)
            into = merged.setdefault(key, {k: row.get(k) for k in keys})
            weighted = sums.setdefault(key, {})
            for column, value in row.items():
                if column in keys or column in rates:
                    continue
                if column in weights:
                    if value is not None:
                        weight = row.get(weights[column]) or 0
                        weighted[column] = weighted.get(column, 0.0) + value * weight
                        weighted[f"{column}:w"] = weighted.get(f"{column}:w", 0.0) + weight
                    into.setdefault(column, None)
                else:
                    into[column] = _add(into.get(column), value)
    for key, row in merged.items():
        for column, (part, whole) in rates.items():
            row[column] = rate(row.get(part), row.get(whole)) if part in row else None
        for column in weights:
            if column in row:
                total = sums[key].get(f"{column}:w")
                row[column] = round(sums[key][column] / total, 1) if total else None
    out = list(merged.values())
    if name in NAMED:
        label = KEYS[name][1]
        out.sort(key=lambda r: (-r["calls"], -r["bookings"], str(r[label])))
    return out


def _add(total: Any, value: Any) -> Any:
    """None stays None (a figure that does not apply to this row); numbers add up."""
    if value is None:
        return total
    if total is None:
        return value
    return round(total + value, 2) if isinstance(value, float) else total + value
