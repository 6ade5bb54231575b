"""Callers who are not patients: a vendor, an advertiser, a partner, a job seeker. The desk marks
the call, the number is remembered as the organisation's (its next call pops as that and gets
the non-patient script, inbound/matching.py), and the call goes where the clinic's route for its
purpose says: an extension, someone's phone by click-to-call, or a message for the director.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.complaints.records import ComplaintError
from callcenter.core.inputs import text
from callcenter.core.models import (
    Call,
    CallCandidate,
    CallDirection,
    CallerKind,
    CallOutcome,
    Clinic,
    NonPatientPurpose,
    NonPatientRoute,
    Organisation,
    OrganisationMessage,
    RouteKind,
    Staff,
)
from callcenter.core.phones import normalize

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EXTENSION = re.compile(r"^[0-9*#]{1,16}$")


def purpose_of(value: object) -> NonPatientPurpose:
    try:
        return NonPatientPurpose(str(value))
    except ValueError:
        raise ComplaintError("purpose", "one of: {choices}",
                             choices=", ".join(p.value for p in NonPatientPurpose)) from None


def email_of(value: object, field: str = "email") -> str:
    found = text(Organisation.email, value if value is not None else "", field).strip()
    if found and not EMAIL.match(found):
        raise ComplaintError(field, "not an e-mail address")
    return found


def _number(call: Call) -> str | None:
    return call.dialed if call.direction == CallDirection.OUTBOUND else call.caller


def organisation_for_call(session: Session, call: Call) -> Organisation | None:
    number = _number(call)
    if not number:
        return None
    return session.scalar(select(Organisation).where(Organisation.clinic_id == call.clinic_id,
                                                     Organisation.e164 == number))


def route_for(session: Session, clinic_id: int, purpose: NonPatientPurpose) -> NonPatientRoute | None:
    return session.scalar(select(NonPatientRoute).where(NonPatientRoute.clinic_id == clinic_id,
                                                        NonPatientRoute.purpose == purpose))


def mark(session: Session, call: Call, staff: Staff, purpose: NonPatientPurpose, *, name: str,
         email: str, now: datetime) -> Organisation | None:
    """The caller is not a patient: the call is marked so (out of the patient funnel) and the
    number remembered as the organisation's; None when the number is hidden (nothing to keep)."""
    on_card = call.patient_id is not None or session.scalar(select(exists().where(
        CallCandidate.call_id == call.id)))
    if on_card:
        raise ComplaintError("purpose", "this number is on a patient card", 409)
    name = text(Organisation.name, name, "name").strip()
    email = email_of(email)
    call.caller_kind, call.outcome = CallerKind.NON_PATIENT, CallOutcome.NON_PATIENT
    call.first_time = False
    call.agent_id = call.agent_id or staff.id
    organisation = organisation_for_call(session, call)
    number = _number(call)
    if organisation is None and number:
        organisation = Organisation(clinic_id=call.clinic_id, e164=number, purpose=purpose,
                                    created_at=now)
        session.add(organisation)
    if organisation is not None:
        organisation.purpose = purpose
        organisation.name = name or organisation.name
        organisation.email = email or organisation.email
        session.flush()
    audit(session, staff.id, "mark_non_patient", "call", call.id, purpose=str(purpose),
          organisation_id=organisation.id if organisation else None)
    return organisation


def transferred(session: Session, call: Call, staff: Staff, route: NonPatientRoute) -> None:
    """The receptionist put the caller through (to the extension, or rang the person)."""
    audit(session, staff.id, "route_non_patient", "call", call.id, kind=str(route.kind),
          purpose=str(route.purpose), target=route.target)


def leave_message(session: Session, call: Call, staff: Staff, organisation: Organisation | None,
                  email: str, note: str, now: datetime) -> OrganisationMessage:
    """For the director: who called, about what, and the e-mail to answer to."""
    if organisation is None:
        raise ComplaintError("purpose", "mark the caller as not a patient first", 409)
    message = OrganisationMessage(
        clinic_id=call.clinic_id, organisation_id=organisation.id, call_id=call.id,
        email=email_of(email) or organisation.email, text=text(OrganisationMessage.text, note, "text"),
        created_by_id=staff.id, created_at=now)
    if not message.email:
        raise ComplaintError("email", "required")
    organisation.email = organisation.email or message.email
    session.add(message)
    session.flush()
    audit(session, staff.id, "message_for_director", "call", call.id, message_id=message.id)
    return message


def save_route(session: Session, clinic: Clinic, purpose: NonPatientPurpose, kind_value: object,
               person: str, target: str) -> NonPatientRoute:
    """Set where calls of one purpose go (an admin's setting)."""
    try:
        kind = RouteKind(str(kind_value))
    except ValueError:
        raise ComplaintError("kind", "one of: {choices}",
                             choices=", ".join(k.value for k in RouteKind)) from None
    target = text(NonPatientRoute.target, target, "target").strip()
    if kind == RouteKind.EXTENSION and not EXTENSION.match(target):
        raise ComplaintError("target", "an extension: digits, * or #")
    if kind == RouteKind.PHONE:
        number = normalize(target, clinic.region)
        if number is None:
            raise ComplaintError("target", "not a phone number")
        target = number
    if kind == RouteKind.MESSAGE:
        target = ""
    route = route_for(session, clinic.id, purpose) or NonPatientRoute(clinic_id=clinic.id,
                                                                      purpose=purpose)
    route.kind, route.person, route.target = kind, text(NonPatientRoute.person, person, "person"), target
    session.add(route)
    session.flush()
    return route


def recent_messages(session: Session, limit: int = 50) -> list[Any]:
    return list(session.execute(select(OrganisationMessage, Organisation).join(
        Organisation, Organisation.id == OrganisationMessage.organisation_id)
        .order_by(OrganisationMessage.created_at.desc()).limit(limit)).all())
