"""SIP dialing through a real registrar: a Kamailio started here challenges REGISTER and INVITE
(401 with qop, 407 with qop, 401 without qop) and relays the call to a sipp far end.

A real rq worker dials; each test waits for the tasks to settle and then reads what the worker
wrote: the outcome, the key, the reason, and — from Kamailio's log — that every ACK to a
challenge carried the challenge's To-tag (Kamailio absorbs only those) and that ACK and BYE
came back through its Record-Route.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.app import create_app
from callcenter.core.models import (
    AppointmentStatus,
    Campaign,
    CampaignState,
    Clinic,
    DialAttempt,
    DialTask,
    TaskState,
)
from callcenter.outbound import dial_queue
from tests import factories as f
from tests.campaign_env import clinic_with_visits, start_worker, stop_worker, wait_until, worker_env
from tests.conftest import app_settings, require
from tests.sipp import dtmf_pcap, scenarios
from tests.sipp.kamailio import MODES, PASSWORD, USER, Kamailio, kamailio_binary
from tests.sipp.phone import SippPhone, sipp_binary
from tests.test_campaign_sip import tasks_final

pytestmark = pytest.mark.sipp


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(kamailio_binary(), "kamailio not installed (apt-get install kamailio)")
    require(sipp_binary(), "sipp not installed (apt-get install sip-tester)")
    require(shutil.which("espeak-ng") and shutil.which("sox"), "espeak-ng / sox not installed")


class Line:
    """Kamailio in front of a sipp far end, and a worker dialing through them."""

    def __init__(self, tmp_path: Path, mode: str, scenario: str) -> None:
        self.far = SippPhone(scenario, tmp_path, "patient").start()
        self.pbx = Kamailio(tmp_path, mode, self.far.port).start()

    def run(self, session: Session, sqlite_url: str, redis_url: str, tmp_path: Path, phones: list[str],
            settled: Any = None, password: str = PASSWORD, **settings: str) -> list[Any]:
        _clinic, visits = clinic_with_visits(session, phones)
        env = worker_env(
            sqlite_url, redis_url, tmp_path, CALLCENTER_DIAL_MODE="sip",
            CALLCENTER_SIP_SERVER="127.0.0.1", CALLCENTER_SIP_PORT=str(self.pbx.port),
            CALLCENTER_SIP_USER=USER, CALLCENTER_SIP_PASSWORD=password,
            CALLCENTER_DIAL_RING_SECONDS="3", CALLCENTER_DIAL_CPS="5", CALLCENTER_DIAL_MAX_ATTEMPTS="1",
            CALLCENTER_DIAL_BACKOFF="busy=1,no_answer=1,machine=1,hung_up=1,failed=1",
            CALLCENTER_SIP_REGISTER_SECONDS="5", CALLCENTER_SIP_INVITE_SECONDS="5",
            CALLCENTER_SIP_BYE_SECONDS="2", **settings)
        worker = start_worker(env, tmp_path / "worker.log", "dial", "default")
        try:
            wait_until(settled or (lambda: tasks_final(session, len(phones))), 120, "SIP tasks settled")
            wait_until(lambda: dial_queue.leased(Redis.from_url(redis_url)) == 0, 60,
                       "the dialer let go of every attempt")
        finally:
            stop_worker(worker)
            self.far.stop()
            self.pbx.stop()
        return visits


def attempts(session: Session) -> list[tuple[str, str, str, int | None]]:
    rows = session.scalars(select(DialAttempt).order_by(DialAttempt.id)).all()
    return [(a.result, a.digits, a.reason, a.sip_status) for a in rows]


@pytest.mark.parametrize("mode", list(MODES))
def test_a_challenged_call_connects_and_the_key_is_written_back(
        mode: str, session: Session, sqlite_url: str, redis_url: str, tmp_path: Path) -> None:
    pcap = dtmf_pcap.write(tmp_path / "key1.pcap", "1")
    line = Line(tmp_path, mode, scenarios.answers_and_presses(pcap))
    visits = line.run(session, sqlite_url, redis_url, tmp_path, ["+79001270001"])
    session.refresh(visits[0])
    assert visits[0].status is AppointmentStatus.CONFIRMED
    assert attempts(session) == [("confirmed", "1", "", None)]
    # One challenge per request, each answered once; each ACK to a challenge was absorbed by
    # Kamailio, which only takes an ACK carrying the challenge's own To-tag.
    assert len(line.pbx.logged("CHALLENGE")) == 3  # REGISTER, INVITE, the unregister
    assert len(line.pbx.logged("FILTERED-ACK")) == 1
    assert line.pbx.logged("STRAY") == []
    # ACK and BYE followed the Record-Route through Kamailio to the far end.
    routed = " ".join(line.pbx.logged("ROUTED"))
    assert "ROUTED ACK" in routed and "ROUTED BYE" in routed
    assert len(line.far.received("INVITE")) == 1 and len(line.far.received("BYE")) == 1


def test_a_wrong_password_stops_the_campaign_with_the_reason(
        session: Session, sqlite_url: str, redis_url: str, tmp_path: Path, client: Any) -> None:
    line = Line(tmp_path, "407-qop", scenarios.busy())

    def stopped() -> bool:
        session.expire_all()
        return session.scalar(select(Campaign.state)) is CampaignState.PAUSED

    line.run(session, sqlite_url, redis_url, tmp_path, ["+79001270002", "+79001270003"],
             settled=stopped, password="wrong")
    campaign = session.scalars(select(Campaign)).one()
    assert (campaign.stop_reason, campaign.stop_status) == ("auth_failed", 401)
    # Nobody was dialed and no task lost an attempt to the refusal.
    assert line.far.received("INVITE") == []
    assert attempts(session) == []
    assert [(t.state, t.attempts) for t in session.scalars(select(DialTask))] == [(TaskState.PENDING, 0)] * 2
    f.signed_in(client, session, role="admin", clinic_row=session.get(Clinic, campaign.clinic_id))
    page = client.get("/admin/campaigns").get_data(as_text=True)
    assert "АТС отклонила учётную запись SIP" in page
    assert client.post(f"/api/campaigns/{campaign.id}/resume").get_json()["campaign"]["stop_reason"] is None


@pytest.mark.parametrize(("name", "result", "reason", "status"), [
    ("busy", "busy", "busy", 486),
    ("no_answer", "no_answer", "no_answer", 487),  # the PBX's answer to our CANCEL
    ("goes_silent", "hung_up", "no_key", None),
])
def test_each_far_end_ends_in_its_outcome_and_frees_the_worker(
        name: str, result: str, reason: str, status: int | None, session: Session, sqlite_url: str,
        redis_url: str, tmp_path: Path) -> None:
    line = Line(tmp_path, "407-qop", getattr(scenarios, name)())
    # Two patients, one worker: the second is dialed only once the first dial let go of it.
    visits = line.run(session, sqlite_url, redis_url, tmp_path, ["+79001280001", "+79001280002"],
                      CALLCENTER_DIAL_TALK_SECONDS="3")
    assert attempts(session) == [(result, "", reason, status)] * 2
    for visit in visits:
        session.refresh(visit)
        assert visit.status is AppointmentStatus.CALL_BACK
    assert len(line.far.received("INVITE")) == 2
    if name == "no_answer":
        assert len(line.far.received("CANCEL")) == 2
    assert line.pbx.logged("STRAY") == []
    assert dial_queue.pending(Redis.from_url(redis_url)) == 0


@pytest.mark.parametrize(("password", "ok"), [(PASSWORD, True), ("wrong", False)])
def test_check_config_and_the_admin_page_test_the_sip_account(
        password: str, ok: bool, sqlite_url: str, redis_url: str, tmp_path: Path) -> None:
    pbx = Kamailio(tmp_path, "407-qop", far_port=9).start()
    account = {"SIP_SERVER": "127.0.0.1", "SIP_PORT": pbx.port, "SIP_USER": USER, "SIP_PASSWORD": password,
               "SIP_REGISTER_SECONDS": 5}
    try:
        env = worker_env(sqlite_url, redis_url, tmp_path, **{f"CALLCENTER_{k}": str(v) for k, v in account.items()})
        run = subprocess.run([sys.executable, "-m", "callcenter.cli", "check-config", "--sip"], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
        app = create_app(app_settings(sqlite_url, redis_url, tmp_path, **account))
        try:
            client = app.test_client()
            with app.extensions["callcenter"].sessions() as session:
                f.set_up(session)
                f.signed_in(client, session, role="admin", locale="zh")
                page = client.post("/admin/pbx/sip/test").get_data(as_text=True)
        finally:
            app.extensions["callcenter"].close()
    finally:
        pbx.stop()
    # Each of the two tests was challenged twice: registering and unregistering, or registering
    # and then refused for good (a second challenge is a final answer, never a loop).
    assert len(pbx.logged("CHALLENGE")) == 4
    if ok:
        assert run.returncode == 0 and "registered and unregistered" in run.stdout
        assert 'data-ok="yes"' in page and "已在电话交换机上注册" in page
    else:
        assert run.returncode == 2
        assert "The PBX refused the SIP account: check its user name and password" in run.stderr
        assert 'data-ok="no"' in page and "电话交换机拒绝了该 SIP 账户" in page
