"""The HTTP edge every webhook route shares (the PBX dialects in front of Flask, Twilio's callbacks
for our own calls and the SMS gateways' through Flask): the URL the provider signed, the request
as adapters see it, and the limits applied before any write."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from callcenter.core.models import utcnow
from callcenter.inbound.ingest import headers_for_storage
from callcenter.inbound.webhook_rate import SourceRate
from webhooks import InboundRequest


def url_signed(given: Request, public_url: str) -> str:
    """The URL the provider signed: behind a proxy, the configured public base plus our path."""
    base = public_url.rstrip("/")
    if not base:
        return given.url
    query = given.query_string.decode("latin-1")
    return f"{base}{given.path}" + (f"?{query}" if query else "")


def as_inbound(given: Request, provider: str, subpath: str, public_url: str) -> InboundRequest:
    """The request as the adapters see it: the signed URL, headers, body, receipt time."""
    url = url_signed(given, public_url)
    return InboundRequest(
        provider=provider, subpath=subpath, method=given.method, url=url,
        headers=headers_for_storage(given.headers, url), body=given.get_data(cache=True),
        query=given.query_string.decode("latin-1"), remote_addr=given.remote_addr or "",
        received_at=utcnow(),
    )


@dataclass
class Refused:
    status: int
    error: str
    message: str
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


def refused_by_limits(given: Request, most_bytes: int, rate: SourceRate) -> Refused | None:
    """Size, then the sender's rate, before anything is stored or parsed (every webhook route,
    signed or not: an unsigned request is stored too, as `rejected`). The body is read here, at
    most the limit, and cached for the view and for form parsing."""
    too_large = Refused(413, "payload_too_large", f"body over {most_bytes} bytes")
    if (given.content_length or 0) > most_bytes:
        return too_large
    wait = rate.wait(given.remote_addr or "", time.time())
    if wait is not None:
        return Refused(429, "rate_limited", f"too many webhooks from this address; retry in {wait} s",
                       wait)
    given.max_content_length = most_bytes  # a chunked body without a length stops reading here
    try:
        given.get_data(cache=True)
    except RequestEntityTooLarge:
        return too_large
    return None


def source_rate(app: Flask) -> SourceRate:
    """The app's one count of webhooks per sender, shared by every webhook route."""
    extensions = app.extensions
    if "webhook_rate" not in extensions:
        config: Mapping[str, Any] = app.config
        extensions["webhook_rate"] = SourceRate(
            config["WEBHOOK_RATE"],
            lambda: extensions["callcenter"].redis if config["REDIS_URL"] else None)
    return extensions["webhook_rate"]


# Flask's side: the routes of Twilio's callbacks and the SMS gateways.

def signed_url() -> str:
    return url_signed(request, current_app.config["PUBLIC_URL"])


def inbound_request(provider: str, subpath: str) -> InboundRequest:
    return as_inbound(request, provider, subpath, current_app.config["PUBLIC_URL"])


def limit_webhook() -> tuple[Response, int] | None:
    """A blueprint's before_request hook: `refused_by_limits` answered as JSON."""
    refused = refused_by_limits(request, current_app.config["MAX_WEBHOOK_BYTES"],
                                source_rate(current_app))
    if refused is None:
        return None
    response = error(refused.status, refused.error, refused.message)
    response[0].headers.update(refused.headers())
    return response


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status
