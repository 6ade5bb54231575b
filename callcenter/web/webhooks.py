"""POST /webhooks/<provider>[/<subpath>]: hop 1 of webhook → pop (store raw, verify, parse, apply)."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError

from webhooks import InboundRequest

from ..ingest import handle_webhook, headers_for_storage
from ..models import utcnow
from ..webhook_rate import SourceRate
from . import runtime

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)
METHODS = ["GET", "POST"]


def signed_url() -> str:
    """The URL the provider signed: behind a proxy, the configured public base plus our path."""
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def inbound_request(provider: str, subpath: str, body: bytes) -> InboundRequest:
    """The Flask request as the adapters see it: the signed URL, headers, body, receipt time."""
    url = signed_url()
    return InboundRequest(
        provider=provider, subpath=subpath, method=request.method, url=url,
        headers=headers_for_storage(request.headers, url), body=body,
        query=request.query_string.decode("latin-1"), remote_addr=request.remote_addr or "",
        received_at=utcnow(),
    )


@bp.route("/webhooks/<provider>", methods=METHODS, defaults={"subpath": ""})
@bp.route("/webhooks/<provider>/<path:subpath>", methods=METHODS)
def receive(provider: str, subpath: str) -> Response | tuple[Response, int]:
    limit = current_app.config["MAX_WEBHOOK_BYTES"]
    if (request.content_length or 0) > limit:
        return _error(413, "payload_too_large", f"body over {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _error(413, "payload_too_large", f"body over {limit} bytes")
    wait = _source_rate().wait(request.remote_addr or "", time.time())
    if wait is not None:
        response = _error(429, "rate_limited", f"too many webhooks from this address; retry in {wait} s")
        response[0].headers["Retry-After"] = str(wait)
        return response
    try:
        result = handle_webhook(runtime(), inbound_request(provider, subpath, body))
    except DBAPIError as exc:
        # Nothing could be stored: ask the PBX to retry rather than pretend we have it.
        log.error("webhook not stored, database unavailable: %s", type(exc.orig).__name__)
        response = _error(503, "database_unavailable", "try again shortly")
        response[0].headers["Retry-After"] = "5"
        return response
    if result.error is not None:
        body_json = {**result.error, "raw_id": result.raw_id}
        return jsonify(body_json), result.status
    reply = result.reply
    assert reply is not None
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


def _source_rate() -> SourceRate:
    extensions = current_app.extensions
    if "webhook_rate" not in extensions:
        config = current_app.config
        extensions["webhook_rate"] = SourceRate(
            config["WEBHOOK_RATE"], lambda: runtime().redis if config["REDIS_URL"] else None)
    return extensions["webhook_rate"]


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status
