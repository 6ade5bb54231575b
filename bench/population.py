"""A lean, deterministic clinic population for benchmarks: patients with phones, tracking numbers."""

from __future__ import annotations

import random

from sqlalchemy import func, insert, select, text

from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Channel, Clinic, Patient, PatientPhone, TrackingNumber

CHUNK = 5000


def patient_phone(index: int) -> str:
    return f"+7916{index:07d}"


def tracking_number(index: int) -> str:
    return f"+7495{index:07d}"


def populate(url: str, patients: int, numbers: int, seed: int = 7) -> int:
    """Insert one clinic, `patients` patients (each with a mobile) and `numbers` tracking numbers."""
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        clinic = Clinic(name="Bench clinic", timezone="Europe/Moscow", locale="ru", region="RU",
                        opening_hours={})
        session.add(clinic)
        session.flush()
        channels = [Channel(code=f"bench_{i}", name=f"Channel {i}") for i in range(min(numbers, 10))]
        session.add_all(channels)
        session.flush()
        session.execute(insert(TrackingNumber), [
            {"clinic_id": clinic.id, "e164": tracking_number(i),
             "channel_id": channels[i % len(channels)].id, "label": f"line {i}"}
            for i in range(numbers)
        ])
        start = session.scalar(select(func.coalesce(func.max(Patient.id), 0)))
        for offset in range(0, patients, CHUNK):
            count = min(CHUNK, patients - offset)
            session.execute(insert(Patient), [
                {"clinic_id": clinic.id, "first_name": rng.choice(["Anna", "Ivan", "Li", "Mark"]),
                 "last_name": f"Bench{offset + i}", "preferred_language": "ru"}
                for i in range(count)
            ])
            session.execute(insert(PatientPhone), [
                {"patient_id": start + offset + i + 1, "e164": patient_phone(offset + i),
                 "label": "mobile"}
                for i in range(count)
            ])
        session.commit()
        clinic_id = clinic.id
    with engine.begin() as conn:  # planner statistics, as autovacuum would gather them in service
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return clinic_id
