"""Two desks booking one slot at the same moment get one visit and one clear "just taken", on
SQLite and PostgreSQL: through the real HTTP route from two threads, and through the domain
function on two connections with the loser held exactly between its checks and its write."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from callcenter.core.models import Appointment, Patient, Staff
from callcenter.core.models import Clinic as ClinicRow
from callcenter.schedule import booking
from callcenter.schedule.errors import SlotTaken
from tests import desk_world as w
from tests import factories as f
from tests.test_booking_rules import MONDAY, NOW, Clinic, clinic, local  # noqa: F401 (fixture)


def _book(session: Session, patient_id: int, doctor_id: int) -> Appointment:
    patient = session.get(Patient, patient_id)
    return booking.book(session, clinic=session.get(ClinicRow, patient.clinic_id), patient=patient,
                        doctor_id=doctor_id, starts_at=local(MONDAY, 10), now=NOW)


def test_the_claim_lets_one_of_two_concurrent_bookings_win(app: Any, clinic: Clinic) -> None:  # noqa: F811
    sessions = app.extensions["callcenter"].sessions
    checked, committed = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    late = sessions()

    @event.listens_for(late, "before_flush")
    def _hold(*_: Any) -> None:
        # Every check of the late desk has passed (it saw a free slot); the other desk now books
        # and commits before this one writes a row.
        if not checked.is_set():
            checked.set()
            committed.wait(60)

    def late_desk() -> None:
        try:
            _book(late, clinic.olga.id, clinic.therapist.id)
            late.commit()
            outcome["late"] = "booked"
        except SlotTaken as exc:
            outcome["late"] = exc
        finally:
            late.close()

    thread = threading.Thread(target=late_desk)
    thread.start()
    checked.wait(60)
    assert thread.is_alive(), outcome
    with sessions() as early:
        _book(early, clinic.ivan.id, clinic.therapist.id)
        early.commit()
    committed.set()
    thread.join(60)
    refusal = outcome["late"]
    assert isinstance(refusal, SlotTaken) and refusal.code == "slot_taken"
    assert refusal.message == "someone has just booked this time; pick another slot"
    with sessions() as check:
        visits = check.scalars(select(Appointment)).all()
        assert [(v.patient_id, v.starts_at) for v in visits] == [(clinic.ivan.id, local(MONDAY, 10))]


def test_two_desks_press_book_on_one_slot_at_once(app: Any, session: Session) -> None:
    world = w.build(session)
    doctor = session.get(Staff, world.doctor.id)
    zone_day = (datetime.now(UTC) + timedelta(days=3)).date()
    starts_at = w._at_hour(datetime.combine(zone_day, datetime.min.time(), UTC), 15)
    desks = []
    for staff, patient in ((world.anna, world.maria), (world.john, world.emily)):
        client = app.test_client()
        f.open_session(client, session, staff, csrf="t")
        desks.append((client, patient.id))
    f.unlock_all(session)
    start = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def desk(n: int) -> None:
        client, patient_id = desks[n]
        start.wait(30)
        answers[n] = client.post("/api/desk/schedule/book", json={
            "patient_id": patient_id, "doctor_id": doctor.id, "starts_at": starts_at.isoformat()})

    threads = [threading.Thread(target=desk, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.json for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json["error"] == "slot_taken" and loser.json["field"] == "starts_at"
    session.expire_all()
    assert session.scalar(select(func.count(Appointment.id)).where(
        Appointment.doctor_id == doctor.id, Appointment.starts_at == starts_at)) == 1
