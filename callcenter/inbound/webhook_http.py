"""The HTTP edge every webhook route shares (the PBX dialects and Twilio's outbound callbacks):
the URL the provider signed, the request as adapters see it, and the limits applied before any
write."""

from __future__ import annotations

import time

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from callcenter.core.models import utcnow
from callcenter.core.web import runtime
from callcenter.inbound.ingest import headers_for_storage
from callcenter.inbound.webhook_rate import SourceRate
from webhooks import InboundRequest


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
    too_large = error(413, "payload_too_large", f"body over {limit} bytes")
    if (request.content_length or 0) > limit:
        return too_large
    wait = _source_rate().wait(request.remote_addr or "", time.time())
    if wait is not None:
        response = error(429, "rate_limited", f"too many webhooks from this address; retry in {wait} s")
        response[0].headers["Retry-After"] = str(wait)
        return response
    request.max_content_length = limit  # a chunked body without a length stops reading here
    try:
        request.get_data(cache=True)
    except RequestEntityTooLarge:
        return too_large
    return None


def _source_rate() -> SourceRate:
    extensions = current_app.extensions
    if "webhook_rate" not in extensions:
        config = current_app.config
        extensions["webhook_rate"] = SourceRate(
            config["WEBHOOK_RATE"], lambda: runtime().redis if config["REDIS_URL"] else None)
    return extensions["webhook_rate"]


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status
