"""The one write path of the record system's data into ours: a record (already parsed, keyed by
our field names) becomes a new row, an update of the row its external id points at, or nothing
when it is the same as last time. File import and the sync API both come through here.

Appointments and treatments are written with the statuses the model has; when the schedule grows
its own visit-lifecycle functions (arrived, completed, no-show), `_appointment` is the one place
to point at them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Table, any_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from callcenter.core import patient_records
from callcenter.core.driver_sql import Statement
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
from callcenter.exchange import bulk

CREATED, UPDATED, UNCHANGED, REFUSED = "created", "updated", "unchanged", "refused"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, REFUSED)
MODELS: dict[str, type] = {"patients": Patient, "doctors": Staff, "services": Service,
                           "appointments": Appointment, "treatments": Treatment}
FRESH_STATISTICS = 10_000  # external ids written before PostgreSQL is told to re-count again
# External ids per lookup: PostgreSQL plans an array of a few thousand as a scan of every
# reference (seen at 120,000 references); 500 keep to the index.
LOOKUP_CHUNK = 500


MISSING = {"patients": N_("no patient with id '{value}' was imported"),
           "doctors": N_("no doctor with id '{value}' was imported"),
           "appointments": N_("no visit with id '{value}' was imported")}


# One encoder for every digest: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)


def digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(_CANONICAL.encode(record).encode("utf-8")).hexdigest()


_REFS = ExternalRef.__table__


def _lookup(among: Any) -> Statement:
    return Statement(select(_REFS.c.external_id, _REFS.c.local_id, _REFS.c.digest).where(
        _REFS.c.clinic_id == bindparam("clinic"), _REFS.c.kind == bindparam("kind"), among))


# A batch's ids of one kind, LOOKUP_CHUNK to a statement of the same text every time, run on the
# driver's cursor (core.driver_sql): through the session, SQLAlchemy's rendering and handling of
# a 500-id `IN (…)` cost about as much as the database's lookups. The ids go as one parameter:
# on PostgreSQL an array (psycopg parses each new statement text anew), on SQLite a JSON list.
_LOOKUPS = {
    "postgresql": _lookup(_REFS.c.external_id == any_(
        bindparam("among", type_=ARRAY(_REFS.c.external_id.type)))),
    "sqlite": _lookup(_REFS.c.external_id.in_(
        select(func.json_each(bindparam("among")).table_valued("value").c.value))),
}


@dataclass(slots=True)
class _Entry:
    """What we know of one external id: our row's id (0 while its new row waits for `flush`)
    and the digest last written."""

    local_id: int
    digest: str
    stored: bool  # its external_refs row exists


@dataclass
class Writer:
    """Upserts of one clinic. External ids are looked up in one query per kind for a whole
    batch (`prefetch`), and forgotten at `end_batch`, so memory stays that of one batch however
    large the file. New rows are inserted with Core statements, a batch at a time: the ORM's
    per-object bookkeeping was most of a first import's time. A changed row is loaded and
    updated through the ORM (rare, and its phones are a relationship)."""

    session: Session
    clinic: Clinic
    now: datetime
    # Who sent the records ("import", "sync", a connector's name): the clinic's own system, so
    # the changes make no events (core.patient_records).
    source: str = "import"
    _known: dict[str, dict[str, _Entry | None]] = field(default_factory=dict)
    _new: dict[str, list[tuple[str, _Entry, dict[str, Any]]]] = field(default_factory=dict)
    _changed: dict[str, list[tuple[str, _Entry]]] = field(default_factory=dict)
    _refs_written: int = 0
    _analyze_at: int = 0  # the first batch's end, then each time the references doubled

    def prefetch(self, wanted: Mapping[str, Iterable[str]]) -> None:
        """Look up these external ids of each kind ({kind: ids}), LOOKUP_CHUNK to a query."""
        for kind, ids in wanted.items():
            known = self._known.setdefault(kind, {})
            missing = sorted({external for external in ids if external not in known})
            if not missing:
                continue
            connection = self.session.connection()
            dialect = connection.dialect.name
            for at in range(0, len(missing), LOOKUP_CHUNK):
                chunk = missing[at:at + LOOKUP_CHUNK]
                among = chunk if dialect == "postgresql" else json.dumps(chunk, ensure_ascii=False)
                for external, local_id, signature in _LOOKUPS[dialect].rows(connection, {
                        "clinic": self.clinic.id, "kind": kind, "among": among}):
                    known[external] = _Entry(local_id, signature, True)
            for external in missing:
                known.setdefault(external, None)

    def _entry(self, kind: str, external_id: str) -> _Entry | None:
        known = self._known.setdefault(kind, {})
        if external_id not in known:
            self.prefetch({kind: [external_id]})
        return known[external_id]

    def knows(self, kind: str, external_id: str) -> bool:
        """Whether a row of this kind already has this external id (here, or earlier in the batch)."""
        return self._entry(kind, external_id) is not None

    def local_id(self, kind: str, external_id: str, field_name: str) -> int:
        entry = self._entry(kind, external_id)
        if entry is None:
            raise InputError(field_name, MISSING[kind], value=external_id[:40])
        if not entry.local_id:
            self.flush()  # a row created earlier in this batch: its id comes with the insert
        return entry.local_id

    def unchanged(self, kind: str, external_id: str, signature: str) -> bool:
        """Whether the record was last written with this signature (nothing to parse or write)."""
        entry = self._entry(kind, external_id)
        return entry is not None and entry.digest == signature

    def upsert(self, kind: str, record: dict[str, Any], signature: str | None = None) -> str:
        """Created, updated or unchanged; InputError when the record cannot be written. The
        signature is the record's digest unless the caller has a cheaper one (a file row's
        cells, recognised before any cell is parsed)."""
        signature = signature or digest(record)
        external = record["external_id"]
        entry = self._entry(kind, external)
        if entry is not None and entry.digest == signature:
            return UNCHANGED
        if entry is not None and not entry.local_id:
            self.flush()  # the id came twice in this batch: the first is written, this updates it
        row = self.session.get(MODELS[kind], entry.local_id) if entry is not None else None
        if row is not None:
            if isinstance(row, Patient) and row.erased_at is not None:
                raise InputError("external_id",
                                 "this patient's data was erased here; not imported again")
            values = FIELDS[kind](self, record, row)  # every check before anything is set
            if isinstance(row, Patient):
                if "phones" in values:
                    values["phones"] = list(values["phones"].items())
                patient_records.update(row, values, self.now, self.source)
            else:
                _assign(row, values)
            self._changed.setdefault(kind, []).append((external, entry))
            outcome = UPDATED
        else:
            values = FIELDS[kind](self, record, None)
            if entry is None:
                entry = self._known[kind][external] = _Entry(0, signature, False)
            entry.local_id = 0  # new, or its id pointed at a row deleted since
            self._new.setdefault(kind, []).append((external, entry, values))
            outcome = CREATED
        entry.digest = signature
        return outcome

    def flush(self) -> None:
        """Write the pending rows and point the external ids at them."""
        self.session.flush()  # the updated rows
        for kind, pending in self._new.items():
            self._insert(kind, pending)
        self._new.clear()
        refs = ExternalRef.__table__
        for kind, entries in self._changed.items():
            self.session.execute(update(refs).where(
                refs.c.clinic_id == self.clinic.id, refs.c.kind == kind,
                refs.c.external_id == bindparam("external")).values(
                local_id=bindparam("local"), digest=bindparam("signature"), updated_at=self.now),
                [{"external": external, "local": entry.local_id, "signature": entry.digest}
                 for external, entry in entries])
        self._changed.clear()

    def end_batch(self) -> None:
        """Write what is pending and let the batch's lookups go."""
        self.flush()
        self._known.clear()
        if self._refs_written >= self._analyze_at and not _sqlite(self.session):
            # A first import grows external_refs from nothing faster than autovacuum re-counts
            # it; on the statistics of a near-empty table PostgreSQL looks up a batch's ids by
            # scanning the clinic's every reference (seconds a batch, not milliseconds).
            self.session.execute(text("ANALYZE external_refs"))
            self._analyze_at = max(FRESH_STATISTICS, 2 * self._refs_written)

    def _insert(self, kind: str, pending: list[tuple[str, _Entry, dict[str, Any]]]) -> None:
        table: Table = MODELS[kind].__table__
        phones = [values.pop("phones", {}) for _external, _entry, values in pending]
        ids = _insert_returning_ids(self.session, table, _uniform(
            table, [values for _ext, _entry, values in pending]), {"clinic_id": self.clinic.id})
        for (external, entry, _values), local_id in zip(pending, ids, strict=True):
            entry.local_id = local_id
            if entry.stored:
                self._changed.setdefault(kind, []).append((external, entry))
        rows = [{"patient_id": local_id, "e164": e164, "label": label}
                for local_id, wanted in zip(ids, phones, strict=True)
                for e164, label in wanted.items()]
        bulk.insert(self.session, PatientPhone.__table__, rows)
        new_refs = [{"external_id": external, "local_id": entry.local_id, "digest": entry.digest}
                    for external, entry, _values in pending if not entry.stored]
        bulk.insert(self.session, ExternalRef.__table__, new_refs,
                    shared={"clinic_id": self.clinic.id, "kind": kind, "updated_at": self.now})
        self._refs_written += len(new_refs)
        for _external, entry, _values in pending:
            entry.stored = True

    def forget(self) -> None:
        """After a rollback: what was cached may not be in the database any more."""
        self._known.clear()
        self._new.clear()
        self._changed.clear()


def _uniform(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the same keys (one executemany statement): a column some rows leave out
    gets its default there, as an ORM insert would give it."""
    keys = set().union(*rows)
    fill = {}
    for key in keys:
        default = table.c[key].default
        fill[key] = (None if default is None else default.arg if default.is_scalar
                     else default.arg(None))
    return [row if len(row) == len(keys) else {**fill, **row} for row in rows]


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _insert_returning_ids(session: Session, table: Table, rows: list[dict[str, Any]],
                          shared: dict[str, Any] | None = None) -> list[int]:
    """Insert the rows (with the values they share); their new ids, in the rows' order."""
    if _sqlite(session):
        return bulk.insert_returning_ids(session, table, rows, shared)
    # PostgreSQL: the ids drawn from the column's own sequence first, then the rows copied in.
    ids = list(session.scalars(
        select(func.nextval(func.pg_get_serial_sequence(table.name, "id"))).select_from(
            func.generate_series(1, len(rows)))))
    bulk.insert(session, table, rows, ids, shared)
    return ids


def _assign(row: Any, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


def _given(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: record[name] for name in names if record.get(name) is not None}


# Each kind's record → the values its row gets; `row` is the row updated, None for a new one.
def _patient(writer: Writer, record: dict[str, Any], row: Patient | None) -> dict[str, Any]:
    values = _given(record, "last_name", "first_name", "patronymic", "birth_date", "sex",
                    "preferred_language", "consent_calls", "consent_marketing", "notes")
    if "phones" in record:
        # {e164: label}: one number once, its first label wins (as core.patient_records has it)
        values["phones"] = {}
        for e164, label in record["phones"]:
            values["phones"].setdefault(e164, label)
    return values


def _doctor(writer: Writer, record: dict[str, Any], row: Staff | None) -> dict[str, Any]:
    values = {"role": StaffRole.DOCTOR, **_given(
        record, "last_name", "first_name", "patronymic", "specialties", "active")}
    for name in ("last_name", "first_name"):
        values.setdefault(name, (getattr(row, name) if row is not None else None) or "")
    return values


def _service(writer: Writer, record: dict[str, Any], row: Service | None) -> dict[str, Any]:
    names = {**((row.names or {}) if row is not None else {}), **record.get("names", {})}
    if not names:
        raise InputError("name", "the service has no name")
    values = {"names": names, **_given(record, "duration_minutes", "price_min", "price_max",
                                       "specialties", "active")}
    values.setdefault("duration_minutes", (row.duration_minutes if row is not None else None) or 30)
    return values


def _appointment(writer: Writer, record: dict[str, Any], row: Appointment | None) -> dict[str, Any]:
    values = {"patient_id": writer.local_id("patients", record["patient_id"], "patient_id"),
              "doctor_id": writer.local_id("doctors", record["doctor_id"], "doctor_id"),
              **_given(record, "starts_at", "ends_at", "service", "status", "notes")}
    if record.get("booked_at") is not None:
        values["created_at"] = record["booked_at"]
    elif row is None:
        # Not booked at our desk today: the record system knew it before the import. Left at
        # "now", a visit for tomorrow would pass for a booking made today (no confirmation call)
        # and count among today's bookings in the analytics.
        values["created_at"] = min(record["starts_at"], writer.now) - timedelta(days=1)
    if record.get("price") is not None:
        values["price"] = Decimal(record["price"])
    return values


def _treatment(writer: Writer, record: dict[str, Any], row: Treatment | None) -> dict[str, Any]:
    def reference(kind: str, name: str) -> int | None:
        return writer.local_id(kind, record[name], name) if record.get(name) else None

    return {"patient_id": writer.local_id("patients", record["patient_id"], "patient_id"),
            "doctor_id": reference("doctors", "doctor_id"),
            "appointment_id": reference("appointments", "appointment_id"),
            **_given(record, "type", "performed_on", "notes")}


FIELDS = {"patients": _patient, "doctors": _doctor, "services": _service,
          "appointments": _appointment, "treatments": _treatment}
