"""POST /webhooks/sms/<provider>[/<subpath>]: delivery statuses and replies from text providers.

The same edge as the PBX webhooks: size and rate limits first, the raw request stored whatever
happens (refused ones too, for review), the signature checked on the exact bytes parsed, the
raw row and its effects in one transaction, the provider answered only after the commit.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from callcenter.core.inputs import safe
from callcenter.core.models import RawState, RawWebhook, utcnow
from callcenter.core.web import runtime
from callcenter.inbound.webhook_http import inbound_request, limit_webhook
from callcenter.messaging.incoming import apply_event
from callcenter.messaging.providers import provider_for
from webhooks import InboundRequest, PayloadError, SignatureError

bp = Blueprint("sms_webhooks", __name__, url_prefix="/webhooks/sms")
bp.before_request(limit_webhook)
log = logging.getLogger(__name__)


def _store(raw: InboundRequest, state: RawState, error: str = "") -> RawWebhook:
    return RawWebhook(provider=raw.provider[:32], path=safe(raw.subpath)[:300], method=raw.method,
                      query=safe(raw.query), headers={safe(k): safe(v) for k, v in raw.headers.items()},
                      body=raw.body, remote_addr=raw.remote_addr[:64], state=state, error=safe(error),
                      attempts=1, received_at=raw.received_at or utcnow(), processed_at=utcnow())


def _refuse(raw: InboundRequest, state: RawState, status: int, body: dict[str, str]) -> tuple[Response, int]:
    rt = runtime()
    with rt.write_guard(), rt.sessions() as session:
        session.add(_store(raw, state, body["message"]))
        session.commit()
    return jsonify(body), status


@bp.post("/<sms_provider>", defaults={"subpath": ""})
@bp.post("/<sms_provider>/<subpath>")
def receive(sms_provider: str, subpath: str) -> Response | tuple[Response, int]:
    provider = sms_provider
    impl = provider_for(provider, current_app.config)
    if impl is None:
        return jsonify({"error": "unknown_provider", "message": f"no text provider {provider!r}"}), 404
    raw = inbound_request(f"sms-{provider}", subpath)
    try:
        impl.verify(raw)
        events = impl.parse(raw)
    except SignatureError as exc:
        log.warning("text webhook from %s refused: %s", provider, exc)
        return _refuse(raw, RawState.REJECTED, 403, {"error": "bad_signature", "message": str(exc)})
    except PayloadError as exc:
        return _refuse(raw, RawState.INVALID, 400, {"error": "invalid_payload", "field": exc.field,
                                                    "message": str(exc)})
    rt = runtime()
    with rt.write_guard(), rt.sessions() as session:
        row = _store(raw, RawState.PROCESSED)
        session.add(row)
        session.flush()
        try:
            with session.begin_nested():
                touched = [apply_event(session, event, utcnow(), rt.config) for event in events]
        except Exception as exc:
            log.exception("text webhook %s failed to apply", row.id)
            row.state, row.error = RawState.FAILED, safe(f"{type(exc).__name__}")
            session.commit()
            # The provider retries a failed delivery: nothing it told us is lost.
            return jsonify({"error": "failed", "message": "could not apply; retry"}), 500
        row.clinic_id = next((m.clinic_id for m in touched if m is not None), None)
        session.commit()
    reply = impl.reply(raw)
    return Response(reply.body, status=reply.status, content_type=reply.content_type)
