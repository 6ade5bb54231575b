"""Issue 14's acceptance, tried as a new user would: an empty installation started with the real
`callcenter serve --no-demo`, set up in Chromium through its pages only (no database writes);
then a signed generic webhook to a tracking number pops a card at the right receptionist's desk
with the greeting of the clinic's clock, two slots of the doctors' schedules and the listed price.
The second test adds a clinic of the network in Shanghai speaking Chinese, with its own account at
the PBX provider (its own webhook address and secret), pops a call there, and checks that neither
clinic reaches the other's calls. Both run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from playwright.sync_api import expect

from callcenter.callscripts.greeting import greeting_for
from callcenter.callscripts.values import format_when
from callcenter.core.price_list import format_amount
from tests.conftest import require
from tests.test_desk_browser import ARGS, CHROMIUM
from tests.test_first_run import Serve, _wait
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

pytestmark = pytest.mark.browser
DEADLINE = 180.0  # to start serve: generous, the machine is shared
WAIT = 60_000  # ms, for each page condition
SECRET = "acceptance-generic-secret"
ADMIN_PASSWORD = "a long walk to the sea"
TEMPORARY = "Temporary-desk-2026"
OWN = "my own desk password 7"
STRANGER = "+79030001122"
STRANGER_CN = "+8613800138000"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class Doctor:
    last: str
    first: str
    windows: list[tuple[str, str]]  # every day of the week
    slot: int


@dataclass
class Clinic:
    name: str
    zone: str
    locale: str
    region: str
    receptionists: list[tuple[str, str, str, str]]  # login, last, first, extension
    doctors: list[Doctor]
    services: list[tuple[str, str, str, str]]  # name ru, en, zh; price
    numbers: list[tuple[str, str, str]]  # channel name, code, number as typed
    id: int = 0
    tracked: list[str] = field(default_factory=list)  # the numbers in E.164, as listed


FIRST = Clinic(
    name="Улыбка", zone="Europe/Moscow", locale="ru", region="RU",
    receptionists=[("anna", "Смирнова", "Анна", "101"), ("olga", "Котова", "Ольга", "102")],
    doctors=[Doctor("Лебедева", "Ирина", [("08:00", "13:00"), ("14:00", "21:00")], 30),
             Doctor("Орлов", "Павел", [("09:10", "20:30")], 40)],
    services=[("Пломба", "Filling", "补牙", "6 500"), ("Имплант", "Implant", "种植牙", "38000"),
              ("Чистка", "Cleaning", "洁牙", "4 200")],
    numbers=[("Яндекс.Карты", "yandex_maps", "8 495 765-43-21"),
             ("Радио Эхо", "radio_echo", "8 495 765-43-22"),
             ("Билборд", "billboard", "8 495 765-43-23")])
SECOND_SECRET = "shanghai-own-pbx-secret"
SECOND = Clinic(
    name="微笑 上海", zone="Asia/Shanghai", locale="zh", region="CN",
    receptionists=[("li.na", "李", "娜", "101")],
    doctors=[Doctor("王", "伟", [("08:20", "20:50")], 50)],
    services=[("Отбеливание", "Whitening", "美白", "1 880")],
    numbers=[("大众点评", "dianping", "021 5555 0101")])


def _ring(serve: Serve, call_id: str, caller: str, to: str, extension: str,
          path: str = "/webhooks/generic", secret: str = SECRET) -> None:
    """A signed generic webhook: ringing, from the caller, to the number, at the extension."""
    now = int(time.time())
    body = json.dumps({"call_id": call_id, "event": "ringing", "direction": "inbound",
                       "from": caller, "to": to, "extension": extension,
                       "timestamp": time.time()}).encode()
    request = urllib.request.Request(
        f"{_url(serve)}{path}", data=body,
        headers={"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                 SIGNATURE_HEADER: sign(secret, now, body)})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204


def _url(serve: Serve) -> str:
    return f"http://127.0.0.1:{serve.port}"


@dataclass
class World:
    serve: Serve
    browser: Any
    admin: Any  # the administrator's page (English)
    desks: dict[str, Any] = field(default_factory=dict)  # signed in once: their own password set


def _enter(page: Any, selector: str) -> None:
    page.locator(selector).press("Enter")  # Enter in the last field submits, as a person does


def _notice(page: Any) -> Any:
    return expect(page.locator("p.notice").first)


def _setup(page: Any, url: str) -> None:
    page.goto(f"{url}/desk")
    expect(page).to_have_url(f"{url}/setup")
    expect(page.locator("#f-clinic_name")).to_be_focused()
    page.keyboard.type(FIRST.name)
    page.fill("#f-address", "Тверская, 1")
    page.fill("#f-timezone", FIRST.zone)
    page.select_option("#f-language", FIRST.locale)
    page.select_option("#f-region", FIRST.region)
    for name, value in (("login", "chief"), ("first_name", "Maria"), ("last_name", "Sokolova"),
                        ("password", ADMIN_PASSWORD), ("password_again", ADMIN_PASSWORD)):
        page.fill(f"#f-{name}", value)
    _enter(page, "#f-password_again")
    expect(page).to_have_url(f"{url}/admin/setup")
    expect(page.locator(".checklist li.todo")).to_have_count(6)


def _furnish(page: Any, url: str, clinic: Clinic) -> None:
    """Hours, staff, doctors with schedules, the price list and the numbers of one clinic."""
    page.goto(f"{url}/admin/clinic?clinic={clinic.id}")
    for day in DAYS:
        page.fill(f"#f-hours_{day}", "08:00-21:00")
    _enter(page, "#f-hours_sun")
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.locator("#f-hours_sat")).to_have_value("08:00-21:00")

    for login, last, first, extension in clinic.receptionists:
        page.goto(f"{url}/admin/staff/new")
        expect(page.locator("#role")).to_be_focused()
        page.fill('input[name="last_name"]', last)
        page.fill('input[name="first_name"]', first)
        page.fill('input[name="login"]', login)
        page.fill('input[name="password"]', TEMPORARY)
        page.select_option('select[name="locale"]', clinic.locale)
        _pick_clinic(page, clinic)
        page.fill('input[name="sip_extension"]', extension)
        _enter(page, 'input[name="sip_extension"]')
        _notice(page).to_contain_text("choose their own password")

    for doctor in clinic.doctors:
        page.goto(f"{url}/admin/staff/new?role=doctor")
        expect(page.locator("#role")).to_have_value("doctor")
        page.fill('input[name="last_name"]', doctor.last)
        page.fill('input[name="first_name"]', doctor.first)
        _pick_clinic(page, clinic)
        page.locator('input[name="specialties"]').first.check()
        _enter(page, 'input[name="first_name"]')
        _notice(page).to_be_visible()
        page.get_by_role("link", name="Schedule and absences").click()
        page.wait_for_url("**/admin/doctors/*")
        page.fill('input[name="slot_minutes"]', str(doctor.slot))
        for day in DAYS:
            for n, (starts, ends) in enumerate(doctor.windows, 1):
                page.fill(f"#{day}-{n}-from", starts)
                page.fill(f"#{day}-{n}-to", ends)
        _enter(page, 'input[name="slot_minutes"]')
        _notice(page).to_have_text("Schedule saved")

    for ru, en, zh, price in clinic.services:
        page.goto(f"{url}/admin/services?clinic_id={clinic.id}")
        for selector, value in (("#name_ru", ru), ("#name_en", en), ("#name_zh", zh),
                                ("#duration_minutes", "30"), ("#price_min", price)):
            page.fill(selector, value)
        _enter(page, "#price_min")
        expect(page.locator('p.notice[role="status"]')).to_have_text("Service added")
        expect(page.locator("#price-list tr", has_text=en)).to_be_visible()

    for name, code, number in clinic.numbers:
        page.goto(f"{url}/admin/numbers?add=channel")
        expect(page.locator("#channel-name")).to_be_focused()
        page.keyboard.type(name)
        page.fill("#channel-code", code)
        _enter(page, "#channel-code")
        expect(page.locator("#channels tr", has_text=code)).to_contain_text(name)
        page.goto(f"{url}/admin/numbers?add=number")
        expect(page.locator("#e164")).to_be_focused()
        page.keyboard.type(number)
        page.select_option("#clinic_id", str(clinic.id))
        page.select_option("#channel_id", label=name)
        page.fill("#label", f"{code} ad")
        _enter(page, "#label")
        row = page.locator("#numbers tr", has_text=f"{code} ad")
        expect(row).to_contain_text(name)
        # A PBX names the dialed number in international form.
        clinic.tracked.append(phonenumbers.format_number(phonenumbers.parse(number, clinic.region),
                                                         phonenumbers.PhoneNumberFormat.E164))


def _pick_clinic(page: Any, clinic: Clinic) -> None:
    """Tick the clinic the new staff member works in, and only it (a network has several)."""
    boxes = page.locator('input[name="clinic_ids"]')
    for i in range(boxes.count()):
        box = boxes.nth(i)
        box.set_checked(box.get_attribute("value") == str(clinic.id))


def _desk(world: World, login: str, locale: str) -> Any:
    """The receptionist's first sign-in: the temporary password, then their own, then the desk."""
    if login in world.desks:
        return world.desks[login]
    context = world.browser.new_context(viewport={"width": 1440, "height": 1000}, locale=locale)
    page = context.new_page()
    url = _url(world.serve)
    page.goto(f"{url}/login")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', TEMPORARY)
    _enter(page, 'input[name="password"]')
    expect(page).to_have_url(f"{url}/account/password")
    page.fill('input[name="current"]', TEMPORARY)
    page.fill('input[name="new"]', OWN)
    page.fill('input[name="repeat"]', OWN)
    _enter(page, 'input[name="repeat"]')
    page.goto(f"{url}/desk")
    expect(page).to_have_url(f"{url}/desk")
    expect(page.locator('#conn[data-state="live"]')).to_be_visible()
    world.desks[login] = page
    return page


def _possible_slots(clinic: Clinic, now: datetime) -> dict[str, set[str]]:
    """Every slot each doctor's week offers in the coming month, as the card says it."""
    zone = ZoneInfo(clinic.zone)
    today = now.astimezone(zone).date()
    said: dict[str, set[str]] = {}
    for doctor in clinic.doctors:
        labels = said.setdefault(doctor.last, set())
        for offset in range(31):
            day = today + timedelta(days=offset)
            for starts, ends in doctor.windows:
                at = datetime.combine(day, clock.fromisoformat(starts), zone)
                end = datetime.combine(day, clock.fromisoformat(ends), zone)
                while at + timedelta(minutes=doctor.slot) <= end:
                    labels.add(format_when(at, zone, clinic.locale))
                    at += timedelta(minutes=doctor.slot)
    return said


def _assert_pop(desk: Any, clinic: Clinic, rang_at: datetime, receptionist: str) -> Any:
    card = desk.locator("article.pop")
    expect(card).to_have_count(1)
    opening = card.locator(".step.opening li").first
    expect(opening).to_be_visible()
    greetings = {greeting_for(moment, clinic.zone, clinic.locale)
                 for moment in (rang_at, datetime.now(ZoneInfo("UTC")))}  # a boundary in between
    said = opening.inner_text()
    assert any(said.startswith(g) for g in greetings), (said, greetings)
    assert receptionist in said
    slots = card.locator(".slot")
    expect(slots).to_have_count(2)
    possible = _possible_slots(clinic, rang_at)
    for text in slots.all_inner_texts():
        label = text.split(" ", 2)[2]  # after "B 1"
        when, _, doctor = label.partition(" · ")
        owners = [last for last, labels in possible.items() if last in doctor]
        assert len(owners) == 1 and when.strip() in possible[owners[0]], (text, owners)
    return card


def _price_question(desk: Any, card: Any, clinic: Clinic, service: tuple[str, str, str, str],
                    currency: str) -> None:
    desk.keyboard.press("p")
    pick = card.locator("[data-service-pick]")
    expect(pick).to_be_focused()
    name = {"ru": service[0], "en": service[1], "zh": service[2]}[clinic.locale]
    pick.select_option(label=name)
    minor = int(service[3].replace(" ", "")) * 100
    price = format_amount(minor, currency, clinic.locale)
    steps = card.locator("div.steps")
    expect(steps).to_contain_text(name)
    expect(steps).to_contain_text(price)
    for other in clinic.services:
        if other is not service:
            expect(steps).not_to_contain_text(format_amount(int(other[3].replace(" ", "")) * 100,
                                                            currency, clinic.locale))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require(os.path.exists(CHROMIUM), "no Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=WAIT)
    # The real `callcenter serve --no-demo` on an empty instance folder (SQLite, its own Redis).
    # The instance's own SQLite file, or an empty PostgreSQL database that serve migrates itself.
    database = ({} if request.param == "sqlite" else {"DATABASE_URL": request.getfixturevalue(
        "postgres_server").create_database("acceptance")})
    serve = Serve(tmp_path_factory.mktemp("accept"), "--no-demo", CALLCENTER_GENERIC_SECRET=SECRET,
                  **database)
    try:
        _wait(lambda: serve.get("/setup")[0] == 200, "serve answers /setup", DEADLINE)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)  # ARGS: hermetic, --host-resolver-rules
            admin = browser.new_context(viewport={"width": 1280, "height": 1000},
                                        locale="en-US").new_page()
            admin.set_default_timeout(WAIT)
            _setup(admin, _url(serve))
            FIRST.id = 1
            _furnish(admin, _url(serve), FIRST)
            admin.goto(f"{_url(serve)}/admin/pbx")
            generic = admin.locator("#pbx-generic")
            expect(generic.locator("code.url")).to_have_text(f"{_url(serve)}/webhooks/generic")
            expect(generic.locator("[data-secret]")).to_have_attribute("data-secret", "set")
            yield World(serve, browser, admin)
            browser.close()
    finally:
        serve.stop()


def _call_id(card: Any) -> str:
    call_id = card.get_attribute("data-call-id")
    assert call_id and call_id.isdigit()
    return call_id


def _not_found(desk: Any, url: str, call_id: str) -> None:
    for path in (f"/api/calls/{call_id}", f"/api/desk/calls/{call_id}/card"):
        assert desk.context.request.get(f"{url}{path}").status == 404, path


def test_a_new_clinic_pops_its_calls_at_the_right_desk(world: World) -> None:
    anna = _desk(world, "anna", "ru-RU")
    olga = _desk(world, "olga", "ru-RU")
    rang_at = datetime.now(ZoneInfo("UTC"))
    _ring(world.serve, "accept-1", STRANGER, FIRST.tracked[1], "101")
    card = _assert_pop(anna, FIRST, rang_at, "Анна")
    # Olga's stream carries the events in order: her own call arrives, and it is the only one.
    _ring(world.serve, "accept-2", "+79035550000", FIRST.tracked[2], "102")
    expect(olga.locator("article.pop")).to_have_count(1)
    _assert_pop(olga, FIRST, rang_at, "Ольга")
    expect(anna.locator("article.pop")).to_have_count(1)
    _price_question(anna, card, FIRST, FIRST.services[1], "RUB")


def test_a_second_clinic_of_the_network_keeps_its_own(world: World) -> None:
    page, url = world.admin, _url(world.serve)
    page.goto(f"{url}/admin/clinics")
    page.fill("#f-name", SECOND.name)
    page.fill("#f-timezone", SECOND.zone)
    page.select_option("#f-locale", SECOND.locale)
    page.fill("#f-region", SECOND.region)
    _enter(page, "#f-region")
    page.wait_for_url("**/admin/clinic?clinic=*")
    SECOND.id = int(parse_qs(urlsplit(page.url).query)["clinic"][0])
    assert SECOND.id != FIRST.id
    _furnish(page, url, SECOND)
    # Shanghai has its own account with the PBX provider: its own address and secret.
    page.goto(f"{url}/admin/pbx?clinic_id={SECOND.id}")
    row = page.locator("#pbx-generic")
    row.locator("summary").click()
    row.locator("input[name=GENERIC_SECRET]").fill(SECOND_SECRET)
    row.locator("form[action$='/account'] button[type=submit]").click()
    row = page.locator("#pbx-generic")
    expect(row.locator("[data-secret]")).to_have_attribute("data-secret", "own")
    own_url = row.locator("code.url").inner_text()
    assert own_url.startswith(f"{url}/webhooks/generic/c/")
    own_path = own_url.removeprefix(url)
    assert SECOND_SECRET not in page.content()

    anna = _desk(world, "anna", "ru-RU")
    li = _desk(world, "li.na", "zh-CN")
    anna_cards = anna.locator("article.pop").count()
    rang_at = datetime.now(ZoneInfo("UTC"))
    # Both clinics have an extension 101: the Shanghai call pops only at Shanghai's 101.
    _ring(world.serve, "accept-cn-1", STRANGER_CN, SECOND.tracked[0], "101", own_path, SECOND_SECRET)
    card = _assert_pop(li, SECOND, rang_at, "娜")
    _price_question(li, card, SECOND, SECOND.services[0], "CNY")
    _ring(world.serve, "accept-3", "+79035550001", FIRST.tracked[0], "101")
    ours = anna.locator("article.pop")
    expect(ours).to_have_count(anna_cards + 1)  # in order on her stream: only her clinic's call
    expect(li.locator("article.pop")).to_have_count(1)
    moscow = _call_id(ours.last)
    shanghai = _call_id(card)
    assert shanghai not in [_call_id(c) for c in ours.all()]
    _not_found(anna, url, shanghai)
    _not_found(li, url, moscow)
    assert li.context.request.get(f"{url}/api/calls/{shanghai}").status == 200
    assert anna.context.request.get(f"{url}/api/calls/{moscow}").status == 200
