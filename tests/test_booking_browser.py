"""Booking in a real browser (Chromium via Playwright, the app on SQLite with real Redis): from
the schedule page with the patient search and Undo, "other time" at 03:00 refused with a clear
message, the double press answered "already booked" and undone by key, and the acute squeeze
booked with its "overbooked, may wait" flag shown on the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from callcenter.core.models import Appointment, AppointmentStatus, Call, Clinic
from tests.test_desk_browser import Live, browser, desk, live, twilio  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


def _day_after_tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).astimezone(ZoneInfo("Europe/Moscow")).date().isoformat()


def _visits(server: Live, **where: Any) -> list[Appointment]:
    with server.sessions() as session:
        return list(session.scalars(select(Appointment).filter_by(**where).order_by(Appointment.id)))


def test_book_from_the_schedule_with_search_and_undo(live: Live, browser: Any) -> None:  # noqa: F811
    anna = desk(browser, live, "anna")
    day = _day_after_tomorrow()
    anna.goto(f"{live.url}/desk/schedule?day={day}")
    anna.keyboard.press("/")
    anna.keyboard.type("Clark")
    anna.locator("#patient-search .found").filter(has_text="Emily Clark").click()
    expect(anna.locator("#sched-patient")).to_have_text("Emily Clark")
    slot = anna.locator(f'.sched-col[data-doctor-id="{live.world.doctor.id}"] .slot-free').filter(has_text="12:00")
    slot.click()
    visit = anna.locator(".visit").filter(has_text="Emily Clark")
    expect(visit).to_be_visible()
    expect(anna.locator("#undo-toast")).to_be_visible()
    [booked] = _visits(live, patient_id=live.world.emily.id, status=AppointmentStatus.BOOKED)
    assert booked.starts_at.astimezone(ZoneInfo("Europe/Moscow")).time() == clock(12)
    anna.locator("#undo-toast [data-act=undo]").click()
    expect(anna.locator(".visit").filter(has_text="Emily Clark")).to_have_count(0)
    assert _visits(live, id=booked.id)[0].status is AppointmentStatus.CANCELLED


def test_other_time_at_three_at_night_is_refused(live: Live, browser: Any) -> None:  # noqa: F811
    anna = desk(browser, live, "anna")
    live.post("bk-1", "ringing", extension="101")
    form = anna.locator("article.pop form.other-time")
    form.locator("input[name=starts_at]").fill(f"{_day_after_tomorrow()}T03:00")
    form.locator("select[name=doctor_id]").select_option(str(live.world.doctor.id))
    form.locator("button[type=submit]").click()
    expect(form.locator(".form-error")).to_contain_text("вне рабочего времени врача в этот день (08:00–21:00)")
    assert _visits(live, patient_id=live.world.maria.id, status=AppointmentStatus.CONFIRMED) == []


def test_a_double_press_says_already_booked_and_u_undoes(live: Live, browser: Any) -> None:  # noqa: F811
    anna = desk(browser, live, "anna")
    live.post("bk-2", "ringing", extension="101")
    anna.locator("article.pop .slot").first.wait_for()
    anna.keyboard.press("b")
    anna.keyboard.press("1")
    expect(anna.locator("article.pop select[name=outcome]")).to_have_value("booked")
    expect(anna.locator("#undo-toast")).to_be_visible()
    anna.keyboard.press("b")
    anna.keyboard.press("1")
    expect(anna.locator("#desk-alert")).to_contain_text("уже записан в этом звонке")
    with live.sessions() as session:
        call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "bk-2"))
    made = _visits(live, created_by_call_id=call_id)
    assert len(made) == 1
    anna.keyboard.press("u")
    expect(anna.locator("#undo-toast")).to_be_hidden()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while _visits(live, id=made[0].id)[0].status is not AppointmentStatus.CANCELLED:
        assert datetime.now(UTC) < deadline, "the undo never reached the server"


def test_acute_pain_squeezes_into_a_full_day_flagged(live: Live, browser: Any) -> None:  # noqa: F811
    # A zone where it is around noon now, so "today" has working time left whenever this runs.
    offset = 12 - datetime.now(UTC).hour
    zone = "Etc/GMT" + (f"{-offset:+d}" if offset else "")
    local_now = datetime.now(ZoneInfo(zone))
    with live.sessions() as session:
        session.execute(update(Clinic).where(Clinic.id == live.world.clinic.id).values(timezone=zone))
        filler = live.world.family[0].id
        start = datetime.combine(local_now.date(), clock(8), ZoneInfo(zone))
        session.add_all(Appointment(clinic_id=live.world.clinic.id, patient_id=filler,
                                    doctor_id=live.world.doctor.id, starts_at=start + timedelta(minutes=30 * n),
                                    ends_at=start + timedelta(minutes=30 * (n + 1)), status=AppointmentStatus.BOOKED)
                        for n in range(26))  # 08:00–21:00: no free slot left today
        session.commit()
    anna = desk(browser, live, "anna")
    live.post("bk-3", "ringing", extension="101")
    anna.locator("article.pop .slot").first.wait_for()
    anna.keyboard.press("a")
    first = anna.locator("article.pop .slot").first
    expect(first).to_contain_text("возможно ожидание")
    anna.keyboard.press("b")
    anna.keyboard.press("1")
    expect(anna.locator("article.pop select[name=outcome]")).to_have_value("booked")
    [squeezed] = _visits(live, patient_id=live.world.maria.id, overbooked=True)
    assert squeezed.starts_at.astimezone(ZoneInfo(zone)).date() == local_now.date()
    anna.goto(f"{live.url}/desk/schedule")
    flagged = anna.locator(f'.visit.overbooked[data-appointment-id="{squeezed.id}"]')
    expect(flagged).to_contain_text("сверх записи, возможно ожидание")
    expect(anna.locator("#arrivals li").filter(has_text="Соколова Мария")).to_contain_text("сверх записи")


def test_two_desks_on_one_slot_get_one_visit_and_a_clear_answer(
        live: Live, browser: Any) -> None:  # noqa: F811
    """Both desks see 12:00 free; the second to click is told, in its own language, that the time
    has just gone — and the day holds one visit at 12:00. (The race itself, two requests in the
    same instant, is tests/test_booking_race.py's; this is what the receptionist sees.)"""
    day = _day_after_tomorrow()
    anna, john = desk(browser, live, "anna"), desk(browser, live, "john")
    for page, name, shown in ((anna, "Clark", "Emily Clark"), (john, "Соколова", "Соколова")):
        page.goto(f"{live.url}/desk/schedule?day={day}")
        page.keyboard.press("/")
        page.keyboard.type(name)
        page.locator("#patient-search .found").filter(has_text=shown).first.click()
        expect(page.locator("#sched-patient")).to_contain_text(shown)
    column = f'.sched-col[data-doctor-id="{live.world.doctor.id}"] .slot-free'
    anna.locator(column).filter(has_text="12:00").click()
    expect(anna.locator(".visit").filter(has_text="Emily Clark")).to_be_visible()
    john.locator(column).filter(has_text="12:00").click()  # his page still shows it free
    expect(john.locator("#sched-error")).to_have_text("this time is already taken; pick another slot")
    noon = [v for v in _visits(live, doctor_id=live.world.doctor.id)
            if v.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
            and v.starts_at.astimezone(ZoneInfo("Europe/Moscow")).time() == clock(12)
            and v.starts_at.astimezone(ZoneInfo("Europe/Moscow")).date().isoformat() == day]
    assert [v.patient_id for v in noon] == [live.world.emily.id]
