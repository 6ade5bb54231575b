"""The webhook pipeline: verify → parse → store raw + apply (one transaction) → publish.

The raw request commits in the same transaction as its effects, and the PBX is answered only
after that commit: a webhook is never lost. A rejected one stays for security review; one whose
effects fail to apply is rolled back to a savepoint and stays as `failed` for re-processing.
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

from . import screenpop, webhook_bindings
from .calls import CallChange, record_call_event
from .logging_setup import scrub
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


def _raw_row(request: InboundRequest, state: RawState, error: str = "") -> RawWebhook:
    return RawWebhook(
        provider=request.provider[:32], path=request.subpath[:300], method=request.method[:8],
        query=request.query, headers=dict(request.headers), body=request.body,
        remote_addr=request.remote_addr[:64], state=state, error=error, attempts=1,
        received_at=request.received_at or utcnow(),
        processed_at=utcnow() if state != RawState.RECEIVED else None,
    )


def request_from_raw(raw: RawWebhook, url: str) -> InboundRequest:
    return InboundRequest(provider=raw.provider, subpath=raw.path, method=raw.method, url=url,
                          headers=raw.headers, body=raw.body, query=raw.query,
                          remote_addr=raw.remote_addr, received_at=raw.received_at)


def handle_webhook(runtime: Runtime, request: InboundRequest) -> IngestResult:
    """The whole pipeline for one HTTP delivery: one transaction holds the raw row and its effects."""
    return _run(runtime, request, raw_id=None)


@dataclass
class _Reading:
    """What verify + parse made of a request, before any database work."""

    events: list[CallEvent] = field(default_factory=list)
    reply: WebhookReply | None = None
    refusal: IngestResult | None = None
    state: RawState = RawState.PROCESSED
    error: str = ""


def _refuse(status: int, state: RawState, error: str, body: dict[str, Any]) -> _Reading:
    return _Reading(refusal=IngestResult(status, None, error=body), state=state, error=error)


def _interpret(request: InboundRequest, config: Mapping[str, Any]) -> _Reading:
    """Verify and parse (pure, no database): events and reply, or the refusal to answer with."""
    adapter = get_adapter(request.provider)
    if adapter is None:
        return _refuse(404, RawState.REJECTED, "unknown provider", {
            "error": "unknown_provider", "message": f"no PBX adapter named {request.provider!r}"})
    try:
        adapter.verify(request, config)
        events = adapter.parse(request, config)
    except SignatureError as exc:
        return _refuse(403, RawState.REJECTED, f"signature: {exc}",
                       {"error": "bad_signature", "message": str(exc)})
    except PayloadError as exc:
        return _refuse(400, RawState.INVALID, str(exc),
                       {"error": "invalid_payload", "field": exc.field, "message": exc.problem})
    except Exception as exc:  # an adapter bug: keep the request, answer like a parse failure
        log.exception("adapter %s crashed", request.provider)
        return _refuse(400, RawState.FAILED, f"{type(exc).__name__}: {exc}"[:2000], {
            "error": "invalid_payload", "field": "body", "message": "could not be interpreted"})
    return _Reading(events=events, reply=adapter.reply(request, events, config))


def _run(runtime: Runtime, request: InboundRequest, raw_id: int | None) -> IngestResult:
    reading = _interpret(request, runtime.config)
    with runtime.write_guard(), runtime.sessions() as session:
        raw = _store(session, request, raw_id, reading.state, reading.error)
        changes: list[CallChange] = []
        if reading.refusal is None:
            reading = _bound(session, request.provider, reading, runtime.config)
            raw.state, raw.error = reading.state, reading.error
        if reading.refusal is None:
            try:
                with session.begin_nested():
                    changes = [record_call_event(session, event, config=runtime.config,
                                                 raw_webhook_id=raw.id) for event in reading.events]
            except Exception as exc:
                # The effects roll back to the savepoint; the raw row commits as failed for an
                # admin to re-process, and the PBX still gets its answer (the phone keeps ringing).
                log.exception("webhook %s failed to apply", raw.id)
                raw.state = RawState.FAILED
                raw.error = scrub(f"{type(exc).__name__}: {exc}")[:2000]  # shown to admins, like a log
        _assign_clinic(raw, changes)
        session.commit()
        raw_id = raw.id
    if reading.refusal is not None:
        if reading.state == RawState.REJECTED:
            log.warning("webhook %s rejected: %s", raw_id, reading.error)
        reading.refusal.raw_id = raw_id
        return reading.refusal
    _publish(runtime, reading.events, changes)
    assert reading.reply is not None
    return IngestResult(reading.reply.status, raw_id, reply=reading.reply, changes=changes)


def _bound(session: Session, provider: str, reading: _Reading,
           config: Mapping[str, Any]) -> _Reading:
    """The reading, or a refusal when the request contradicts what earlier ones bound."""
    claims = [claim for event in reading.events for claim in event.bindings]
    savepoint = session.begin_nested()  # a refused request leaves none of its claims bound
    conflict = webhook_bindings.check(session, provider, claims, config["SECRET_KEY"])
    if conflict is None:
        savepoint.commit()
        return reading
    savepoint.rollback()
    return _refuse(403, RawState.REJECTED, f"binding: {conflict.field}: {conflict.message}", {
        "error": "replay_refused", "field": conflict.field, "message": conflict.message})


def _store(session: Session, request: InboundRequest, raw_id: int | None, state: RawState,
           error: str) -> RawWebhook:
    if raw_id is None:
        raw = _raw_row(request, state, error)
        session.add(raw)
        session.flush()
        return raw
    raw = session.get(RawWebhook, raw_id)
    if raw is None:
        raise LookupError(f"no raw webhook {raw_id}")
    raw.state, raw.error, raw.attempts, raw.processed_at = state, error, raw.attempts + 1, utcnow()
    return raw


def _assign_clinic(raw: RawWebhook, changes: Sequence[CallChange]) -> None:
    """An applied webhook belongs to its call's clinic (whose admins see it); one that never
    reached a call keeps none (see clinic_scope: only admins of every clinic see those)."""
    if changes:
        raw.clinic_id = changes[0].clinic_id


def _publish(runtime: Runtime, events: Sequence[CallEvent], changes: Sequence[CallChange]) -> None:
    for event, change in zip(events, changes, strict=True):
        if change.changed:
            log.info("call %s %s from %s (%s)", change.call_id, event.kind, mask(event.caller),
                     event.provider)
            screenpop.publish_change(runtime, change, event.extension)


def ingest_events(runtime: Runtime, provider: str, events: Sequence[CallEvent], raw: str | bytes,
                  source: str = "") -> list[CallChange]:
    """Entry for non-HTTP sources (AMI bridge, SIP, our own dialers): raw text and events together."""
    body = raw.encode() if isinstance(raw, str) else raw
    request = InboundRequest(provider=provider, subpath=source, method="STREAM", url="", headers={},
                             body=body, received_at=utcnow())
    with runtime.write_guard(), runtime.sessions() as session:
        raw_row = _raw_row(request, RawState.PROCESSED)
        session.add(raw_row)
        session.flush()
        changes = [record_call_event(session, event, config=runtime.config,
                                     raw_webhook_id=raw_row.id) for event in events]
        _assign_clinic(raw_row, changes)
        session.commit()
    _publish(runtime, events, changes)
    return changes


def reprocess(runtime: Runtime, raw_id: int, url: str = "") -> IngestResult:
    """Run a stored webhook through the pipeline again (after a fix or an outage)."""
    with runtime.sessions() as session:
        raw = session.get(RawWebhook, raw_id)
        if raw is None:
            raise LookupError(f"no raw webhook {raw_id}")
        request = request_from_raw(raw, url or _stored_url(raw))
    return _run(runtime, request, raw_id=raw_id)


def _stored_url(raw: RawWebhook) -> str:
    return raw.headers.get("X-Callcenter-Url", "")


def failed_ids(session: Session, limit: int = 1000) -> list[int]:
    return list(session.scalars(
        select(RawWebhook.id).where(RawWebhook.state == RawState.FAILED)
        .order_by(RawWebhook.id).limit(limit)
    ))


def headers_for_storage(headers: Mapping[str, str], url: str) -> dict[str, str]:
    """Headers kept with the raw body, plus the URL the provider signed (needed to re-verify)."""
    kept = {k: v for k, v in headers.items() if k.lower() != "cookie"}
    kept["X-Callcenter-Url"] = url
    return kept
