"""Reports over several clinics of a network: each clinic's report on its own calendar, summed.

A clinic's days, hours and weekdays are its own wall clock, so the network's "Monday" or "9 o'clock"
is every clinic's Monday or 9 o'clock. Counts and money add up; a rate is recomputed from the
summed counts, never averaged; an average is weighted by the count it was taken over. Unique
callers are counted per clinic (a patient of two clinics is a caller of each).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def build(session: Session, name: str, filters: Sequence[Filters]) -> list[Row]:
    """The report for one clinic, or the clinics' reports summed."""
    report = REPORTS[name]
    if len(filters) == 1:
        return report.build(session, filters[0])
    return merge(name, [report.build(session, flt) for flt in filters])


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
