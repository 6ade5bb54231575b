"""Local stand-ins for two text providers, speaking their documented HTTP APIs toward us.

FakeTwilioMessaging: POST /2010-04-01/Accounts/{AC}/Messages.json (Basic auth, form) creates a
message (201 + the message resource), GET .../Messages.json?To=… lists them; each message then
gets Twilio-signed status callbacks (sent, delivered, or undelivered / failed) on its
StatusCallback, possibly out of order as Twilio warns; `reply()` posts a signed inbound message.
Numbers that texted STOP are refused with error 21610, as Twilio does.

FakeSmsc: POST /sys/send.php (login/psw, fmt=3 JSON answers, error_code on refusal, error 9 for
a repeated id), GET /sys/status.php; statuses and replies are posted to the handler URL with the
sha1 checksum field.

Both count what arrives per second and refuse above their rate limit (429 / error 4), so a
bench can check the sender never goes over it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import Request, urlopen

from twilio.request_validator import RequestValidator

TWILIO_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages\.json$")
STOP_WORDS = {"stop", "stopall", "unsubscribe", "end", "quit", "cancel", "revoke", "optout"}


@dataclass
class FakeMessage:
    sid: str
    to: str
    body: str
    sender: str
    callback: str
    created: float
    status: str = "queued"
    reference: str = ""  # SMSC: the client's id
    posts: list[tuple[str, int]] = field(default_factory=list)


class _Server:
    """A threaded HTTP server with a per-second rate limit and a log of what it accepted."""

    def __init__(self, rate_limit: float) -> None:
        self.rate_limit = rate_limit
        self.messages: list[FakeMessage] = []
        self.refused_for_rate = 0
        self.lock = threading.Lock()
        self.per_second: Counter[int] = Counter()
        self.outcome: dict[str, str] = {}  # phone → delivered | undelivered | failed
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Any:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def to(self, number: str) -> list[FakeMessage]:
        with self.lock:
            return [m for m in self.messages if m.to == number]

    def _admit(self) -> bool:
        """One more send this second, unless the limit is reached (then refuse it)."""
        second = int(time.time())
        with self.lock:
            if self.per_second[second] >= self.rate_limit:
                self.refused_for_rate += 1
                return False
            self.per_second[second] += 1
            return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def reply(self, status: int, body: dict[str, Any] | list[Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length", "0"))
                return {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

            def query(self) -> dict[str, str]:
                return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

            def do_POST(self) -> None:
                status, body = fake.post(urlsplit(self.path).path, self.headers, self.form())
                self.reply(status, body)

            def do_GET(self) -> None:
                status, body = fake.get(urlsplit(self.path).path, self.headers, self.query())
                self.reply(status, body)

        return Handler

    def post(self, path: str, headers: Any, form: dict[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def get(self, path: str, headers: Any, query: dict[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def _deliver_later(self, message: FakeMessage, steps: list[tuple[str, dict[str, str]]],
                       url: str, sign: Any) -> None:
        def run() -> None:
            for status, params in steps:
                time.sleep(0.02)
                message.status = status
                if url:
                    _post(url, params, sign(url, params), message)
        threading.Thread(target=run, daemon=True).start()


def _post(url: str, params: dict[str, str], headers: dict[str, str], message: FakeMessage | None,
          encoding: str = "utf-8") -> str:
    request = Request(url, data=urlencode(params, encoding=encoding).encode(), method="POST",
                      headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    with urlopen(request, timeout=15) as response:
        if message is not None:
            message.posts.append((params.get("MessageStatus") or params.get("status", ""),
                                  response.status))
        return response.read().decode()


class FakeTwilioMessaging(_Server):
    def __init__(self, account_sid: str, auth_token: str, rate_limit: float = 1000,
                 shuffle_callbacks: bool = False) -> None:
        super().__init__(rate_limit)
        self.account_sid = account_sid
        self.validator = RequestValidator(auth_token)
        self.auth_token = auth_token
        self.shuffle_callbacks = shuffle_callbacks
        self.inbound_url = ""  # the number's messaging webhook
        self.opted_out: set[str] = set()

    def _authorized(self, headers: Any) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return headers.get("Authorization", "") == f"Basic {expected}"

    def _sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    def post(self, path: str, headers: Any, form: dict[str, str]) -> tuple[int, Any]:
        match = TWILIO_MESSAGES.match(path)
        if not match or match.group(1) != self.account_sid:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not self._authorized(headers):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, {"code": 21604, "message": "A 'To' and 'From' are required", "status": 400}
        if form["To"] in self.opted_out:
            return 400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                         "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}
        if not self._admit():
            return 429, {"code": 20429, "message": "Too Many Requests", "status": 429}
        message = FakeMessage(sid="SM" + uuid.uuid4().hex, to=form["To"], body=form.get("Body", ""),
                              sender=form.get("From", ""), callback=form.get("StatusCallback", ""),
                              created=time.time())
        with self.lock:
            self.messages.append(message)
        final = self.outcome.get(message.to, "delivered")
        steps = [(status, self._params(message, status)) for status in ("sent", final)]
        if self.shuffle_callbacks:
            random.shuffle(steps)
        self._deliver_later(message, steps, message.callback, self._sign)
        return 201, self._resource(message)

    def get(self, path: str, headers: Any, query: dict[str, str]) -> tuple[int, Any]:
        if not TWILIO_MESSAGES.match(path) or not self._authorized(headers):
            return 404, {"code": 20404, "message": "not found", "status": 404}
        with self.lock:
            found = [m for m in self.messages if m.to == query.get("To", m.to)]
        return 200, {"messages": [self._resource(m) for m in found], "next_page_uri": None,
                     "page": 0, "page_size": 50, "uri": path}

    def _resource(self, message: FakeMessage) -> dict[str, Any]:
        stamp = format_datetime(datetime.fromtimestamp(message.created, UTC), usegmt=True)
        return {"sid": message.sid, "account_sid": self.account_sid, "to": message.to,
                "from": message.sender, "body": message.body, "status": "queued",
                "num_segments": "1", "price": None, "price_unit": "USD", "direction": "outbound-api",
                "date_created": stamp, "date_sent": stamp, "date_updated": stamp,
                "api_version": "2010-04-01", "error_code": None, "error_message": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json"}

    def _params(self, message: FakeMessage, status: str) -> dict[str, str]:
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": message.sender,
                  "MessageSid": message.sid, "MessageStatus": status, "SmsSid": message.sid,
                  "SmsStatus": status, "To": message.to}
        if status in ("undelivered", "failed"):
            params["ErrorCode"] = "30003"
        return params

    def reply(self, patient: str, body: str, to: str = "+74950000000") -> str:
        """The patient texts us: Twilio posts the signed inbound webhook (STOP also blocks)."""
        sid = "SM" + uuid.uuid4().hex
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "Body": body,
                  "From": patient, "MessageSid": sid, "NumMedia": "0", "NumSegments": "1",
                  "SmsMessageSid": sid, "SmsSid": sid, "SmsStatus": "received", "To": to}
        if body.strip().lower() in STOP_WORDS:
            self.opted_out.add(patient)
            params["OptOutType"] = "STOP"
        return _post(self.inbound_url, params, self._sign(self.inbound_url, params), None)


class FakeSmsc(_Server):
    def __init__(self, login: str, password: str, secret: str, rate_limit: float = 1000) -> None:
        super().__init__(rate_limit)
        self.login = login
        self.password = password
        self.secret = secret
        self.handler_url = ""  # set in the account: ...?charset=utf-8&sha1=<secret>
        self.ids: set[str] = set()
        self.number = "79001112233"  # the receiving number rented for replies

    def _sha1(self, *parts: str) -> str:
        return hashlib.sha1(":".join([*parts, self.secret]).encode()).hexdigest()

    def post(self, path: str, headers: Any, form: dict[str, str]) -> tuple[int, Any]:
        if path != "/sys/send.php":
            return 404, {"error": "not found", "error_code": 1}
        if (form.get("login"), form.get("psw")) != (self.login, self.password):
            return 200, {"error": "authorise error", "error_code": 2}
        if not form.get("phones") or not form.get("mes"):
            return 200, {"error": "parameters error", "error_code": 1}
        if form.get("id") and form["id"] in self.ids:
            return 200, {"error": "duplicate request", "error_code": 9}
        if not self._admit():
            return 200, {"error": "too many requests", "error_code": 4}
        reference = form.get("id") or str(len(self.messages) + 1)
        message = FakeMessage(sid=reference, to=form["phones"], body=form["mes"],
                              sender=form.get("sender", ""), callback="", created=time.time(),
                              reference=reference)
        with self.lock:
            self.ids.add(reference)
            self.messages.append(message)
        final = {"delivered": "1", "undelivered": "20", "failed": "22"}[
            self.outcome.get(message.to, "delivered")]
        number = message.to.lstrip("+")
        steps = [(status, {"id": reference, "phone": number, "status": status,
                           "sha1": self._sha1(reference, number, status)}) for status in ("0", final)]
        self._deliver_later(message, steps, self.handler_url, lambda url, params: {})
        parts = max(1, -(-len(message.body) // 67)) if any(ord(c) > 127 for c in message.body) else 1
        return 200, {"id": int(reference) if reference.isdigit() else reference, "cnt": parts,
                     "cost": f"{2.7 * parts:.2f}", "balance": "1000.00"}

    def get(self, path: str, headers: Any, query: dict[str, str]) -> tuple[int, Any]:
        if path != "/sys/status.php" or (query.get("login"), query.get("psw")) != (
                self.login, self.password):
            return 200, {"error": "authorise error", "error_code": 2}
        with self.lock:
            found = next((m for m in self.messages if m.reference == query.get("id")), None)
        if found is None:
            return 200, {"status": -3, "last_date": "", "last_timestamp": 0}
        status = {"queued": -1}.get(found.status, found.status)
        return 200, {"status": int(status), "last_timestamp": int(found.created), "err": 0}

    def reply(self, patient: str, body: str) -> str:
        number = patient.lstrip("+")
        params = {"phone": number, "mes": body, "to": self.number,
                  "sha1": self._sha1(number, body, self.number)}
        return _post(self.handler_url, params, {}, None)
