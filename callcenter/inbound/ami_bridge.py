"""`callcenter ami-bridge`: read Asterisk's manager port and feed call events into the call log.

Speaks AMI over TCP: banner line, `Action: Login`, then `Key: Value` blocks ending in a blank
line. A dropped or silent connection is re-opened with growing back-off (1 s doubling to 60 s);
a refused login stops the bridge (wrong credentials do not fix themselves). Blocks that become
call events go to `sink(events, raw_block)`; the rest (VarSet noise, responses) are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from webhooks import CallEvent, PayloadError
from webhooks.asterisk import PROVIDER, ami_message_to_events
from webhooks.payload_fields import Clock, system_clock

log = logging.getLogger(__name__)

Sink = Callable[[list[CallEvent], str], Any]
LOGIN_ACTION_ID = "callcenter-login"
MAX_BLOCK_BYTES = 64 * 1024
SINK_ATTEMPTS = 3


class AmiLoginError(Exception):
    """Asterisk refused the login: a settings problem, not a network one."""


class AmiConnection:
    """One TCP session: blocks in, actions out. `idle` seconds of silence send a Ping."""

    def __init__(self, sock: socket.socket, idle: float) -> None:
        self.sock = sock
        self.idle = idle
        self.buffer = bytearray()
        sock.settimeout(idle)

    def send(self, action: Mapping[str, str]) -> None:
        lines = "".join(f"{key}: {value}\r\n" for key, value in action.items())
        self.sock.sendall((lines + "\r\n").encode("utf-8"))

    def read_line(self) -> bytes:
        while b"\n" not in self.buffer:
            self._fill()
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return line.rstrip(b"\r")

    def read_block(self) -> str:
        """The next `Key: Value` block (without its blank line), decoded."""
        while True:
            end, size = _block_end(self.buffer)
            if end >= 0:
                block = bytes(self.buffer[:end])
                del self.buffer[:end + size]
                if block.strip():
                    return block.decode("utf-8", "replace")
                continue
            if len(self.buffer) > MAX_BLOCK_BYTES:
                raise ConnectionError("AMI block too long; not an AMI stream?")
            self._fill()

    def _fill(self) -> None:
        pinged = False
        while True:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                if pinged:
                    raise ConnectionError("AMI did not answer a Ping") from None
                self.send({"Action": "Ping"})
                pinged = True
                continue
            if not chunk:
                raise ConnectionError("AMI closed the connection")
            self.buffer.extend(chunk)
            return


def _block_end(buffer: bytearray) -> tuple[int, int]:
    """Where the first blank line is, and how long its terminator is; (-1, 0) if none yet."""
    found = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := buffer.find(sep)) >= 0]
    return min(found) if found else (-1, 0)


def parse_block(block: str) -> dict[str, str]:
    """`Key: Value` lines → dict; a repeated key keeps its last value."""
    fields: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields[key.strip()] = value.strip()
    return fields


class AmiBridge:
    def __init__(self, settings: Mapping[str, Any], sink: Sink, *, clock: Clock = system_clock,
                 stop: threading.Event | None = None, first_backoff: float = 1.0,
                 max_backoff: float = 60.0, idle: float = 30.0) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.stop = stop or threading.Event()
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.idle = idle
        self._sock: socket.socket | None = None

    def close(self) -> None:
        """Stop now: a read waiting on a quiet AMI link (up to `idle` seconds) ends at once."""
        self.stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the bridge itself
                sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        """Until stopped: connect, log in, read; reconnect with back-off when the link drops."""
        backoff = self.first_backoff
        while not self.stop.is_set():
            try:
                for _ in self.session():
                    backoff = self.first_backoff
            except (OSError, ConnectionError) as exc:
                log.warning("AMI %s:%s: %s; retrying in %.0f s", self.settings["AMI_HOST"],
                            self.settings["AMI_PORT"], exc, backoff)
            if self.stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff)

    def session(self) -> Iterator[list[CallEvent]]:
        """One connection: yields [] once logged in, then the events of each block it delivers."""
        address = (self.settings["AMI_HOST"], int(self.settings["AMI_PORT"]))
        with socket.create_connection(address, timeout=10) as sock:
            self._sock = sock
            connection = AmiConnection(sock, self.idle)
            banner = connection.read_line().decode("utf-8", "replace")
            if not banner.startswith("Asterisk Call Manager"):
                raise ConnectionError(f"not an AMI server (banner {banner[:40]!r})")
            self._login(connection)
            log.info("AMI connected to %s:%s", *address)
            yield []  # logged in: the link is healthy again
            while not self.stop.is_set():
                block = connection.read_block()
                events = self._events(block)
                if events:
                    self._deliver(events, block)
                    yield events

    def _deliver(self, events: list[CallEvent], block: str) -> None:
        """Hand events to the sink; a failing sink (database down) is retried a few times."""
        wait = self.first_backoff
        for attempt in range(1, SINK_ATTEMPTS + 1):
            try:
                self.sink(events, block)
                return
            except Exception:
                log.exception("AMI events not stored (attempt %d of %d)", attempt, SINK_ATTEMPTS)
            if attempt < SINK_ATTEMPTS and self.stop.wait(wait):
                return
            wait = min(wait * 2, self.max_backoff)

    def _login(self, connection: AmiConnection) -> None:
        connection.send({"Action": "Login", "Username": self.settings["AMI_USER"],
                         "Secret": self.settings["AMI_PASSWORD"], "Events": "on",
                         "ActionID": LOGIN_ACTION_ID})
        while True:
            reply = parse_block(connection.read_block())
            if reply.get("ActionID") != LOGIN_ACTION_ID or "Response" not in reply:
                continue  # an event that raced the login answer
            if reply["Response"].lower() != "success":
                raise AmiLoginError(reply.get("Message") or "login refused")
            return

    def _events(self, block: str) -> list[CallEvent]:
        fields = parse_block(block)
        if "Event" not in fields:
            return []  # a response to our Ping
        try:
            return ami_message_to_events(fields, self.settings, self.clock())
        except PayloadError as exc:
            # One odd event must not stop the bridge.
            log.warning("AMI %s event skipped: %s", fields.get("Event"), exc)
            return []


def ingest_sink(runtime: Any) -> Sink:
    """The production sink: store the raw block, then apply the events (callcenter.inbound.ingest)."""
    from callcenter.inbound.ingest import ingest_events

    def sink(events: list[CallEvent], raw: str) -> None:
        ingest_events(runtime, PROVIDER, events, raw, source="ami")

    return sink
