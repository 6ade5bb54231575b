"""SIP: register as an extension on the clinic's IP-PBX (pyVoIP), call, play the prompt, read a key.

The signalling pyVoIP 1.6 gets wrong on real PBXs (407 challenges, failure responses, ACK and
BYE routing, waits without an end) is done by `sip_client.SipClient`; pyVoIP keeps the media.
Every wait has a limit: registration (`SIP_REGISTER_SECONDS`; the unregister when the dialer
stops, at most UNREGISTER_SECONDS), the INVITE until the PBX answers it (`SIP_INVITE_SECONDS`),
ringing (`DIAL_RING_SECONDS`), the answered call (`DIAL_TALK_SECONDS`), the BYE or CANCEL
(`SIP_BYE_SECONDS`). Only PCMU is offered (pyVoIP 1.6.8's PCMA is broken).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# pyVoIP.SIP cannot be imported first (circular import inside pyVoIP 1.6.8); take it from here.
from pyVoIP import RTP
from pyVoIP.VoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone

from callcenter.core.models import DialMode
from callcenter.core.phones import mask
from callcenter.outbound import dial_reasons, tts
from callcenter.outbound.dial_reasons import DialFailure, Reason
from callcenter.outbound.dialers.base import DialRequest, DialResult
from callcenter.outbound.dialers.sip_client import Dialog, Limits, SipClient
from callcenter.outbound.results import Outcome, outcome_for_key
from webhooks import CallEvent, CallEventKind, Direction

log = logging.getLogger(__name__)
GATHER_SECONDS = 8.0
POLL = 0.02
# Registrations last 300 s (SipClient.default_expires); renewed at the next dial after this.
RENEW_AFTER = 120.0
# Stopping should not wait long on a PBX that no longer answers: the binding expires anyway.
UNREGISTER_SECONDS = 3.0


def free_udp_port(host: str) -> int:
    """A port for this worker's SIP socket: several workers share one machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def limits(config: Mapping[str, Any]) -> Limits:
    return Limits(register=config["SIP_REGISTER_SECONDS"], invite=config["SIP_INVITE_SECONDS"],
                  bye=config["SIP_BYE_SECONDS"])


class _Phone(VoIPPhone):
    """One registered extension for every call of this process, several at once."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        my_ip = config["SIP_MY_IP"]
        port = free_udp_port(my_ip)
        super().__init__(server=config["SIP_SERVER"], port=config["SIP_PORT"], username=config["SIP_USER"],
                         password=config["SIP_PASSWORD"], myIP=my_ip, sipPort=port,
                         rtpPortLow=port + 1, rtpPortHigh=port + 1)
        self.sip = SipClient(self, self.server, self.port, self.username, self.password, my_ip, port,
                             limits(config))

    def request_port(self, blocking: bool = True) -> int:
        # Each call's RTP on a port free right now, rather than from a fixed range other
        # dialer processes on the machine would also pick from.
        port = free_udp_port(self.myIP)
        with self.portsLock:
            self.assignedPorts.append(port)
        return port

    def call(self, number: str, pace: Callable[[], AbstractContextManager[object]]) -> VoIPCall:
        """pyVoIP's VoIPPhone.call, with the INVITE built before `pace` and sent right after it.

        Calls of several threads at once: the port is taken under pyVoIP's lock, the rest is per
        call (no lock is held while `pace` sleeps, or every call would wait for that one)."""
        port = self.request_port()
        medias = {port: {0: RTP.PayloadType.PCMU, 101: RTP.PayloadType.EVENT}}
        request, call_id, session_id = self.sip.invite(number, medias, RTP.TransmitType.SENDRECV, pace)
        call = VoIPCall(self, CallState.DIALING, request, session_id, self.myIP, ms=medias,
                        sendmode=self.sendmode)
        self.calls[call_id] = call
        return call

    def forget(self, call: VoIPCall) -> None:
        """Drop an ended call's state, so a phone that lives for days does not keep every call."""
        self.calls.pop(call.call_id, None)
        self.sip.dialogs.pop(call.call_id, None)
        self.release_ports(call=call)
        call.assignedPorts = {}  # released: pyVoIP's __del__ would release them again


class SipDialer:
    """Registers once per process on first use, renews the registration before it lapses, and
    places every call of the process through it (`close` unregisters)."""

    mode = DialMode.SIP

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not config["SIP_SERVER"]:
            raise RuntimeError("CALLCENTER_SIP_SERVER is required for SIP campaigns")
        self.config = config
        self.trunk = f"sip:{config['SIP_SERVER']}:{config['SIP_PORT']}"
        self.audio_dir = Path(config["INSTANCE_DIR"]) / "prompts"
        self._phone: _Phone | None = None
        self._registered_at = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def line(self) -> Iterator[None]:
        """Registered on the PBX; DialFailure says why registration failed."""
        with self._lock:
            if self._phone is None:
                phone = _Phone(self.config)
                phone.start()
                self._phone, self._registered_at = phone, time.monotonic()
            elif time.monotonic() - self._registered_at > RENEW_AFTER:
                try:
                    self._phone.sip.register()
                except DialFailure:
                    self._stop_phone()
                    raise
                self._registered_at = time.monotonic()
        yield

    def close(self) -> None:
        with self._lock:
            self._stop_phone()

    def _stop_phone(self) -> None:
        phone, self._phone = self._phone, None
        if phone is None:
            return
        phone.sip.limits = replace(phone.sip.limits, register=min(phone.sip.limits.register, UNREGISTER_SECONDS))
        try:
            phone.stop()
        except Exception as exc:  # a failed de-registration only expires
            log.warning("sip: stopping the phone failed: %s", exc)

    def check(self) -> DialFailure | None:
        """Test the account: register, then unregister. None when both worked."""
        phone = _Phone(self.config)
        try:
            phone.start()
        except DialFailure as exc:
            return exc
        try:
            phone.stop()
        except Exception as exc:  # registered: a failed de-registration only expires
            log.warning("sip: stopping the phone failed: %s", exc)
        return None

    def dial(self, request: DialRequest, pace: Callable[[], AbstractContextManager[object]]) -> DialResult:
        phone = self._phone
        assert phone is not None, "dial() runs inside line()"
        prompt = tts.render(request.text, request.language, self.audio_dir)
        thanks = tts.render(request.thanks_text, request.language, self.audio_dir)
        call = phone.call(request.phone, pace)
        dialog = phone.sip.dialogs[call.call_id]
        provider_call_id = f"{request.attempt_id}:{call.call_id}"
        events = [self._event(request, call.call_id, CallEventKind.RINGING)]
        try:
            outcome, digits, reason = self._converse(phone.sip, dialog, call, request, prompt, thanks, events)
        except DialFailure as exc:  # the network failed under the call
            outcome, digits, reason = dial_reasons.outcome(exc.reason), "", exc.reason
        finally:
            self._hang_up(call)
            phone.forget(call)
        events.append(self._event(request, call.call_id, CallEventKind.ENDED))
        log.info("sip attempt %s to %s: %s (%s)", request.attempt_id, mask(request.phone), outcome,
                 reason.value if reason else "")
        return DialResult(provider_call_id=provider_call_id, outcome=outcome, digits=digits, events=events,
                          reason=reason.value if reason else "", sip_status=dialog.status)

    def _converse(self, client: SipClient, dialog: Dialog, call: VoIPCall, request: DialRequest,
                  prompt: bytes, thanks: bytes, events: list[CallEvent]) -> tuple[Outcome, str, Reason | None]:
        ring_until = time.monotonic() + self.config["DIAL_RING_SECONDS"]
        client.proceed(dialog)
        dialog.wait(lambda d: d.state not in ("calling", "proceeding"), ring_until)
        if dialog.state == "proceeding":
            client.cancel(dialog)
            if dialog.state != "answered":
                return Outcome.NO_ANSWER, "", Reason.NO_ANSWER
        if dialog.state == "failed":
            failure = dialog.failure or DialFailure(Reason.REJECTED, dialog.status)
            return dial_reasons.outcome(failure.reason), "", failure.reason
        assert dialog.answer is not None
        call.answered(dialog.answer)  # pyVoIP starts the media
        events.append(self._event(request, call.call_id, CallEventKind.ANSWERED))
        talk_until = time.monotonic() + self.config["DIAL_TALK_SECONDS"]
        call.write_audio(prompt)
        listen_until = min(time.monotonic() + len(prompt) / tts.SAMPLE_RATE + GATHER_SECONDS, talk_until)
        while time.monotonic() < listen_until:
            if dialog.state == "ended":
                return Outcome.HUNG_UP, "", Reason.HUNG_UP
            digit = call.get_dtmf()
            outcome = outcome_for_key(digit, request.purpose) if digit else None
            if outcome is not None:
                # Cut the prompt short and say thanks before hanging up.
                call.write_audio(thanks)
                dialog.wait(lambda d: d.state == "ended",
                            min(time.monotonic() + len(thanks) / tts.SAMPLE_RATE, talk_until))
                return outcome, digit, None
            time.sleep(POLL)
        return Outcome.HUNG_UP, "", Reason.NO_KEY

    @staticmethod
    def _hang_up(call: VoIPCall) -> None:
        with suppress(InvalidStateError):  # never answered, or the patient hung up first
            call.hangup()

    def _event(self, request: DialRequest, call_id: str, kind: CallEventKind) -> CallEvent:
        # The attempt keeps the call id unique across workers and restarts.
        return CallEvent(provider="sip", provider_call_id=f"{request.attempt_id}:{call_id}", kind=kind,
                         occurred_at=datetime.now(UTC), direction=Direction.OUTBOUND,
                         dialed=request.phone,
                         extension=self.config["SIP_USER"] or None,
                         event_id=f"{request.attempt_id}:{kind.value}",
                         extra={"attempt_id": request.attempt_id})
