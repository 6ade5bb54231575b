"""Parsers for settings' text: each returns the value to use or raises ValueError saying what is
wrong; `config.DEFAULTS` names one per setting."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LOCALES = ("ru", "en", "zh")


def timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def locale(value: str) -> str:
    if value not in LOCALES:
        raise ValueError(f"must be one of {', '.join(LOCALES)}, got {value!r}")
    return value


def database_url(value: str) -> str:
    if not value:
        return value
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL: {value!r}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {url.get_backend_name()!r} (sqlite or postgresql)")
    return value


def redis_url(value: str) -> str:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"not a Redis URL: {value!r}")
    return value


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None
    if number < 0:
        raise ValueError(f"must be 0 or more, got {number}")
    return number


def clock_shift(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise ValueError(f"not a number of seconds: {value!r}") from None
    if abs(seconds) > 86400:
        raise ValueError(f"must be within one day, got {seconds}")
    return seconds


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def region(value: str) -> str:
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"must be a two-letter country code, got {value!r}")
    return value.upper()


def environment(value: str) -> str:
    if value not in ("development", "production"):
        raise ValueError(f"must be development or production, got {value!r}")
    return value


def plain_text(value: str) -> str:
    return value


def log_format(value: str) -> str:
    if value not in ("text", "json"):
        raise ValueError(f"must be text or json, got {value!r}")
    return value


def clock_time(value: str) -> str:
    hours, sep, minutes = value.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and int(hours) <= 24 and int(minutes) < 60):
        raise ValueError(f"expected HH:MM, got {value!r}")
    if int(hours) == 24 and int(minutes):
        raise ValueError(f"expected HH:MM, got {value!r}")
    return value


def time_window(value: str) -> str:
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
    clock_time(start)
    clock_time(end)
    if start >= end:
        raise ValueError(f"window ends before it starts: {value!r}")
    return value


def day_list(value: str) -> tuple[int, ...]:
    try:
        days = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated day counts, got {value!r}") from None
    if any(day <= 0 for day in days):
        raise ValueError(f"day counts must be positive, got {value!r}")
    return days


def followup_schedule(value: str) -> str:
    from callcenter.core.followup_table import parse_overrides

    parse_overrides(value)
    return value


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def dial_mode(value: str) -> str:
    if value not in ("preview", "twilio", "sip"):
        raise ValueError(f"must be preview, twilio or sip, got {value!r}")
    return value


def sms_provider(value: str) -> str:
    if value not in ("", "twilio", "smsc"):
        raise ValueError(f"must be empty (no texts), twilio or smsc, got {value!r}")
    return value


def sms_confirmation(value: str) -> str:
    if value not in SMS_CONFIRMATION_MODES:
        raise ValueError(f"must be one of {', '.join(SMS_CONFIRMATION_MODES)}, got {value!r}")
    return value


# off: calls only; alone: texts only; before_call: a text, then a call if no answer came;
# fallback: a call, then a text if nobody was reached.
SMS_CONFIRMATION_MODES = ("off", "alone", "before_call", "fallback")


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not number >= 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return number


def backoff(value: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for part in value.split(","):
        name, sep, seconds = part.strip().partition("=")
        if not sep or not seconds.strip().isdigit():
            raise ValueError(f"expected outcome=seconds pairs, got {part!r}")
        table[name.strip()] = int(seconds)
    return table


def click_to_call(value: str) -> str:
    if value not in ("auto", "twilio", "ami", "off"):
        raise ValueError(f"must be auto, twilio, ami or off, got {value!r}")
    return value


def machine_policy(value: str) -> str:
    if value not in ("message", "retry"):
        raise ValueError(f"must be message or retry, got {value!r}")
    return value
