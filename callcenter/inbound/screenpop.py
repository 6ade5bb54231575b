"""Desk events: published to a Redis stream (ids double as SSE ids, so a desk can resume).

Only ids and states travel through Redis; the desk's authenticated stream builds the card.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import redis

from callcenter.core.runtime import Runtime
from callcenter.inbound.calls import CallChange

STREAM = "desk:events"
STREAM_MAXLEN = 50_000

log = logging.getLogger(__name__)


def publish(runtime: Runtime, payload: dict[str, Any]) -> str | None:
    """Append a desk event; a Redis outage is logged, never raised (the call is already stored)."""
    try:
        event_id = runtime.redis.xadd(STREAM, {"data": json.dumps(payload)}, maxlen=STREAM_MAXLEN,
                                      approximate=True)
    except redis.RedisError as exc:
        log.warning("desk event not published (Redis: %s)", type(exc).__name__)
        return None
    return event_id.decode() if isinstance(event_id, bytes) else str(event_id)


def publish_change(runtime: Runtime, change: CallChange, extension: str | None = None) -> str | None:
    """`extension` is the event's own (which desk rang or answered): the desk's pop/close rule.
    The clinic travels with every event: a desk of another clinic drops it unread. Who answered
    travels too: every desk hears every event, and a close or an update is then decided without
    reading the call."""
    return publish(runtime, {"type": "call", "call_id": change.call_id,
                             "clinic_id": change.clinic_id, "event": str(change.kind),
                             "status": str(change.status), "created": change.created,
                             "extension": extension, "answered": change.answered,
                             "answered_by": change.answered_by})


def read(runtime: Runtime, last_id: str = "$", block_ms: int = 15000, count: int = 100,
         client: redis.Redis | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events after last_id ("$" = only new ones); blocks up to block_ms when none are waiting.

    `client`: a connection of the reader's own (a long-lived SSE stream) instead of the shared one.
    """
    answer = (client or runtime.redis).xread({STREAM: last_id}, block=block_ms, count=count)
    for _stream, entries in answer or []:
        for raw_id, fields in entries:
            event_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            data = fields.get(b"data") or fields.get("data")
            yield event_id, json.loads(data)
