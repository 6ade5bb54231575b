"""Issue 16's acceptance: after importing a Windows-1251 `;` CSV of patients and an XLSX of
visits, a call from an imported patient's number pops their card with their next visit,
tomorrow's confirmation list holds the imported visits, and the follow-up list holds the
imported treatments that are due (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, ExternalRef
from callcenter.desk.popcard import build_card
from callcenter.exchange.importer import run_import
from callcenter.exchange.tables import read_table
from callcenter.inbound.calls import record_call_event
from callcenter.outbound import lists
from tests import factories as f
from tests.campaign_env import ALL_WEEK, TZ
from tests.import_files import DOCTORS, PATIENTS_1251, csv_bytes, xlsx_bytes
from webhooks import CallEventKind

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # Tuesday, 12:00 in Moscow
TODAY = date(2026, 3, 10)
TOMORROW = TODAY + timedelta(days=1)
CONFIG: dict[str, Any] = {"TIMEZONE": TZ, "LOCALE": "ru", "REGION": "RU"}

VISITS = [
    ["ID визита", "Код пациента", "ID врача", "Дата", "Время", "Окончание", "Услуга", "Статус"],
    ["V-1", "P-1", "D-1", TOMORROW, "10:00", "10:30", "Лечение кариеса", "Записан"],
    ["V-2", "P-1", "D-1", datetime(2026, 3, 9, 10, 0), None, None, "Консультация", "Выполнен"],
    ["V-3", "P-2", "D-2", TOMORROW, "15:00", "16:00", "Имплантация", "Отменен"],
    ["V-4", "P-5", "D-2", TOMORROW, "17:30", None, "Консультация", "записан"],
    ["V-5", "P-5", "D-1", date(2026, 3, 3), "11:00", None, "Консультация", "Не пришел"],
]
TREATMENTS = [
    ["ID лечения", "Код пациента", "ID врача", "ID визита", "Вид лечения", "Дата лечения"],
    ["T-1", "P-1", "D-1", "V-2", "Пломба", "09.03.2026"],
    ["T-2", "P-5", "", "", "Удаление", "01.01.2026"],
    ["T-3", "P-2", "D-2", "", "Пломбирование", "2026-03-09"],
]


def _local(session: Session, kind: str, external_id: str) -> int:
    return session.scalar(select(ExternalRef.local_id).where(
        ExternalRef.kind == kind, ExternalRef.external_id == external_id))  # type: ignore[return-value]


def test_imported_patients_pop_and_fill_the_lists(session: Session) -> None:
    clinic = f.clinic(session, opening_hours=ALL_WEEK, timezone=TZ)
    f.channel_number(session, clinic, "maps_listing", "+74951230001")
    session.commit()

    def load(kind: str, content: bytes, name: str) -> dict[str, int]:
        return run_import(session, clinic, kind, read_table(content, name), now=NOW).counts

    assert load("doctors", csv_bytes(DOCTORS, "utf-8-sig"), "doctors.csv")["created"] == 2
    assert load("patients", csv_bytes(PATIENTS_1251, "cp1251", ";"), "patients.csv")["created"] == 3
    assert load("appointments", xlsx_bytes(VISITS), "visits.xlsx") == {
        "created": 5, "updated": 0, "unchanged": 0, "refused": 0}
    assert load("treatments", csv_bytes(TREATMENTS, "cp1251", ";"), "t.csv")["created"] == 3

    record_call_event(session, f.event(CallEventKind.RINGING, 7200, caller="+79161234567"), config=CONFIG)
    session.commit()
    call = session.scalars(select(Call)).one()
    card = build_card(session, call.id, NOW, "ru")
    assert card is not None
    ivan_id = _local(session, "patients", "P-1")
    by_id = {p["id"]: p for p in card["patients"]}
    # The family number: both patients who share it are offered.
    assert set(by_id) == {ivan_id, _local(session, "patients", "P-2")}
    ivan = by_id[ivan_id]
    assert ivan["name"] == "Иванов Иван Иванович" and not ivan["new"]
    tomorrow_10 = datetime(2026, 3, 11, 10, 0, tzinfo=ZoneInfo(TZ))
    assert [(a["starts_at"], a["service"]) for a in ivan["next_appointments"]] == [
        (tomorrow_10.astimezone(UTC).isoformat(), "Лечение кариеса")]
    assert ivan["last_visit"]["service"] == "Консультация"

    # Tomorrow's booked visits, not the cancelled one (V-3), nor P-5's (V-4): the file says
    # P-5 declined calls.
    confirmations = lists.build_confirmations(session, clinic, NOW)
    assert [t.appointment_id for t in confirmations] == [_local(session, "appointments", "V-1")]
    follow_ups = lists.build_follow_ups(session, clinic, NOW)
    # Fillings done yesterday are due a call today; Ivan's waits, as he comes in tomorrow.
    maria_id = _local(session, "patients", "P-2")
    assert [(t.patient_id, t.due_date, t.treatment_id) for t in follow_ups] == [
        (maria_id, TODAY, _local(session, "treatments", "T-3"))]
