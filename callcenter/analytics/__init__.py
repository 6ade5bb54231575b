"""Read-only marketing analytics: each report is a function (session, Filters) -> rows.

REPORTS names every report with its columns in order; the dashboard, the JSON API and the CSV
export all read from it, so they always show the same figures. The call reports read the
roll-ups (rolled.py); RAW_BUILDS computes the same reports from the raw rows, the reference the
roll-ups are checked against (tests, `python -m bench analytics_queries`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from callcenter.analytics import agents, campaigns, funnel, messaging_figures, rolled
from callcenter.analytics.funnel import FUNNEL_COLUMNS, Row
from callcenter.analytics.periods import Filters, Granularity

__all__ = ["RAW_BUILDS", "REPORTS", "Filters", "Granularity", "Report", "Row"]


@dataclass(frozen=True)
class Report:
    build: Callable[[Session, Filters], list[Row]]
    columns: tuple[str, ...]


_ANSWERING = ("calls", "answered", "missed", "missed_share")

REPORTS: dict[str, Report] = {
    "summary": Report(rolled.summary, FUNNEL_COLUMNS),
    "channels": Report(rolled.by_channel, ("channel_id", "channel", "line", *FUNNEL_COLUMNS)),
    "tracking_numbers": Report(rolled.by_tracking_number, ("tracking_number_id", "tracking_number",
                                                           "channel", "line", *FUNNEL_COLUMNS)),
    "heard_from": Report(rolled.by_heard_from, ("channel_id", "channel", *FUNNEL_COLUMNS)),
    "disagreements": Report(rolled.disagreements,
                            ("tracking_channel", "heard_channel", "calls", "unique_callers")),
    "periods": Report(rolled.series, ("period", *FUNNEL_COLUMNS)),
    "hours": Report(rolled.by_hour, ("hour", *_ANSWERING)),
    "weekdays": Report(rolled.by_weekday, ("weekday", *_ANSWERING)),
    "receptionists": Report(rolled.receptionists, (
        "staff_id", "receptionist", "calls", "taken", "missed", "missed_share",
        "avg_answer_seconds", "callbacks", "avg_callback_minutes", "bookings", "booking_rate")),
    "callbacks": Report(rolled.callbacks, ("missed", "called_back", "caller_called_again", "open",
                                           "called_back_share", "avg_callback_minutes")),
    "invitations": Report(rolled.invitations, ("month", "staff_id", "receptionist", "invitations",
                                               "target", "achieved")),
    "campaigns": Report(campaigns.campaigns, (
        "campaign_id", "campaign", "purpose", "tasks", "reached", "reached_rate", "confirmed",
        "confirmation_rate", "cancellations_caught", "booked", "booked_rate")),
    "texts": Report(messaging_figures.texts, messaging_figures.COLUMNS),
}

RAW_BUILDS: dict[str, Callable[[Session, Filters], list[Row]]] = {
    "summary": funnel.summary, "channels": funnel.by_channel,
    "tracking_numbers": funnel.by_tracking_number, "heard_from": funnel.by_heard_from,
    "disagreements": funnel.disagreements, "periods": funnel.series, "hours": funnel.by_hour,
    "weekdays": funnel.by_weekday, "receptionists": agents.receptionists,
    "callbacks": agents.callbacks, "invitations": agents.invitations,
    "campaigns": campaigns.campaigns, "texts": messaging_figures.texts,
}
