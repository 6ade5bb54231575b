"""Row ids from URLs, query strings and JSON bodies: whole numbers an id column can hold.

Id columns are INTEGER: 32 bits on PostgreSQL, which answers a larger parameter with an error
(SQLite's driver raises OverflowError past 64 bits). An id beyond that range names no row, so it
is refused (or left unmatched, a 404) before it reaches a query, the same on both databases.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


def storable(value: Any) -> bool:
    """A JSON or query value usable as an id in a query (not a bool, within 32 bits)."""
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_ID - 1 <= value <= MAX_ID


def digits_up_to(limit: int) -> str:
    """A regular expression of the decimal numbers 0..limit, for the URL matcher itself: a
    larger id then matches no rule at all. (Refused later, by the converter, it made werkzeug
    answer 405 wherever another method shares the path, and skip the routes after it.)"""
    digits = str(limit)
    shorter = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    lower_at = [f"{digits[:i]}[0-{int(d) - 1}]" + (rf"\d{{{len(digits) - i - 1}}}" if i + 1 < len(digits) else "")
                for i, d in enumerate(digits) if d != "0"]
    return "|".join([*shorter, *lower_at, digits])


class IdConverter(IntegerConverter):
    """`<int:...>` whose values past the id range match no route, so the answer is a 404."""

    regex = digits_up_to(MAX_ID)
