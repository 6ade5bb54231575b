"""Text from outside (JSON bodies, query strings, forms, webhook payloads) checked against the
column it is stored in or compared with, before any query.

Both databases must be able to hold what we accept: PostgreSQL refuses a NUL character in any
text and a string longer than its VARCHAR; neither driver can encode a lone UTF-16 surrogate
(JSON's "\\ud800" decodes to one). Each of those used to surface as a 500 from the database. The
limits come from the model's column types, so a migration that widens a column widens the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Text
from sqlalchemy.orm import QueryableAttribute

from callcenter.core.i18n import N_, t

# Text columns have no size of their own; this is what one free-text field (notes) may hold.
TEXT_LIMIT = 5000


class FieldError(Exception):
    """A refusal naming the field to fix, shown to staff. `message` is English with its {name}
    fields filled from `params`; the unfilled English is the msgid, so the JSON answer can say it
    in the reader's language (`localized`) while `error` and `field` stay codes."""

    def __init__(self, field: str, message: str, status: int = 400, **params: object) -> None:
        self.field = field
        self.msgid = message
        self.params = params
        self.message = message.format(**params) if params else message
        self.status = status
        super().__init__(self.message)

    def localized(self, locale: str) -> str:
        text = t(self.msgid, locale)
        return text.format(**self.params) if self.params else text


class InputError(FieldError, ValueError):
    """A value that cannot be stored or looked up: 400 naming the field."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(safe(field), message, **params)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def problem(value: str) -> str | None:
    """Why a string cannot go to either database, or None when it can."""
    if "\x00" in value:
        return N_("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return N_("contains an unpaired surrogate (not valid Unicode)")
    return None


def limit(column: QueryableAttribute[Any]) -> int:
    """Characters the column holds: a VARCHAR's length, TEXT_LIMIT for unbounded text."""
    length = getattr(column.type, "length", None)
    if length:
        return int(length)
    if isinstance(column.type, Text):
        return TEXT_LIMIT
    raise TypeError(f"{column} is not a text column")


def text(column: QueryableAttribute[Any], value: Any, field: str) -> str:
    """`value` as the column can hold it; an InputError naming `field` otherwise."""
    return text_within(limit(column), value, field)


def text_within(most: int, value: Any, field: str) -> str:
    """`text` for a column whose `limit` the caller has already read (on every webhook's path:
    reading it through the mapped attribute each time was a visible cost)."""
    if not isinstance(value, str):
        raise InputError(field, "expected a string")
    reason = problem(value)
    if reason is not None:
        raise InputError(field, reason)
    if len(value) > most:
        raise InputError(field, "longer than {most} characters", most=most)
    return value


def optional_text(column: QueryableAttribute[Any], body: Mapping[str, Any], field: str,
                  default: str = "") -> str:
    """A body field that may be absent or null (then `default`)."""
    value = body.get(field)
    return default if value is None else text(column, value, field)


def check_strings(value: Any, field: str) -> None:
    """Every string inside a JSON-like value (keys too) can be stored; for JSON columns."""
    if isinstance(value, str):
        reason = problem(value)
        if reason is not None:
            raise InputError(field, reason)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_strings(key, field)
            check_strings(item, f"{field}.{key}" if isinstance(key, str) else field)
    elif isinstance(value, list | tuple):
        for item in value:
            check_strings(item, field)


def safe(value: str) -> str:
    """The string with NUL and lone surrogates escaped: for what must be kept (the raw webhook,
    its error) or echoed back (a field name in an error body) even when it is junk."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
