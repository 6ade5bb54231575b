"""/api/sync: the connectors' API. A record system's connector upserts patients, doctors,
services, visits and treatments by its own ids, one at a time or up to 1,000 per request,
authenticated by an integration token (not a staff session), within a rate limit, and safe to
retry with an Idempotency-Key. Records go through the same path as the file import."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core import clinic_scope
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, IdempotentRequest, IntegrationToken, utcnow
from callcenter.core.ratelimit import Limit, RedisCounters, hit
from callcenter.core.web import db, runtime
from callcenter.exchange import feed
from callcenter.exchange.columns import KINDS, SYNONYMS
from callcenter.exchange.delivery import envelope
from callcenter.exchange.records import BUILDERS, Cells, Context, lookups
from callcenter.exchange.tokens import CHANGES_SCOPE, find_token
from callcenter.exchange.upsert import OUTCOMES, REFUSED, Writer

bp = Blueprint("sync_api", __name__)

MAX_BATCH = 1000
KEY_LIMIT = 200
RATE = Limit("sync", 120, 60)  # requests per token and minute; a batch carries 1,000 records


def _refusal(status: int, error: str, message: str, field: str | None = None) -> tuple[Response, int]:
    body = {"error": error, "message": message}
    if field:
        body["field"] = field
    return jsonify(body), status


def _authorize(kind: str | None) -> tuple[Session, IntegrationToken] | tuple[Response, int]:
    """The token's clinic-scoped session, or the refusal: 403 for a missing, unknown or revoked
    token and for one without the kind's scope (None: the changes feed's), 429 over the rate,
    404 for an unknown kind."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    session = db()
    token = find_token(session, secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return _refusal(403, "forbidden", "missing, unknown or revoked integration token")
    if kind is not None and kind not in KINDS:
        return _refusal(404, "not_found", "no such kind of record", "kind")
    if (CHANGES_SCOPE if kind is None else f"{kind}:write") not in token.scopes:
        return _refusal(403, "forbidden", "the token may not read changes" if kind is None
                        else f"the token may not write {kind}")
    try:
        verdict = hit(RedisCounters(runtime().redis), RATE, f"token:{token.id}", time.time())
    except redis.RedisError:  # no counter to go by: serve rather than refuse every connector
        verdict = None
    if verdict is not None and not verdict.allowed:
        response, status = _refusal(429, "rate_limited", "too many requests for this token")
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response, status
    clinic_scope.restrict(session, clinic_scope.Scope(frozenset({token.clinic_id})))
    token.last_used_at = utcnow()
    return session, token


def _cells(kind: str, body: Any, index: str) -> Cells:
    """A JSON record as the file import's cells; its fields are the file import's field names."""
    if not isinstance(body, dict):
        raise InputError(index, "expected an object")
    fields = SYNONYMS[kind]
    cells: Cells = {}
    for name, value in body.items():
        if name not in fields:
            raise InputError(f"{index}.{name}"[:100], "unknown field")
        if name.startswith("phone") and isinstance(value, list):
            value = "; ".join(_phone(item) for item in value)
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise InputError(f"{index}.{name}"[:100], "expected a string, a number or null")
        cells[name] = [value]
    return cells


def _phone(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("number"), str):
        label = str(item.get("label") or "").replace(":", " ").replace(";", " ").strip()
        return f"{label}: {item['number']}" if label else item["number"]
    raise InputError("phones", "a phone is a string or {number, label}")


def _upsert(session: Session, token: IntegrationToken, kind: str,
            records: list[tuple[str, Any]]) -> dict[str, Any]:
    clinic = session.get(Clinic, token.clinic_id)
    assert clinic is not None  # the token's clinic: deleting a clinic deletes its tokens
    writer = Writer(session, clinic, utcnow(), source="sync")
    ctx = Context.of(clinic)
    results, counts = [], dict.fromkeys(OUTCOMES, 0)
    cells: list[Cells | InputError] = []
    for index, body in records:
        try:
            cells.append(_cells(kind, body, index))
        except InputError as exc:
            cells.append(exc)
    writer.prefetch(lookups(kind, [found for found in cells if not isinstance(found, InputError)]))
    for (_index, body), found in zip(records, cells, strict=True):
        external = body.get("external_id") if isinstance(body, dict) else None
        try:
            if isinstance(found, InputError):
                raise found
            record = BUILDERS[kind](found, ctx)
            outcome = writer.upsert(kind, record)
            results.append({"external_id": record["external_id"], "outcome": outcome})
        except InputError as exc:
            outcome = REFUSED
            results.append({"external_id": external, "outcome": REFUSED, "field": exc.field,
                            "message": exc.message})
        counts[outcome] += 1
    writer.flush()
    for result in results:
        if result["outcome"] != REFUSED:
            result["id"] = writer.local_id(kind, result["external_id"], "external_id")
    if counts["created"] or counts["updated"]:  # who changed patient data: the token did
        audit(session, None, "sync", kind, "", clinic_id=clinic.id, token=token.id,
              **{name: count for name, count in counts.items() if count})
    return {"counts": counts, "results": results}


def _idempotent(session: Session, token: IntegrationToken, kind: str,
                records: list[tuple[str, Any]], one: bool = False) -> tuple[Response, int]:
    """Run the upserts once per Idempotency-Key: a retry gets the first answer. One record
    refused answers 422 naming its field; a batch answers 200, each record with its outcome."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > KEY_LIMIT:
        return _refusal(400, "invalid_request", f"longer than {KEY_LIMIT} characters",
                        "Idempotency-Key")
    fingerprint = hashlib.sha256(request.method.encode() + request.path.encode()
                                 + request.get_data()).hexdigest()
    if key:
        earlier = session.query(IdempotentRequest).filter_by(clinic_id=token.clinic_id,
                                                             key=key).one_or_none()
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                return _refusal(422, "idempotency_key_reused",
                                "this Idempotency-Key came with another request", "Idempotency-Key")
            response = jsonify(earlier.body)
            response.headers["Idempotent-Replayed"] = "true"
            return response, earlier.status
    body = _upsert(session, token, kind, records)
    status = 200
    if one and body["counts"][REFUSED]:
        refused = body["results"][0]
        body = {"error": "invalid_record", "field": refused["field"], "message": refused["message"], **body}
        status = 422
    if key:
        session.add(IdempotentRequest(clinic_id=token.clinic_id, key=key,
                                      request_hash=fingerprint, status=status, body=body))
    try:
        session.commit()
    except IntegrityError:  # the same key, sent twice at once: the other one won
        session.rollback()
        return _refusal(409, "conflict", "a request with this Idempotency-Key is in progress",
                        "Idempotency-Key")
    return jsonify(body), status


@bp.put("/api/sync/<kind>/<external_id>")
def upsert_one(kind: str, external_id: str) -> tuple[Response, int]:
    """Create or update one record by its external id."""
    allowed = _authorize(kind)
    if isinstance(allowed[0], Response):
        return allowed  # type: ignore[return-value]
    session, token = allowed  # type: ignore[misc]
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refusal(400, "invalid_request", "expected a JSON object", "body")
    if body.setdefault("external_id", external_id) != external_id:
        return _refusal(400, "invalid_request", "differs from the id in the path", "external_id")
    return _idempotent(session, token, kind, [("body", body)], one=True)


@bp.post("/api/sync/<kind>")
def upsert_batch(kind: str) -> tuple[Response, int]:
    """Create or update up to 1,000 records; each answers on its own (refusals do not stop the
    rest), and all that are written are written in one transaction."""
    allowed = _authorize(kind)
    if isinstance(allowed[0], Response):
        return allowed  # type: ignore[return-value]
    session, token = allowed  # type: ignore[misc]
    body = request.get_json(silent=True)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        return _refusal(400, "invalid_request", "expected {\"records\": [...]}", "records")
    if not 0 < len(records) <= MAX_BATCH:
        return _refusal(400, "invalid_request", f"from 1 to {MAX_BATCH} records", "records")
    return _idempotent(session, token, kind,
                       [(f"records[{index}]", record) for index, record in enumerate(records)])


@bp.get("/api/sync/changes")
def changes() -> tuple[Response, int]:
    """The clinic's events after the cursor (`since`, as the last answer's `next` gave it; none:
    from the first), oldest first, the same envelopes the receiver gets."""
    allowed = _authorize(None)
    if isinstance(allowed[0], Response):
        return allowed  # type: ignore[return-value]
    session, token = allowed  # type: ignore[misc]
    limit = request.args.get("limit", "100")
    if not limit.isascii() or not limit.isdigit() or not 0 < int(limit) <= MAX_BATCH:
        return _refusal(400, "invalid_request", f"from 1 to {MAX_BATCH}", "limit")
    page = feed.changes(session, token.clinic_id, request.args.get("since", ""), int(limit))
    session.commit()  # the token's last use
    return jsonify({"changes": [envelope(event) for event in page.events], "next": page.next,
                    "more": page.more}), 200
