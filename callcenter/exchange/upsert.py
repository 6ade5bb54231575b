"""The one write path of the record system's data into ours: a record (already parsed, keyed by
our field names) becomes a new row, an update of the row its external id points at, or nothing
when it is the same as last time. File import and the sync API both come through here.

Appointments and treatments are written through the models directly with the statuses the model
has; when the schedule grows its own visit-lifecycle functions (arrived, completed, no-show),
`_appointment` is the one place to point at them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError
from callcenter.core.models import (
    Appointment,
    Clinic,
    ExternalRef,
    Patient,
    PatientPhone,
    Service,
    Staff,
    StaffRole,
    Treatment,
)

CREATED, UPDATED, UNCHANGED, REFUSED = "created", "updated", "unchanged", "refused"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, REFUSED)
MODELS: dict[str, type] = {"patients": Patient, "doctors": Staff, "services": Service,
                           "appointments": Appointment, "treatments": Treatment}


MISSING = {"patients": N_("no patient with id '{value}' was imported"),
           "doctors": N_("no doctor with id '{value}' was imported"),
           "appointments": N_("no visit with id '{value}' was imported")}


def digest(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class _Entry:
    ref: ExternalRef
    row: Any = None  # loaded or new; None until needed


@dataclass
class Writer:
    """Upserts of one clinic, with every external id of a kind looked up once (a re-import of
    100,000 rows must not ask the database 100,000 times). New rows get their ids at `flush`."""

    session: Session
    clinic: Clinic
    now: datetime
    _refs: dict[str, dict[str, _Entry]] = field(default_factory=dict)
    _new: list[_Entry] = field(default_factory=list)

    def refs(self, kind: str) -> dict[str, _Entry]:
        if kind not in self._refs:
            rows = self.session.scalars(select(ExternalRef).where(
                ExternalRef.clinic_id == self.clinic.id, ExternalRef.kind == kind))
            self._refs[kind] = {ref.external_id: _Entry(ref) for ref in rows}
        return self._refs[kind]

    def local_id(self, kind: str, external_id: str, field_name: str) -> int:
        entry = self.refs(kind).get(external_id)
        if entry is None:
            raise InputError(field_name, MISSING[kind], value=external_id[:40])
        if entry.row is not None and entry.row.id is None:
            self.session.flush()
        return entry.row.id if entry.row is not None else entry.ref.local_id

    def unchanged(self, kind: str, external_id: str, signature: str) -> bool:
        """Whether the record was last written with this signature (nothing to parse or write)."""
        entry = self.refs(kind).get(external_id)
        return entry is not None and entry.ref.digest == signature

    def upsert(self, kind: str, record: dict[str, Any], signature: str | None = None) -> str:
        """Created, updated or unchanged; InputError when the record cannot be written. The
        signature is the record's digest unless the caller has a cheaper one (a file row's
        cells, recognised before any cell is parsed)."""
        signature = signature or digest(record)
        external = record["external_id"]
        entry = self.refs(kind).get(external)
        if entry is not None and entry.ref.digest == signature:
            return UNCHANGED
        if entry is not None and entry.row is None:
            entry.row = self.session.get(MODELS[kind], entry.ref.local_id)
        if entry is not None and entry.row is not None:
            if isinstance(entry.row, Patient) and entry.row.erased_at is not None:
                raise InputError("external_id",
                                 "this patient's data was erased here; not imported again")
            APPLY[kind](self, entry.row, record)  # checks everything before it sets anything
            outcome = UPDATED
        else:
            row = MODELS[kind](clinic_id=self.clinic.id)
            APPLY[kind](self, row, record)
            self.session.add(row)
            ref = entry.ref if entry else ExternalRef(clinic_id=self.clinic.id, kind=kind,
                                                      external_id=external, local_id=0)
            entry = _Entry(ref, row)
            self.refs(kind)[external] = entry
            self._new.append(entry)
            outcome = CREATED
        entry.ref.digest = signature
        entry.ref.updated_at = self.now
        return outcome

    def flush(self) -> None:
        """Write the pending rows and point the new external ids at them."""
        self.session.flush()
        for entry in self._new:
            entry.ref.local_id = entry.row.id
            if entry.ref not in self.session:
                self.session.add(entry.ref)
        self._new.clear()
        self.session.flush()

    def forget(self) -> None:
        """After a rollback: what was cached may not be in the database any more."""
        self._refs.clear()
        self._new.clear()


def _set(row: Any, record: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in record and record[name] is not None:
            setattr(row, name, record[name])


def _patient(writer: Writer, row: Patient, record: dict[str, Any]) -> None:
    _set(row, record, "last_name", "first_name", "patronymic", "birth_date", "sex",
         "preferred_language", "consent_calls", "consent_marketing", "notes")
    if "phones" in record:
        wanted = dict(record["phones"])  # one number once; its first label wins
        kept = [phone for phone in row.phones if phone.e164 in wanted]
        for phone in kept:
            phone.label = wanted.pop(phone.e164)
        row.phones = kept + [PatientPhone(e164=e164, label=label) for e164, label in wanted.items()]


def _doctor(writer: Writer, row: Staff, record: dict[str, Any]) -> None:
    row.role = StaffRole.DOCTOR
    _set(row, record, "last_name", "first_name", "patronymic", "specialties", "active")
    row.last_name = row.last_name or ""
    row.first_name = row.first_name or ""


def _service(writer: Writer, row: Service, record: dict[str, Any]) -> None:
    names = {**(row.names or {}), **record.get("names", {})}
    if not names:
        raise InputError("name", "the service has no name")
    row.names = names
    _set(row, record, "duration_minutes", "price_min", "price_max", "specialties", "active")
    row.duration_minutes = row.duration_minutes or 30


def _appointment(writer: Writer, row: Appointment, record: dict[str, Any]) -> None:
    patient_id = writer.local_id("patients", record["patient_id"], "patient_id")
    doctor_id = writer.local_id("doctors", record["doctor_id"], "doctor_id")
    row.patient_id, row.doctor_id = patient_id, doctor_id
    _set(row, record, "starts_at", "ends_at", "service", "status", "notes")
    if record.get("booked_at") is not None:
        row.created_at = record["booked_at"]
    elif row.id is None:
        # Not booked at our desk today: the record system knew it before the import. Left at
        # "now", a visit for tomorrow would pass for a booking made today (no confirmation call)
        # and count among today's bookings in the analytics.
        row.created_at = min(record["starts_at"], writer.now) - timedelta(days=1)
    if record.get("price") is not None:
        row.price = Decimal(record["price"])


def _treatment(writer: Writer, row: Treatment, record: dict[str, Any]) -> None:
    patient_id = writer.local_id("patients", record["patient_id"], "patient_id")
    doctor_id = (writer.local_id("doctors", record["doctor_id"], "doctor_id")
                 if record.get("doctor_id") else None)
    appointment_id = (writer.local_id("appointments", record["appointment_id"], "appointment_id")
                      if record.get("appointment_id") else None)
    row.patient_id, row.doctor_id, row.appointment_id = patient_id, doctor_id, appointment_id
    _set(row, record, "type", "performed_on", "notes")


APPLY = {"patients": _patient, "doctors": _doctor, "services": _service,
         "appointments": _appointment, "treatments": _treatment}
