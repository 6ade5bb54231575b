"""Typed reads of provider payload fields, shared by every adapter.

Anything malformed becomes a PayloadError naming the field, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from webhooks.events import InboundRequest, PayloadError

Clock = Callable[[], datetime]
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Longer than any call: a bigger number is a corrupted field, not a duration.
MAX_SECONDS = 10**9


def system_clock() -> datetime:
    """Receipt time, for events whose payload carries no time of its own."""
    return datetime.now(UTC)


def declared(request: InboundRequest, expected: str) -> None:
    """Refuse a body declared in another encoding than the one the provider signs and we parse.

    One encoding per adapter, never sniffed: a parser that "helpfully" reads multipart or JSON
    when the header says so reads bytes the signature check did not (a forged part appended to a
    signed form). No Content-Type at all is read as the expected one; GET has no body.
    """
    if request.method == "GET":
        return
    header = request.header("Content-Type")
    if header is None or not header.strip():
        return
    media, _, params = header.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if media.strip().lower() != expected or charset not in ("", "utf-8", "utf8"):
        raise PayloadError("Content-Type", f"expected {expected} (UTF-8), got {header[:60]!r}")


def form_fields(request: InboundRequest) -> dict[str, str]:
    """The url-encoded form, after checking that this is what the request declares."""
    declared(request, FORM)
    return request.form()


def json_body(request: InboundRequest) -> dict[str, Any]:
    """The JSON object body, after checking that this is what the request declares."""
    declared(request, JSON)
    return json_object(request.body)


def json_object(raw: bytes | str, field: str = "body") -> dict[str, Any]:
    """Parse a JSON object; anything else (array, number, bad JSON) is a PayloadError."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError(field, "not valid JSON") from None
    if not isinstance(value, dict):
        raise PayloadError(field, "expected a JSON object")
    return value


def text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """A scalar field as a stripped string ('' when absent and not required)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(name, "missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(name, "expected a string")
    return str(value).strip()


def optional_text(data: Mapping[str, Any], name: str) -> str:
    return text(data, name, required=False)


def required(data: Mapping[str, Any], name: str) -> str:
    return text(data, name)


def optional_int(data: Mapping[str, Any], name: str) -> int | None:
    """A non-negative whole number of seconds, or None when absent or empty."""
    if data.get(name) is None or data.get(name) == "":
        return None
    value = integer(data, name)
    if value >= MAX_SECONDS:
        raise PayloadError(name, "expected a non-negative integer")
    return value


def mapping(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested object; absent means empty."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(name, "expected an object")
    return value


def integer(data: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    """A non-negative integer sent as a number or a digit string (PBXs do both)."""
    value = data.get(name)
    if value is None or value == "":
        if default is None:
            raise PayloadError(name, "missing")
        return default
    if isinstance(value, bool):
        raise PayloadError(name, "expected an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.isascii() and stripped.isdigit() and len(stripped) <= 18:
            value = int(stripped)
    if not isinstance(value, int) or value < 0 or value > 10**12:
        raise PayloadError(name, "expected a non-negative integer")
    return value


def epoch(data: Mapping[str, Any], name: str) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(integer(data, name), UTC)
    except (OverflowError, ValueError, OSError):
        raise PayloadError(name, "time out of range") from None


def local_time(value: str, zone: str, name: str) -> datetime:
    """'YYYY-MM-DD HH:MM:SS' wall-clock time in `zone`, as aware UTC."""
    try:
        naive = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
        return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise PayloadError(name, "expected YYYY-MM-DD HH:MM:SS") from None


def iso_time(value: str, name: str) -> datetime:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PayloadError(name, "expected an ISO 8601 time") from None


def later(start: datetime, seconds: int, name: str) -> datetime:
    try:
        return start + timedelta(seconds=seconds)
    except OverflowError:
        raise PayloadError(name, "time out of range") from None


def b64decode(value: str) -> bytes | None:
    """Strict base64, None when it is not base64 at all."""
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def phone(raw: str, settings: Mapping[str, Any]) -> str | None:
    """E.164 in the clinic's region; None for hidden numbers and extensions."""
    # Imported here: the callcenter package imports webhooks, so a top-level import is a cycle.
    from callcenter.core.phones import normalize

    return normalize(raw, settings.get("REGION", "RU"))
