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

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from callcenter.core.driver_sql import Statement
from callcenter.core.inputs import InputError, check_strings, limit, safe, text_within
from callcenter.core.logging_setup import scrub
from callcenter.core.models import Call, CallDirection, Clinic, RawState, RawWebhook, utcnow
from callcenter.core.phones import mask
from callcenter.core.runtime import Runtime
from callcenter.inbound import screenpop, webhook_bindings
from callcenter.inbound.calls import CallChange, record_call_event
from callcenter.inbound.pbx_accounts import Connection, by_id, find
from webhooks import (
    CallEvent,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
    get_adapter,
)

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    status: int
    raw_id: int | None
    reply: WebhookReply | None = None
    error: dict[str, Any] | None = None
    changes: list[CallChange] = field(default_factory=list)
    # Why applying the events failed (the raw row is kept `failed`); the PBX was still answered.
    failure: str | None = None


def _raw_values(request: InboundRequest, state: RawState, error: str = "",
                keep_bytes: int | None = None) -> dict[str, Any]:
    # Junk is kept too (escaped where a database could not hold it): `%00` in a path is a NUL.
    return dict(
        provider=safe(request.provider)[:32], path=safe(request.subpath)[:300],
        method=safe(request.method)[:8], query=safe(request.query),
        headers={safe(k): safe(v) for k, v in request.headers.items()},
        body=request.body if keep_bytes is None else request.body[:keep_bytes],
        remote_addr=safe(request.remote_addr)[:64], state=state, error=safe(error), attempts=1,
        received_at=request.received_at or utcnow(),
        processed_at=utcnow() if state != RawState.RECEIVED else None,
    )


def request_from_raw(raw: RawWebhook, url: str) -> InboundRequest:
    return InboundRequest(provider=raw.provider, subpath=raw.path, method=raw.method, url=url,
                          headers=raw.headers, body=raw.body, query=raw.query,
                          remote_addr=raw.remote_addr, received_at=raw.received_at)


def handle_webhook(runtime: Runtime, request: InboundRequest, clinic_id: int | None = None,
                   token: str | None = None) -> IngestResult:
    """The whole pipeline for one HTTP delivery: one transaction holds the raw row and its effects.
    `clinic_id`: the clinic a new call belongs to, when the route knows it (our own calls' callbacks).
    `token`: the clinic's own PBX account the URL named (pbx_accounts), whose secret verifies it."""
    connection = None
    if token is not None:
        with runtime.sessions() as session:
            connection = find(session, request.provider, token, runtime.config["SECRET_KEY"])
        if connection is None:
            return _run(runtime, request, raw_id=None, unknown_account=True)
    return _run(runtime, request, raw_id=None, clinic_id=clinic_id, connection=connection)


@dataclass
class _Reading:
    """What verify + parse made of a request, before any database work."""

    events: list[CallEvent] = field(default_factory=list)
    reply: WebhookReply | None = None
    refusal: IngestResult | None = None
    state: RawState = RawState.PROCESSED
    error: str = ""
    # A refused body is kept cut to this many bytes: enough for review, not a free store.
    keep_bytes: int | None = None


def _refuse(status: int, state: RawState, error: str, body: dict[str, Any],
            keep_bytes: int | None = None) -> _Reading:
    return _Reading(refusal=IngestResult(status, None, error=body), state=state, error=error,
                    keep_bytes=keep_bytes)


# Event fields and the characters the Call columns they are written to hold.
EVENT_COLUMNS = {name: limit(column) for name, column in (
    ("provider_call_id", Call.provider_call_id), ("caller", Call.caller), ("dialed", Call.dialed),
    ("extension", Call.extension), ("recording_url", Call.recording_url))}


def check_event(event: CallEvent) -> None:
    """What the call's columns cannot hold is refused at parse (400, the raw row `invalid`)
    rather than failing the transaction; the error names the provider's own field."""
    # The provider's field is looked up only for a refusal (the same check again, naming it):
    # searching the payload for every value was a visible part of a webhook's CPU.
    for name, most in EVENT_COLUMNS.items():
        value = getattr(event, name)
        if value:
            try:
                text_within(most, value, name)
            except InputError:
                text_within(most, value, _source_field(event.raw, value, name))
    for name, value in (("caller_raw", event.caller_raw), ("event_id", event.event_id),
                        *event.extra.items()):
        try:
            check_strings(value, name)
        except InputError:
            check_strings(value, _source_field(event.raw, value, name))


def _source_field(raw: Mapping[str, Any], value: Any, default: str) -> str:
    wanted = value.strip() if isinstance(value, str) else value
    for key, item in raw.items():
        if isinstance(key, str) and (item.strip() if isinstance(item, str) else item) == wanted:
            return key
    return default


def _interpret(request: InboundRequest, config: Mapping[str, Any],
               connection: Connection | None = None) -> _Reading:
    """Verify and parse (pure, no database): events and reply, or the refusal to answer with."""
    adapter = get_adapter(request.provider)
    if adapter is None:
        return _refuse(404, RawState.REJECTED, "unknown provider", {
            "error": "unknown_provider", "message": f"no PBX adapter named {request.provider!r}"})
    review_bytes = config["REVIEW_BODY_BYTES"]
    if connection is not None:
        config = connection.settings(config)
    try:
        adapter.verify(request, config)
        events = adapter.parse(request, config)
        if connection is not None:
            events = connection.namespaced(events)
        for event in events:
            check_event(event)
    except SignatureError as exc:
        return _refuse(403, RawState.REJECTED, f"signature: {exc}",
                       {"error": "bad_signature", "message": str(exc)}, keep_bytes=review_bytes)
    except (PayloadError, InputError) as exc:
        problem = exc.problem if isinstance(exc, PayloadError) else exc.message
        return _refuse(400, RawState.INVALID, str(exc),
                       {"error": "invalid_payload", "field": safe(exc.field), "message": safe(problem)})
    except Exception as exc:  # an adapter bug: keep the request, answer like a parse failure
        log.exception("adapter %s crashed", request.provider)
        return _refuse(400, RawState.FAILED, f"{type(exc).__name__}: {exc}"[:2000], {
            "error": "invalid_payload", "field": "body", "message": "could not be interpreted"})
    most = config["MAX_WEBHOOK_EVENTS"]
    if len(events) > most:
        # Every event is a fold of its call inside the one transaction that holds SQLite's writer.
        return _refuse(413, RawState.INVALID, f"{len(events)} events in one request (at most {most})",
                       {"error": "too_many_events", "field": "body",
                        "message": f"{len(events)} events in one request; at most {most}"},
                       keep_bytes=review_bytes)
    return _Reading(events=events, reply=adapter.reply(request, events, config))


def _unknown_account() -> _Reading:
    # 403 like a bad signature: the answer does not tell which tokens exist.
    return _refuse(403, RawState.REJECTED, "unknown PBX account", {
        "error": "unknown_account", "message": "no PBX account of this provider has this URL"})


def _run(runtime: Runtime, request: InboundRequest, raw_id: int | None,
         clinic_id: int | None = None, connection: Connection | None = None,
         unknown_account: bool = False) -> IngestResult:
    reading = _unknown_account() if unknown_account else _interpret(request, runtime.config, connection)
    if connection is not None:
        clinic_id = connection.clinic_id
    owner = clinic_id if clinic_id is not None else _clinic_guess(reading.events)
    failure: str | None = None
    changes: list[CallChange] = []
    with runtime.write_guard(), runtime.sessions() as session:
        stored_id, reading = _store_and_bind(session, request, raw_id, reading, connection, owner,
                                             runtime.config)
        if reading.refusal is None:
            try:
                changes = [record_call_event(session, event, config=runtime.config,
                                             raw_webhook_id=stored_id, clinic_id=clinic_id)
                           for event in reading.events]
            except Exception as exc:
                # The effects roll back with the transaction; the raw row is stored again, as
                # failed, for an admin to re-process, and the PBX still gets its answer (the
                # phone keeps ringing). A rollback of the whole transaction rather than of a
                # savepoint keeps two statements off every webhook that applies.
                log.exception("webhook %s failed to apply", stored_id)
                # Shown to admins, like a log: masked the same way.
                failure = safe(scrub(f"{type(exc).__name__}: {exc}"))[:2000]
                changes = []
                session.rollback()
                # Reaching no call, it belongs to no clinic (unless an account's URL names one).
                stored_id, reading = _store_and_bind(session, request, raw_id, reading, connection,
                                                     None, runtime.config, failure=failure)
        if changes and changes[0].clinic_id != owner:
            _assign_clinic(session, stored_id, changes[0].clinic_id, reading.events)
        session.commit()
    if reading.refusal is not None:
        if reading.state == RawState.REJECTED:
            log.warning("webhook %s rejected: %s", stored_id, reading.error)
        reading.refusal.raw_id = stored_id
        return reading.refusal
    if failure is None:
        _publish(runtime, reading.events, changes)
    assert reading.reply is not None
    return IngestResult(reading.reply.status, stored_id, reply=reading.reply, changes=changes,
                        failure=failure)


def _store_and_bind(session: Session, request: InboundRequest, raw_id: int | None,
                    reading: _Reading, connection: Connection | None, owner: int | None,
                    config: Mapping[str, Any], failure: str | None = None) -> tuple[int, _Reading]:
    """The raw row (new, or the stored one once more), and the reading after the bindings."""
    stored_id = _store(session, request, raw_id, reading, connection, owner)
    if reading.refusal is None and any(event.bindings for event in reading.events):
        reading = _bound(session, connection.binding_provider if connection else request.provider,
                         reading, config)
        if reading.refusal is not None:
            _set_state(session, stored_id, reading.state, reading.error)
    if failure is not None and reading.refusal is None:
        _set_state(session, stored_id, RawState.FAILED, failure)
    return stored_id, reading


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


RAW = RawWebhook.__table__
CLINICS = Clinic.__table__
# Built once (see inbound/calls.py on statements built once). The owner goes through the clinics
# table: a guess naming a clinic since deleted stores none.
_NEW_RAW = Statement(insert(RAW).returning(RAW.c.id))
_NEW_RAW_OWNED = Statement(insert(RAW).returning(RAW.c.id).values(
    clinic_id=select(CLINICS.c.id).where(CLINICS.c.id == bindparam("_owner")).scalar_subquery()))
# The clinic each number's calls went to lately, in this process: the raw row is written with its
# clinic at once when this guess is right (nearly always), and corrected when it is not.
_LATEST_CLINIC: dict[str, int] = {}
_LATEST_MOST = 10_000


def _number_of(events: Sequence[CallEvent]) -> str | None:
    if not events:
        return None
    event = events[0]
    return event.caller if event.direction == CallDirection.OUTBOUND else event.dialed


def _clinic_guess(events: Sequence[CallEvent]) -> int | None:
    number = _number_of(events)
    return _LATEST_CLINIC.get(number) if number else None


def _store(session: Session, request: InboundRequest, raw_id: int | None, reading: _Reading,
           connection: Connection | None, owner: int | None) -> int:
    """A new raw row, or the stored one marked as processed once more; its id."""
    conn = session.connection()
    if raw_id is None:
        row = _raw_values(request, reading.state, reading.error, reading.keep_bytes)
        if connection is not None:
            # The account's clinic owns what came to its URL, refused or not: its admin reviews it.
            row.update(pbx_account_id=connection.account_id, clinic_id=connection.clinic_id)
        elif reading.refusal is None and owner is not None:
            return int(_NEW_RAW_OWNED.scalar(conn, {**row, "_owner": owner}))
        return int(_NEW_RAW.scalar(conn, row))
    updated = conn.execute(update(RAW).where(RAW.c.id == raw_id).values(
        state=reading.state, error=safe(reading.error), attempts=RAW.c.attempts + 1,
        processed_at=utcnow()))
    if not updated.rowcount:
        raise LookupError(f"no raw webhook {raw_id}")
    return raw_id


def _set_state(session: Session, raw_id: int, state: RawState, error: str) -> None:
    session.connection().execute(update(RAW).where(RAW.c.id == raw_id).values(state=state, error=error))


def _assign_clinic(session: Session, raw_id: int, clinic_id: int,
                   events: Sequence[CallEvent]) -> None:
    """An applied webhook belongs to its call's clinic (whose admins see it); one that never
    reached a call keeps none (see clinic_scope: only admins of every clinic see those)."""
    session.connection().execute(update(RAW).where(RAW.c.id == raw_id).values(clinic_id=clinic_id))
    number = _number_of(events)
    if number:
        if len(_LATEST_CLINIC) >= _LATEST_MOST:
            _LATEST_CLINIC.clear()
        _LATEST_CLINIC[number] = clinic_id


def _publish(runtime: Runtime, events: Sequence[CallEvent], changes: Sequence[CallChange]) -> None:
    for event, change in zip(events, changes, strict=True):
        if change.changed:
            if log.isEnabledFor(logging.INFO):  # masking the number is not free, on every webhook
                log.info("call %s %s from %s (%s)", change.call_id, event.kind, mask(event.caller),
                         event.provider)
            screenpop.publish_change(runtime, change, event.extension)


def ingest_events(runtime: Runtime, provider: str, events: Sequence[CallEvent], raw: str | bytes,
                  source: str = "", clinic_id: int | None = None) -> list[CallChange]:
    """Entry for non-HTTP sources (AMI bridge, SIP, our own dialers): raw text and events together.

    Our own dialers name the clinic that placed the call (no tracking number tells it)."""
    body = raw.encode() if isinstance(raw, str) else raw
    request = InboundRequest(provider=provider, subpath=source, method="STREAM", url="", headers={},
                             body=body, received_at=utcnow())
    with runtime.write_guard(), runtime.sessions() as session:
        raw_id = _NEW_RAW.scalar(session.connection(),
                                 {**_raw_values(request, RawState.PROCESSED), "clinic_id": clinic_id})
        changes = [record_call_event(session, event, config=runtime.config,
                                     raw_webhook_id=raw_id, clinic_id=clinic_id)
                   for event in events]
        if changes and changes[0].clinic_id != clinic_id:
            _assign_clinic(session, raw_id, changes[0].clinic_id, events)
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
        connection = (by_id(session, raw.pbx_account_id, runtime.config["SECRET_KEY"])
                      if raw.pbx_account_id is not None else None)
    return _run(runtime, request, raw_id=raw_id, connection=connection)


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
