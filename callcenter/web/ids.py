"""Row ids from URLs, query strings and JSON bodies: whole numbers a database column can hold.

SQLite's driver raises OverflowError for an int past 64 bits, so an id like 10**30 has to be
refused (or left unmatched) before it reaches a query.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1


def storable(value: Any) -> bool:
    """A JSON or query value usable as an id in a query (not a bool, within 64 bits)."""
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_ID - 1 <= value <= MAX_ID


class IdConverter(IntegerConverter):
    """`<int:...>` whose values past the 64-bit range match no route, so the answer is a 404."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)
