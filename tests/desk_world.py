"""A small clinic for desk tests: a doctor working every day, a tracked number, a patient with
history, a family sharing one number, two receptionists (ext 101 ru, ext 102 en) with passwords;
and signed generic webhooks to drive it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    DialTask,
    DoctorSchedule,
    Patient,
    Sex,
    Staff,
    StaffRole,
    TaskPurpose,
    utcnow,
)
from tests import factories as f
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "desk-webhook-secret"
PASSWORD = "desk-pass-1"
TRACKED = "+74951230001"
MARIA_PHONE = "+79161112233"
FAMILY_PHONE = "+79165556677"
STRANGER_PHONE = "+79030001122"
EMILY_PHONE = "+79267778899"


@dataclass
class World:
    clinic: Clinic
    doctor: Staff
    maria: Patient
    family: list[Patient]
    emily: Patient  # speaks English
    anna: Staff  # ext 101, Russian desk
    john: Staff  # ext 102, English desk


def _staff(session: Session, clinic: Clinic, login: str, first: str, last: str, ext: str,
           locale: str) -> Staff:
    row = Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, login=login, first_name=first,
                last_name=last, sip_extension=ext, locale=locale, password_hash=hash_password(PASSWORD))
    session.add(row)
    return row


def build(session: Session, now: datetime | None = None) -> World:
    now = now or utcnow()
    clinic = f.always_open(f.clinic(session, name="Улыбка"))  # desks dial at any wall-clock time
    number = f.channel_number(session, clinic, "maps_listing", TRACKED)
    number.channel.name = "Maps listing"
    number.label = "implants"
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Ольга", last_name="Лебедева",
                   patronymic="Сергеевна", specialties=["therapy"])
    doctor.schedules = [DoctorSchedule(weekday=d, starts=clock(8, 0), ends=clock(21, 0), slot_minutes=30)
                        for d in range(7)]
    session.add(doctor)
    maria = f.patient(session, clinic, MARIA_PHONE, first_name="Мария", last_name="Соколова",
                      patronymic="Ивановна", sex=Sex.FEMALE, notes="Боится анестезии")
    family = [
        f.patient(session, clinic, FAMILY_PHONE, first_name="Пётр", last_name="Орлов",
                  patronymic="Андреевич", sex=Sex.MALE),
        f.patient(session, clinic, FAMILY_PHONE, first_name="Алиса", last_name="Орлова",
                  patronymic="Петровна", sex=Sex.FEMALE),
    ]
    emily = f.patient(session, clinic, EMILY_PHONE, first_name="Emily", last_name="Clark", sex=Sex.FEMALE,
                      preferred_language="en", notes="Prefers evening visits")
    session.flush()
    past = now - timedelta(days=40)
    future = _at_hour(now + timedelta(days=5), 12)
    tomorrow = _at_hour(now + timedelta(days=1), 10)
    session.add_all([
        Appointment(clinic_id=clinic.id, patient_id=maria.id, doctor_id=doctor.id, starts_at=past,
                    ends_at=past + timedelta(minutes=30), service="Пломба", status=AppointmentStatus.COMPLETED),
        Appointment(clinic_id=clinic.id, patient_id=maria.id, doctor_id=doctor.id, starts_at=future,
                    ends_at=future + timedelta(minutes=30), service="Чистка", status=AppointmentStatus.BOOKED),
        DialTask(clinic_id=clinic.id, patient_id=maria.id, purpose=TaskPurpose.RECALL,
                 due_date=date.today() + timedelta(days=2), phone=MARIA_PHONE),
        Appointment(clinic_id=clinic.id, patient_id=emily.id, doctor_id=doctor.id, starts_at=past,
                    ends_at=past + timedelta(minutes=30), service="Implant", status=AppointmentStatus.COMPLETED),
        Appointment(clinic_id=clinic.id, patient_id=family[0].id, doctor_id=doctor.id, starts_at=tomorrow,
                    ends_at=tomorrow + timedelta(minutes=30), service="Осмотр", status=AppointmentStatus.BOOKED),
        DialTask(clinic_id=clinic.id, patient_id=family[1].id, purpose=TaskPurpose.CALL_BACK,
                 due_date=now.astimezone(ZoneInfo("Europe/Moscow")).date(), phone=FAMILY_PHONE,
                 next_attempt_at=now - timedelta(minutes=10)),  # due, a little overdue
    ])
    anna = _staff(session, clinic, "anna", "Анна", "Смирнова", "101", "ru")
    john = _staff(session, clinic, "john", "John", "Baker", "102", "en")
    session.commit()
    return World(clinic, doctor, maria, family, emily, anna, john)


def _at_hour(moment: datetime, hour: int) -> datetime:
    zone = ZoneInfo("Europe/Moscow")
    return datetime.combine(moment.astimezone(zone).date(), clock(hour), tzinfo=zone)


def webhook(call_id: str, event: str, caller: str | None = MARIA_PHONE, extension: str | None = "101",
            **extra: Any) -> tuple[bytes, dict[str, str]]:
    """A signed generic JSON webhook (body, headers), time-stamped now."""
    now = int(time.time())
    item: dict[str, Any] = {"call_id": call_id, "event": event, "direction": "inbound", "to": TRACKED,
                            "timestamp": extra.pop("timestamp", time.time())}
    if caller:
        item["from"] = caller
    if extension:
        item["extension"] = extension
    item.update(extra)
    body = json.dumps(item).encode()
    return body, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                  SIGNATURE_HEADER: sign(SECRET, now, body)}


def messages(client: Any, count: int, **headers: str) -> list[tuple[str, dict[str, Any]]]:
    """Open the desk's SSE stream, read its first `count` real messages (comments and the retry
    line skipped), then hang up."""
    response = client.get("/desk/stream", headers=headers, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    text, found = "", []
    try:
        for chunk in response.response:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in text and len(found) < count:
                block, text = text.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                              and not line.startswith(":"))
                if "data" in fields:
                    found.append((fields["id"], {**json.loads(fields["data"]), "sse": fields["event"]}))
            if len(found) == count:
                break
    finally:
        response.close()
    return found


def first_message(client: Any, **headers: str) -> tuple[str, dict[str, Any]]:
    """Open the desk's SSE stream and read up to its first real message."""
    [first] = messages(client, 1, **headers)
    return first


def admin_client(app: Any, session: Session, clinic: Clinic, locale: str = "en",
                 extension: str | None = None) -> Any:
    """A test client signed in as a new admin of `clinic`."""
    client = app.test_client()
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=extension, locale=locale)
    return client
