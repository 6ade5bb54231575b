"""The webhook pipeline: store raw → verify → parse → apply → publish.

The raw request is committed before anything can fail, so a webhook is never lost: a rejected
one stays for security review, a failed one for an admin to re-process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webhooks import (
    CallEvent,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
    get_adapter,
)

from . import screenpop
from .calls import CallChange, record_call_event
from .models import RawState, RawWebhook, utcnow
from .phones import mask
from .runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    status: int
    raw_id: int | None
    reply: WebhookReply | None = None
    error: dict[str, Any] | None = None
    changes: list[CallChange] = field(default_factory=list)


def store_raw(runtime: Runtime, request: InboundRequest, state: RawState = RawState.RECEIVED,
              error: str = "") -> int:
    """Commit the request as received, in its own transaction; returns its id."""
    with runtime.sessions() as session:
        raw = RawWebhook(
            provider=request.provider[:32], path=request.subpath[:300], method=request.method[:8],
            query=request.query, headers=dict(request.headers), body=request.body,
            remote_addr=request.remote_addr[:64], state=state, error=error,
        )
        session.add(raw)
        session.commit()
        return raw.id


def request_from_raw(raw: RawWebhook, url: str) -> InboundRequest:
    return InboundRequest(provider=raw.provider, subpath=raw.path, method=raw.method, url=url,
                          headers=raw.headers, body=raw.body, query=raw.query,
                          remote_addr=raw.remote_addr)


def handle_webhook(runtime: Runtime, request: InboundRequest) -> IngestResult:
    """The whole pipeline for one HTTP delivery."""
    adapter = get_adapter(request.provider)
    if adapter is None:
        raw_id = store_raw(runtime, request, RawState.REJECTED, "unknown provider")
        return IngestResult(404, raw_id, error={"error": "unknown_provider",
                                               "message": f"no PBX adapter named {request.provider!r}"})
    raw_id = store_raw(runtime, request)
    return process(runtime, raw_id, request)


def process(runtime: Runtime, raw_id: int, request: InboundRequest) -> IngestResult:
    """Verify, parse and apply a stored request; also used to re-process failed ones."""
    config = runtime.config
    adapter = get_adapter(request.provider)
    if adapter is None:
        return IngestResult(404, raw_id, error={"error": "unknown_provider", "message": request.provider})
    try:
        adapter.verify(request, config)
    except SignatureError as exc:
        _mark(runtime, raw_id, RawState.REJECTED, f"signature: {exc}")
        log.warning("webhook %s rejected: %s", raw_id, exc)
        return IngestResult(403, raw_id, error={"error": "bad_signature", "message": str(exc)})
    try:
        events = adapter.parse(request, config)
    except PayloadError as exc:
        _mark(runtime, raw_id, RawState.INVALID, str(exc))
        return IngestResult(400, raw_id, error={"error": "invalid_payload", "field": exc.field,
                                               "message": exc.problem})
    reply = adapter.reply(request, events, config)
    try:
        changes = apply_events(runtime, events, raw_id)
    except Exception as exc:
        # The PBX still gets its answer (the phone keeps ringing); the raw row waits for re-processing.
        log.exception("webhook %s failed to apply", raw_id)
        _mark(runtime, raw_id, RawState.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        return IngestResult(reply.status, raw_id, reply=reply)
    return IngestResult(reply.status, raw_id, reply=reply, changes=changes)


def apply_events(runtime: Runtime, events: Sequence[CallEvent], raw_id: int | None) -> list[CallChange]:
    """Apply events in one transaction, mark the raw row processed, then publish the pops."""
    with runtime.sessions() as session:
        changes = [record_call_event(session, event, config=runtime.config, raw_webhook_id=raw_id)
                   for event in events]
        if raw_id is not None:
            raw = session.get(RawWebhook, raw_id)
            if raw is not None:
                raw.state = RawState.PROCESSED
                raw.error = ""
                raw.attempts += 1
                raw.processed_at = utcnow()
        session.commit()
    for event, change in zip(events, changes, strict=True):
        if change.changed:
            log.info("call %s %s from %s (%s)", change.call_id, event.kind, mask(event.caller),
                     event.provider)
            screenpop.publish_change(runtime, change, event.extension)
    return changes


def ingest_events(runtime: Runtime, provider: str, events: Sequence[CallEvent], raw: str | bytes,
                  source: str = "") -> list[CallChange]:
    """Entry for non-HTTP sources (AMI bridge, SIP): store the raw text, then apply."""
    body = raw.encode() if isinstance(raw, str) else raw
    request = InboundRequest(provider=provider, subpath=source, method="STREAM", url="", headers={},
                             body=body)
    raw_id = store_raw(runtime, request)
    try:
        return apply_events(runtime, events, raw_id)
    except Exception as exc:
        _mark(runtime, raw_id, RawState.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        raise


def reprocess(runtime: Runtime, raw_id: int, url: str = "") -> IngestResult:
    """Run a stored webhook through the pipeline again (after a fix or an outage)."""
    with runtime.sessions() as session:
        raw = session.get(RawWebhook, raw_id)
        if raw is None:
            raise LookupError(f"no raw webhook {raw_id}")
        request = request_from_raw(raw, url or _stored_url(raw))
    return process(runtime, raw_id, request)


def _stored_url(raw: RawWebhook) -> str:
    return raw.headers.get("X-Callcenter-Url", "")


def failed_ids(session: Session, limit: int = 1000) -> list[int]:
    return list(session.scalars(
        select(RawWebhook.id).where(RawWebhook.state == RawState.FAILED)
        .order_by(RawWebhook.id).limit(limit)
    ))


def _mark(runtime: Runtime, raw_id: int, state: RawState, error: str) -> None:
    with runtime.sessions() as session:
        raw = session.get(RawWebhook, raw_id)
        if raw is not None:
            raw.state = state
            raw.error = error
            raw.attempts += 1
            session.commit()


def headers_for_storage(headers: Mapping[str, str], url: str) -> dict[str, str]:
    """Headers kept with the raw body, plus the URL the provider signed (needed to re-verify)."""
    kept = {k: v for k, v in headers.items() if k.lower() != "cookie"}
    kept["X-Callcenter-Url"] = url
    return kept
