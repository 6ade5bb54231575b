"""POST /webhooks/<provider>[/<subpath>]: hop 1 of webhook → pop (store raw, verify, parse, apply)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import DBAPIError

from callcenter.core.web import runtime
from callcenter.inbound.ingest import handle_webhook
from callcenter.inbound.webhook_http import error as _error
from callcenter.inbound.webhook_http import inbound_request, limit_webhook

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)
METHODS = ["GET", "POST"]


bp.before_request(limit_webhook)


@bp.route("/webhooks/<provider>", methods=METHODS, defaults={"subpath": ""})
@bp.route("/webhooks/<provider>/<path:subpath>", methods=METHODS)
def receive(provider: str, subpath: str) -> Response | tuple[Response, int]:
    return _receive(provider, subpath, None)


# A clinic's own account with the provider (inbound/pbx_accounts.py): the token picks its secret.
@bp.route("/webhooks/<provider>/c/<token>", methods=METHODS, defaults={"subpath": ""})
@bp.route("/webhooks/<provider>/c/<token>/<path:subpath>", methods=METHODS)
def receive_for_account(provider: str, token: str, subpath: str) -> Response | tuple[Response, int]:
    return _receive(provider, subpath, token)


def _receive(provider: str, subpath: str, token: str | None) -> Response | tuple[Response, int]:
    body = request.get_data(cache=True)
    try:
        result = handle_webhook(runtime(), inbound_request(provider, subpath, body), token=token)
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
