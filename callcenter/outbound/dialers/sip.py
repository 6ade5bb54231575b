"""SIP: register as an extension on the clinic's IP-PBX (pyVoIP), call, play the prompt, read a key.

pyVoIP 1.6.8 gaps this module fills in:
- final failure responses (486 busy, 480/408 no answer, 487 after our CANCEL, 603 declined) are
  dropped silently and never ACKed: the client below records and ACKs them;
- a call still ringing cannot be cancelled (`hangup()` raises): we send the CANCEL ourselves;
- only PCMU is offered on outbound calls, which avoids 1.6.8's PCMA encoding bug;
- its receive loop starts a second after registering, which delayed every answer by a second.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# pyVoIP.SIP cannot be imported first (circular import inside pyVoIP 1.6.8); take it from here.
from pyVoIP.VoIP.VoIP import SIP, CallState, InvalidStateError, VoIPCall, VoIPPhone

from callcenter.core.models import DialMode
from callcenter.core.phones import mask
from callcenter.outbound import tts
from callcenter.outbound.dialers.base import DialRequest, DialResult
from callcenter.outbound.results import Outcome, outcome_for_key
from webhooks import CallEvent, CallEventKind, Direction

log = logging.getLogger(__name__)
BUSY_CODES = frozenset({486, 600, 603})
NO_ANSWER_CODES = frozenset({408, 480, 487})
GATHER_SECONDS = 8.0
POLL = 0.02


def free_udp_port(host: str) -> int:
    """A port for this worker's SIP socket: several workers share one machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class _ReportingSIPClient(SIP.SIPClient):
    """pyVoIP's SIP client, plus: remember and ACK final failure responses to our INVITEs."""

    final_codes: dict[str, int]

    def start(self) -> None:
        """As pyVoIP's, but the receive loop starts at once (pyVoIP waits a second first)."""
        if self.NSD:
            raise RuntimeError("SIP client already started")
        self.NSD = True
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.out = self.s
        self.register()
        threading.Thread(target=self.recv_loop, name="SIP receive", daemon=True).start()

    def parse_message(self, message: SIP.SIPMessage) -> None:
        if message.type != SIP.SIPMessageType.MESSAGE:
            code = int(message.status)
            cseq = message.headers.get("CSeq", {})
            if code >= 300 and code not in (401, 407) and cseq.get("method") == "INVITE":
                self.final_codes[message.headers["Call-ID"]] = code
                ack = self.gen_ack(message)
                self.out.sendto(ack.encode("utf8"), (self.server, self.port))
                return
        super().parse_message(message)


class _Phone(VoIPPhone):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sip = _ReportingSIPClient(
            self.server, self.port, self.username, self.password, phone=self, myIP=self.myIP,
            myPort=kwargs["sipPort"], callCallback=self.callback, fatalCallback=self.fatal)
        self.sip.final_codes = {}
        self.sip.register_timeout = 5


def _cancel(phone: _Phone, call: VoIPCall) -> None:
    """CANCEL a call that is still ringing (RFC 3261 §9.1: same Via, Call-ID, From, To, CSeq number)."""
    head = call.request.raw.decode("utf8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
    request_line = head[0].replace("INVITE ", "CANCEL ", 1)
    keep = []
    for line in head[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "from", "to", "call-id", "max-forwards"):
            keep.append(line)
        elif name == "cseq":
            keep.append(line.replace("INVITE", "CANCEL"))
    message = "\r\n".join([request_line, *keep, "Content-Length: 0", "", ""])
    phone.sip.out.sendto(message.encode("utf8"), (phone.server, phone.port))


class SipDialer:
    mode = DialMode.SIP

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not config["SIP_SERVER"]:
            raise RuntimeError("CALLCENTER_SIP_SERVER is required for SIP campaigns")
        self.config = config
        self.trunk = f"sip:{config['SIP_SERVER']}:{config['SIP_PORT']}"
        self.audio_dir = Path(config["INSTANCE_DIR"]) / "prompts"

    def dial(self, request: DialRequest, pace: Callable[[], None]) -> DialResult:
        prompt = tts.render(request.text, request.language, self.audio_dir)
        thanks = tts.render(request.thanks_text, request.language, self.audio_dir)
        my_ip = self.config["SIP_MY_IP"]
        sip_port = free_udp_port(my_ip)
        phone = _Phone(server=self.config["SIP_SERVER"], port=self.config["SIP_PORT"],
                       username=self.config["SIP_USER"], password=self.config["SIP_PASSWORD"],
                       myIP=my_ip, sipPort=sip_port, rtpPortLow=sip_port + 1,
                       rtpPortHigh=sip_port + 1)
        phone.start()
        events: list[CallEvent] = []
        try:
            pace()
            call = phone.call(request.phone)
            events.append(self._event(request, call.call_id, CallEventKind.RINGING))
            outcome, digits = self._converse(phone, call, request, prompt, thanks, events)
            events.append(self._event(request, call.call_id, CallEventKind.ENDED))
            log.info("sip attempt %s to %s: %s", request.attempt_id, mask(request.phone), outcome)
            return DialResult(provider_call_id=f"{request.attempt_id}:{call.call_id}", outcome=outcome, digits=digits,
                              events=events)
        finally:
            try:
                phone.stop()
            except Exception as exc:  # the call is over; a failed de-registration only expires
                log.warning("sip: stopping the phone failed: %s", exc)

    def _converse(self, phone: _Phone, call: VoIPCall, request: DialRequest, prompt: bytes,
                  thanks: bytes, events: list[CallEvent]) -> tuple[Outcome, str]:
        ring_until = time.monotonic() + self.config["DIAL_RING_SECONDS"]
        while call.state is not CallState.ANSWERED:
            code = phone.sip.final_codes.get(call.call_id)
            if code is not None:
                return (Outcome.BUSY if code in BUSY_CODES else
                        Outcome.NO_ANSWER if code in NO_ANSWER_CODES else Outcome.FAILED), ""
            if call.state is CallState.ENDED:
                if not call.RTPClients:
                    return Outcome.FAILED, ""
                # Answered and hung up between two looks: pyVoIP handled 200 OK and BYE together.
                events.append(self._event(request, call.call_id, CallEventKind.ANSWERED))
                return Outcome.HUNG_UP, ""
            if time.monotonic() >= ring_until:
                _cancel(phone, call)
                self._wait(lambda: call.call_id in phone.sip.final_codes, 3.0)
                return Outcome.NO_ANSWER, ""
            time.sleep(POLL)
        events.append(self._event(request, call.call_id, CallEventKind.ANSWERED))
        call.write_audio(prompt)
        listen_until = time.monotonic() + len(prompt) / tts.SAMPLE_RATE + GATHER_SECONDS
        while time.monotonic() < listen_until:
            if call.state is CallState.ENDED:
                return Outcome.HUNG_UP, ""
            digit = call.get_dtmf()
            outcome = outcome_for_key(digit, request.purpose) if digit else None
            if outcome is not None:
                # Cut the prompt short and say thanks before hanging up.
                call.write_audio(thanks)
                self._wait(lambda: call.state is CallState.ENDED, len(thanks) / tts.SAMPLE_RATE)
                self._hang_up(call)
                return outcome, digit
            time.sleep(POLL)
        self._hang_up(call)
        return Outcome.HUNG_UP, ""

    @staticmethod
    def _wait(condition: Callable[[], bool], seconds: float) -> None:
        until = time.monotonic() + seconds
        while not condition() and time.monotonic() < until:
            time.sleep(POLL)

    @staticmethod
    def _hang_up(call: VoIPCall) -> None:
        with suppress(InvalidStateError):  # the patient hung up first
            call.hangup()

    def _event(self, request: DialRequest, call_id: str, kind: CallEventKind) -> CallEvent:
        # pyVoIP's Call-IDs repeat across processes and restarts: the attempt keeps ours unique.
        return CallEvent(provider="sip", provider_call_id=f"{request.attempt_id}:{call_id}", kind=kind,
                         occurred_at=datetime.now(UTC), direction=Direction.OUTBOUND,
                         dialed=request.phone,
                         extension=self.config["SIP_USER"] or None,
                         event_id=f"{request.attempt_id}:{kind.value}",
                         extra={"attempt_id": request.attempt_id})
