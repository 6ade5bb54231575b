"""Reading fields out of a provider payload: every problem becomes a PayloadError naming the field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .events import PayloadError

Clock = Callable[[], datetime]
# Longer than any call: a bigger number is a corrupted field, not a duration.
MAX_SECONDS = 10**9


def system_clock() -> datetime:
    """Receipt time, for events whose payload carries no time of its own."""
    return datetime.now(UTC)


def text(fields: Mapping[str, Any], name: str) -> str:
    """An optional text field ("" when absent); JSON numbers are accepted as their text."""
    value = fields.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(name, "must be a string")
    return str(value).strip()


def required(fields: Mapping[str, Any], name: str) -> str:
    value = text(fields, name)
    if not value:
        raise PayloadError(name, "missing")
    return value


def optional_int(fields: Mapping[str, Any], name: str) -> int | None:
    """A non-negative whole number of seconds, or None when absent or empty."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(name, "must be a whole number")
    if isinstance(value, str):
        stripped = value.strip()
        if not (stripped.isascii() and stripped.isdigit()) or len(stripped) > 12:
            raise PayloadError(name, "must be a whole number")
        value = int(stripped)
    if isinstance(value, int) and 0 <= value < MAX_SECONDS:
        return value
    raise PayloadError(name, "must be a non-negative whole number")
