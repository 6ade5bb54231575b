"""Greeting by the clinic's local clock: boundaries, far-away zones, DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from callcenter.callscripts.greeting import greeting_for, part_of_day

MOSCOW = "Europe/Moscow"  # UTC+3 all year


def _moscow(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=ZoneInfo(MOSCOW)).astimezone(UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "ru", "en", "zh"),
    [
        (10, 59, "Доброе утро", "Good morning", "早上好"),
        (11, 0, "Добрый день", "Good afternoon", "下午好"),
        (16, 59, "Добрый день", "Good afternoon", "下午好"),
        (17, 0, "Добрый вечер", "Good evening", "晚上好"),
    ],
)
def test_boundaries_in_local_time(hour: int, minute: int, ru: str, en: str, zh: str) -> None:
    now = _moscow(hour, minute)
    assert now.hour == hour - 3  # the server clock (UTC) says something else
    assert greeting_for(now, MOSCOW, "ru") == ru
    assert greeting_for(now, MOSCOW, "en") == en
    assert greeting_for(now, MOSCOW, "zh") == zh


def test_clinic_date_differs_from_server_date() -> None:
    # 20:30 UTC on the 22nd is 09:30 on the 23rd in Auckland: morning there, evening on the server.
    now = datetime(2026, 11, 22, 20, 30, tzinfo=UTC)
    assert greeting_for(now, "Pacific/Auckland", "en") == "Good morning"
    # 00:30 UTC on the 23rd is still the 22nd, 16:30, in Los Angeles.
    now = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert greeting_for(now, "America/Los_Angeles", "en") == "Good afternoon"
    assert greeting_for(now, "America/Los_Angeles", "ru") == "Добрый день"


def test_across_spring_dst_change() -> None:
    berlin = "Europe/Berlin"  # 2026-03-29 01:00 UTC: CET (+1) becomes CEST (+2)
    assert greeting_for(datetime(2026, 3, 28, 9, 59, tzinfo=UTC), berlin, "en") == "Good morning"
    # Same UTC clock time the next day is 11:59 local: a fixed +1 offset would still say morning.
    assert greeting_for(datetime(2026, 3, 29, 9, 59, tzinfo=UTC), berlin, "en") == "Good afternoon"
    assert greeting_for(datetime(2026, 3, 29, 8, 59, tzinfo=UTC), berlin, "en") == "Good morning"
    assert greeting_for(datetime(2026, 3, 29, 9, 0, tzinfo=UTC), berlin, "en") == "Good afternoon"
    assert greeting_for(datetime(2026, 3, 29, 14, 59, tzinfo=UTC), berlin, "en") == "Good afternoon"
    assert greeting_for(datetime(2026, 3, 29, 15, 0, tzinfo=UTC), berlin, "en") == "Good evening"


def test_across_autumn_dst_change() -> None:
    new_york = "America/New_York"  # 2026-11-01 06:00 UTC: EDT (-4) becomes EST (-5)
    assert greeting_for(datetime(2026, 10, 31, 20, 59, tzinfo=UTC), new_york, "en") == "Good afternoon"
    assert greeting_for(datetime(2026, 10, 31, 21, 0, tzinfo=UTC), new_york, "en") == "Good evening"
    assert greeting_for(datetime(2026, 11, 1, 21, 59, tzinfo=UTC), new_york, "en") == "Good afternoon"
    assert greeting_for(datetime(2026, 11, 1, 22, 0, tzinfo=UTC), new_york, "en") == "Good evening"
    assert greeting_for(datetime(2026, 11, 1, 15, 59, tzinfo=UTC), new_york, "en") == "Good morning"
    assert greeting_for(datetime(2026, 11, 1, 16, 0, tzinfo=UTC), new_york, "en") == "Good afternoon"


def test_clinic_boundaries_are_configurable() -> None:
    now = _moscow(11, 30)
    assert part_of_day(now, MOSCOW) == "afternoon"
    assert part_of_day(now, MOSCOW, morning_until=time(12, 0)) == "morning"
    assert part_of_day(_moscow(17, 30), MOSCOW, evening_from=time(18, 0)) == "afternoon"
    assert greeting_for(_moscow(18, 0), MOSCOW, "zh", time(12, 0), time(18, 0)) == "晚上好"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        greeting_for(datetime(2026, 11, 24, 10, 0), MOSCOW, "ru")
