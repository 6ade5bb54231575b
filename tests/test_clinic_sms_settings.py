"""A clinic's own text-message settings on /admin/clinic: confirmation mode, messaging window and
sender, each checked and named in the admin's language, blank = the installation's value, and the
one reader (`core/clinic_settings`) every sender and check-config asks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
from callcenter.core.models import Appointment, AuditLog, Clinic, Staff, StaffRole
from tests import factories as f
from tests.conftest import app_settings
from tests.test_clinic_settings import GOOD

SMS = {"sms_confirmation": "fallback", "sms_window": "10:00-20:30", "sms_sender": "DentalPlus"}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, SMS_PROVIDER="twilio",
                        SMS_SENDER="+74950001122", SMS_WINDOW="09:00-21:00",
                        SMS_CONFIRMATION="before_call", SMS_PRICE="2.5")


def _fresh(session: Session, clinic_id: int) -> Clinic:
    session.expire_all()
    clinic = session.get(Clinic, clinic_id)
    assert clinic is not None
    return clinic


def test_bad_text_settings_are_named_in_the_admins_language_and_nothing_is_saved(
        client: Any, session: Session) -> None:
    clinic = f.clinic(session, name="Before")
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension="501")
    bad = {**GOOD, "name": "After", "sms_confirmation": "pigeon", "sms_window": "21:00-08:00",
           "sms_sender": "Клиника"}
    page = client.post("/admin/clinic", data={**bad, "clinic": clinic.id})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    for field, message in (("sms_confirmation", "выберите один из предложенных способов"),
                           ("sms_window", "21:00-08:00 кончается раньше"),
                           ("sms_sender", "Клиника — не номер телефона и не имя отправителя")):
        assert f'id="e-{field}"' in text and message in text, field
    too_long = client.post("/admin/clinic", data={**GOOD, "sms_sender": "DentalPlusClinic",
                                                  "clinic": clinic.id})
    assert too_long.status_code == 400 and "длиннее 11 знаков" in too_long.get_data(as_text=True)
    not_a_number = client.post("/admin/clinic", data={**GOOD, "sms_sender": "+7 123", "clinic": clinic.id})
    assert "+7 123 — не номер телефона" in not_a_number.get_data(as_text=True)
    row = _fresh(session, clinic.id)
    assert (row.name, row.sms_confirmation, row.sms_window_start, row.sms_sender) == ("Before", None, None, None)
    assert session.scalar(select(AuditLog.id).where(AuditLog.action == "update_clinic_settings")) is None


def test_own_text_settings_are_saved_read_everywhere_and_blank_returns_to_the_installation(
        client: Any, session: Session, app: Any) -> None:
    clinic = f.clinic(session)
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension="501")
    page = client.get(f"/admin/clinic?clinic={clinic.id}").get_data(as_text=True)
    # What a blank field means is said on the page: the installation's values.
    assert "Как в установке: СМС, затем звонок, если ответа нет" in page
    assert 'placeholder="09:00-21:00"' in page and "+74950001122" in page

    saved = client.post("/admin/clinic", data={**GOOD, **SMS, "clinic": clinic.id})
    assert saved.status_code == 302
    row = _fresh(session, clinic.id)
    assert (row.sms_confirmation, row.sms_window_start, row.sms_window_end, row.sms_sender) == (
        "fallback", time(10), time(20, 30), "DentalPlus")
    config = app.config
    assert clinic_settings.sms_confirmation(row, config) == "fallback"
    assert clinic_settings.sms_window(row, config) == (time(10), time(20, 30))
    assert clinic_settings.sms_sender(row, config) == "DentalPlus"
    own = f"clinic {row.id}'s own setting"
    assert {what: (value, origin) for what, value, origin in clinic_settings.origins(row, config, {})}.items() >= {
        "text window": ("10:00-20:30", own), "confirmation by text": ("fallback", own),
        "text sender": ("DentalPlus", own)}.items()
    page = client.get(f"/admin/clinic?clinic={clinic.id}").get_data(as_text=True)
    assert 'value="10:00-20:30"' in page and 'value="DentalPlus"' in page
    assert '<option value="fallback" selected>' in page

    # A number is stored as E.164 in the clinic's numbering plan.
    client.post("/admin/clinic", data={**GOOD, **SMS, "sms_sender": "8 (495) 765-43-21", "clinic": clinic.id})
    assert _fresh(session, clinic.id).sms_sender == "+74957654321"

    client.post("/admin/clinic", data={**GOOD, "sms_confirmation": "", "sms_window": "", "sms_sender": "",
                                       "clinic": clinic.id})
    row = _fresh(session, clinic.id)
    assert (row.sms_confirmation, row.sms_window_start, row.sms_window_end, row.sms_sender) == (None,) * 4
    assert clinic_settings.sms_confirmation(row, config) == "before_call"
    assert clinic_settings.sms_window(row, config) == (time(9), time(21))
    assert clinic_settings.sms_sender(row, config) == "+74950001122"
    origins = {what: origin for what, _, origin in clinic_settings.origins(row, config, {})}
    assert origins["text sender"] == "default CALLCENTER_SMS_SENDER"


def test_the_page_shows_what_the_reminders_will_cost_a_month(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, last_name="Doc", first_name="Dina")
    session.add(doctor)
    session.flush()
    patient = f.patient(session, clinic, "+79001112233")
    now = datetime.now(UTC)
    # Three visits in the last 30 days count; one 40 days ago and one tomorrow do not.
    for days in (1, 10, 29, 40, -1):
        starts = now - timedelta(days=days)
        session.add(Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                                starts_at=starts, ends_at=starts + timedelta(minutes=30)))
    session.commit()
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension="501")
    page = client.get(f"/admin/clinic?clinic={clinic.id}").get_data(as_text=True)
    # The Russian reminder with 12-character values is 158 UCS-2 characters: 3 segments of 67.
    assert ("Напоминания о визитах обойдутся примерно в 22,5 в месяц: визитов за последние 30 дней — 3, "
            "сегментов в СМС — 3, цена сегмента — 2,5.") in page
    client.post("/admin/clinic", data={**GOOD, "sms_confirmation": "off", "clinic": clinic.id})
    assert 'id="sms-cost"' not in client.get(f"/admin/clinic?clinic={clinic.id}").get_data(as_text=True)
