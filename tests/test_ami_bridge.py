"""The AMI bridge against a real TCP server replaying recorded AMI sessions."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.cli import cli
from callcenter.core.models import Call, CallStatus
from callcenter.inbound.ami_bridge import AmiBridge, AmiLoginError, ingest_sink, parse_block
from tests.conftest import app_settings
from webhooks import CallEvent, CallEventKind

PAYLOADS = Path(__file__).parent / "payloads" / "asterisk"
NOW = datetime(2024, 5, 1, 7, 0, 0, tzinfo=UTC)


class AmiReplayServer:
    """Speaks the server side of AMI: banner, checks the Login, then replays one session per
    connection and hangs up (so the next session needs a reconnect)."""

    def __init__(self, sessions: list[str], password: str = "amipass",
                 pause_before_events: float = 0.0) -> None:
        self.sessions = [(PAYLOADS / name).read_bytes() for name in sessions]
        self.password = password
        self.pause = pause_before_events
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.actions: list[dict[str, str]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for recorded in self.sessions:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._session(conn, recorded)

    def _session(self, conn: socket.socket, recorded: bytes) -> None:
        banner, _, rest = recorded.partition(b"\r\n")
        login_reply, _, events = rest.partition(b"\r\n\r\n")
        conn.sendall(banner + b"\r\n")
        reader = conn.makefile("rb")
        login = self._read_action(reader)
        if login.get("Secret") != self.password:
            conn.sendall(b"Response: Error\r\nActionID: " + login.get("ActionID", "").encode()
                         + b"\r\nMessage: Authentication failed\r\n\r\n")
            return
        conn.sendall(login_reply + b"\r\n\r\n")
        if self.pause:
            conn.settimeout(self.pause * 4)
            ping = self._read_action(reader)
            conn.sendall(b"Response: Success\r\nPing: Pong\r\nTimestamp: 1714546800.000000\r\n"
                         + b"ActionID: " + ping.get("ActionID", "").encode() + b"\r\n\r\n")
        # Deliver in uneven chunks: blocks must be reassembled across TCP reads.
        for start in range(0, len(events), 700):
            conn.sendall(events[start:start + 700])

    def _read_action(self, reader: Any) -> dict[str, str]:
        lines = []
        while (line := reader.readline()) not in (b"\r\n", b""):
            lines.append(line.decode())
        action = parse_block("".join(lines))
        self.actions.append(action)
        return action

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def ami_settings() -> dict[str, Any]:
    return {"AMI_HOST": "127.0.0.1", "AMI_USER": "callcenter", "AMI_PASSWORD": "amipass",
            "REGION": "RU", "TIMEZONE": "Europe/Moscow"}


def run_until(bridge: AmiBridge, done: threading.Event) -> None:
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    assert done.wait(60), "the bridge did not deliver the expected events"
    bridge.close()  # wakes a read waiting on the quiet link: the thread ends without waiting
    thread.join(timeout=60)
    assert not thread.is_alive()


class Collector:
    """The injected sink: keeps what the bridge delivers; done after `expected` events."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.events: list[CallEvent] = []
        self.raw: list[str] = []
        self.done = threading.Event()

    def __call__(self, events: list[CallEvent], raw: str) -> None:
        self.events.extend(events)
        self.raw.append(raw)
        if len(self.events) >= self.expected:
            self.done.set()


@pytest.fixture
def servers() -> Iterator[list[AmiReplayServer]]:
    started: list[AmiReplayServer] = []
    yield started
    for server in started:
        server.close()


def test_bridge_logs_in_and_turns_a_recorded_session_into_events(
        ami_settings: dict[str, Any], servers: list[AmiReplayServer]) -> None:
    server = AmiReplayServer(["answered_call.ami.txt"])
    servers.append(server)
    sink = Collector(expected=8)
    bridge = AmiBridge({**ami_settings, "AMI_PORT": server.port}, sink, clock=lambda: NOW,
                       first_backoff=0.05)
    run_until(bridge, sink.done)
    assert [(e.kind, e.extension) for e in sink.events] == [
        (CallEventKind.RINGING, None),
        (CallEventKind.RECORDING, None),
        (CallEventKind.RINGING, "101"),
        (CallEventKind.ANSWERED, "101"),
        (CallEventKind.ANSWERED, "101"),
        (CallEventKind.ENDED, "101"),
        (CallEventKind.ANSWERED, "101"),
        (CallEventKind.ENDED, "101"),
    ]
    assert {e.provider_call_id for e in sink.events} == {"1714546800.1"}
    login = server.actions[0]
    assert (login["Action"], login["Username"], login["Secret"]) == ("Login", "callcenter", "amipass")
    # the raw AMI text of each block travels with its events
    assert sink.raw[3].startswith("Event: DialEnd") and "DialStatus: ANSWER" in sink.raw[3]
    assert len(sink.raw) == 7  # VarSet FROM_DID, Newstate and the rest produced nothing


def test_bridge_reconnects_after_the_link_drops(ami_settings: dict[str, Any],
                                                servers: list[AmiReplayServer]) -> None:
    server = AmiReplayServer(["answered_call.ami.txt", "missed_call.ami.txt"])
    servers.append(server)
    sink = Collector(expected=8 + 6)
    bridge = AmiBridge({**ami_settings, "AMI_PORT": server.port}, sink, clock=lambda: NOW,
                       first_backoff=0.05)
    run_until(bridge, sink.done)
    assert [a["Action"] for a in server.actions] == ["Login", "Login"]
    assert [e.provider_call_id for e in sink.events[8:]] == ["1714554900.7"] * 6
    assert sink.events[-3].kind is CallEventKind.MISSED


def test_silent_link_is_pinged(ami_settings: dict[str, Any], servers: list[AmiReplayServer]) -> None:
    server = AmiReplayServer(["missed_call.ami.txt"], pause_before_events=0.2)
    servers.append(server)
    sink = Collector(expected=6)
    bridge = AmiBridge({**ami_settings, "AMI_PORT": server.port}, sink, clock=lambda: NOW,
                       idle=0.2, first_backoff=0.05)
    run_until(bridge, sink.done)
    assert [a["Action"] for a in server.actions] == ["Login", "Ping"]


def test_refused_login_stops_the_bridge(ami_settings: dict[str, Any],
                                        servers: list[AmiReplayServer]) -> None:
    server = AmiReplayServer(["answered_call.ami.txt"], password="other")
    servers.append(server)
    bridge = AmiBridge({**ami_settings, "AMI_PORT": server.port}, Collector(1), first_backoff=0.05)
    with pytest.raises(AmiLoginError, match="Authentication failed"):
        bridge.run()


def test_cli_reports_a_refused_login_in_one_line(servers: list[AmiReplayServer],
                                                tmp_path: Path) -> None:
    server = AmiReplayServer(["answered_call.ami.txt"], password="other")
    servers.append(server)
    env = {"CALLCENTER_AMI_HOST": "127.0.0.1", "CALLCENTER_AMI_PORT": str(server.port),
           "CALLCENTER_AMI_USER": "callcenter", "CALLCENTER_AMI_PASSWORD": "amipass",
           "CALLCENTER_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = CliRunner().invoke(cli, ["ami-bridge"], env=env)
    assert result.exit_code == 2
    assert "AMI login refused: Authentication failed" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_needs_an_ami_user(tmp_path: Path) -> None:
    env = {"CALLCENTER_AMI_USER": "", "CALLCENTER_INSTANCE_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["ami-bridge"], env=env)
    assert result.exit_code == 2
    assert "CALLCENTER_AMI_USER" in result.output


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, AMI_HOST="127.0.0.1",
                        AMI_USER="callcenter", AMI_PASSWORD="amipass")


def test_bridge_into_the_call_log(app: Any, settings: dict[str, Any],
                                  servers: list[AmiReplayServer]) -> None:
    """AMI → bridge → ingest → Call rows, through the real pipeline and database."""
    server = AmiReplayServer(["answered_call.ami.txt", "missed_call.ami.txt"])
    servers.append(server)
    runtime = app.extensions["callcenter"]
    store = ingest_sink(runtime)
    delivered = Collector(expected=14)

    def sink(events: list[CallEvent], raw: str) -> None:
        store(events, raw)
        delivered(events, raw)

    bridge = AmiBridge({**runtime.config, "AMI_PORT": server.port}, sink, first_backoff=0.05)
    run_until(bridge, delivered.done)
    with runtime.sessions() as session:
        calls = {c.provider_call_id: c for c in session.scalars(select(Call))}
    answered, missed = calls["1714546800.1"], calls["1714554900.7"]
    assert (answered.status, answered.extension, answered.duration) == (
        CallStatus.COMPLETED, "101", 60)
    assert answered.recording_url and answered.recording_url.endswith("1714546800.1.wav")
    assert answered.caller == "+79001234567" and answered.dialed == "+74951234567"
    assert missed.status is CallStatus.MISSED
