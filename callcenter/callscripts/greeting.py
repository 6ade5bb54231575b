"""The time-of-day greeting, by the clinic's own clock (never the server's)."""

from __future__ import annotations

from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo

from callcenter.core.i18n import N_, t

MORNING_UNTIL = time(11, 0)
EVENING_FROM = time(17, 0)

GREETINGS: dict[str, str] = {
    "morning": N_("Good morning"),
    "afternoon": N_("Good afternoon"),
    "evening": N_("Good evening"),
}


def _zone(tz: tzinfo | str) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def part_of_day(now_utc: datetime, tz: tzinfo | str, morning_until: time = MORNING_UNTIL,
                evening_from: time = EVENING_FROM) -> str:
    """"morning" before morning_until, "evening" from evening_from, else "afternoon" (local)."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be an aware datetime")
    local = now_utc.astimezone(_zone(tz)).time().replace(tzinfo=None)
    if local < morning_until:
        return "morning"
    if local >= evening_from:
        return "evening"
    return "afternoon"


def greeting_for(now_utc: datetime, tz: tzinfo | str, locale: str,
                 morning_until: time = MORNING_UNTIL, evening_from: time = EVENING_FROM) -> str:
    """The greeting words for this moment at the clinic, e.g. "Добрый вечер"."""
    return t(GREETINGS[part_of_day(now_utc, tz, morning_until, evening_from)], locale)

