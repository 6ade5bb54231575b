"""The desk's browser phone end to end with real components: Chromium (fake microphone playing a
spoken WAV) running the desk's JsSIP phone ⇄ Kamailio over ws:// ⇄ rtpengine (DTLS-SRTP ⇄ RTP)
⇄ sipp echoing the audio back, or a second browser.

Audio is measured, not assumed: in the page, getStats (packets and bytes received, the loudest
audio level heard: the echo of our own speech, so it crossed both ways); on the wire, rtpengine's
packet counts per leg (the sipp leg only sends what sipp received).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.access import softphone_accounts
from callcenter.core.i18n import t
from callcenter.core.models import Call, CallDirection, CallEventRecord, CallStatus, Staff
from tests import desk_world as w
from tests import softphone_rig as rig
from tests.conftest import require
from tests.services import free_port
from tests.sipp import webrtc
from tests.test_desk_browser import (
    ARGS,
    CHROMIUM,
    Live,
    desk,
    twilio,  # noqa: F401 (fixture)
)
from tests.test_desk_browser import live as live

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[webrtc.WebRtcGateway, webrtc.Rtpengine, int]]:
    require(webrtc.available() is None, webrtc.available() or "")
    require(shutil.which("sipp"), "no sipp (apt-get install sip-tester)")
    require((rig.VENDOR / "jssip.js").is_file(), "no bundled JsSIP: run ./run vendor (needs nodejs npm)")
    far_port = free_port()
    rtp = webrtc.Rtpengine(tmp_path).start()
    kamailio = webrtc.WebRtcGateway(tmp_path, far_port, rtp).start()
    yield kamailio, rtp, far_port
    kamailio.stop()
    rtp.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    require(shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "no Chromium (apt-get install chromium)")
    require(shutil.which("espeak-ng") and shutil.which("sox"), "no espeak-ng/sox (apt-get install espeak-ng sox)")
    from playwright.sync_api import sync_playwright

    wav = rig.speech_wav(tmp_path)
    media = ["--allow-loopback-in-peer-connection", "--use-fake-ui-for-media-stream",
             "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
             "--autoplay-policy=no-user-gesture-required"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS + media)  # ARGS: hermetic, --host-resolver-rules
        yield chromium
        chromium.close()


def _phones(live: Live, ws_url: str) -> None:
    with live.sessions() as session:
        for login, ext in (("anna", "101"), ("john", "102")):
            staff = session.scalars(select(Staff).where(Staff.login == login)).one()
            softphone_accounts.store("test-secret", staff, softphone_accounts.Softphone(
                "sip", wss_url=ws_url, sip_user=ext, sip_domain="127.0.0.1", password="sip-" + ext))
        session.commit()


def _ready(page: Any) -> None:
    expect(page.locator("#phone")).to_have_attribute("data-state", "registered")


def _stat(page: Any, name: str, above: float) -> float:
    """Wait until the page's call statistics show `name` above `above`; returns the value."""
    deadline = time.monotonic() + 90
    value = 0.0
    while time.monotonic() < deadline:
        value = float(page.locator("#phone-stats").get_attribute(name) or 0)
        if value > above:
            return value
        page.wait_for_timeout(250)
    raise AssertionError(f"{name} stayed at {value}")


def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(what)


def _status(live: Live, provider_call_id: str | None = None) -> CallStatus | None:
    with live.sessions() as session:
        query = select(Call.status).order_by(Call.id.desc()).limit(1)
        if provider_call_id:
            query = query.where(Call.provider_call_id == provider_call_id)
        return session.scalar(query)


def test_answer_from_the_pop_audio_both_ways_keypad_hold_and_hang_up(live: Live, gateway: Any, browser: Any,
                                                                      tmp_path: Path) -> None:
    kamailio, rtp, _ = gateway
    _phones(live, kamailio.ws_url)
    anna = desk(browser, live, "anna")
    _ready(anna)
    call_id = f"sp-{uuid.uuid4().hex[:12]}"
    live.post(call_id, "ringing", extension="101")  # the PBX announces the call: the pop
    anna.locator("article.pop").wait_for()
    phone = rig.Sipp(tmp_path, "caller", rig.caller("79161112233", "101"), free_port(), free_port(),
                     target=f"127.0.0.1:{kamailio.port}", call_id=call_id)
    try:
        controls = anna.locator('article.pop .phone-controls[data-state="incoming"]')
        expect(controls.locator("[data-phone=answer]")).to_be_visible()  # on the ringing pop itself
        anna.keyboard.press("F2")
        expect(anna.locator('article.pop .phone-controls[data-state="talking"]')).to_be_visible()

        received = _stat(anna, "data-packets-received", 100)
        assert _stat(anna, "data-bytes-received", 10_000) > 0
        loudest = _stat(anna, "data-max-level", 0.01)  # our own speech, echoed by sipp
        legs = _until(lambda: (lambda c: c if len(c) == 2 and min(c.values()) > 100 else None)(
            rtp.packets_by_leg(call_id)), "rtpengine saw no audio on one leg")
        print(f"page: {received:.0f} packets in, loudest level {loudest:.3f}; rtpengine per leg: {legs}")

        anna.locator("article.pop [data-phone=keypad]").click()
        anna.locator('article.pop [data-dtmf="5"]').click()
        _until(lambda: "Signal=5" in phone.trace(), "sipp got no keypad INFO")

        anna.keyboard.press("F8")
        expect(anna.locator('article.pop .phone-controls[data-state="held"]')).to_be_visible()
        _until(lambda: "a=sendonly" in phone.trace(), "no hold re-INVITE reached sipp")
        anna.keyboard.press("F8")
        expect(anna.locator('article.pop .phone-controls[data-state="talking"]')).to_be_visible()
        _until(lambda: phone.trace().count("INVITE sip:") >= 2, "no resume re-INVITE reached sipp")
        before = float(anna.locator("#phone-stats").get_attribute("data-packets-received") or 0)
        _stat(anna, "data-packets-received", before + 50)  # audio flows again after resuming

        anna.keyboard.press("F4")
        expect(anna.locator("article.pop .phone-controls")).to_have_count(0)
        _until(lambda: phone.proc.poll() is not None, "sipp did not see the hang-up")
        assert phone.proc.returncode == 0, (tmp_path / "caller.out").read_text(errors="replace")[-2000:]
    finally:
        phone.stop()
    _until(lambda: _status(live, call_id) == CallStatus.COMPLETED, "the hang-up was not logged")
    with live.sessions() as session:
        calls = session.scalars(select(Call)).all()
        assert len(calls) == 1 and calls[0].provider_call_id == call_id  # one call: the PBX's
        assert calls[0].status == CallStatus.COMPLETED and calls[0].extension == "101"
        kinds = {e.kind for e in session.scalars(select(CallEventRecord))}
        assert {"ringing", "answered", "ended"} <= kinds


def test_blind_transfer_to_another_desk_follows_the_card(live: Live, gateway: Any, browser: Any,
                                                         tmp_path: Path) -> None:
    kamailio, _, _ = gateway
    _phones(live, kamailio.ws_url)
    anna, john = desk(browser, live, "anna"), desk(browser, live, "john")
    _ready(anna)
    _ready(john)
    live.post(f"tr-{uuid.uuid4().hex[:8]}", "ringing", extension="101")  # matched by Caller ID
    anna.locator("article.pop").wait_for()
    with rig.far_page_server(tmp_path) as far_url:
        far = browser.new_context().new_page()
        far.goto(f"{far_url}?ws={kamailio.ws_url}&user=79161112233&call=101")
        anna.locator("article.pop [data-phone=answer]").click()
        expect(far.locator("#state")).to_have_text("talking")
        anna.fill("article.pop .phone-transfer input[name=ext]", "102")
        anna.locator("article.pop [data-phone=blind]").click()
        expect(far.locator("#refer")).to_have_text("102")
        john.locator("article.pop").wait_for()  # the card followed the call
        expect(john.locator("article.pop .patient-name")).to_have_text("Соколова Мария Ивановна")
        expect(john.locator('article.pop .phone-controls[data-state="incoming"]')).to_be_visible()
        john.keyboard.press("F2")
        expect(john.locator('article.pop .phone-controls[data-state="talking"]')).to_be_visible()
        _stat(john, "data-packets-received", 100)
        _until(lambda: int(far.locator("#stats").text_content() or 0) > 100, "the far end hears nothing")
        john.keyboard.press("F4")
        expect(far.locator("#state")).to_have_text("ended")
    with live.sessions() as session:
        calls = session.scalars(select(Call)).all()
        assert len(calls) == 1
        events = session.scalars(select(CallEventRecord).order_by(CallEventRecord.id)).all()
        transfers = [e for e in events if e.kind == "transferred"]
        assert transfers and transfers[0].data.get("extension") == "102"
        assert any(e.kind == "answered" and (e.data or {}).get("extension") == "102" for e in events)


def test_call_back_from_the_missed_list_connects_and_is_logged_once(live: Live, gateway: Any, browser: Any,
                                                                    tmp_path: Path) -> None:
    kamailio, _, far_port = gateway
    _phones(live, kamailio.ws_url)
    live.post("missed-1", "ringing", caller=w.STRANGER_PHONE, timestamp=time.time() - 600)
    live.post("missed-1", "missed", caller=w.STRANGER_PHONE)
    patient_phone = rig.Sipp(tmp_path, "patient", rig.answerer("79030001122"), far_port, free_port())
    try:
        anna = desk(browser, live, "anna")
        _ready(anna)
        anna.locator("#list-missed li .dial").first.click()
        expect(anna.locator('.phone-controls[data-state="talking"]')).to_be_visible()
        received = _stat(anna, "data-packets-received", 100)
        _stat(anna, "data-max-level", 0.01)
        print(f"call-back: {received:.0f} packets in")
        anna.keyboard.press("F4")
        _until(lambda: patient_phone.proc.poll() is not None, "the patient's phone did not see the hang-up")
    finally:
        patient_phone.stop()
    _until(lambda: _status(live) == CallStatus.COMPLETED, "the call-back's hang-up was not logged")
    with live.sessions() as session:
        outbound = session.scalars(select(Call).where(Call.direction == CallDirection.OUTBOUND)).all()
        assert len(outbound) == 1, [(c.provider, c.provider_call_id) for c in outbound]
        assert outbound[0].dialed == w.STRANGER_PHONE and outbound[0].status == CallStatus.COMPLETED
        missed = session.scalars(select(Call).where(Call.provider_call_id == "missed-1")).one()
        assert missed.callback_call_id == outbound[0].id


def test_attended_transfer_asks_the_other_desk_first_then_joins_them(live: Live, gateway: Any, browser: Any,
                                                                     tmp_path: Path) -> None:
    kamailio, _, _ = gateway
    _phones(live, kamailio.ws_url)
    anna, john = desk(browser, live, "anna"), desk(browser, live, "john")
    _ready(anna)
    _ready(john)
    live.post(f"at-{uuid.uuid4().hex[:8]}", "ringing", extension="101")
    anna.locator("article.pop").wait_for()
    with rig.far_page_server(tmp_path) as far_url:
        far = browser.new_context().new_page()
        far.goto(f"{far_url}?ws={kamailio.ws_url}&user=79161112233&call=101")
        anna.locator("article.pop [data-phone=answer]").click()
        expect(far.locator("#state")).to_have_text("talking")
        anna.fill("article.pop .phone-transfer input[name=ext]", "102")
        anna.locator("article.pop [data-phone=consult]").click()
        # The caller waits on hold while Anna asks John: his phone rings with her call, not the caller's.
        expect(anna.locator('article.pop .phone-controls[data-state="held"]')).to_be_visible()
        ringing = john.locator('.phone-controls[data-state="incoming"]')
        expect(ringing).to_have_count(1)
        john.keyboard.press("F2")
        expect(john.locator('.phone-controls[data-state="talking"]')).to_have_count(1)
        _stat(john, "data-packets-received", 100)  # Anna and John hear each other
        expect(far.locator("#refer")).to_have_text("")  # the caller knows nothing yet
        anna.locator("article.pop [data-phone=complete]").click()
        expect(far.locator("#refer")).to_have_text("102")
        # The caller's new call replaces Anna's consult call at John's desk, on the caller's card.
        card = john.locator("article.pop", has=john.locator(".patient-name", has_text="Соколова Мария Ивановна"))
        expect(card.locator('.phone-controls[data-state="talking"]')).to_be_visible()
        expect(john.locator(".phone-controls")).to_have_count(1)  # the consult call is gone
        expect(anna.locator(".phone-controls")).to_have_count(0)  # Anna is out of both calls
        before = int(far.locator("#stats").text_content() or 0)
        _until(lambda: int(far.locator("#stats").text_content() or 0) > before + 100, "the caller hears nothing")
        john.keyboard.press("F4")
        expect(far.locator("#state")).to_have_text("ended")
    with live.sessions() as session:
        maria = session.scalars(select(Call).where(Call.caller == w.MARIA_PHONE)).all()
        assert len(maria) == 1, [(c.provider, c.provider_call_id) for c in maria]
        events = session.scalars(select(CallEventRecord).where(CallEventRecord.call_id == maria[0].id)
                                 .order_by(CallEventRecord.id)).all()
        assert any(e.kind == "transferred" and e.data.get("extension") == "102" for e in events)
        print("calls:", [(c.provider, c.caller, c.extension, c.status) for c in session.scalars(select(Call))])


def test_microphone_check_and_a_refused_microphone_say_what_to_do(live: Live, gateway: Any,
                                                                  browser: Any) -> None:
    kamailio, _, _ = gateway
    _phones(live, kamailio.ws_url)
    anna = desk(browser, live, "anna")
    _ready(anna)
    problem = anna.locator("#phone-problem")
    anna.locator("#phone-mic-check").click()  # the fake microphone plays speech
    expect(problem).to_have_attribute("data-problem", "mic_ok")
    expect(problem).to_have_text(t("The microphone works", "ru"))
    expect(anna.locator("#phone-mic option")).not_to_have_count(0)

    # A second workstation whose browser asks before giving the microphone, and is told no
    # (Playwright refuses every permission it was not told to grant).
    asking = browser.browser_type.launch(executable_path=CHROMIUM, args=[  # ARGS: --host-resolver-rules
        *ARGS, "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required"])
    try:
        john = desk(asking, live, "john")
        problem = john.locator("#phone-problem")
        expect(problem).to_have_attribute("data-problem", "mic_denied")
        expect(problem).to_have_text(t("The browser may not use the microphone. Click the lock icon in the address "
                                       "bar, allow the microphone, then reload the page.", "en"))
        _ready(john)  # the line registers, and its news does not hide the microphone problem
        expect(problem).to_have_attribute("data-problem", "mic_denied")
        john.locator("#phone-mic-check").click()
        expect(problem).to_have_attribute("data-problem", "mic_denied")
    finally:
        asking.close()
