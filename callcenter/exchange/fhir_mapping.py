"""FHIR R4 resources ↔ our records. A Patient, Practitioner or Appointment becomes the same
cells a file row or a sync API record gives (`records.BUILDERS` then checks and parses them), so
the three ways in share every rule. And our visit's status becomes the change the server's
Appointment needs.

Resources are checked with the `fhir.resources` R4B models first (R4B keeps R4's elements and
codes for these resources, and the 8.x line is the maintained one); the fields are then read
from the resource's JSON, which keeps what a server adds (extensions) out of our way.

Names follow the Russian core profile (RuCoreIG): `family` is the surname, `given[0]` the first
name and `given[1]` the patronymic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError
from callcenter.core.models import AppointmentStatus, Sex
from callcenter.core.specialties import SPECIALTIES
from callcenter.exchange.columns import normalized
from callcenter.exchange.records import Cells, Context

Read = Callable[[str, str], "dict[str, Any] | None"]  # (type, id) → the resource, None if gone

SEXES = {"female": Sex.FEMALE, "male": Sex.MALE}
PHONE_FIELDS = {"mobile": "phone_mobile", "home": "phone_home", "work": "phone_work"}
LANGUAGES = ("ru", "en", "zh")
NAME_USES = ("official", "usual", None)
TERMINAL = ("fulfilled", "cancelled", "noshow", "entered-in-error")
FROM_FHIR = {
    "proposed": AppointmentStatus.BOOKED, "pending": AppointmentStatus.BOOKED,
    "booked": AppointmentStatus.BOOKED, "arrived": AppointmentStatus.ARRIVED,
    "checked-in": AppointmentStatus.ARRIVED, "fulfilled": AppointmentStatus.COMPLETED,
    "cancelled": AppointmentStatus.CANCELLED, "entered-in-error": AppointmentStatus.CANCELLED,
    "noshow": AppointmentStatus.NO_SHOW,
}
# Our status → (the Appointment's status, whether the patient participant has accepted). A
# booked or "call" visit changes nothing there; a move cancels the old visit (the FHIR way to
# reschedule is cancel and book again; the new visit is ours alone).
TO_FHIR: dict[AppointmentStatus, tuple[str, bool]] = {
    AppointmentStatus.CONFIRMED: ("booked", True),
    AppointmentStatus.ARRIVED: ("arrived", False),
    AppointmentStatus.NO_SHOW: ("noshow", False),
    AppointmentStatus.CANCELLED: ("cancelled", False),
    AppointmentStatus.RESCHEDULED: ("cancelled", False),
    AppointmentStatus.COMPLETED: ("fulfilled", False),
}


class Refused(Exception):
    """The server's Appointment may not take the change (it is in a final state)."""


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource if its type's R4B model accepts it; InputError naming the element if not."""
    # Imported here: the R4B models take a quarter of a second to load, which every web, worker
    # and CLI process would pay at start whether or not its clinic has a FHIR server.
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    kind = str(resource.get("resourceType", ""))
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except KeyError:
        raise InputError("resourceType", N_("'{value}' is not a FHIR resource type"),
                         value=kind[:40]) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or kind
        raise InputError(where[:100], N_("not valid FHIR: {problem}"),
                         problem=str(first.get("msg", ""))[:160]) from None
    return resource


def ref_id(reference: Any, kind: str) -> str | None:
    """The id in a reference to a resource of `kind` ("Patient/1", an absolute URL, or one
    with `_history/…`), None when it points at something else."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].split("/")
    for index, part in enumerate(parts[:-1]):
        if part == kind and parts[index + 1]:
            return parts[index + 1]
    return None


def _name_cells(resource: dict[str, Any]) -> Cells:
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    name = next((n for use in NAME_USES for n in names if n.get("use") == use), names[0] if names else {})
    given = [g for g in name.get("given") or [] if isinstance(g, str)]
    cells: Cells = {"last_name": [name.get("family")], "first_name": [given[0] if given else None],
                    "patronymic": [given[1] if len(given) > 1 else None]}
    if not name.get("family") and not given and name.get("text"):
        cells = {"full_name": [name["text"]]}
    return cells


def patient_cells(resource: dict[str, Any]) -> Cells:
    cells: Cells = {"external_id": [resource["id"]], **_name_cells(resource)}
    born = resource.get("birthDate")
    # A year or a month alone is valid FHIR but not a birth date we can keep.
    cells["birth_date"] = [born if isinstance(born, str) and len(born) == 10 else None]
    cells["sex"] = [SEXES.get(resource.get("gender") or "", Sex.UNKNOWN).value]
    language = _language(resource)
    if language:
        cells["language"] = [language]
    cells["phones"] = []
    points = [p for p in resource.get("telecom") or [] if isinstance(p, dict)
              and p.get("system") in ("phone", "sms") and p.get("use") != "old"
              and not (p.get("period") or {}).get("end") and p.get("value")]
    for point in sorted(points, key=lambda p: p.get("rank") or 10**6):
        cells.setdefault(PHONE_FIELDS.get(point.get("use"), "phones"), []).append(point["value"])
    return cells


def _language(resource: dict[str, Any]) -> str | None:
    spoken = [c for c in resource.get("communication") or [] if isinstance(c, dict)]
    for entry in sorted(spoken, key=lambda c: not c.get("preferred")):
        for coding in (entry.get("language") or {}).get("coding") or []:
            code = str(coding.get("code") or "").split("-")[0].lower()
            if code in LANGUAGES:
                return code
    return None


def doctor_cells(resource: dict[str, Any], roles: list[dict[str, Any]], ctx: Context) -> Cells:
    """A Practitioner with the specialties of its PractitionerRoles that we know by code or by
    name in any of our languages (a SNOMED code alone is not ours to guess)."""
    codes: list[str] = []
    for role in roles:
        for concept in role.get("specialty") or []:
            for coding in concept.get("coding") or []:
                for word in (coding.get("code"), coding.get("display")):
                    code = word if word in SPECIALTIES else ctx.specialty_names.get(normalized(str(word or "")))
                    if code and code not in codes:
                        codes.append(code)
            text = ctx.specialty_names.get(normalized(str(concept.get("text") or "")))
            if text and text not in codes:
                codes.append(text)
    return {"external_id": [resource["id"]], **_name_cells(resource),
            "active": [resource.get("active", True) is not False], "specialties": [", ".join(codes)]}


def _patient_accepted(resource: dict[str, Any]) -> bool:
    return any(ref_id(p.get("actor"), "Patient") and p.get("status") == "accepted"
               for p in resource.get("participant") or [])


def _doctor(resource: dict[str, Any], read: Read) -> str | None:
    """The Practitioner: a participant, through a PractitionerRole, or through the Slot's
    Schedule (servers that book by slot name only the patient)."""
    actors = [p.get("actor") for p in resource.get("participant") or [] if isinstance(p, dict)]
    for slot in resource.get("slot") or []:
        slot_id = ref_id(slot, "Slot")
        found = read("Slot", slot_id) if slot_id else None
        schedule_id = ref_id((found or {}).get("schedule"), "Schedule")
        schedule = read("Schedule", schedule_id) if schedule_id else None
        actors += (schedule or {}).get("actor") or []
    for actor in actors:
        if ref_id(actor, "Practitioner"):
            return ref_id(actor, "Practitioner")
    for actor in actors:
        role_id = ref_id(actor, "PractitionerRole")
        role = read("PractitionerRole", role_id) if role_id else None
        if role and ref_id(role.get("practitioner"), "Practitioner"):
            return ref_id(role.get("practitioner"), "Practitioner")
    return None


def _times(resource: dict[str, Any], read: Read) -> tuple[Any, Any]:
    if resource.get("start"):
        return resource.get("start"), resource.get("end")
    for slot in resource.get("slot") or []:
        found = read("Slot", ref_id(slot, "Slot") or "")
        if found and found.get("start"):
            return found["start"], found.get("end")
    return None, None


def _concept_text(concepts: Any) -> str:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if not isinstance(concept, dict):
            continue
        if concept.get("text"):
            return str(concept["text"])
        for coding in concept.get("coding") or []:
            if coding.get("display") or coding.get("code"):
                return str(coding.get("display") or coding.get("code"))
    return ""


def appointment_cells(resource: dict[str, Any], read: Read) -> Cells:
    status = FROM_FHIR.get(str(resource.get("status")))
    if status is None:
        raise InputError("status", N_("'{value}' is not a visit status we know"),
                         value=str(resource.get("status"))[:40])
    if status is AppointmentStatus.BOOKED and resource.get("status") == "booked" \
            and _patient_accepted(resource):
        status = AppointmentStatus.CONFIRMED  # the patient participant accepted
    patient = next((ref_id(p.get("actor"), "Patient") for p in resource.get("participant") or []
                    if ref_id(p.get("actor"), "Patient")), None)
    if patient is None:
        raise InputError("patient_id", N_("the visit has no patient"))
    doctor = _doctor(resource, read)
    if doctor is None:
        raise InputError("doctor_id", N_("the visit has no practitioner (nor a slot of one)"))
    start, end = _times(resource, read)
    if not start:
        raise InputError("start", "the visit has no date and time")
    return {"external_id": [resource["id"]], "patient_id": [patient], "doctor_id": [doctor],
            "start": [start], "end": [end], "status": [status.value],
            "service": [_concept_text(resource.get("serviceType"))
                        or _concept_text(resource.get("appointmentType"))],
            "booked_at": [resource.get("created")], "notes": [resource.get("comment") or ""]}


def with_status(resource: dict[str, Any], status: AppointmentStatus) -> dict[str, Any] | None:
    """The Appointment as it must be for our visit's status; None when it already is, or when
    our status is not one the server hears of. Refused when the server's is final."""
    wanted = TO_FHIR.get(status)
    if wanted is None:
        return None
    fhir_status, accepted = wanted
    if resource.get("status") == fhir_status and (not accepted or _patient_accepted(resource)):
        return None
    if resource.get("status") in TERMINAL:
        raise Refused(f"the server's appointment is {resource.get('status')}; not changed to "
                      f"{fhir_status}")
    changed = {**resource, "status": fhir_status}
    if accepted:
        changed["participant"] = [
            {**p, "status": "accepted"} if ref_id(p.get("actor"), "Patient") else p
            for p in resource.get("participant") or []]
    return changed


def written(resource: dict[str, Any]) -> str:
    """What the server's Appointment says, for the write-back log."""
    return str(resource.get("status", "")) + (" + patient accepted" if _patient_accepted(resource) else "")
