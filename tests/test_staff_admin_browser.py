"""An administrator sets up a receptionist and a doctor with a split shift in Chromium, by keyboard
only: Tab, typing, Space and Enter, from the sign-in page to the saved schedule."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.access.passwords import hash_password, verify_password
from callcenter.core.models import DoctorSchedule, Staff, StaffRole
from tests import desk_world as w
from tests.test_csp_browser import Watched
from tests.test_desk_browser import Live, browser, live, twilio  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
TEMPORARY = "Welcome-desk-2026"


def _tab_to(page: Any, selector: str, most: int = 40) -> None:
    """Press Tab until the element has the focus, as a keyboard user would."""
    target = page.locator(selector)
    for _ in range(most):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_an_admin_sets_up_a_receptionist_and_a_split_shift_doctor_by_keyboard(
        live: Live, browser: Any) -> None:  # noqa: F811
    expect.set_options(timeout=30_000)  # a loaded machine is slow, not wrong: wait generously
    with live.sessions() as session:
        session.add(Staff(clinic_id=live.world.clinic.id, role=StaffRole.ADMIN, login="boss",
                          first_name="Boss", last_name="Admin", locale="en",
                          password_hash=hash_password(w.PASSWORD)))
        session.commit()

    watched = Watched(browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US"))
    page = watched.visit(f"{live.url}/login")
    expect(page.locator('input[name="login"]')).to_be_focused()  # autofocus, a frame after load
    page.keyboard.type("boss")
    page.keyboard.press("Tab")
    page.keyboard.type(w.PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin$"))

    page = watched.visit(f"{live.url}/admin/staff")
    # Autofocus lands a frame after the load: a keyboard user sees it before pressing Enter.
    expect(page.locator('a[accesskey="n"]')).to_be_focused()
    page.keyboard.press("Enter")  # "New staff member" has the focus
    expect(page).to_have_url(re.compile(r"/admin/staff/new$"))
    expect(page.locator("#role")).to_be_focused()
    for value in ("Petrova", "Irina", ""):  # role stays Receptionist; last, first, patronymic
        page.keyboard.press("Tab")
        page.keyboard.type(value)
    page.keyboard.press("Tab")
    page.keyboard.type("irina")
    page.keyboard.press("Tab")
    page.keyboard.type(TEMPORARY)
    _tab_to(page, 'input[name="sip_extension"]')
    page.keyboard.type("104")
    page.keyboard.press("Enter")
    expect(page.locator("p.notice")).to_contain_text("choose their own password")

    page = watched.visit(f"{live.url}/admin/doctors")
    expect(page.locator('a[accesskey="n"]')).to_be_focused()
    page.keyboard.press("Enter")  # "New doctor"
    expect(page).to_have_url(re.compile(r"/admin/staff/new\?role=doctor$"))
    expect(page.locator("#role")).to_have_value("doctor")
    expect(page.locator("#role")).to_be_focused()
    expect(page.locator('input[name="login"]')).to_be_hidden()  # doctors do not sign in
    for value in ("Orlov", "Pavel"):
        page.keyboard.press("Tab")
        page.keyboard.type(value)
    _tab_to(page, 'input[name="specialties"][value="surgeon"]')
    page.keyboard.press("Space")
    _tab_to(page, 'input[name="specialties"][value="implantologist"]')
    page.keyboard.press("Space")
    _tab_to(page, '#staff-form button[type="submit"]')
    page.keyboard.press("Enter")
    expect(page.locator("p.notice")).to_be_visible()
    _tab_to(page, 'a:has-text("Schedule and absences")')
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/doctors/\d+$"))

    expect(page.locator('input[name="slot_minutes"]')).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("45")
    # Monday 09:00-13:00 and 15:00-20:00 (a split shift), then Tuesday 10:00-18:00.
    for value in ("09:00", "13:00", "15:00", "20:00", "", "", "10:00", "18:00"):
        page.keyboard.press("Tab")
        page.keyboard.type(value)
    page.keyboard.press("Enter")
    expect(page.locator("p.notice")).to_have_text("Schedule saved")
    expect(page.locator("#mon-2-from")).to_have_value("15:00")
    watched.collect()
    assert watched.problems == [], "\n".join(watched.problems)

    with live.sessions() as session:
        irina = session.scalar(select(Staff).where(Staff.login == "irina"))
        assert irina is not None and irina.role == StaffRole.RECEPTIONIST
        assert irina.sip_extension == "104" and irina.must_change_password
        assert verify_password(irina.password_hash, TEMPORARY)
        orlov = session.scalar(select(Staff).where(Staff.last_name == "Orlov"))
        assert orlov is not None and orlov.role == StaffRole.DOCTOR and orlov.login is None
        assert orlov.specialties == ["surgeon", "implantologist"]
        windows = [(r.weekday, r.starts, r.ends, r.slot_minutes) for r in session.scalars(
            select(DoctorSchedule).where(DoctorSchedule.doctor_id == orlov.id)
            .order_by(DoctorSchedule.weekday, DoctorSchedule.starts))]
        assert windows == [(0, time(9), time(13), 45), (0, time(15), time(20), 45),
                           (1, time(10), time(18), 45)]
