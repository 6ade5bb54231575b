"""A text written for one patient: the template in their language, the placeholders filled the
way the call scripts fill them (address, visit time by Babel, doctor, clinic), and its key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from callcenter.callscripts.values import address_patient, doctor_name, format_when, treatment_label
from callcenter.core import clinic_settings
from callcenter.core.models import (
    Appointment,
    Call,
    Clinic,
    MessagePurpose,
    Patient,
    Staff,
    Treatment,
)
from callcenter.messaging import templates
from callcenter.messaging.outbox import Draft
from callcenter.outbound import reach
from callcenter.outbound.prompts import language
from callcenter.schedule.slots import Slot


@dataclass
class Composer:
    session: Session
    clinic: Clinic
    zone: ZoneInfo
    library: dict[tuple[str, str, str], templates.Template]

    @classmethod
    def for_clinic(cls, session: Session, clinic: Clinic, config: dict[str, Any]) -> Composer:
        overrides = Path(config["SCRIPTS_DIR"]) if config["SCRIPTS_DIR"] else None
        return cls(session, clinic, ZoneInfo(clinic.timezone), templates.load(overrides=overrides))

    def _text(self, purpose: MessagePurpose, patient: Patient | None, variant: str = "",
              **values: Callable[[str], str | None]) -> str:
        locale = language(patient.preferred_language if patient else None,
                          clinic_settings.patient_language(self.clinic))
        template = templates.pick(self.library, purpose, locale,
                                  clinic_settings.patient_language(self.clinic), variant)
        if template is None:
            return ""
        # Each value is said in the template's language, which may be the fallback's.
        locale = template.locale
        filled = {"clinic": self.clinic.name, "address": self.clinic.address or None,
                  "patient": address_patient(patient, locale) if patient else None}
        filled.update({name: value(locale) for name, value in values.items()})
        return templates.render(template, filled)

    def _phone(self, patient_id: int) -> str | None:
        return reach.callable_phones(self.session, [patient_id]).get(patient_id)

    def confirmation(self, visit: Appointment, not_before: datetime) -> Draft | None:
        phone = self._phone(visit.patient_id)
        if phone is None:
            return None
        doctor = self.session.get(Staff, visit.doctor_id)
        body = self._text(MessagePurpose.CONFIRMATION, visit.patient,
                          appointment_time=lambda loc: format_when(visit.starts_at, self.zone, loc),
                          doctor=lambda loc: doctor_name(doctor, loc) if doctor else None)
        return Draft(self.clinic.id, MessagePurpose.CONFIRMATION, phone, body,
                     patient_id=visit.patient_id, appointment_id=visit.id,
                     dedupe_key=f"confirmation:{visit.patient_id}:{visit.id}", not_before=not_before)

    def text_back(self, call: Call) -> Draft | None:
        if call.caller is None:
            return None
        patient = self.session.get(Patient, call.patient_id) if call.patient_id else None
        day = call.started_at.astimezone(self.zone).date().isoformat()
        return Draft(self.clinic.id, MessagePurpose.TEXT_BACK, call.caller,
                     self._text(MessagePurpose.TEXT_BACK, patient),
                     patient_id=patient.id if patient else None,
                     dedupe_key=f"text_back:{call.caller}:{day}")

    def after_care(self, treatment: Treatment) -> Draft | None:
        phone = self._phone(treatment.patient_id)
        if phone is None:
            return None
        body = self._text(MessagePurpose.AFTER_CARE, treatment.patient, treatment.type.value,
                          treatment=lambda loc: treatment_label(treatment.type, loc))
        return Draft(self.clinic.id, MessagePurpose.AFTER_CARE, phone, body,
                     patient_id=treatment.patient_id,
                     dedupe_key=f"after_care:{treatment.patient_id}:{treatment.id}")

    def rating(self, visit: Appointment) -> Draft | None:
        """The one question after a completed visit; the reply is read in its context."""
        phone = self._phone(visit.patient_id)
        if phone is None:
            return None
        doctor = self.session.get(Staff, visit.doctor_id)
        body = self._text(MessagePurpose.RATING, visit.patient,
                          doctor=lambda loc: doctor_name(doctor, loc) if doctor else None)
        return Draft(self.clinic.id, MessagePurpose.RATING, phone, body, patient_id=visit.patient_id,
                     appointment_id=visit.id, dedupe_key=f"rating:{visit.patient_id}:{visit.id}")

    def recall(self, patient: Patient, phone: str, today: date, slots: Sequence[Slot]) -> Draft | None:
        first, second = slots[0], slots[1]
        body = self._text(MessagePurpose.RECALL, patient,
                          slot_1=lambda loc: format_when(first.starts_at, self.zone, loc),
                          slot_2=lambda loc: format_when(second.starts_at, self.zone, loc))
        return Draft(self.clinic.id, MessagePurpose.RECALL, phone, body, patient_id=patient.id,
                     dedupe_key=f"recall:{patient.id}:{today.isoformat()}")
