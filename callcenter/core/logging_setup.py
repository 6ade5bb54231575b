"""Logs that never carry a full phone number, as readable text or JSON lines, with request ids.

Numbers are masked when the record is made (a LogRecord factory), not when it is printed, so
every handler sees the masked text: ours, pytest's, gunicorn's, an error tracker's. Tracebacks
are rendered and masked at the same moment (a database error repeats the row it failed on).
Patient names are not masked because they are never passed to a logger; the tests hold to that.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote, unquote

from flask import Flask, Response, g, has_request_context, request

from callcenter.core.phones import mask

# "+7 (900) 123-45-67", "+79001234567", "%2B79001234567", "8 900 123-45-67", bare runs of 10 to 15
# digits. Decimals and dotted ids ("1714546805.123") are left alone; other 10-digit figures (unix
# seconds) are masked too: a hidden time stamp costs less than a shown number.
PHONE = re.compile(
    r"\+\d(?:[\s\-().]{0,2}\d){9,14}(?!\d)"
    r"|(?<![\d.])[78][\s\-]\(?\d{3}\)?[\s\-]?\d{3}[\s\-]?\d{2}[\s\-]?\d{2}(?!\d)"
    r"|(?<![\d.])\d{10,15}(?!\d|\.\d)"
)
# A URL component with escapes or a plus between digits ("%2B7%20916…", "+7+916+…") is read
# decoded, then masked; a plus inside a number can only be an encoded space.
ENCODED_PART = re.compile(r"[^\s\"'?&=/#;,]*(?:%[0-9A-Fa-f]{2}|[\d)]\+[\d(])[^\s\"'?&=/#;,]*")
INNER_PLUS = re.compile(r"(?<=[\d)])\+(?=[\d(])")
# "?key=…", "&access_token=…", "signature=…": a credential in a query string or a message.
SECRET_PARAM = re.compile(
    r"(?i)((?:^|(?<=[\s?&;\"']))(?:[\w.\-]*[_.\-])?(?:api|access|auth)?"
    r"(?:key|token|secret|signature|sig|password|passwd|pwd)=)[^&\s\"'#;]*")
# PostgreSQL repeats the values a statement failed on: "DETAIL:  Key (e164)=(+7…) already exists",
# "DETAIL:  Failing row contains (…, Кузнецова, …)". The column names stay, the values go.
PG_DETAIL = re.compile(r"(DETAIL:\s+(?:Key \([^)\n]*\)=|Failing row contains )?)[^\n]*")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def scrub(text: str) -> str:
    """The text with every phone-like sequence masked to its country code and last two digits,
    credentials in query strings and the values in PostgreSQL's error details hidden."""
    text = PG_DETAIL.sub(r"\1(hidden)", text)
    text = SECRET_PARAM.sub(r"\1(hidden)", text)
    return _mask_phones(ENCODED_PART.sub(_scrub_encoded, text))


def _mask_phones(text: str) -> str:
    return PHONE.sub(lambda m: mask(("+" if m[0][0] == "+" else "") + re.sub(r"\D", "", m[0])), text)


def _scrub_encoded(match: re.Match[str]) -> str:
    decoded = unquote(INNER_PLUS.sub(" ", match[0]))
    masked = _mask_phones(decoded)
    return match[0] if masked == decoded else quote(masked, safe="*+")


# The id of a request answered in front of Flask (core.wsgi_front), which has no `g`.
_FRONT_REQUEST_ID: ContextVar[str | None] = ContextVar("front_request_id", default=None)


@contextmanager
def request_id_scope(request_id: str) -> Iterator[None]:
    """Records logged inside carry this request id (a path answered without Flask's context)."""
    token = _FRONT_REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _FRONT_REQUEST_ID.reset(token)


def request_id_from(given: str) -> str:
    """The id a request is known by: the proxy's X-Request-Id if sane, else a new one."""
    return given if REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


def _current_request_id() -> str:
    front = _FRONT_REQUEST_ID.get()
    if front is not None:
        return front
    return g.get("request_id", "-") if has_request_context() else "-"


def _masking_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    plain = logging.Formatter()

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string still gets logged, masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(plain.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        record.request_id = _current_request_id()
        return record

    make.masks_phones = True  # type: ignore[attr-defined]
    return make


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info or record.exc_text:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(line, ensure_ascii=False)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler configure() owns, so configuring again replaces it."""


def configure(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Process-wide: mask numbers in every record; print to stderr as text or JSON lines."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "masks_phones", False):
        logging.setLogRecordFactory(_masking_factory(current))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(handler)
    handler = _OurHandler(stream or sys.stderr)
    formatter = JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)


def install_request_ids(app: Flask) -> None:
    """Each request gets an id (the proxy's X-Request-Id if sane), logged and sent back."""

    @app.before_request
    def _assign() -> None:
        g.request_id = request_id_from(request.headers.get("X-Request-Id", ""))

    @app.after_request
    def _echo(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response
