"""The one writer of a patient card's own fields: names, birth date, sex, language, phones with
labels, consents and notes. The desk's edit form, the file import and the sync API (and any
connector on the same upsert path) all change a card through `update`, so the rules and the
`patient.updated` event live here, not in one route.

Which changes make an event: those made in this product (the desk; `source` None). A change the
clinic's own system sent us (`source` "import", "sync", or a connector's name) makes none: the
events go to that same system, which would only hear its own change back (and could send it
again: a loop). A new card at the desk is `patient.created` (inbound.leads), not this.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from callcenter.core import events_out
from callcenter.core.inputs import InputError
from callcenter.core.models import Patient, PatientPhone

FIELDS = ("last_name", "first_name", "patronymic", "birth_date", "sex", "preferred_language",
          "consent_calls", "consent_marketing", "notes")
NAME_LENGTH = 100
NOTES_LENGTH = 5000


def _phones(patient: Patient, wanted: list[tuple[str, str]]) -> bool:
    """Set the numbers (each once; its first label wins), keeping the rows of numbers that stay
    (their ids, and the calls matched to them). True when anything changed."""
    labels: dict[str, str] = {}
    for e164, label in wanted:
        labels.setdefault(e164, label)
    before = [(phone.e164, phone.label) for phone in patient.phones]
    if before == list(labels.items()):
        return False
    kept = {phone.e164: phone for phone in patient.phones if phone.e164 in labels}
    rows = []
    for e164, label in labels.items():
        row = kept.get(e164) or PatientPhone(e164=e164, label=label)
        row.label = label
        rows.append(row)
    patient.phones = rows
    return True


def update(patient: Patient, changes: Mapping[str, Any], now: datetime,
           source: str | None = None) -> list[str]:
    """Apply the given fields (a field left out keeps its value; birth_date None clears it;
    `phones` is the whole list of (E.164, label)) and return the names of those that changed.
    Refused with InputError before anything is set: an erased card, a card left without a name.
    Changed at the desk (`source` None) → a `patient.updated` event in the caller's transaction;
    the caller commits."""
    if patient.erased_at is not None:
        raise InputError("patient_id", "this patient's data was erased")
    given = dict(changes)
    wrong = {name for name, value in given.items()
             if name not in (*FIELDS, "phones") or (value is None and name != "birth_date")}
    assert not wrong, f"not a patient field, or None where a value is needed: {sorted(wrong)}"
    for name in ("last_name", "first_name", "patronymic"):
        if name in given:
            given[name] = str(given[name]).strip()[:NAME_LENGTH]
    if "notes" in given:
        given["notes"] = str(given["notes"])[:NOTES_LENGTH]
    if not (given.get("last_name", patient.last_name) or given.get("first_name", patient.first_name)):
        raise InputError("last_name", "a first or last name is needed")
    changed = [name for name in FIELDS if name in given and getattr(patient, name) != given[name]]
    for name in changed:
        setattr(patient, name, given[name])
    if "phones" in given and _phones(patient, list(given["phones"])):
        changed.append("phones")
    if changed and source is None:
        events_out.patient_updated(patient, changed, now)
    return changed
