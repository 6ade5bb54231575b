"""Complaints and non-patient callers in Chromium (issue 22's acceptance): a complaint recorded on
a call's card, routed to its owner by rule, answered by the owner and closed by the receptionist
who reports back; an overdue one on the manager's page and the desk; a vendor's call marked on
the card, put through, popping as that organisation on its next call, and out of the patient
funnel on /marketing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.access.passwords import hash_password
from callcenter.core.models import (
    AuditLog,
    Call,
    CallerKind,
    Complaint,
    ComplaintRule,
    ComplaintStatus,
    NonPatientPurpose,
    NonPatientRoute,
    Patient,
    RouteKind,
    Staff,
    StaffRole,
    utcnow,
)
from tests import desk_world as w
from tests.test_desk_browser import Live, browser, live, twilio  # noqa: F401 (fixtures)
from tests.test_desk_card_browser import desk

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)
VENDOR = "+74957770011"


def _manager(server: Live) -> Staff:
    with server.sessions() as session:
        boss = Staff(clinic_id=server.world.clinic.id, role=StaffRole.ADMIN, login="boss", first_name="Irina",
                     last_name="Head", locale="en", password_hash=hash_password(w.PASSWORD))
        session.add(boss)
        session.commit()
        return boss


def _signed_in(chromium: Any, server: Live, login: str, path: str, locale: str = "en-US") -> Any:
    page = chromium.new_context(viewport={"width": 1440, "height": 1000}, locale=locale).new_page()
    page.goto(f"{server.url}{path}")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', w.PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"**{path.split('?')[0]}*")
    return page


def _answered(server: Live, call_id: str, caller: str, extension: str = "101") -> None:
    server.post(call_id, "ringing", caller=caller, extension=extension)
    server.post(call_id, "answered", caller=caller, extension=extension)


def _complain(pop: Any, subject: str, severity: str, words: str) -> None:
    form = pop.locator("details.fd-complaint")
    form.locator("summary").click()
    form.locator("select[name=subject]").select_option(subject)
    form.locator("select[name=severity]").select_option(severity)
    form.locator("textarea[name=words]").fill(words)
    form.locator("button[type=submit]").click()


def test_a_complaint_on_the_card_is_routed_answered_closed_and_an_overdue_one_surfaces(
        live: Live, browser: Any) -> None:  # noqa: F811
    world = live.world
    boss = _manager(live)
    with live.sessions() as session:  # billing complaints go to John, two days to report back
        session.add(ComplaintRule(clinic_id=world.clinic.id, subject="billing", owner_id=world.john.id,
                                  due_days=2))
        session.commit()
    anna = desk(browser, live, "anna")
    _answered(live, "cmp-1", w.MARIA_PHONE)
    pop = anna.locator("article.pop")
    expect(pop.locator(".patient-name")).to_have_text("Соколова Мария Ивановна")
    _complain(pop, "billing", "medium", "Списали оплату дважды")
    today = utcnow().astimezone(ZoneInfo(world.clinic.timezone)).date()
    note = pop.locator(".fd-panel .fd-note")
    expect(note).to_contain_text("John Baker")
    expect(note).to_contain_text((today + timedelta(days=2)).isoformat())
    expect(pop.locator(".fd-panel .fd-complaint textarea[name=words]")).to_have_value("")
    with live.sessions() as session:
        billing = session.scalars(select(Complaint)).one()
        call = session.scalars(select(Call).where(Call.provider_call_id == "cmp-1")).one()
        assert (billing.owner_id, billing.callback_by_id, billing.call_id, billing.patient_id) == (
            world.john.id, world.anna.id, call.id, world.maria.id)

    # The owner answers from his list.
    john = _signed_in(browser, live, "john", "/complaints")
    mine = john.locator(f'article.complaint[data-complaint="{billing.id}"]')
    expect(mine).to_contain_text("Списали оплату дважды")
    mine.locator("textarea[name=answer]").fill("The second charge is refunded")
    mine.locator("button[type=submit]").click()
    expect(john.locator(f'article.complaint[data-complaint="{billing.id}"][data-status="answered"]')).to_be_visible()

    # The receptionist who took it sees it on her desk, tells the patient and closes it.
    anna.reload()
    expect(anna.locator(f'#list-complaints li[data-complaint="{billing.id}"]')).to_be_visible()
    anna.goto(f"{live.url}/complaints")
    hers = anna.locator(f'article.complaint[data-complaint="{billing.id}"]')
    expect(hers).to_contain_text("The second charge is refunded")
    hers.locator("form[action$='/close'] button").click()
    expect(anna.locator(f'article.complaint[data-complaint="{billing.id}"]')).to_have_count(0)
    with live.sessions() as session:
        assert session.get(Complaint, billing.id).status == ComplaintStatus.CLOSED  # type: ignore[union-attr]
        steps = session.scalars(select(AuditLog.action).where(
            AuditLog.object_type == "complaint", AuditLog.object_id == str(billing.id)).order_by(AuditLog.id)).all()
        assert steps == ["record_complaint", "answer_complaint", "close_complaint"]

    # Another complaint, with no rule: the manager owns it; its day passes with no word back.
    anna.goto(f"{live.url}/desk")
    expect(anna.locator('#conn[data-state="live"]')).to_be_visible()
    _answered(live, "cmp-2", w.EMILY_PHONE)
    pop = anna.locator('article.pop[data-call-id]').last
    _complain(pop, "waiting", "high", "Waited an hour past the time")
    expect(pop.locator(".fd-panel .fd-note")).to_contain_text("Irina Head")
    with live.sessions() as session:
        waiting = session.scalars(select(Complaint).where(Complaint.id != billing.id)).one()
        assert waiting.owner_id == boss.id
        waiting.due_on = today - timedelta(days=3)
        session.commit()
    manager = _signed_in(browser, live, "boss", "/complaints")
    overdue = manager.locator(f'#overdue li.overdue[data-complaint="{waiting.id}"]')
    expect(overdue).to_contain_text("Irina Head")
    expect(overdue).to_contain_text((today - timedelta(days=3)).isoformat())
    expect(manager.locator(f'#overdue li[data-complaint="{billing.id}"]')).to_have_count(0)
    anna.reload()  # and on the desk of whoever must call the patient back, marked overdue
    expect(anna.locator(f'#list-complaints li[data-complaint="{waiting.id}"] strong')).to_have_text("просрочено")


def test_a_vendor_marked_on_the_card_is_put_through_remembered_and_out_of_the_funnel(
        live: Live, browser: Any) -> None:  # noqa: F811
    world = live.world
    _manager(live)
    with live.sessions() as session:
        session.add(NonPatientRoute(clinic_id=world.clinic.id, purpose=NonPatientPurpose.VENDOR,
                                    kind=RouteKind.EXTENSION, person="Head nurse", target="105"))
        session.commit()
    # A patient's call of the day: the funnel's one call.
    for event in ("ringing", "answered", "ended"):
        live.post("fun-1", event, caller=w.MARIA_PHONE, extension="102")

    anna = desk(browser, live, "anna")
    _answered(live, "ven-1", VENDOR)
    pop = anna.locator("article.pop")
    expect(pop.locator(".new-patient")).not_to_have_count(0)  # an unknown number: a new card offered
    mark = pop.locator("details.fd-mark")
    mark.locator("summary").click()
    mark.locator("select[name=purpose]").select_option("vendor")
    mark.locator("input[name=name]").fill("Dental Supply Ltd")
    mark.locator("input[name=email]").fill("sales@ds.example")
    mark.locator("button[type=submit]").click()
    org = pop.locator(".fd-org")
    expect(org.locator("h4")).to_contain_text("Не пациент: Dental Supply Ltd")
    expect(org.locator(".fd-route")).to_contain_text("105")
    expect(pop.locator(".new-patient")).to_have_count(0)  # no patient card for a vendor
    org.locator("button[data-fd=transferred]").click()
    expect(pop.locator(".fd-panel .fd-note")).to_have_text("Переведено")

    # Its next call pops on John's desk as that organisation, with the business-call script.
    john = desk(browser, live, "john")
    _answered(live, "ven-2", VENDOR, extension="102")
    again = john.locator("article.pop")
    expect(again.locator(".fd-org h4")).to_contain_text("Not a patient: Dental Supply Ltd · Supplier")
    expect(again.locator(".fd-org .fd-route")).to_contain_text("Head nurse")
    # The script is in the caller's language (the clinic's), the labels in John's.
    expect(again.locator(".script h3")).to_contain_text("Поставщики, реклама и другие деловые звонки")
    expect(again.locator(".new-patient")).to_have_count(0)
    with live.sessions() as session:
        kinds = dict(session.execute(select(Call.provider_call_id, Call.caller_kind)).all())
        assert kinds["ven-1"] == kinds["ven-2"] == CallerKind.NON_PATIENT
        assert session.scalar(select(Patient.id).where(Patient.phones.any(e164=VENDOR))) is None
        first = session.scalars(select(Call).where(Call.provider_call_id == "ven-1")).one()
        audited = set(session.scalars(select(AuditLog.action).where(
            AuditLog.object_type == "call", AuditLog.object_id == str(first.id))))
        assert {"mark_non_patient", "route_non_patient"} <= audited

    # The patient funnel counts Maria's call only: the vendor's two calls are not in it.
    today = utcnow().astimezone(ZoneInfo(world.clinic.timezone)).date()
    board = _signed_in(browser, live, "boss", f"/marketing?from={today - timedelta(days=1)}&to={today}")
    expect(board.locator('#summary [data-metric="calls"] .value')).to_have_text("1")


def test_a_complaint_from_the_patient_page(live: Live, browser: Any) -> None:  # noqa: F811
    world = live.world
    with live.sessions() as session:
        session.add(ComplaintRule(clinic_id=world.clinic.id, subject="waiting", owner_id=world.john.id,
                                  due_days=1))
        session.commit()
    anna = _signed_in(browser, live, "anna", f"/desk/patients/{world.maria.id}")
    _complain(anna.locator(".patient-page"), "waiting", "high", "Ждала врача сорок минут")
    note = anna.locator(".patient-page .fd-panel .fd-note")
    expect(note).to_contain_text("John Baker")
    expect(anna.locator(".patient-page .fd-complaint textarea[name=words]")).to_have_value("")
    with live.sessions() as session:
        made = session.scalars(select(Complaint)).one()
        assert (made.patient_id, made.call_id, made.owner_id, made.callback_by_id, made.words) == (
            world.maria.id, None, world.john.id, world.anna.id, "Ждала врача сорок минут")
