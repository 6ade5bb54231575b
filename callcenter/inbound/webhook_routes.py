"""POST /webhooks/<provider>[/<subpath>]: hop 1 of webhook → pop (store raw, verify, parse, apply)."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import RequestEntityTooLarge

from callcenter.core.models import utcnow
from callcenter.core.web import runtime
from callcenter.inbound.ingest import handle_webhook, headers_for_storage
from callcenter.inbound.webhook_rate import SourceRate
from webhooks import InboundRequest

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


def limit_webhook() -> tuple[Response, int] | None:
    """Size, then the sender's rate, before anything is stored or parsed (every webhook route,
    signed or not: an unsigned request is stored too, as `rejected`). The body is read here, at
    most the limit, and cached for the view and for form parsing."""
    limit = current_app.config["MAX_WEBHOOK_BYTES"]
    too_large = _error(413, "payload_too_large", f"body over {limit} bytes")
    if (request.content_length or 0) > limit:
        return too_large
    wait = _source_rate().wait(request.remote_addr or "", time.time())
    if wait is not None:
        response = _error(429, "rate_limited", f"too many webhooks from this address; retry in {wait} s")
        response[0].headers["Retry-After"] = str(wait)
        return response
    request.max_content_length = limit  # a chunked body without a length stops reading here
    try:
        request.get_data(cache=True)
    except RequestEntityTooLarge:
        return too_large
    return None


bp.before_request(limit_webhook)


@bp.route("/webhooks/<provider>", methods=METHODS, defaults={"subpath": ""})
@bp.route("/webhooks/<provider>/<path:subpath>", methods=METHODS)
def receive(provider: str, subpath: str) -> Response | tuple[Response, int]:
    body = request.get_data(cache=True)
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
