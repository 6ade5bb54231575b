"""The price list and the numbers by keyboard in Chromium, then the price question at the desk.

An admin signs in, adds three services (one a range, one without a price) and a channel with a
tracking number without touching the mouse; a receptionist's card then names the price of
exactly the service picked with the keyboard.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from callcenter.access.passwords import hash_password
from callcenter.core.models import Channel, Service, Staff, StaffRole, TrackingNumber
from tests import desk_world as w
from tests.test_desk_browser import (  # noqa: F401 (fixtures)
    Live,
    _shoot,
    browser,
    desk,
    live,
    twilio,
)

pytestmark = pytest.mark.browser
NBSP = "\xa0"


def _signed_in_admin(live: Live, browser: Any) -> Any:  # noqa: F811
    with live.sessions() as session:
        session.add(Staff(clinic_id=live.world.clinic.id, role=StaffRole.ADMIN, login="boss",
                          first_name="Елена", last_name="Соколова", locale="ru",
                          password_hash=hash_password(w.PASSWORD)))
        session.commit()
    page = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ru-RU").new_page()
    page.goto(f"{live.url}/login?next=/admin/services")
    page.fill('input[name="login"]', "boss")
    page.fill('input[name="password"]', w.PASSWORD)
    page.keyboard.press("Enter")
    page.locator("#price-list").wait_for()
    return page


def _type_fields(page: Any, *values: str) -> None:
    """Type each value into the focused field, then Tab to the next (replacing what is there)."""
    for index, value in enumerate(values):
        if index:
            page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type(value)


def test_price_list_and_numbers_by_keyboard(live: Live, browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # a loaded machine is slow, not wrong: wait generously
    page = _signed_in_admin(live, browser)
    prices = page.locator("#price-list")
    # name ru, en, zh, minutes, price (or lowest), highest; then the specialties, each so many
    # Tabs on and ticked with Space; Enter saves and the focus comes back to the first name.
    for fields, ticks, shown in (
        (("Пломба", "Filling", "补牙", "45", "6 500", ""), (1,), f"6{NBSP}500{NBSP}₽"),
        (("Имплант", "Implant", "种植牙", "90", "30000", "45000"), (2, 4),  # surgeon, implantologist
         f"от 30{NBSP}000{NBSP}₽ до 45{NBSP}000{NBSP}₽"),
        (("Консультация", "", "", "30", "", ""), (), "цены в прейскуранте нет"),
    ):
        expect(page.locator("#name_ru")).to_be_focused()
        _type_fields(page, *fields)
        for tabs in ticks:
            for _ in range(tabs):
                page.keyboard.press("Tab")
            page.keyboard.press("Space")
        page.keyboard.press("Enter")
        expect(page.locator('p.notice[role="status"]')).to_have_text("Услуга добавлена")
        expect(prices.locator("tr", has_text=fields[0])).to_contain_text(shown)
    prices.scroll_into_view_if_needed()
    _shoot(page, "setup-services.png")
    # A mistake is named by its field, with the focus on it; nothing is saved.
    _type_fields(page, "Отбеливание", "", "", "0")
    page.keyboard.press("Enter")
    expect(page.locator("#err-duration_minutes")).to_have_text("минуты от 1 до 720")
    expect(page.locator("#duration_minutes")).to_be_focused()

    # The page's "add a channel" link (Playwright's keys do not reach Chromium's access keys).
    page.goto(f"{live.url}/admin/numbers?add=channel")
    expect(page.locator("#channel-name")).to_be_focused()
    _type_fields(page, "Радио Эхо", "radio_echo")
    page.keyboard.press("Enter")
    expect(page.locator("#channels tr", has_text="radio_echo")).to_contain_text("Радио Эхо")
    expect(page.locator("#channel-name")).to_be_focused()  # ready for the next channel
    page.goto(f"{live.url}/admin/numbers?add=number")
    expect(page.locator("#e164")).to_be_focused()
    page.keyboard.type("8 495 765-43-21")
    page.keyboard.press("Tab")  # the clinic: the admin's own, already chosen
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # no channel → Maps listing → Радио Эхо
    page.keyboard.press("ArrowDown")
    expect(page.locator("#channel_id option:checked")).to_have_text("Радио Эхо")
    page.keyboard.press("Tab")
    page.keyboard.type("эфир утром")
    page.keyboard.press("Enter")
    row = page.locator("#numbers tr", has_text="765-43-21")
    expect(row).to_contain_text("Радио Эхо")
    expect(row).to_contain_text("эфир утром")
    _shoot(page, "setup-numbers.png")
    with live.sessions() as session:
        number = session.scalars(select(TrackingNumber).where(
            TrackingNumber.e164 == "+74957654321")).one()
        channel = session.scalars(select(Channel).where(Channel.code == "radio_echo")).one()
        assert (number.channel_id, number.clinic_id) == (channel.id, live.world.clinic.id)
        assert {tuple(sorted(s.names.values())): s.specialties
                for s in session.scalars(select(Service))} == {
            ("Filling", "Пломба", "补牙"): ["therapist"],
            ("Implant", "Имплант", "种植牙"): ["surgeon", "implantologist"],
            ("Консультация",): []}

    # At the desk: P reaches the service asked about, the arrows pick it, the script names its price.
    anna = desk(browser, live, "anna")
    live.post("price-1", "ringing", caller=w.STRANGER_PHONE)
    card = anna.locator("article.pop")
    card.locator(".step.opening li").first.wait_for()
    anna.keyboard.press("p")
    pick = card.locator("[data-service-pick]")
    expect(pick).to_be_focused()
    options = [o.strip() for o in pick.locator("option").all_text_contents()]
    assert options == ["—", "Имплант", "Консультация", "Пломба"]
    anna.keyboard.press("ArrowDown")  # Имплант
    steps = card.locator("div.steps")
    expect(steps).to_contain_text(f"«Имплант» — от 30{NBSP}000{NBSP}₽ до 45{NBSP}000{NBSP}₽")
    expect(card.locator("[data-service-pick]")).to_be_focused()
    anna.keyboard.press("ArrowDown")
    expect(steps).to_contain_text("«Консультация» — в прейскуранте её нет")
    expect(card.locator("[data-service-pick]")).to_be_focused()
    anna.keyboard.press("ArrowDown")  # Пломба
    expect(steps).to_contain_text(f"«Пломба» — 6{NBSP}500{NBSP}₽")
    expect(steps).not_to_contain_text(f"30{NBSP}000")
    _shoot(anna, "desk-price.png")
