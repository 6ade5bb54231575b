"""The visits and the calls to make, in Chromium: arrival → completed with a treatment → its
follow-up call; a no-show → its call-back on the list; a cancellation → the freed slot's gap-fill
list; at 23:00 clinic time the list has nothing to call and says why. By keyboard where the desk
works by keyboard."""

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
    DialTask,
    Patient,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
    utcnow,
)
from tests import desk_world as w
from tests import factories as f
from tests.test_csp_browser import Watched
from tests.test_desk_browser import Live, browser, live, twilio  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def _signed_in(browser: Any, live: Live) -> Watched:  # noqa: F811
    watched = Watched(browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US"))
    page = watched.visit(f"{live.url}/login")
    page.fill('input[name="login"]', "john")  # the English desk
    page.fill('input[name="password"]', w.PASSWORD)
    page.click('button[type="submit"]')
    expect(page).to_have_url(re.compile(r"/desk$"))
    return watched


def _visit(live: Live, patient: Patient, starts_in: timedelta,  # noqa: F811
           status: AppointmentStatus = AppointmentStatus.CONFIRMED) -> int:
    with live.sessions() as session:
        starts = utcnow() + starts_in
        visit = Appointment(clinic_id=live.world.clinic.id, patient_id=patient.id,
                            doctor_id=live.world.doctor.id, starts_at=starts,
                            ends_at=starts + timedelta(minutes=30), service="Check-up", status=status)
        session.add(visit)
        session.commit()
        return visit.id


def test_arrival_completion_and_no_show_by_keyboard(live: Live, browser: Any) -> None:  # noqa: F811
    alisa, emily = live.world.family[1], live.world.emily
    arriving = _visit(live, alisa, timedelta(minutes=-2))
    missing = _visit(live, emily, timedelta(minutes=-3))
    watched = _signed_in(browser, live)
    page = watched.visit(f"{live.url}/desk/visits")
    row = page.locator(f'tr[data-visit="{arriving}"]')
    row.focus()
    page.keyboard.press("a")
    expect(row.locator(".status")).to_have_text("arrived")
    page.keyboard.press("c")
    dialog = page.locator("#treatment-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator('input[value="extraction"]')).to_be_focused()
    page.keyboard.press("Tab")  # → filling
    expect(dialog.locator('input[value="filling"]')).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(row.locator(".status")).to_have_text("completed")
    expect(row.locator(".result")).to_contain_text("Follow-up calls")
    with live.sessions() as session:
        treatment = session.scalars(select(Treatment).where(Treatment.appointment_id == arriving)).one()
        follow_up = session.scalars(select(DialTask).where(DialTask.treatment_id == treatment.id)).one()
        assert (treatment.type, follow_up.purpose, follow_up.state) == (
            TreatmentType.FILLING, TaskPurpose.FOLLOW_UP, TaskState.PENDING)
        assert follow_up.due_date == treatment.performed_on + timedelta(days=1)
    # The follow-up is on the patient's card among the calls due.
    page = watched.visit(f"{live.url}/desk/patients/{alisa.id}")
    expect(page.locator(".facts")).to_contain_text("follow-up")

    page = watched.visit(f"{live.url}/desk/visits")
    row = page.locator(f'tr[data-visit="{missing}"]')
    row.focus()
    page.keyboard.press("n")
    expect(row.locator(".status")).to_have_text("did not come")
    expect(row.locator(".result")).to_contain_text("Call-back added")
    page = watched.visit(f"{live.url}/desk/outbound?purpose=no_show")
    task_row = page.locator("tr[data-task]", has_text="Emily")
    expect(task_row).to_contain_text("no-show")
    expect(task_row.locator("button.outcome")).to_have_count(7)  # booked, talked, ... no "confirmed"
    expect(task_row.locator('button.outcome[data-outcome="confirmed"]')).to_have_count(0)
    watched.collect()
    assert watched.problems == []


def test_a_cancellation_offers_the_freed_slot_and_undo_takes_an_outcome_back(
        live: Live, browser: Any) -> None:  # noqa: F811
    with live.sessions() as session:
        waiting = f.patient(session, live.world.clinic, "+79160000011", first_name="Wanda", last_name="Early")
        recall = f.patient(session, live.world.clinic, "+79160000012", first_name="Rita", last_name="Recall")
        session.add(DialTask(clinic_id=live.world.clinic.id, patient_id=recall.id, purpose=TaskPurpose.RECALL,
                             due_date=utcnow().date(), phone="+79160000012", state=TaskState.PENDING))
        session.commit()
    _visit(live, waiting, timedelta(days=9))
    with live.sessions() as session:
        later = session.scalars(select(Appointment).where(Appointment.patient_id == waiting.id)).one()
        later.wants_earlier = True
        session.commit()
    freed = _visit(live, live.world.maria, timedelta(days=3))
    watched = _signed_in(browser, live)
    page = watched.page
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    reply = page.request.post(f"{live.url}/api/desk/appointments/{freed}/cancel",
                              headers={"X-CSRF-Token": token or ""},
                              data={"call_back_at": (utcnow() + timedelta(days=1)).isoformat()})
    assert reply.ok, reply.text()
    page = watched.visit(f"{live.url}/desk/outbound?purpose=gap_fill")
    rows = page.locator("tr[data-task]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Wanda")  # the waiting list comes first
    expect(rows.nth(0)).to_contain_text("on the waiting list")
    expect(rows.nth(1)).to_contain_text("Rita")
    expect(rows.nth(1)).to_contain_text("check-up due")
    expect(rows.nth(0).locator(".about")).to_contain_text("Check-up")  # the freed visit
    rows.nth(0).locator("details.script summary").click()  # what to say, and two times to offer
    expect(rows.nth(0).locator(".script-body .slots li")).to_have_count(2)
    # An outcome can be taken back for a few seconds; after that it is recorded.
    rows.nth(1).locator('button.outcome[data-outcome="no_answer"]').click()
    rows.nth(1).locator("button.undo-button").click()
    expect(rows.nth(1).locator('button.outcome[data-outcome="no_answer"]')).to_be_visible()
    rows.nth(0).locator('button.outcome[data-outcome="booked"]').click()
    expect(page.locator("tr[data-task]", has_text="Wanda")).to_have_count(0)
    with live.sessions() as session:
        results = dict(session.execute(select(DialTask.patient_id, DialTask.result)
                                       .where(DialTask.purpose == TaskPurpose.GAP_FILL)).all())
        assert results == {waiting.id: "booked", recall.id: ""}
    watched.collect()
    assert watched.problems == []


def _zone_where_it_is_23_now() -> str:
    hour = utcnow().hour
    offset = 23 - hour if hour >= 9 else -1 - hour  # UTC+offset shows 23:xx; tz names flip the sign
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def test_at_23_00_clinic_time_the_list_has_nothing_to_call(live: Live, browser: Any) -> None:  # noqa: F811
    with live.sessions() as session:
        clinic = session.get(type(live.world.clinic), live.world.clinic.id)
        assert clinic is not None
        clinic.timezone = _zone_where_it_is_23_now()
        clinic.call_window_start = clinic.call_window_end = None  # the installation's 09:00-21:00
        patient = f.patient(session, clinic, "+79160000021", first_name="Late", last_name="Caller")
        session.add(DialTask(clinic_id=clinic.id, patient_id=patient.id, purpose=TaskPurpose.RECALL,
                             due_date=utcnow().date(), phone="+79160000021", state=TaskState.PENDING,
                             next_attempt_at=utcnow() - timedelta(hours=1)))
        session.commit()
    watched = _signed_in(browser, live)
    page = watched.visit(f"{live.url}/desk/outbound")
    expect(page.locator(".calling-closed")).to_contain_text("Outside calling hours (09:00–21:00)")
    expect(page.locator("tr[data-task]")).to_have_count(0)
    expect(page.locator("table.outbound")).to_contain_text("Nothing to call right now.")
    watched.collect()
    assert watched.problems == []
