"""pyVoIP 1.6's SIP client, completed where real PBXs (Kamailio, OpenSIPS, FreeSWITCH) need more.

pyVoIP stays the SIP library: its INVITE's SDP offer, its parser for the answer's SDP and its
media (VoIPCall's RTP clients and RFC 2833 keys). What this module replaces in `SIPClient`:

- **Digest on 401 and 407**, REGISTER and INVITE: `Authorization` or `Proxy-Authorization`,
  computed over the Request-URI, qop=auth (or auth-int) with cnonce and nc, opaque and
  algorithm echoed. The retried request has a fresh Via branch and CSeq+1; a second challenge
  is a final failure (bad credentials), never a loop. pyVoIP 1.6 ignores 407 and hangs.
- **One reader**: a single thread reads the socket and hands each response to the transaction
  waiting for it. pyVoIP's reader and the blocking reads inside its invite()/register() shared
  the socket under a lock (the 407 hang; the BlockingIOError race under 401).
- **Deadlines**: each transaction waits at most its limit and ends with a reason (`DialFailure`).
- **Dialog**: the ACK to a failure keeps the INVITE's branch and takes the response's To-tag;
  ACK and BYE of an answered call go to the remote target through the Record-Route set (loose
  routing, `;lr`). Requests from the far end (BYE, OPTIONS) are answered with their own headers.

The message text (parsing what pyVoIP's parser loses, the digest answer) is in `sip_message`.
Moving to pyVoIP 2.x, which handles 407 itself, is described in docs/outbound.md ("SIP dialing").
"""

from __future__ import annotations

import logging
import re
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pyVoIP.VoIP.VoIP import SIP

from callcenter.outbound.dial_reasons import DialFailure, Reason, for_status
from callcenter.outbound.dialers.sip_message import (
    Challenge,
    Packet,
    copy_headers,
    message,
    replace_method,
    uri_address,
)

log = logging.getLogger(__name__)
USER_AGENT = "callcenter (pyVoIP 1.6)"


@dataclass
class Dialog:
    """One outgoing call's signalling state; the dialer waits on `changed` for it to move."""

    call_id: str
    uri: str
    local_tag: str
    cseq: int = 0
    branch: str = ""
    invite: str = ""  # the INVITE last sent (CANCEL and failure ACKs copy its Via)
    challenged: bool = False
    state: str = "calling"  # calling → ringing → answered → ended, or failed
    status: int | None = None
    failure: DialFailure | None = None
    answer: SIP.SIPMessage | None = None  # the 200 OK, for pyVoIP's media set-up
    remote_tag: str = ""
    remote_target: str = ""
    route: list[str] = field(default_factory=list)
    body: str = ""  # our SDP offer
    invites: dict[int, str] = field(default_factory=dict)  # CSeq → the INVITE sent with it
    changed: threading.Condition = field(default_factory=threading.Condition)

    def set(self, state: str, **values: Any) -> None:
        with self.changed:
            self.state = state
            for name, value in values.items():
                setattr(self, name, value)
            self.changed.notify_all()

    def wait(self, done: Callable[[Dialog], bool], until: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: done(self), max(0.0, until - time.monotonic()))


@dataclass(frozen=True)
class Limits:
    register: float = 10.0  # each REGISTER (and its challenged retry) until its final answer
    invite: float = 8.0  # the INVITE until the PBX's first answer (RFC 3261 timer B)
    bye: float = 4.0  # a BYE until its answer; a CANCEL until the 487


class SipClient(SIP.SIPClient):
    """pyVoIP's SIPClient for a dialer process's calls, several at once (see the module's docstring
    for what differs)."""

    def __init__(self, phone: Any, server: str, port: int, username: str, password: str,
                 my_ip: str, my_port: int, limits: Limits) -> None:
        super().__init__(server, port, username, password, phone=phone, myIP=my_ip, myPort=my_port)
        self.limits = limits
        self.default_expires = 300  # longer than any dial: we never refresh it
        self.dialogs: dict[str, Dialog] = {}
        self.registered = False
        self._register_id = f"{secrets.token_hex(12)}@{my_ip}"
        self._finals: dict[tuple[str, int, str], Packet | None] = {}
        self._arrived = threading.Condition()
        self._reader: threading.Thread | None = None

    # ---- lifetime ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind, start the one reader, register (raises DialFailure saying why it could not)."""
        self.NSD = True
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.out = self.s
        self._reader = threading.Thread(target=self._read, name="SIP receive", daemon=True)
        self._reader.start()
        self.register()

    def stop(self) -> None:
        if not self.NSD:
            return
        try:
            if self.registered:
                self.deregister()
        except DialFailure as exc:  # the binding expires on its own
            log.warning("sip: unregistering failed: %s", exc)
        finally:
            self.NSD = False
            if self._reader is not None:
                self._reader.join(timeout=2)
            self._close_sockets()

    def register(self) -> bool:
        self._register(self.default_expires)
        self.registered = True
        return True

    def deregister(self) -> bool:
        self.registered = False
        self._register(0)
        return True

    def _register(self, expires: int) -> None:
        challenge: Challenge | None = None
        while True:
            cseq = self.registerCounter.next()
            uri = f"sip:{self.server}"
            lines = [f"REGISTER {uri} SIP/2.0", self._via(self.gen_branch()), "Max-Forwards: 70",
                     f"From: <sip:{self.username}@{self.server}>;tag={self.tagLibrary['register']}",
                     f"To: <sip:{self.username}@{self.server}>", f"Call-ID: {self._register_id}",
                     f"CSeq: {cseq} REGISTER", f"Contact: <{self._contact()}>", f"Expires: {expires}",
                     f"User-Agent: {USER_AGENT}"]
            if challenge is not None:
                lines.append(challenge.answer("REGISTER", uri, self.username, self.password))
            reply = self._transact(self._register_id, cseq, "REGISTER", message(lines),
                                   self.limits.register, Reason.REGISTRATION_TIMEOUT)
            status = reply.status or 0
            if status < 300:
                return
            if status in (401, 407) and challenge is None:
                challenge = Challenge.of(reply)
                if challenge is not None:
                    continue
            if status in (401, 403, 407):
                raise DialFailure(Reason.AUTH_FAILED, status)
            raise DialFailure(Reason.REGISTRATION_REJECTED, status)

    # ---- the INVITE and its dialog (pyVoIP's VoIPPhone.call and VoIPCall.hangup call these) ---

    def invite(self, number: str, ms: dict[int, dict[int, Any]], sendtype: Any,
               pace: Callable[[], AbstractContextManager[object]] | None = None) -> tuple[SIP.SIPMessage, str, int]:
        """Send the INVITE (`pace` blocks right before it leaves) and return at once; the reader
        moves the dialog, `proceed` waits."""
        call_id = f"{secrets.token_hex(16)}@{self.myIP}"
        session = self.sessID.next()
        sdp = self.gen_invite(number, str(session), ms, sendtype, "", call_id).split("\r\n\r\n", 1)[1]
        dialog = Dialog(call_id, f"sip:{number}@{self.server}", self.gen_tag(), body=sdp)
        self.dialogs[call_id] = dialog
        self._send_invite(dialog, None, pace)
        return SIP.SIPMessage(dialog.invite.encode("utf8")), call_id, session

    def proceed(self, dialog: Dialog) -> None:
        """Wait for the PBX's first answer to the INVITE, retransmitting it (UDP), within the limit."""
        until, interval, sent = time.monotonic() + self.limits.invite, 0.5, dialog.cseq
        while dialog.state == "calling":
            dialog.wait(lambda d, sent=sent: d.state != "calling" or d.cseq != sent,
                        min(time.monotonic() + interval, until))
            if dialog.state != "calling":
                return
            if dialog.cseq != sent:  # the challenge was answered: the new INVITE has its own limit
                until, interval, sent = time.monotonic() + self.limits.invite, 0.5, dialog.cseq
            elif time.monotonic() >= until:
                dialog.set("failed", failure=DialFailure(Reason.INVITE_TIMEOUT))
            else:
                self._send(dialog.invite, self._pbx())
                interval = min(interval * 2, 4.0)

    def cancel(self, dialog: Dialog) -> None:
        """CANCEL a ringing call and wait (within the BYE limit) for the INVITE's final answer."""
        if dialog.state != "proceeding":
            return
        text = message([replace_method(dialog.invite, "CANCEL"), *copy_headers(dialog.invite, "via", "from", "to", "call-id"),
                         f"CSeq: {dialog.cseq} CANCEL", "Max-Forwards: 70"])
        with_limit = time.monotonic() + self.limits.bye
        try:
            self._transact(dialog.call_id, dialog.cseq, "CANCEL", text, self.limits.bye, Reason.NO_ANSWER)
        except DialFailure as exc:
            log.warning("sip: CANCEL unanswered: %s", exc)
        dialog.wait(lambda d: d.state != "proceeding", with_limit)

    def bye(self, request: SIP.SIPMessage) -> None:
        """End an answered call: BYE through the route set, its answer awaited within the limit."""
        dialog = self.dialogs.get(request.headers["Call-ID"])
        if dialog is None or dialog.state != "answered":
            return  # the far end hung up first
        dialog.set("ended")
        cseq = dialog.cseq + 1
        try:
            self._transact(dialog.call_id, cseq, "BYE", self._in_dialog("BYE", dialog, cseq),
                           self.limits.bye, Reason.NETWORK, self._next_hop(dialog))
        except DialFailure as exc:
            log.warning("sip: BYE unanswered within %ss: %s", self.limits.bye, exc)

    def _send_invite(self, dialog: Dialog, challenge: Challenge | None,
                     pace: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        cseq, branch = dialog.cseq + 1, self.gen_branch()
        lines = [f"INVITE {dialog.uri} SIP/2.0", self._via(branch), "Max-Forwards: 70",
                 f"From: <sip:{self.username}@{self.server}>;tag={dialog.local_tag}", f"To: <{dialog.uri}>",
                 f"Call-ID: {dialog.call_id}", f"CSeq: {cseq} INVITE", f"Contact: <{self._contact()}>",
                 "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS", "Content-Type: application/sdp",
                 f"User-Agent: {USER_AGENT}"]
        if challenge is not None:
            lines.append(challenge.answer("INVITE", dialog.uri, self.username, self.password,
                                          dialog.body.encode("utf8")))
        text = message(lines, dialog.body)
        dialog.invites[cseq] = text
        dialog.set(dialog.state, cseq=cseq, branch=branch, invite=text)
        with pace() if pace is not None else nullcontext():
            self._send(text, self._pbx())

    def _invite_response(self, dialog: Dialog, reply: Packet) -> None:
        status, number = reply.status or 0, reply.cseq[0]
        if status >= 300:
            self._send(message([replace_method(dialog.invites.get(number, dialog.invite), "ACK"),
                                 *copy_headers(dialog.invites.get(number, dialog.invite), "via", "from", "call-id"),
                                 f"To: <{dialog.uri}>;tag={reply.to_tag()}", f"CSeq: {number} ACK",
                                 "Max-Forwards: 70"]), self._pbx())
        if 200 <= status < 300 and dialog.remote_tag:  # a retransmitted 200 OK: our ACK was lost
            self._send(self._in_dialog("ACK", dialog, dialog.cseq), self._next_hop(dialog))
            return
        if number != dialog.cseq or dialog.state in ("failed", "ended"):
            if 200 <= status < 300:  # answered after all (crossed our CANCEL): acknowledge, end
                self._accept(dialog, reply)
                self._send(self._in_dialog("BYE", dialog, dialog.cseq + 1), self._next_hop(dialog))
            return
        if status < 200:
            if dialog.state == "calling":
                dialog.set("proceeding")
        elif status >= 300:
            challenge = Challenge.of(reply) if status in (401, 407) and not dialog.challenged else None
            if challenge is not None:
                dialog.challenged = True
                self._send_invite(dialog, challenge)
            else:
                reason = Reason.AUTH_FAILED if status in (401, 407) else for_status(status)
                dialog.set("failed", status=status, failure=DialFailure(reason, status))
        else:
            self._accept(dialog, reply)
            dialog.set("answered", answer=SIP.SIPMessage(reply.raw))

    def _accept(self, dialog: Dialog, reply: Packet) -> None:
        """Take the dialog's far end from a 2xx (To-tag, Contact, reversed Record-Route) and ACK it."""
        contact = reply.get("contact")
        dialog.remote_tag = reply.to_tag()
        dialog.remote_target = (re.search(r"<([^>]+)>", contact) or re.search(r"([^;\s]+)", contact)
                                or re.search(r"(.*)", dialog.uri)).group(1)  # type: ignore[union-attr]
        dialog.route = [uri for value in reply.all("record-route") for uri in re.findall(r"<([^>]+)>", value)][::-1]
        self._send(self._in_dialog("ACK", dialog, dialog.cseq), self._next_hop(dialog))

    def _in_dialog(self, method: str, dialog: Dialog, cseq: int) -> str:
        return message([f"{method} {dialog.remote_target} SIP/2.0", self._via(self.gen_branch()),
                         "Max-Forwards: 70", *(f"Route: <{uri}>" for uri in dialog.route),
                         f"From: <sip:{self.username}@{self.server}>;tag={dialog.local_tag}",
                         f"To: <{dialog.uri}>;tag={dialog.remote_tag}", f"Call-ID: {dialog.call_id}",
                         f"CSeq: {cseq} {method}", f"User-Agent: {USER_AGENT}"])

    def _next_hop(self, dialog: Dialog) -> tuple[str, int]:
        return uri_address(dialog.route[0] if dialog.route else dialog.remote_target)

    # ---- the socket: one reader, transactions waiting for their final answers ----------------

    def _read(self) -> None:
        while self.NSD:
            try:
                if not select.select([self.s], [], [], 0.1)[0]:
                    continue
                raw, source = self.s.recvfrom(65535)
            except (OSError, ValueError):  # closed by stop()
                return
            if not raw.strip(b"\r\n\x00 "):
                continue  # a keep-alive
            try:
                self._handle(Packet.parse(raw), source)
            except Exception:
                log.exception("sip: a message from the PBX could not be handled")

    def _handle(self, packet: Packet, source: tuple[str, int]) -> None:
        call_id = packet.get("call-id")
        if packet.status is None:
            self._answer_request(packet, source)
            return
        number, method = packet.cseq
        if method == "INVITE":
            dialog = self.dialogs.get(call_id)
            if dialog is not None:
                self._invite_response(dialog, packet)
        elif packet.status >= 200:
            with self._arrived:
                if (call_id, number, method) in self._finals:
                    self._finals[(call_id, number, method)] = packet
                    self._arrived.notify_all()

    def _answer_request(self, request: Packet, source: tuple[str, int]) -> None:
        method, dialog = request.method, self.dialogs.get(request.get("call-id"))
        if method == "ACK":
            return
        status = "200 OK"
        if method == "BYE":
            if dialog is None:
                status = "481 Call/Transaction Does Not Exist"
            else:
                dialog.set("ended")
                call = self.phone.calls.get(dialog.call_id) if self.phone is not None else None
                if call is not None:
                    call.bye()  # pyVoIP stops the media
        elif method == "INVITE":
            status = "486 Busy Here"  # this extension only calls out
        elif method not in ("OPTIONS", "CANCEL", "NOTIFY"):
            status = "501 Not Implemented"
        to = request.get("to") + ("" if request.to_tag() else f";tag={self.gen_tag()}")
        self._send(message([f"SIP/2.0 {status}", *(f"Via: {via}" for via in request.all("via")),
                             f"From: {request.get('from')}", f"To: {to}", f"Call-ID: {request.get('call-id')}",
                             f"CSeq: {request.get('cseq')}"]), source)

    def _transact(self, call_id: str, cseq: int, method: str, text: str, limit: float,
                  timeout: Reason, to: tuple[str, int] | None = None) -> Packet:
        """Send a non-INVITE request, retransmitting (RFC 3261 timer E), until its final answer."""
        key, until, interval, resend = (call_id, cseq, method), time.monotonic() + limit, 0.5, 0.0
        with self._arrived:
            self._finals[key] = None
        try:
            while True:
                now = time.monotonic()
                if now >= until:
                    raise DialFailure(timeout, detail=f"no answer to {method} within {limit:g}s")
                if now >= resend:
                    self._send(text, to or self._pbx())
                    resend, interval = now + interval, min(interval * 2, 4.0)
                with self._arrived:
                    self._arrived.wait_for(lambda: self._finals[key] is not None,
                                           max(0.0, min(resend, until) - time.monotonic()))
                    reply = self._finals[key]
                if reply is not None:
                    return reply
        finally:
            with self._arrived:
                self._finals.pop(key, None)

    def _send(self, text: str, address: tuple[str, int]) -> None:
        try:
            self.out.sendto(text.encode("utf8"), address)
        except OSError as exc:
            raise DialFailure(Reason.NETWORK, detail=str(exc)) from exc

    def _pbx(self) -> tuple[str, int]:
        return self.server, self.port

    def _via(self, branch: str) -> str:
        return f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={branch};rport"

    def _contact(self) -> str:
        return f"sip:{self.username}@{self.myIP}:{self.myPort}"

