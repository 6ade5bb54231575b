"""A pull from the clinic's FHIR server: Patients, Practitioners (with their PractitionerRoles'
specialties) and Appointments changed since the last successful pull, written through the same
upsert path as the file import and the sync API (external ids = the FHIR resource ids).

Each page of resources is one transaction, like a batch of a file import: a failure (the server
gone mid-way) leaves the pages before it, never half of one, and the cursors move on only after
a pull that finished, so the next pull reads the rest again (unchanged records cost nothing).
An Appointment whose patient or practitioner we have not got is completed by reading that
resource; its Slot and Schedule are read when the Appointment names no practitioner itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic
from callcenter.exchange.fhir_client import FhirClient
from callcenter.exchange.fhir_mapping import (
    appointment_cells,
    checked,
    doctor_cells,
    patient_cells,
    ref_id,
)
from callcenter.exchange.records import BUILDERS, Cells, Context
from callcenter.exchange.upsert import OUTCOMES, REFUSED, Writer

PAGE = 100
REFUSALS_KEPT = 50
KINDS = {"Patient": "patients", "Practitioner": "doctors", "Appointment": "appointments"}
Guard = Callable[[], AbstractContextManager[object]]


@dataclass
class Item:
    kind: str  # ours: patients, doctors, appointments
    fhir_id: str
    cells: Cells | InputError


@dataclass
class Pulled:
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: dict.fromkeys(OUTCOMES, 0) for kind in KINDS.values()})
    # [FHIR type, id, field, reason] of the first REFUSALS_KEPT refused resources
    refusals: list[list[str]] = field(default_factory=list)
    refused: int = 0
    cursors: dict[str, str] = field(default_factory=dict)


def _stamp(resource: dict[str, Any]) -> datetime | None:
    meta = resource.get("meta")
    raw = meta.get("lastUpdated") if isinstance(meta, dict) else None
    try:
        stamp = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    # FHIR's instant has a zone: one without cannot be ordered against the others (TypeError).
    return stamp if stamp is not None and stamp.tzinfo is not None else None


class _Pull:
    def __init__(self, session: Session, clinic: Clinic, client: FhirClient,
                 cursors: dict[str, str], now: datetime, guard: Guard, locale: str) -> None:
        self.session, self.clinic, self.client = session, clinic, client
        self.writer = Writer(session, clinic, now)
        self.ctx = Context.of(clinic)
        self.since, self.guard, self.locale = cursors, guard, locale
        self.result = Pulled(cursors=dict(cursors))
        self.seen: dict[str, set[str]] = {kind: set() for kind in KINDS.values()}

    def search(self, resource_type: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """The type's resources changed since the last pull, noting the newest change seen."""
        since = self.since.get(resource_type)
        query = {**({"_lastUpdated": f"ge{since}"} if since else {}), **(params or {})}
        newest = self.result.cursors.get(resource_type)
        for resource in self.client.search(resource_type, query):
            stamp = _stamp(resource)
            if stamp is not None and (newest is None or stamp > datetime.fromisoformat(newest)):
                newest = resource["meta"]["lastUpdated"]
                self.result.cursors[resource_type] = newest
            if isinstance(resource.get("id"), str) and resource["id"]:
                yield resource
            elif resource_type in KINDS:  # nothing to upsert it by: refused, and counted
                self.refuse(KINDS[resource_type], "", InputError("id", N_("the resource has no id")))

    def item(self, kind: str, resource: dict[str, Any], cells: Callable[[dict[str, Any]], Cells]) -> Item:
        self.seen[kind].add(resource["id"])
        try:
            return Item(kind, resource["id"], cells(checked(resource)))
        except InputError as exc:
            return Item(kind, resource["id"], exc)

    def doctor(self, resource: dict[str, Any]) -> Item:
        roles = list(self.client.search("PractitionerRole",
                                        {"practitioner": f"Practitioner/{resource['id']}"}))
        return self.item("doctors", resource, lambda r: doctor_cells(r, roles, self.ctx))

    def missing(self, kind: str, fhir_type: str, fhir_id: str) -> list[Item]:
        """The patient or practitioner an Appointment names, read when we have not got it."""
        if self.writer.knows(kind, fhir_id) or fhir_id in self.seen[kind]:
            return []
        resource = self.client.find(fhir_type, fhir_id)
        if resource is None:
            self.seen[kind].add(fhir_id)
            return []  # the Appointment is refused for it, naming the id
        return [self.doctor(resource) if kind == "doctors"
                else self.item(kind, resource, patient_cells)]

    def appointment(self, resource: dict[str, Any]) -> list[Item]:
        item = self.item("appointments", resource, lambda r: appointment_cells(r, self.client.find))
        if isinstance(item.cells, InputError):
            return [item]
        return [*self.missing("patients", "Patient", str(item.cells["patient_id"][0])),
                *self.missing("doctors", "Practitioner", str(item.cells["doctor_id"][0])), item]

    def write(self, items: list[Item]) -> None:
        """One page, in one transaction."""
        with self.guard():
            for item in items:
                try:
                    if isinstance(item.cells, InputError):
                        raise item.cells
                    outcome = self.writer.upsert(item.kind, BUILDERS[item.kind](item.cells, self.ctx))
                except InputError as exc:
                    self.refuse(item.kind, item.fhir_id, exc)
                    continue
                self.result.counts[item.kind][outcome] += 1
            self.writer.flush()
            self.session.commit()

    def refuse(self, kind: str, fhir_id: str, exc: InputError) -> None:
        self.result.refused += 1
        self.result.counts[kind][REFUSED] += 1
        if len(self.result.refusals) < REFUSALS_KEPT:
            fhir_type = next(t for t, known in KINDS.items() if known == kind)
            self.result.refusals.append([fhir_type, fhir_id[:100], exc.field, exc.localized(self.locale)])

    def pages(self, items: Iterable[list[Item]]) -> None:
        batch: list[Item] = []
        for produced in items:
            batch += produced
            if len(batch) >= PAGE:
                self.write(batch)
                batch = []
        if batch:
            self.write(batch)

    def practitioners(self) -> Iterator[list[Item]]:
        changed = list(self.search("Practitioner"))
        ids = {resource["id"] for resource in changed}
        for role in self.search("PractitionerRole"):
            # A new specialty changes the Practitioner's record though not its resource.
            practitioner = ref_id(role.get("practitioner"), "Practitioner")
            if practitioner and practitioner not in ids:
                ids.add(practitioner)
                found = self.client.find("Practitioner", practitioner)
                if found is not None:
                    changed.append(found)
        for resource in changed:
            yield [self.doctor(resource)]

    def run(self) -> Pulled:
        try:
            self.pages([self.item("patients", r, patient_cells)] for r in self.search("Patient"))
            self.pages(self.practitioners())
            self.pages(self.appointment(r) for r in self.search("Appointment"))
        except BaseException:
            self.session.rollback()
            self.writer.forget()
            raise
        return self.result


def pull(session: Session, clinic: Clinic, client: FhirClient, cursors: dict[str, str], *,
         now: datetime, guard: Guard = nullcontext, locale: str = "en", via: str = "job") -> Pulled:
    """Read what changed on the server since `cursors` and write it; FhirError when the server
    fails (the pages written before stay; the cursors in the result are then not to be kept)."""
    result = _Pull(session, clinic, client, cursors, now, guard, locale).run()
    changed = {kind: {k: v for k, v in counts.items() if v and k in ("created", "updated")}
               for kind, counts in result.counts.items()}
    if any(changed.values()):  # who changed patient data: the clinic's FHIR server did
        with guard():
            audit(session, None, "fhir_pull", "clinic", clinic.id, clinic_id=clinic.id, via=via,
                  **{kind: counts for kind, counts in changed.items() if counts})
            session.commit()
    return result
