"""The deterministic demo clinic: same seed and same `today`, same rows, on any database.

Everything is planned in memory with plain indices, then bulk-inserted, so 5,000 patients load in
seconds and 100,000 in about a minute on SQLite. The parts (clinic.py, people.py, history.py,
calls.py) share one seeded generator, so the order they run in below is part of the output:
moving a step changes every row after it.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from callcenter.demo.calls import CallLog
from callcenter.demo.clinic import FUTURE_DAYS, HISTORY_DAYS, ClinicPlan
from callcenter.demo.history import History
from callcenter.demo.people import People


def load_demo(session: Session, *, seed: int, patients: int, config: dict[str, Any],
              today: date | None = None) -> str:
    """Fill the database with the demo clinic and return a one-line summary; the caller commits."""
    if patients < 20:
        raise ValueError(f"patients: at least 20 needed, got {patients}")
    zone = ZoneInfo(config["TIMEZONE"])
    day = today or datetime.now(zone).date()
    clinic = ClinicPlan(random.Random(seed), zone, config["LOCALE"], config["REGION"], day)
    people = People(clinic, patients)
    log = CallLog(clinic, people)
    history = History(clinic, people, log)

    clinic.plan_days_off()
    clinic.plan_tracking()
    people.plan_doctors()
    people.plan_patients()
    history.plan_visits()
    waiting = history.book_visits()
    log.add_other_calls(waiting)
    log.add_missed_calls()
    history.plan_history()

    clinic_id, channels, tracking = clinic.write(session, config["TIMEZONE"], log.first_to_unregistered())
    doctor_ids, agents = people.write_staff(session, clinic_id)
    patient_ids = people.write_patients(session, clinic_id)
    call_ids = log.write(session, clinic_id, patient_ids, tracking, channels, agents)
    visits, treatments = history.write(session, clinic_id, patient_ids, doctor_ids, call_ids)
    return (f"clinic '{clinic.name}' ({config['TIMEZONE']}): {len(patient_ids)} patients "
            f"({len(people.leads)} leads), {len(people.doctors)} doctors, {len(agents)} receptionists, "
            f"{visits} appointments, {treatments} treatments, {len(call_ids)} calls to "
            f"{len(clinic.tracking)} numbers, "
            f"{day - timedelta(days=HISTORY_DAYS)} to {day + timedelta(days=FUTURE_DAYS)}")
