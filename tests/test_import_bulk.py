"""The import's fast insert (exchange.bulk: values converted once, the driver's executemany or
COPY) stores exactly what SQLAlchemy's ORM stores for the same values, byte for byte in the
database and as read back, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from callcenter.core import db as bulk_db
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import (
    AnalyticsDirty,
    Appointment,
    AppointmentStatus,
    ExternalRef,
    Patient,
    PatientPhone,
    Service,
    Sex,
    Staff,
    StaffRole,
    Treatment,
    TreatmentType,
)
from callcenter.exchange import bulk
from callcenter.exchange.upsert import _insert_returning_ids
from tests import factories as f

SHARED = ("clinic_id", "kind", "updated_at")
MOSCOW = ZoneInfo("Europe/Moscow")
MOMENTS = (datetime(2026, 3, 1, 7, 0, tzinfo=UTC), datetime(2026, 3, 1, 7, 0, 5, 120, tzinfo=UTC),
           datetime(2025, 10, 26, 2, 30, tzinfo=MOSCOW), datetime(1999, 12, 31, 23, 59, 59, 999999,
                                                                  tzinfo=UTC))


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    yield session
    session.close()
    engine.dispose()


def _stored(session: Session, table: Table, ids: list[int],
            skip: set[str]) -> list[dict[str, Any]]:
    """The rows as the database holds them (no SQLAlchemy type on the way out), without ids."""
    names = ", ".join(c.name for c in table.columns if c.name not in {"id", *skip})
    return [dict(session.execute(text(f"SELECT {names} FROM {table.name} WHERE id = :id"),
                                 {"id": i}).mappings().one()) for i in ids]


def _read(session: Session, model: type, ids: list[int], skip: set[str]) -> list[dict[str, Any]]:
    session.expire_all()
    return [{c.key: getattr(row, c.key) for c in model.__table__.columns
             if c.key not in {"id", *skip}}
            for row in session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id))]


def _both_ways(session: Session, model: type, rows: list[dict[str, Any]],
              unique: dict[str, Any] | None = None) -> None:
    """Each row written by the ORM and by the fast path (ids from the same path the import
    takes), then compared stored and read back; `unique` gives the fast path's rows other
    values for the columns of a unique key (left out of the comparison)."""
    table = model.__table__
    orm = [model(**row) for row in rows]
    session.add_all(orm)
    session.flush()
    orm_ids = [row.id for row in orm]
    fast_ids = []
    for row in rows:  # one at a time: each its own key set, as a batch of one
        given = {**row, **(unique or {})}
        # the import's way: what every row of a batch shares is given once (and converted once)
        shared = {key: given.pop(key) for key in SHARED if key in given}
        fast_ids += _insert_returning_ids(session, table, [given], shared)
    session.commit()
    skip = set(unique or {})
    assert _stored(session, table, fast_ids, skip) == _stored(session, table, orm_ids, skip)
    assert _read(session, model, fast_ids, skip) == _read(session, model, orm_ids, skip)


def test_patients_phones_and_references_stored_as_the_orm_stores_them(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    now = MOMENTS[1]
    _both_ways(db, Patient, [
        {"clinic_id": clinic.id, "last_name": "Иванова", "first_name": "Анна", "patronymic": "",
         "birth_date": date(1980, 2, 29), "sex": Sex.FEMALE, "preferred_language": "ru",
         "consent_calls": False, "consent_marketing": True, "notes": "аллергия",
         "created_at": now},
        {"clinic_id": clinic.id, "first_name": "Wei", "sex": Sex.UNKNOWN, "created_at": MOMENTS[2],
         "erased_at": MOMENTS[3]},
    ])
    patient, other = f.patient(db, clinic, "+79161234567"), f.patient(db, clinic, "+79161234568")
    db.commit()
    _both_ways(db, PatientPhone, [{"patient_id": patient.id, "e164": "+74951234567",
                                   "label": "family"}], {"patient_id": other.id})
    _both_ways(db, ExternalRef, [{"clinic_id": clinic.id, "kind": "patients", "external_id": "P-1",
                                  "local_id": patient.id, "digest": "a" * 64, "updated_at": now}],
               {"external_id": "P-2"})


def test_visits_treatments_doctors_services_stored_as_the_orm_stores_them(db: Session) -> None:
    clinic = f.clinic(db)
    patient = f.patient(db, clinic, "+79161234567")
    db.commit()
    _both_ways(db, Staff, [{"clinic_id": clinic.id, "role": StaffRole.DOCTOR, "last_name": "Петрова",
                            "first_name": "Мария", "specialties": ["therapist", "surgeon"],
                            "created_at": MOMENTS[0]}])
    doctor = db.scalars(select(Staff).where(Staff.clinic_id == clinic.id)).first()
    _both_ways(db, Service, [{"clinic_id": clinic.id, "names": {"ru": "Осмотр", "zh": "检查"},
                              "duration_minutes": 45, "price_min": 150000, "price_max": 200000,
                              "created_at": MOMENTS[2]}])
    visits = [{"clinic_id": clinic.id, "patient_id": patient.id, "doctor_id": doctor.id,
               "starts_at": starts, "ends_at": MOMENTS[(i + 1) % len(MOMENTS)], "status": status,
               "created_at": MOMENTS[i - 1], "updated_at": MOMENTS[i]}
              for i, (starts, status) in enumerate(zip(MOMENTS, AppointmentStatus, strict=False))]
    visits[0].update(service="Осмотр", price=Decimal("1500.50"), notes="first")
    _both_ways(db, Appointment, visits)
    visit = db.scalars(select(Appointment.id)).first()
    _both_ways(db, Treatment, [
        {"clinic_id": clinic.id, "patient_id": patient.id, "doctor_id": doctor.id,
         "appointment_id": visit, "type": kind, "performed_on": date(2025, 1, 31), "notes": "n"}
        for kind in TreatmentType] + [
        {"clinic_id": clinic.id, "patient_id": patient.id, "type": "filling",
         "performed_on": date(2024, 2, 29)}])


def test_a_batch_of_many_statements_keeps_its_order_ids_and_trigger_marks(db: Session) -> None:
    """A batch longer than one statement (SQLite: ROWS_PER_STATEMENT rows to an INSERT) goes in
    in the rows' order under the ids returned, and the analytics triggers mark every visit and the
    patient whose phones were added."""
    clinic = f.clinic(db)
    patient = f.patient(db, clinic, "+79161234567")
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, last_name="Петрова", first_name="Мария")
    db.add(doctor)
    db.commit()
    count = 2 * bulk.ROWS_PER_STATEMENT + 7
    visits = [{"patient_id": patient.id, "doctor_id": doctor.id, "notes": f"visit {n}",
               "starts_at": MOMENTS[n % 2], "ends_at": MOMENTS[n % 2], "created_at": MOMENTS[0]}
              for n in range(count)]
    ids = _insert_returning_ids(db, Appointment.__table__, visits, {"clinic_id": clinic.id})
    bulk.insert(db, PatientPhone.__table__, [
        {"patient_id": patient.id, "e164": f"+7916{n:07d}", "label": "home"} for n in range(count)])
    db.commit()
    assert ids == list(range(ids[0], ids[0] + count))
    assert db.execute(select(Appointment.id, Appointment.notes).where(Appointment.id.in_(ids))
                      .order_by(Appointment.id)).all() == [
        (local, f"visit {n}") for n, local in enumerate(ids)]
    assert db.scalars(select(PatientPhone.e164).where(PatientPhone.label == "home")
                      .order_by(PatientPhone.id)).all() == [f"+7916{n:07d}" for n in range(count)]
    marked = db.scalars(select(AnalyticsDirty.appointment_id).where(
        AnalyticsDirty.appointment_id.in_(ids)).order_by(AnalyticsDirty.id)).all()
    assert marked == ids
    # The phones' patient is marked (once a row on SQLite, once a statement on PostgreSQL).
    assert db.scalar(select(func.count(AnalyticsDirty.id)).where(
        AnalyticsDirty.patient_id == patient.id)) >= 1


def test_a_value_sqlalchemy_refuses_is_refused_by_the_fast_path_too(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    with pytest.raises(ValueError, match="naive"):
        bulk.insert(db, Patient.__table__, [{"clinic_id": clinic.id, "first_name": "A",
                                             "created_at": datetime(2026, 3, 1, 7, 0)}])
    db.rollback()


def test_an_imports_sqlite_settings_are_its_own(database_url: str) -> None:
    """A bulk session's transactions get the bulk writer's SQLite settings (page cache, WAL
    checkpoint, temporary storage), from the transaction in progress on; the pooled connection
    gives them back with its next ordinary transaction."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)  # one connection, reused
    sessions = make_session_factory(engine)

    def settings(session: Session) -> list[int]:
        return [session.execute(text(f"PRAGMA {pragma}")).scalar_one()
                for pragma, _bulk, _default in bulk_db.BULK_PRAGMAS]

    wanted = [value for _pragma, value, _default in bulk_db.BULK_PRAGMAS]
    default = [value for _pragma, _wanted, value in bulk_db.BULK_PRAGMAS]
    try:
        with sessions() as importing:
            if engine.dialect.name != "sqlite":
                with bulk_db.bulk(importing):  # nothing to set on PostgreSQL: no statement, no error
                    assert importing.execute(text("SELECT 1")).scalar_one() == 1
                return
            assert settings(importing) == default
            with bulk_db.bulk(importing):  # begun in the middle of a transaction
                assert settings(importing) == wanted
                importing.commit()
                assert settings(importing) == wanted  # the next batch's transaction
                importing.commit()
        with sessions() as page_view:
            assert settings(page_view) == default
    finally:
        engine.dispose()
