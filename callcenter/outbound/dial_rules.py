"""May we call this number now? One answer for every dial path: the campaign worker, the desk's
outbound list and click-to-call.

Refused: a number or patient on the do-not-call list, a patient without consent to calls (an
erased card has none), marketing to anyone who did not agree to it, and any time outside the
clinic's calling hours on the patient's clock or on the clinic's day off. A receptionist may call
anyway when the patient asked to be called (an explicit override with a reason, audited); an
automatic call never overrides.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core import clinic_settings
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError
from callcenter.core.models import Clinic, DialTask, OptOut, Patient
from callcenter.outbound.lists import clinic_calendar
from callcenter.outbound.reach import binds, callable_phones
from callcenter.outbound.workdays import next_call_time, patient_zone


class Refusal(enum.StrEnum):
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    NO_MARKETING_CONSENT = "no_marketing_consent"
    OUTSIDE_HOURS = "outside_hours"


MESSAGES: dict[Refusal, str] = {
    Refusal.OPTED_OUT: N_("this number is on the do-not-call list"),
    Refusal.NO_CONSENT: N_("the patient has not agreed to be called"),
    Refusal.NO_MARKETING_CONSENT: N_("the patient has not agreed to marketing calls"),
    Refusal.OUTSIDE_HOURS: N_("outside the clinic's calling hours"),
}


class DialRefused(FieldError):
    """The rules refuse the call; `refusal` says which, the message says it to the staff."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__("number", MESSAGES[refusal], 409)
        self.refusal = refusal


@dataclass(frozen=True)
class Override:
    """"The patient asked us to call": who says so and why (kept in the audit trail)."""

    staff_id: int
    reason: str


def refusal(session: Session, clinic: Clinic, *, phone: str, patient_id: int | None, now: datetime,
            config: Mapping[str, Any], marketing: bool = False) -> Refusal | None:
    """Why this call may not be made now, or None."""
    patient = session.get(Patient, patient_id) if patient_id is not None else None
    scopes = ("all", "marketing") if marketing else ("all",)
    listed = exists().where(OptOut.scope.in_(scopes), binds(clinic.id),
                            (OptOut.e164 == phone) | (OptOut.patient_id == patient_id)
                            if patient_id is not None else OptOut.e164 == phone)
    if session.scalar(select(listed)):
        return Refusal.OPTED_OUT
    if patient is not None and (not patient.consent_calls or patient.erased_at is not None):
        return Refusal.NO_CONSENT
    if marketing and (patient is None or not patient.consent_marketing):
        return Refusal.NO_MARKETING_CONSENT
    if calling_resumes_at(session, clinic, phone, now, config) > now:
        return Refusal.OUTSIDE_HOURS
    return None


def calling_resumes_at(session: Session, clinic: Clinic, phone: str | None, now: datetime,
                       config: Mapping[str, Any]) -> datetime:
    """`now` when calling is allowed now, else when the next calling window opens."""
    calendar = clinic_calendar(session, clinic)
    return next_call_time(now, calendar, patient_zone(phone, calendar.tz),
                          clinic_settings.call_window(clinic, config))


def check(session: Session, clinic: Clinic, *, phone: str, patient_id: int | None, now: datetime,
          config: Mapping[str, Any], override: Override | None = None, marketing: bool = False,
          via: str = "") -> None:
    """Raise DialRefused unless the call may be made; an override lets a person call anyway and
    is written to the audit trail (the caller commits)."""
    found = refusal(session, clinic, phone=phone, patient_id=patient_id, now=now, config=config,
                    marketing=marketing)
    if found is None:
        return
    if override is None or not override.reason.strip():
        raise DialRefused(found)
    audit(session, override.staff_id, "dial_override", "patient" if patient_id else "clinic",
          patient_id or clinic.id, clinic_id=clinic.id, refusal=found.value,
          reason=override.reason.strip()[:300], via=via)


def callable_tasks(session: Session, clinic: Clinic, tasks: Sequence[DialTask], now: datetime,
                   config: Mapping[str, Any]) -> set[int]:
    """Ids of the tasks whose call the rules allow now: `refusal` for a whole list at once (the
    same opt-out, consent and calling-hours checks, a few queries instead of a few per task)."""
    phones = callable_phones(session, [t.patient_id for t in tasks if t.patient_id is not None])
    numbers = {t.phone for t in tasks if t.phone}
    listed = set(session.scalars(select(OptOut.e164).where(
        OptOut.e164.in_(numbers), OptOut.scope == "all", binds(clinic.id)))) if numbers else set()
    calendar = clinic_calendar(session, clinic)
    hours = clinic_settings.call_window(clinic, config)
    allowed = set()
    for task in tasks:
        if not task.phone or (task.patient_id is not None and task.patient_id not in phones):
            continue
        if task.phone in listed:
            continue
        if next_call_time(now, calendar, patient_zone(task.phone, calendar.tz), hours) > now:
            continue
        allowed.add(task.id)
    return allowed
