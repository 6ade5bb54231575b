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

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy.orm import Session

from callcenter.core import patient_records
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


@dataclass(slots=True)
class _Entry:
    """What we know of one external id: our row's id and the digest last written. Plain values,
    not ORM objects: a re-import of 600,000 records keeps 600,000 of these in memory."""

    local_id: int
    digest: str
    stored: bool  # its external_refs row exists
    row: Any = None  # a row being written this batch (new, or loaded to update); None after


@dataclass
class Writer:
    """Upserts of one clinic, with every external id of a kind looked up once (a re-import of
    100,000 rows must not ask the database 100,000 times). New rows are built on transient
    objects (the same checks as an update) and inserted in bulk at `flush`, where they get
    their ids: the unit of work's per-object bookkeeping was most of a first import's time."""

    session: Session
    clinic: Clinic
    now: datetime
    # Who sent the records ("import", "sync", a connector's name): the clinic's own system, so
    # the changes make no events (core.patient_records).
    source: str = "import"
    _refs: dict[str, dict[str, _Entry]] = field(default_factory=dict)
    _new: dict[str, list[tuple[str, _Entry]]] = field(default_factory=dict)
    _changed: dict[str, list[tuple[str, _Entry]]] = field(default_factory=dict)

    def refs(self, kind: str) -> dict[str, _Entry]:
        if kind not in self._refs:
            rows = self.session.execute(select(
                ExternalRef.external_id, ExternalRef.local_id, ExternalRef.digest).where(
                ExternalRef.clinic_id == self.clinic.id, ExternalRef.kind == kind))
            self._refs[kind] = {external: _Entry(local_id, digest, True)
                                for external, local_id, digest in rows}
        return self._refs[kind]

    def local_id(self, kind: str, external_id: str, field_name: str) -> int:
        entry = self.refs(kind).get(external_id)
        if entry is None:
            raise InputError(field_name, MISSING[kind], value=external_id[:40])
        if entry.row is not None and entry.row.id is None:
            self.flush()  # a row created earlier in this batch: its id comes with the insert
        return entry.local_id

    def unchanged(self, kind: str, external_id: str, signature: str) -> bool:
        """Whether the record was last written with this signature (nothing to parse or write)."""
        entry = self.refs(kind).get(external_id)
        return entry is not None and entry.digest == signature

    def upsert(self, kind: str, record: dict[str, Any], signature: str | None = None) -> str:
        """Created, updated or unchanged; InputError when the record cannot be written. The
        signature is the record's digest unless the caller has a cheaper one (a file row's
        cells, recognised before any cell is parsed)."""
        signature = signature or digest(record)
        external = record["external_id"]
        entry = self.refs(kind).get(external)
        if entry is not None and entry.digest == signature:
            return UNCHANGED
        loaded = entry is not None and entry.row is None
        if loaded:
            entry.row = self.session.get(MODELS[kind], entry.local_id)
        if entry is not None and entry.row is not None:
            try:
                if isinstance(entry.row, Patient) and entry.row.erased_at is not None:
                    raise InputError("external_id",
                                     "this patient's data was erased here; not imported again")
                APPLY[kind](self, entry.row, record)  # checks everything before it sets anything
            except InputError:
                if loaded:
                    entry.row = None
                raise
            if loaded:  # after APPLY: a flush inside it (local_id) must not drop it half-done
                self._changed.setdefault(kind, []).append((external, entry))
            outcome = UPDATED
        else:
            row = MODELS[kind](clinic_id=self.clinic.id)
            APPLY[kind](self, row, record)
            if entry is None:
                entry = self.refs(kind)[external] = _Entry(0, signature, False)
            entry.row = row
            self._new.setdefault(kind, []).append((external, entry))
            outcome = CREATED
        entry.digest = signature
        return outcome

    def flush(self) -> None:
        """Write the pending rows and point the external ids at them."""
        self.session.flush()  # the updated rows
        for kind, pending in self._new.items():
            self._insert(kind, pending)
        refs = ExternalRef.__table__
        for kind, entries in self._changed.items():
            self.session.execute(update(refs).where(
                refs.c.clinic_id == self.clinic.id, refs.c.kind == kind,
                refs.c.external_id == bindparam("external")).values(
                local_id=bindparam("local"), digest=bindparam("signature"), updated_at=self.now),
                [{"external": external, "local": entry.local_id, "signature": entry.digest}
                 for external, entry in entries])
        for pending in (*self._new.values(), *self._changed.values()):
            for _external, entry in pending:
                entry.row = None
        self._new.clear()
        self._changed.clear()

    def _insert(self, kind: str, pending: list[tuple[str, _Entry]]) -> None:
        model = MODELS[kind]
        columns = [prop.key for prop in inspect(model).column_attrs if prop.key != "id"]
        ids = self.session.scalars(
            insert(model).returning(model.id, sort_by_parameter_order=True),
            [{key: row.__dict__[key] for key in columns if key in row.__dict__}
             for row in (entry.row for _external, entry in pending)]).all()
        phones = []
        for (external, entry), local_id in zip(pending, ids, strict=True):
            entry.local_id = local_id
            if kind == "patients":
                phones += [{"patient_id": local_id, "e164": phone.e164, "label": phone.label}
                           for phone in entry.row.phones]
            if entry.stored:  # their id pointed at a row deleted since
                self._changed.setdefault(kind, []).append((external, entry))
        if phones:
            self.session.execute(insert(PatientPhone), phones)
        new_refs = [{"clinic_id": self.clinic.id, "kind": kind, "external_id": external,
                     "local_id": entry.local_id, "digest": entry.digest, "updated_at": self.now}
                    for external, entry in pending if not entry.stored]
        if new_refs:
            self.session.execute(insert(ExternalRef), new_refs)
        for _external, entry in pending:
            entry.stored = True

    def forget(self) -> None:
        """After a rollback: what was cached may not be in the database any more."""
        self._refs.clear()
        self._new.clear()
        self._changed.clear()


def _set(row: Any, record: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in record and record[name] is not None:
            setattr(row, name, record[name])


def _patient(writer: Writer, row: Patient, record: dict[str, Any]) -> None:
    # An empty cell (None) keeps what the card has, as a missing column does.
    patient_records.update(row, {name: value for name, value in record.items()
                                 if name != "external_id" and value is not None},
                           writer.now, writer.source)


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
