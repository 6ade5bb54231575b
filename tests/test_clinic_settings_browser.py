"""The clinic settings page in Chromium, by keyboard: the first field has the focus, a refusal names
the field and keeps what was typed, Enter saves; then a public holiday year is imported."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.access.passwords import hash_password
from callcenter.core.models import Clinic, DayOff, Staff, StaffRole
from tests import desk_world as w
from tests.test_desk_browser import DOCS, Live, browser, live, twilio  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_settings_by_keyboard(live: Live, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    with live.sessions() as session:
        session.add(Staff(clinic_id=live.world.clinic.id, role=StaffRole.ADMIN, login="boss",
                          first_name="Boss", last_name="Admin", locale="ru",
                          password_hash=hash_password(w.PASSWORD)))
        session.commit()
    page = browser.new_context(viewport={"width": 1280, "height": 1400}, locale="ru-RU").new_page()
    page.goto(f"{live.url}/admin/clinic")
    page.fill('input[name="login"]', "boss")
    page.fill('input[name="password"]', w.PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/clinic")

    name = page.get_by_label("Название", exact=True)
    expect(name).to_be_focused()  # autofocus: typing starts at once
    page.keyboard.press("Control+A")
    page.keyboard.type("Улыбка на Тверской")
    page.get_by_label("Понедельник").fill("09:00-14:00, 15:00-21:00")
    page.get_by_label("Вторник").fill("09:00-14:00, 13:00-18:00")
    caller = page.get_by_label("Номер для исходящих")
    caller.fill("+7 495 777-00-00")
    caller.press("Enter")
    expect(page.locator("#e-hours_tue")).to_have_text("диапазоны пересекаются")
    expect(page.get_by_role("alert")).to_contain_text("Ничего не сохранено")
    expect(page.get_by_label("Название", exact=True)).to_have_value("Улыбка на Тверской")
    tuesday = page.get_by_label("Вторник")
    tuesday.fill("09:00-13:00, 14:00-18:00")
    tuesday.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Настройки сохранены")
    expect(page.get_by_label("Понедельник")).to_have_value("09:00-14:00, 15:00-21:00")
    expect(page.get_by_label("Среда")).to_have_value("00:00-24:00")  # untouched: the world's own hours
    if os.environ.get("SCREENSHOTS") == "docs":
        page.screenshot(path=str(DOCS / "clinic-settings.png"), full_page=False)

    year = page.get_by_label("Год")
    year.fill("2026")
    year.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Добавлено праздников")
    expect(page.locator("#days-off + table")).to_contain_text("2026-01-07")
    with live.sessions() as session:
        clinic = session.get(Clinic, live.world.clinic.id)
        assert clinic is not None and clinic.name == "Улыбка на Тверской"
        assert clinic.opening_hours["tue"] == [["09:00", "13:00"], ["14:00", "18:00"]]
        assert clinic.caller_id == "+74957770000"
        assert session.scalar(select(DayOff.reason).where(DayOff.clinic_id == clinic.id,
                                                          DayOff.day == date(2026, 1, 7)))
