"""A local stand-in for Twilio's Calls REST resource that then behaves like Twilio toward our webhooks.

A real threaded HTTP server: POST /2010-04-01/Accounts/{AC}/Calls.json creates a call (Basic
auth checked) and GET .../Calls/{sid}.json reads it back; GET .../Recordings/{RE…} serves a
recording's WAV (Basic auth, byte ranges). Each created call is then played out on
its own thread the way Twilio would, with Twilio-signed form POSTs: status callbacks (initiated,
ringing, in-progress, final), the answer URL (with AnsweredBy from machine detection), and the
<Gather action> with the digits the scripted patient presses.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode
from urllib.request import Request, urlopen

from twilio.request_validator import RequestValidator

CREATE = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Calls\.json$")
FETCH = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Calls/(CA\w+)\.json$")
# A recording's media: without an extension Twilio answers with the WAV.
RECORDING = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Recordings/(RE\w+)(?:\.wav)?$")
BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Patient:
    """How the scripted phone behaves: human / machine / busy / no-answer, and the key pressed."""

    answer: str = "human"
    digits: str = ""
    ring_seconds: float = 0.05
    # Set: the patient stays on the line until the test sets it, so what the test looks at while
    # the call is live cannot be overtaken by the call's end.
    hang_up: threading.Event | None = None


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    url: str
    status_callback: str
    machine_detection: str
    created_at: float
    twiml: str = ""  # inline TwiML (the Twiml parameter) instead of an answer URL
    status: str = "queued"
    posts: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # the TwiML our webhooks answered, in order


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.patients: dict[str, Patient] = {}
        self.calls: list[FakeCall] = []
        self.recordings: dict[str, bytes] = {}  # RecordingSid -> WAV bytes
        self.media_requests: list[str | None] = []  # the Range header of each authorized fetch
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeTwilio:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def recording_url(self, sid: str) -> str:
        """The RecordingUrl Twilio's callbacks carry for this recording."""
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    def calls_to(self, number: str) -> list[FakeCall]:
        with self.lock:
            return [c for c in self.calls if c.to == number]

    # ---- the REST side --------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _authorized(self) -> bool:
                expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                return self.headers.get("Authorization", "") == f"Basic {expected}"

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                match = CREATE.match(self.path)
                if not match or match.group(1) != fake.account_sid:
                    return self._json(404, {"code": 20404, "message": "not found", "status": 404})
                if not self._authorized():
                    return self._json(401, {"code": 20003, "message": "authenticate", "status": 401})
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                missing = [k for k in ("To", "From") if not form.get(k)]
                if not (form.get("Url") or form.get("Twiml")):
                    missing.append("Url or Twiml")
                if missing:
                    return self._json(400, {"code": 21205, "message": f"missing {missing}", "status": 400})
                call = fake._create(form)
                self._json(201, fake._resource(call))

            def _media(self, sid: str) -> None:
                """The recording's bytes, a byte range of them (206) when asked, 416 past the end."""
                data = fake.recordings.get(sid)
                if data is None:
                    return self._json(404, {"code": 20404, "message": "not found", "status": 404})
                asked = self.headers.get("Range")
                with fake.lock:
                    fake.media_requests.append(asked)
                wanted = BYTE_RANGE.match(asked or "")
                start, end, status = 0, len(data) - 1, 200
                if wanted and (wanted.group(1) or wanted.group(2)):
                    if wanted.group(1):
                        start = int(wanted.group(1))
                        end = min(int(wanted.group(2)), end) if wanted.group(2) else end
                    else:  # the last N bytes
                        start = max(len(data) - int(wanted.group(2)), 0)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return None
                    status = 206
                body = data[start:end + 1]
                self.send_response(status)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                self.wfile.write(body)
                return None

            def do_GET(self) -> None:
                media = RECORDING.match(self.path)
                if media and media.group(1) == fake.account_sid:
                    if not self._authorized():
                        return self._json(401, {"code": 20003, "message": "authenticate", "status": 401})
                    return self._media(media.group(2))
                match = FETCH.match(self.path)
                if not match or not self._authorized():
                    return self._json(404, {"code": 20404, "message": "not found", "status": 404})
                with fake.lock:
                    call = next((c for c in fake.calls if c.sid == match.group(2)), None)
                if call is None:
                    return self._json(404, {"code": 20404, "message": "not found", "status": 404})
                self._json(200, fake._resource(call))

        return Handler

    def _create(self, form: dict[str, str]) -> FakeCall:
        call = FakeCall(sid="CA" + uuid.uuid4().hex, to=form["To"], from_=form["From"],
                        url=form.get("Url", ""), twiml=form.get("Twiml", ""),
                        status_callback=form.get("StatusCallback", ""),
                        machine_detection=form.get("MachineDetection", ""), created_at=time.time())
        with self.lock:
            self.calls.append(call)
        threading.Thread(target=self._play, args=(call,), daemon=True).start()
        return call

    def _resource(self, call: FakeCall) -> dict[str, Any]:
        return {"sid": call.sid, "account_sid": self.account_sid, "to": call.to, "from": call.from_,
                "status": call.status, "direction": "outbound-api", "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json"}

    # ---- the call, played out toward our webhooks -----------------------------------------------

    def _params(self, call: FakeCall, status: str, **extra: str) -> dict[str, str]:
        return {"AccountSid": self.account_sid, "CallSid": call.sid, "From": call.from_, "To": call.to,
                "Direction": "outbound-api", "ApiVersion": "2010-04-01", "CallStatus": status, **extra}

    def _post(self, call: FakeCall, url: str, params: dict[str, str]) -> str:
        signature = self.validator.compute_signature(url, params)
        request = Request(url, data=urlencode(params).encode(), method="POST",
                          headers={"X-Twilio-Signature": signature,
                                   "Content-Type": "application/x-www-form-urlencoded"})
        with urlopen(request, timeout=15) as response:
            body = response.read().decode()
            call.posts.append((url, params, response.status))
            call.replies.append(body)
        return body

    def _status(self, call: FakeCall, status: str, **extra: str) -> None:
        call.status = status
        if call.status_callback:
            stamp = format_datetime(datetime.now(UTC), usegmt=True)
            self._post(call, call.status_callback,
                       self._params(call, status, Timestamp=stamp, CallbackSource="call-progress-events",
                                    SequenceNumber=str(len(call.posts)), **extra))

    def _play(self, call: FakeCall) -> None:
        patient = self.patients.get(call.to, Patient())
        self._status(call, "initiated")
        time.sleep(patient.ring_seconds)
        self._status(call, "ringing")
        if patient.answer in ("busy", "no-answer", "failed"):
            self._status(call, patient.answer, CallDuration="0")
            return
        self._status(call, "in-progress")
        answered_by = "machine_start" if patient.answer == "machine" else "human"
        twiml = (self._post(call, call.url, self._params(call, "in-progress", AnsweredBy=answered_by))
                 if call.url else call.twiml)
        pressed = patient.digits
        for _ in range(5):  # follow <Gather> the way Twilio does, a few rounds at most
            gather = ET.fromstring(twiml).find("Gather")
            if gather is None or not pressed:
                break
            twiml = self._post(call, gather.attrib["action"],
                               self._params(call, "in-progress", Digits=pressed[0], FinishedOnKey=""))
            pressed = pressed[1:]
        if patient.hang_up is not None:
            patient.hang_up.wait(120)
        self._status(call, "completed", CallDuration="7")
