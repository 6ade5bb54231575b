"""The call card in Chromium: notes survive Esc and a reload (server-side drafts), an answered call
asks for its outcome before it closes and waits on "calls without an outcome", the call timer,
a recording played on the card and on the call history page (streamed through the service from
the local Twilio stand-in), the new-patient form (the clinic's language, patronymic following the
chosen language, the duplicate warning), and everything of a call on a 1366×768 screen."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    Call,
    CallOutcome,
    DoctorNotice,
    Patient,
    utcnow,
)
from tests import desk_world as w
from tests.fake_twilio import FakeTwilio
from tests.test_desk_browser import Live, _shoot, browser, live, twilio  # noqa: F401 (fixtures)
from tests.wav import tone_wav

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)
LAPTOP = {"width": 1366, "height": 768}


def desk(chromium: Any, server: Live, login: str, viewport: dict[str, int] | None = None) -> Any:
    context = chromium.new_context(viewport=viewport or {"width": 1440, "height": 1000}, locale="ru-RU")
    page = context.new_page()
    page.goto(f"{server.url}/desk")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', w.PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url("**/desk")
    expect(page.locator('#conn[data-state="live"]')).to_be_visible()
    return page


def test_notes_survive_esc_and_a_reload(live: Live, browser: Any) -> None:  # noqa: F811
    anna = desk(browser, live, "anna")
    live.post("cb-1", "ringing", extension="101")
    pop = anna.locator("article.pop")
    expect(pop.locator(".patient-name")).to_have_text("Соколова Мария Ивановна")
    anna.keyboard.press("n")
    anna.keyboard.type("Спрашивала про имплант")
    expect(pop.locator(".draft-note")).to_have_text("Черновик сохранён")
    anna.keyboard.press("Escape")  # leaves the notes
    anna.keyboard.press("Escape")  # closes the ringing call's card: nothing asked, nothing lost
    expect(pop).to_have_count(0)

    anna.reload()
    expect(anna.locator("article.pop textarea[name=notes]")).to_have_value("Спрашивала про имплант")


def test_closing_an_answered_call_asks_for_its_outcome(live: Live, browser: Any) -> None:  # noqa: F811
    anna = desk(browser, live, "anna")
    live.post("cb-2", "ringing", extension="101")
    live.post("cb-2", "answered", extension="101")
    pop = anna.locator("article.pop")
    expect(pop.locator('.status[data-status="answered"]')).to_be_visible()
    timer = pop.locator(".timer")
    expect(timer).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(timer).not_to_have_text("0:00")  # it runs
    anna.keyboard.press("n")
    anna.keyboard.type("Хочет вечером")
    expect(pop.locator(".draft-note")).to_have_text("Черновик сохранён")
    anna.keyboard.press("Escape")
    anna.keyboard.press("Escape")
    prompt = pop.locator(".close-prompt")
    expect(prompt).to_be_visible()  # asked, not closed
    expect(pop.locator("select[name=outcome]")).to_be_focused()
    anna.keyboard.press("Escape")  # back to the card
    expect(prompt).to_be_hidden()
    anna.keyboard.press("Escape")
    expect(prompt).to_be_visible()
    prompt.locator("[data-act=close-later]").click()
    expect(pop).to_have_count(0)

    waiting = anna.locator("#list-without-outcome li")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("черновик")
    anna.keyboard.press("w")
    expect(anna.locator("#list-without-outcome [data-open]")).to_be_focused()
    anna.keyboard.press("Enter")
    expect(pop.locator("textarea[name=notes]")).to_have_value("Хочет вечером")
    anna.keyboard.press("Escape")
    anna.keyboard.press("Escape")
    expect(prompt).to_be_visible()
    prompt.locator("[data-act=save-close]").click()  # no outcome chosen yet: it says so
    expect(pop.locator(".wrap-up .form-note")).to_have_text("выберите итог")
    pop.locator("select[name=outcome]").select_option("information")
    prompt.locator("[data-act=save-close]").click()
    expect(pop).to_have_count(0)
    expect(anna.locator("#list-without-outcome li.none")).to_have_count(1)
    with live.sessions() as session:
        call = session.scalars(select(Call).where(Call.provider_call_id == "cb-2")).one()
        assert (call.outcome, call.notes) == (CallOutcome.INFORMATION, "Хочет вечером")


def _recorded_call(server: Live, fake: FakeTwilio) -> int:
    sid = "RE" + "7" * 32
    fake.recordings[sid] = tone_wav(seconds=2)
    now = utcnow()
    with server.sessions() as session:
        call = Call(clinic_id=server.world.clinic.id, provider="twilio", provider_call_id="CA" + "7" * 32,
                    direction="inbound", caller=w.MARIA_PHONE, dialed=w.TRACKED,
                    patient_id=server.world.maria.id, agent_id=server.world.anna.id, extension="101",
                    started_at=now - timedelta(minutes=6), answered_at=now - timedelta(minutes=5),
                    ended_at=now - timedelta(minutes=2), duration=180, status="completed",
                    recording_url=fake.recording_url(sid))
        session.add(call)
        session.commit()
        return call.id


def _plays(audio: Any) -> None:
    audio.evaluate("a => a.play()")
    expect(audio).to_have_js_property("readyState", 4)  # HAVE_ENOUGH_DATA: the bytes arrived
    expect(audio).to_have_js_property("duration", 2)


def test_a_recording_plays_on_the_card_and_in_the_history(live: Live, browser: Any,  # noqa: F811
                                                         twilio: FakeTwilio) -> None:  # noqa: F811
    call_id = _recorded_call(live, twilio)
    anna = desk(browser, live, "anna")
    anna.locator(f'#list-without-outcome [data-open="{call_id}"]').click()
    _plays(anna.locator("article.pop .pop-head audio.recording"))
    assert twilio.media_requests  # fetched from the provider with its credentials

    history = anna.context.new_page()
    history.goto(f"{live.url}/desk/patients/{live.world.maria.id}/calls")
    _plays(history.locator(f'tr[data-call-id="{call_id}"] audio'))
    with live.sessions() as session:
        plays = session.scalars(select(AuditLog).where(AuditLog.action == "play_recording")).all()
        assert plays and {p.staff_id for p in plays} == {live.world.anna.id}


def test_the_new_patient_form(live: Live, browser: Any) -> None:  # noqa: F811
    john = desk(browser, live, "john")  # an English desk; the clinic's patients speak Russian
    live.post("cb-3", "ringing", caller="+79035550077", extension="102")
    form = john.locator("article.pop form.new-patient")
    expect(form.locator("select[name=language]")).to_have_value("ru")
    names = form.locator(".names input")
    expect(names).to_have_count(3)
    expect(names.nth(2)).to_have_attribute("name", "patronymic")
    form.locator("select[name=language]").select_option("en")
    expect(names).to_have_count(2)
    expect(names.nth(0)).to_have_attribute("name", "first_name")  # English writes the given name first
    form.locator("select[name=language]").select_option("ru")
    form.locator("input[name=last_name]").fill("Соколов")
    form.locator("input[name=first_name]").fill("Иван")
    form.locator("input[name=patronymic]").fill("Петрович")
    form.locator("select[name=sex]").select_option("male")
    form.locator("input[name=birth_date]").fill("1979-11-05")
    form.locator("[data-act=add-phone]").click()
    form.locator(".phone-row").nth(1).locator("input").fill(w.MARIA_PHONE)
    form.locator(".phone-row").nth(1).locator("select").select_option("family")
    form.locator("button[type=submit]").click()

    warning = form.locator(".duplicates")
    expect(warning).to_contain_text("same number")
    expect(warning.locator("a")).to_have_attribute("href", f"/desk/patients/{live.world.maria.id}")
    warning.locator("[data-act=create-anyway]").click()
    expect(john.locator("article.pop .patient-name")).to_have_text("Соколов Иван Петрович")
    expect(john.locator("article.pop .address-as")).to_have_text("Иван Петрович")
    with live.sessions() as session:
        patient = session.scalars(select(Patient).where(Patient.first_name == "Иван")).one()
        assert patient.preferred_language == "ru" and str(patient.birth_date) == "1979-11-05"
        assert sorted(p.label for p in patient.phones) == ["family", "mobile"]


def test_a_call_fits_a_1366_by_768_screen(live: Live, browser: Any) -> None:  # noqa: F811
    anna = desk(browser, live, "anna", LAPTOP)
    live.post("cb-4", "ringing", extension="101")
    live.post("cb-4", "answered", extension="101")
    pop = anna.locator("article.pop")
    expect(pop.locator(".slot")).to_have_count(2)
    _shoot(anna, "desk-card-1366.png")
    for part in (pop.locator(".pop-head .number"), pop.locator(".patient-name"),
                 pop.locator(".script h3"), pop.locator(".step.opening li").first,
                 pop.locator(".slot").nth(0), pop.locator(".slot").nth(1),
                 pop.locator("select[name=outcome]"), pop.locator(".wrap-up textarea[name=notes]"),
                 pop.locator(".wrap-up button[type=submit]")):
        expect(part).to_be_in_viewport(ratio=1)
    assert anna.evaluate("() => [window.scrollX, window.scrollY]") == [0, 0]


def test_a_patient_who_refuses_both_is_cancelled_and_the_doctor_told(
        live: Live, browser: Any) -> None:  # noqa: F811
    """The card's cancel form: a new date or a call-back time, or the patient's own words when
    they refuse both — then the visit is cancelled and the attending doctor gets a notice."""
    anna = desk(browser, live, "anna")
    live.post("cb-6", "ringing", extension="101")
    live.post("cb-6", "answered", extension="101")
    pop = anna.locator("article.pop")
    pop.locator("button[data-act=cancel-open]").first.click()
    form = pop.locator("form.cancel-form")
    expect(form.locator("input[name=starts_at]")).to_be_focused()
    form.locator("button[type=submit]").click()  # nothing agreed: refused, the visit stays
    expect(form.locator(".form-error")).not_to_be_empty()
    form.locator("input[name=refused]").fill("не будет переносить, перезвонит сама")
    form.locator("button[type=submit]").click()
    expect(pop.locator("button[data-act=cancel-open]")).to_have_count(0)
    expect(pop.locator(".wrap-up select[name=outcome]")).to_have_value("cancelled")
    with live.sessions() as session:
        notice = session.scalars(select(DoctorNotice)).one()
        assert notice.note == "не будет переносить, перезвонит сама"
        visit = session.get(Appointment, notice.appointment_id)
        assert visit is not None and visit.status == AppointmentStatus.CANCELLED
