"""SMSC.ru: send.php / status.php over HTTP, and the one handler URL for statuses and replies.

The handler URL is set in the SMSC account ("User settings") as
`<public URL>/webhooks/sms/smsc?charset=utf-8&sha1=<CALLCENTER_SMSC_SECRET>`; SMSC then adds a
`sha1` field to each post: sha1("<id>:<phone>:<status>:<secret>") for a delivery status,
sha1("<phone>:<mes>:<to>:<secret>") for an incoming message. The formula follows a public client
library (SMSC's own page does not spell it out); the secret never travels in our checks, only
the digest. Replies need a receiving number rented from SMSC; an alphanumeric sender gets none.

Our message id travels as SMSC's `id`, so a message handed over by a worker that died is found
again by status.php instead of being sent twice.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import requests

from callcenter.core.models import MessageStatus
from callcenter.messaging.providers.base import MessageEvent, Outgoing, SendError, Sent
from webhooks import InboundRequest, PayloadError, SignatureError, WebhookReply
from webhooks.payload_fields import phone, required

NAME = "smsc"
# error_code of send.php: these cannot succeed on a retry (1 parameters, 2 login, 5 date,
# 6 text or sender prohibited, 7 number format, 8 undeliverable); 3 (money) and 4 (IP blocked
# for a while) can. 9 is a duplicate: SMSC already has this message.
PERMANENT_ERRORS = frozenset({"1", "2", "5", "6", "7", "8"})
DUPLICATE = "9"
STATUSES = {
    -2: MessageStatus.CANCELLED, -1: MessageStatus.SENT, 0: MessageStatus.SENT,
    1: MessageStatus.DELIVERED, 2: MessageStatus.DELIVERED, 4: MessageStatus.DELIVERED,
    3: MessageStatus.UNDELIVERED, 20: MessageStatus.UNDELIVERED, 25: MessageStatus.UNDELIVERED,
    22: MessageStatus.FAILED, 23: MessageStatus.FAILED, 24: MessageStatus.FAILED,
}
NOT_FOUND = -3
TIMEOUT = 15


class SmscGateway:
    name = NAME

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.base = config["SMSC_API_BASE"].rstrip("/")

    def _auth(self) -> dict[str, str]:
        if not (self.config["SMSC_LOGIN"] and self.config["SMSC_PASSWORD"]):
            raise SendError("config", "CALLCENTER_SMSC_LOGIN and _PASSWORD are required", permanent=True)
        return {"login": self.config["SMSC_LOGIN"], "psw": self.config["SMSC_PASSWORD"],
                "charset": "utf-8", "fmt": "3"}

    def _call(self, method: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            # A POSTed form keeps the password out of access logs; status.php is documented as GET.
            response = (requests.post(f"{self.base}{path}", data=params, timeout=TIMEOUT)
                        if method == "POST" else
                        requests.get(f"{self.base}{path}", params=params, timeout=TIMEOUT))
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SendError("network", type(exc).__name__, permanent=False) from None
        if not isinstance(answer, dict):
            raise SendError("answer", "not a JSON object", permanent=False)
        return answer

    def send(self, outgoing: Outgoing) -> Sent:
        params = {**self._auth(), "phones": outgoing.to, "mes": outgoing.body,
                  "id": str(outgoing.message_id), "cost": "3"}
        if outgoing.sender:
            params["sender"] = outgoing.sender
        answer = self._call("POST", "/sys/send.php", params)
        if "error_code" in answer:
            code = str(answer["error_code"])
            if code == DUPLICATE:
                found = self.lookup(outgoing, datetime.min)
                if found is not None:
                    return found
            raise SendError(code, str(answer.get("error", ""))[:150],
                            permanent=code in PERMANENT_ERRORS)
        return Sent(str(answer.get("id", outgoing.message_id)), MessageStatus.SENT,
                    _int(answer.get("cnt")), _decimal(answer.get("cost")))

    def lookup(self, outgoing: Outgoing, since: datetime) -> Sent | None:
        answer = self._call("GET", "/sys/status.php", {**self._auth(), "phone": outgoing.to,
                                                      "id": str(outgoing.message_id)})
        status = _int(answer.get("status"))
        if "error_code" in answer or status is None or status == NOT_FOUND:
            return None
        return Sent(str(outgoing.message_id), STATUSES.get(status, MessageStatus.SENT))

    def verify(self, request: InboundRequest) -> None:
        secret = self.config["SMSC_SECRET"]
        if not secret:
            raise SignatureError("CALLCENTER_SMSC_SECRET is not set; unsigned requests are refused")
        form = _form(request)
        given = form.get("sha1", "")
        if not given:
            raise SignatureError("missing sha1 field")
        parts = ([form.get("phone", ""), form.get("mes", ""), form.get("to", "")] if "mes" in form
                 else [form.get("id", ""), form.get("phone", ""), form.get("status", "")])
        expected = hashlib.sha1(":".join([*parts, secret]).encode()).hexdigest()
        if not hmac.compare_digest(expected, given.lower()):
            raise SignatureError("sha1 does not match")

    def parse(self, request: InboundRequest) -> list[MessageEvent]:
        form = _form(request)
        number = required(form, "phone")
        patient = phone(f"+{number}" if number.isdigit() else number, self.config)
        if "mes" in form:
            # No id comes with a reply: the sender, the text and the day stand for it, so a
            # re-posted callback is stored once.
            day = (request.received_at or datetime.min).date().isoformat()
            digest = hashlib.sha1("\n".join([number, form.get("to", ""), form["mes"], day]).encode())
            return [MessageEvent(provider=NAME, kind="incoming",
                                 provider_message_id="in-" + digest.hexdigest()[:32], phone=patient,
                                 to=form.get("to", ""), body=form["mes"], raw=form)]
        status = _int(required(form, "status"))
        if status is None:
            raise PayloadError("status", "not a number")
        message_id = required(form, "id")
        return [MessageEvent(provider=NAME, kind="status", provider_message_id=message_id,
                             status=STATUSES.get(status), error=form.get("err", ""),
                             message_id=int(message_id) if message_id.isdigit() else None,
                             phone=patient, raw=form)]

    def reply(self, request: InboundRequest) -> WebhookReply:
        return WebhookReply(200, "OK")


def _form(request: InboundRequest) -> dict[str, str]:
    """The posted fields in the charset the handler URL asked for (SMSC's default is cp1251)."""
    charset = request.args().get("charset", "windows-1251")
    try:
        return dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True,
                              encoding=charset, errors="strict"))
    except (UnicodeDecodeError, LookupError):
        raise PayloadError("body", f"not a form in {charset}") from None


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
