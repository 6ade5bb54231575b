"""A patient's right of access and erasure: export everything held on them, or erase their personal data.

Erasure keeps the rows that statistics are built from and removes what identifies the person:

- the card keeps its id (appointments, treatments and calls still point at it, so bookings, visits
  and campaign results add up as before) but loses names, birth date, sex, notes and phones;
- their calls keep times, status, channel, caller kind and outcome; the caller's number (for an
  outbound call, the dialed one), the raw caller text, notes and the recording link go, and so
  does the analytics' id for the number once no call of the clinic shows it;
- stored webhook bodies are the record of what the PBX sent, so they are not deleted: the
  patient's numbers in them are masked to the last two digits, and the row is marked
  X-Callcenter-Scrubbed (its signature no longer verifies, so it cannot be re-processed);
- calls from one of their numbers that were never linked to any card lose that number too, unless
  another (not erased) patient shares it: a family number stays on the others' cards;
- pending calls to them are cancelled; opt-outs stay, numbers and all, so that a number the
  patient asked us never to call is still never called if it comes back (a suppression list);
- their text messages lose the words and the number (one still waiting is cancelled); the raw
  provider callbacks of texts are not scrubbed yet;
- events of the card for the clinic's system (patient.created, patient.updated) lose the card's
  data, sent or not;
- the audit trail stays: it holds who saw the card, not what was on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import phonenumbers
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core.models import (
    Appointment,
    AuditLog,
    Base,
    Call,
    CallCandidate,
    CallDirection,
    CallerNumber,
    DialTask,
    Message,
    MessageStatus,
    OptOut,
    OutboxEvent,
    Patient,
    PatientPhone,
    RawWebhook,
    Sex,
    TaskState,
    Treatment,
)
from callcenter.core.phones import mask

EXPORT_FORMAT = "callcenter.patient-export/1"
SCRUBBED_HEADER = "X-Callcenter-Scrubbed"
OPEN_TASKS = (TaskState.PENDING, TaskState.IN_PROGRESS)
T = TypeVar("T", str, bytes)
# Between two digits of a stored number: spaces, dashes, brackets, dots, form-encoded plus/space.
_GAP = r"(?:[\s\-().+]|%20|%28|%29)*"


class AlreadyErased(Exception):
    pass


def export(session: Session, patient_id: int, now: datetime) -> dict[str, Any]:
    """Everything held on the patient, as one JSON-ready document."""
    patient = _patient(session, patient_id)
    calls = _related_calls(session, patient)
    events = [e for call in calls for e in call.events]
    raw_ids = sorted({e.raw_webhook_id for e in events if e.raw_webhook_id})
    raws = session.scalars(select(RawWebhook).where(RawWebhook.id.in_(raw_ids))).all() if raw_ids else []
    tasks = session.scalars(select(DialTask).where(DialTask.patient_id == patient.id)
                            .order_by(DialTask.id)).all()
    appointments = _rows(session, Appointment, Appointment.patient_id == patient.id)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "patient": _plain(patient),
        "phones": [_plain(p) for p in patient.phones],
        "appointments": [_plain(a) for a in appointments],
        "treatments": [_plain(t) for t in _rows(session, Treatment, Treatment.patient_id == patient.id)],
        "calls": [{**_plain(c), "events": [_plain(e) for e in c.events]} for c in calls],
        # What each delivery was, not its bytes: bodies and headers carry the PBX's credentials
        # (Mango's API key, 3CX's key); what they said about the call is in the events above.
        "raw_webhooks": [{k: v for k, v in _plain(r).items() if k not in ("body", "headers", "query")}
                         for r in raws],
        "dial_tasks": [{**_plain(t), "attempts": [_plain(a) for a in t.attempts_log]} for t in tasks],
        "messages": [_plain(m) for m in _rows(session, Message, or_(
            Message.patient_id == patient.id, Message.phone.in_(_numbers(patient))))],
        "opt_outs": [_plain(o) for o in _rows(session, OptOut, or_(
            OptOut.patient_id == patient.id, OptOut.e164.in_(_numbers(patient))))],
        "audit": [_plain(a) for a in _audit_rows(session, patient, calls, appointments)],
    }


def erase(session: Session, patient_id: int, staff_id: int | None, now: datetime,
          via: str = "api") -> dict[str, int]:
    """Remove the patient's personal data (see the module docstring); audited; the caller commits."""
    patient = _patient(session, patient_id)
    if patient.erased_at is not None:
        raise AlreadyErased(f"patient {patient_id} was erased on {patient.erased_at.date()}")
    numbers = _numbers(patient)
    own = numbers - _shared(session, patient, numbers)
    calls = _related_calls(session, patient)
    counts = {"phones": len(numbers), "calls": 0, "raw_webhooks": 0, "dial_tasks_cancelled": 0}
    raw_numbers: dict[int, set[str]] = {}
    removed: set[str] = set()
    for call in calls:
        linked = call.patient_id == patient.id
        their_end = call.dialed if call.direction == CallDirection.OUTBOUND else call.caller
        gone = own | ({their_end} if linked and their_end else set())
        if not (linked or gone & {call.caller, call.dialed}):
            continue  # a family member's call from a shared number: theirs, not this patient's
        caller = call.caller
        _anonymise_call(call, gone, linked)
        if caller and call.caller is None:
            removed.add(caller)
        counts["calls"] += 1
        for event in call.events:
            if event.raw_webhook_id:
                raw_numbers.setdefault(event.raw_webhook_id, set()).update(gone)
    for raw in session.scalars(select(RawWebhook).where(RawWebhook.id.in_(raw_numbers))).all():
        counts["raw_webhooks"] += _scrub_raw(raw, raw_numbers[raw.id], now)
    for candidate in session.scalars(select(CallCandidate).where(CallCandidate.patient_id == patient.id)):
        session.delete(candidate)
    for task in session.scalars(select(DialTask).where(DialTask.patient_id == patient.id)):
        if task.state in OPEN_TASKS:
            task.state, task.result = TaskState.CANCELLED, "erased"
            counts["dial_tasks_cancelled"] += 1
        task.phone, task.notes = None, ""
        for attempt in task.attempts_log:
            attempt.phone = mask(attempt.phone)
    for row in _rows(session, Appointment, Appointment.patient_id == patient.id):
        row.notes = ""
    # Texts to and from the patient (or their own numbers): the words and the number go; the
    # fact that a text was sent stays for the clinic's figures. One still waiting is not sent.
    for message in _rows(session, Message, or_(Message.patient_id == patient.id, Message.phone.in_(own))):
        message.body, message.phone = "", mask(message.phone)
        if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
            message.status, message.error = MessageStatus.CANCELLED, "erased"
    for row in _rows(session, Treatment, Treatment.patient_id == patient.id):
        row.notes = ""
    # Events for the clinic's system hold the card as it was (names, phones): an event still to
    # be sent goes out without them, and none is kept with them.
    for event in _rows(session, OutboxEvent, (OutboxEvent.patient_id == patient.id)
                       & OutboxEvent.type.startswith("patient.")):
        event.data = {"id": patient.id, "erased": True}
    patient.last_name = patient.first_name = patient.patronymic = patient.notes = ""
    patient.birth_date, patient.sex = None, Sex.UNKNOWN
    patient.consent_calls = patient.consent_marketing = False
    patient.phones = []
    patient.erased_at = now
    audit(session, staff_id, "erase", "patient", patient.id, via=via, **counts)
    session.flush()
    # The analytics' id for a number (caller_sets) goes once no call of its clinic shows it; the
    # days those calls fell on are rebuilt without it at the next refresh (the triggers marked them).
    session.execute(delete(CallerNumber).where(
        CallerNumber.e164.in_(removed),
        ~select(Call.id).where(Call.clinic_id == CallerNumber.clinic_id,
                               Call.caller == CallerNumber.e164).exists()))
    return counts


def _patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id}")
    return patient


def _numbers(patient: Patient) -> set[str]:
    return {p.e164 for p in patient.phones}


def _shared(session: Session, patient: Patient, numbers: set[str]) -> set[str]:
    """Those of the numbers another patient (not erased) also has."""
    if not numbers:
        return set()
    return set(session.scalars(
        select(PatientPhone.e164).join(Patient, Patient.id == PatientPhone.patient_id)
        .where(PatientPhone.e164.in_(numbers), Patient.id != patient.id, Patient.erased_at.is_(None))))


def _related_calls(session: Session, patient: Patient) -> list[Call]:
    """Calls linked to the card, offered it as a family candidate, or from/to one of its numbers."""
    numbers = _numbers(patient)
    candidate_calls = select(CallCandidate.call_id).where(CallCandidate.patient_id == patient.id)
    conditions = [Call.patient_id == patient.id, Call.id.in_(candidate_calls)]
    if numbers:
        conditions += [Call.caller.in_(numbers),
                       (Call.direction == CallDirection.OUTBOUND) & Call.dialed.in_(numbers)]
    return list(session.scalars(select(Call).where(or_(*conditions)).order_by(Call.started_at, Call.id)))


def _anonymise_call(call: Call, gone: set[str], linked: bool) -> None:
    if call.caller in gone or (linked and call.direction != CallDirection.OUTBOUND):
        call.caller, call.caller_raw = None, ""
    if call.dialed in gone:
        call.dialed = None
    if linked:
        call.recording_url, call.notes, call.heard_from_note = None, "", ""
        call.drafts = []  # unsaved notes are notes too
    for event in call.events:
        data = json.loads(mask_numbers(json.dumps(event.data), gone))
        for field in ("caller", "dialed"):
            if getattr(call, field) is None:
                data[field] = None
        if linked:
            data["recording_url"] = None
        event.data = data


def _scrub_raw(raw: RawWebhook, numbers: set[str], now: datetime) -> int:
    body = mask_numbers(raw.body, numbers)
    query = mask_numbers(raw.query, numbers)
    headers = {k: mask_numbers(v, numbers) for k, v in raw.headers.items()}
    if (body, query, headers) == (raw.body, raw.query, raw.headers):
        return 0
    headers[SCRUBBED_HEADER] = now.isoformat()
    raw.body, raw.query, raw.headers = body, query, headers
    return 1


def _number_pattern(e164: str) -> str:
    try:
        national = phonenumbers.national_significant_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        national = e164.lstrip("+")
    return _GAP.join(national) + r"(?!\d)"


def mask_numbers(text: T, numbers: Iterable[str]) -> T:
    """The text with each of the numbers, however written, masked to its last two digits."""
    for number in sorted(numbers, key=len, reverse=True):
        pattern = _number_pattern(number)
        if isinstance(text, bytes):
            text = re.sub(pattern.encode(), lambda m: _stars(m[0].decode("latin-1")).encode(), text)
        else:
            text = re.sub(pattern, lambda m: _stars(m[0]), text)
    return text


def _stars(found: str) -> str:
    digits = re.sub(r"\D", "", found.replace("%20", "").replace("%28", "").replace("%29", ""))
    return "*" * (len(digits) - 2) + digits[-2:]


def _rows(session: Session, model: type[Base], condition: Any) -> list[Any]:
    return list(session.scalars(select(model).where(condition).order_by(model.id)))  # type: ignore[attr-defined]


def _audit_rows(session: Session, patient: Patient, calls: list[Call],
                appointments: list[Appointment]) -> list[AuditLog]:
    about = [(AuditLog.object_type == "patient") & (AuditLog.object_id == str(patient.id))]
    if calls:
        about.append((AuditLog.object_type == "call") & AuditLog.object_id.in_([str(c.id) for c in calls]))
    if appointments:
        about.append((AuditLog.object_type == "appointment")
                     & AuditLog.object_id.in_([str(a.id) for a in appointments]))
    return _rows(session, AuditLog, or_(*about))


def _plain(row: Base) -> dict[str, Any]:
    return {column.key: _value(getattr(row, column.key)) for column in row.__mapper__.column_attrs}


def _value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
