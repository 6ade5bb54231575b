"""Hot paths answered as plain WSGI, in front of Flask.

Flask's request cycle — the request and app contexts, the cookie session, every app-wide hook,
the response object — costs more CPU than some paths' own work: the site snippet's number
requests (webtracking.number_endpoint) and the PBX webhooks (inbound.webhook_front), which a
clinic network's traffic is made of. Neither uses any of it: no staff session, no page, no form.
What the app-wide hooks give every answer is given here too: the security headers, no-store, the
request id (sent back, and on every log record made while answering), and JSON errors, a 500
included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from callcenter.core.logging_setup import request_id_from, request_id_scope
from callcenter.core.security_headers import HEADERS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """An answer: `body` is sent as JSON; `content` (with `content_type`) as it is."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | str | None = None
    content_type: str = ""


def refusal(status: int, error: str, field_name: str, message: str) -> Reply:
    """A 4xx naming the field at fault ("" when it is the request as a whole)."""
    return Reply(status, {"error": error, "field": field_name, "message": message})


def serve(environ: WSGIEnvironment, start_response: StartResponse, answer: Callable[[], Reply],
          what: str) -> Iterable[bytes]:
    """Runs `answer` under the request's id and sends its reply; `what` names the path in the log
    of an unexpected error (without the secrets a path may hold)."""
    request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
    with request_id_scope(request_id):
        try:
            reply = answer()
        except Exception:
            log.exception("unhandled error on %s %s", environ.get("REQUEST_METHOD"), what)
            reply = Reply(500, {"error": "internal_error", "message": "unexpected server error"})
    if reply.body is not None:
        content = json.dumps(reply.body, ensure_ascii=False).encode()
        content_type = "application/json"
    else:
        given_content = reply.content or b""
        content = given_content.encode() if isinstance(given_content, str) else given_content
        content_type = reply.content_type
    headers = {**HEADERS, "Cache-Control": "no-store", "X-Request-Id": request_id, **reply.headers,
               "Content-Length": str(len(content))}
    if content_type:
        headers["Content-Type"] = content_type
    start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", list(headers.items()))
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [content]
