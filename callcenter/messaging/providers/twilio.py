"""Twilio Programmable Messaging: the REST Messages resource, status callbacks, inbound messages.

Status callbacks go to /webhooks/sms/twilio/status?message=<our id> (the id lets a callback that
beats our own commit of the SID find its row); inbound messages to /webhooks/sms/twilio/inbound,
answered with an empty <Response/> (replies go out through the outbox, never in TwiML). Both are
signed with X-Twilio-Signature over the URL and the form, checked on the bytes we parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import (
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from callcenter.core.models import MessageStatus
from callcenter.messaging.providers.base import MessageEvent, Outgoing, SendError, Sent
from callcenter.outbound.dialers.twilio import client
from webhooks import InboundRequest, PayloadError, SignatureError, WebhookReply
from webhooks.payload_fields import form_fields, optional_text, phone, required

NAME = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
STATUSES = {
    **dict.fromkeys(("accepted", "scheduled", "queued", "sending", "sent"), MessageStatus.SENT),
    "delivered": MessageStatus.DELIVERED, "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED, "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.CANCELLED,
}


class TwilioMessaging:
    name = NAME

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.token = config["TWILIO_AUTH_TOKEN"]
        self._made: Any = None

    def _client(self) -> Any:
        for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
            if not self.config[key]:
                raise SendError("config", f"{key} is required for Twilio texts", permanent=True)
        if self._made is None:  # one client, so its HTTP connection is kept between texts
            self._made = client(self.config)
        return self._made

    def send(self, outgoing: Outgoing) -> Sent:
        service = self.config["TWILIO_MESSAGING_SERVICE_SID"]
        origin = {"messaging_service_sid": service} if service else {"from_": outgoing.sender}
        try:
            message = self._client().messages.create(
                to=outgoing.to, body=outgoing.body, status_callback=outgoing.callback_url or None,
                **origin)
        except TwilioRestException as exc:
            transient = exc.status == 429 or exc.status >= 500
            raise SendError(str(exc.code or exc.status), str(exc.msg)[:150], permanent=not transient,
                            opted_out=exc.code == OPTED_OUT) from None
        except (TwilioException, OSError) as exc:
            raise SendError("network", type(exc).__name__, permanent=False) from None
        return _sent(message)

    def lookup(self, outgoing: Outgoing, since: datetime) -> Sent | None:
        # Twilio keeps no reference of ours: a message to the same number with the same text,
        # created since the claim, is the one the lost worker handed over.
        try:
            found = self._client().messages.list(to=outgoing.to,
                                                 date_sent_after=since - timedelta(minutes=1),
                                                 limit=50)
        except (TwilioException, OSError) as exc:
            raise SendError("network", type(exc).__name__, permanent=False) from None
        for message in found:
            if message.body == outgoing.body:
                return _sent(message)
        return None

    def verify(self, request: InboundRequest) -> None:
        if not self.token:
            raise SignatureError("TWILIO_AUTH_TOKEN is not set; unsigned requests are refused")
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        algorithm = get_signature_algorithm(request.header(SIGNATURE_SETTINGS_HEADER))
        if not RequestValidator(self.token).validate(request.url, form_fields(request), signature,
                                                     algorithm):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match {request.url}")

    def parse(self, request: InboundRequest) -> list[MessageEvent]:
        form = form_fields(request)
        sid = required(form, "MessageSid")
        if request.subpath == "inbound":
            return [MessageEvent(provider=NAME, kind="incoming", provider_message_id=sid,
                                 phone=phone(required(form, "From"), self.config),
                                 to=optional_text(form, "To"), body=form.get("Body", ""),
                                 opt_out=optional_text(form, "OptOutType").upper(), raw=form)]
        if request.subpath != "status":
            raise PayloadError("subpath", "expected status or inbound")
        raw_status = required(form, "MessageStatus")
        if raw_status not in STATUSES:
            return []  # receiving / received / partially_delivered: nothing to record
        message = request.args().get("message", "")
        return [MessageEvent(provider=NAME, kind="status", provider_message_id=sid,
                             status=STATUSES[raw_status], error=optional_text(form, "ErrorCode"),
                             message_id=int(message) if message.isdigit() else None, raw=form)]

    def reply(self, request: InboundRequest) -> WebhookReply:
        if request.subpath == "inbound":
            return WebhookReply(200, str(MessagingResponse()), "text/xml; charset=utf-8")
        return WebhookReply(204)


def _sent(message: Any) -> Sent:
    segments = int(message.num_segments) if str(message.num_segments or "").isdigit() else None
    try:
        cost = abs(Decimal(str(message.price))) if message.price not in (None, "") else None
    except InvalidOperation:
        cost = None
    return Sent(message.sid, STATUSES.get(str(message.status), MessageStatus.SENT), segments, cost)
