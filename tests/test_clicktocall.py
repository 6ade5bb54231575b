"""Click-to-call through Asterisk AMI (a local AMI speaker stands in for the PBX) and the refusals."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from callcenter.desk import clicktocall
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings


class FakeAmi(socketserver.ThreadingTCPServer):
    """Greets like Asterisk, answers Login (one user) and Originate, records every action."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []
        self.lock = threading.Condition()
        super().__init__(("127.0.0.1", 0), self._handler())

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, str]]:
        """The actions received, once `count` of them have been recorded (the session ends async)."""
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.actions) >= count, timeout), self.actions
            return list(self.actions)

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        ami = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"Asterisk Call Manager/5.0.1\r\n")
                action: dict[str, str] = {}
                for raw in self.rfile:
                    line = raw.decode().rstrip("\r\n")
                    if line:
                        name, _, value = line.partition(": ")
                        action[name] = value
                        continue
                    ok = action.get("Action") != "Login" or action.get("Secret") == "ami-secret"
                    logoff = action.get("Action") == "Logoff"
                    reply = "Goodbye" if logoff else "Success" if ok else "Error"
                    message = ("Thanks for all the fish." if logoff else "queued" if ok
                               else "Authentication failed")
                    # An unrelated event first, as a real manager session may interleave them.
                    self.wfile.write(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
                    self.wfile.write(f"Response: {reply}\r\nActionID: {action.get('ActionID', '')}\r\n"
                                     f"Message: {message}\r\n\r\n".encode())
                    with ami.lock:
                        ami.actions.append(action)
                        ami.lock.notify_all()
                    if logoff or not ok:
                        return
                    action = {}

        return Handler


@pytest.fixture
def ami() -> Iterator[FakeAmi]:
    server = FakeAmi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path, ami: FakeAmi) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path, CLICK_TO_CALL="ami", AMI_HOST="127.0.0.1",
                        AMI_PORT=ami.server_address[1], AMI_USER="desk", AMI_PASSWORD="ami-secret")


def test_ami_originate_rings_the_agent_then_dials_the_patient(app, session: Session, ami: FakeAmi) -> None:
    world = w.build(session)
    assert clicktocall.dial(app.extensions["callcenter"], world.anna, "8 916 111-22-33") is None
    login, originate, logoff = ami.wait_for(3)
    assert (login["Action"], login["Username"]) == ("Login", "desk")
    assert originate["Action"] == "Originate" and originate["Channel"] == "PJSIP/101"
    assert (originate["Context"], originate["Exten"], originate["Priority"]) == ("from-internal", "79161112233", "1")
    assert originate["Async"] == "true" and logoff["Action"] == "Logoff"


def test_refusals_name_the_problem(app, client, session: Session) -> None:
    world = w.build(session)
    runtime = app.extensions["callcenter"]
    with pytest.raises(clicktocall.DialError) as bad_number:
        clicktocall.dial(runtime, world.anna, "12")
    assert bad_number.value.field == "number"
    runtime.config["AMI_PASSWORD"] = "wrong"
    with pytest.raises(clicktocall.DialError) as refused:
        clicktocall.dial(runtime, world.anna, w.MARIA_PHONE)
    assert refused.value.status == 502 and "login" in refused.value.message
    runtime.config["CLICK_TO_CALL"] = "off"
    f.open_session(client, session, world.anna, csrf="t")
    response = client.post("/api/desk/dial", json={"number": w.MARIA_PHONE}, headers={"X-CSRF-Token": "t"})
    assert response.status_code == 503 and response.json["field"] == "click_to_call"
