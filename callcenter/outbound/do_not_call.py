"""The do-not-call list an administrator keeps: numbers a clinic must not call, each with why.

An entry is an `OptOut` row of one clinic, like the ones a patient makes by pressing 9 on an
automatic call. Scope "all" keeps the number off every outbound list and refuses click-to-call
(`outbound.reach.binds`) and every text; scope "marketing" records that the person refused
marketing calls; scope "sms" (a STOP text) stops texts only.
Adding and removing are audited with who, when and why; the form is checked whole before
anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError, text
from callcenter.core.models import OptOut, Staff
from callcenter.core.phones import normalize

SCOPES = {"all": N_("no calls at all"), "marketing": N_("no marketing calls"),
          "sms": N_("no text messages")}
SOURCES = {"desk": N_("desk"), "ivr": N_("pressed 9 on an automatic call"), "admin": N_("admin"),
           "sms": N_("asked by text")}


@dataclass(frozen=True)
class NewEntry:
    e164: str
    scope: str
    reason: str


def check_new(session: Session, form: Mapping[str, str], region: str,
              clinic_id: int) -> tuple[NewEntry | None, dict[str, InputError]]:
    """The entry a form asks for, or every field's problem (nothing is written either way)."""
    errors: dict[str, InputError] = {}
    raw = (form.get("number") or "").strip()
    e164 = normalize(raw, region) if raw else None
    if not raw:
        errors["number"] = InputError("number", "required")
    elif len(raw) > 40 or e164 is None:
        errors["number"] = InputError("number", "not a phone number")
    scope = form.get("scope") or ""
    if scope not in SCOPES:
        errors["scope"] = InputError("scope", "choose one of the listed values")
    reason = _reason(form, errors)
    if e164 is not None and "scope" not in errors and session.scalar(
            select(OptOut.id).where(OptOut.e164 == e164, OptOut.scope == scope,
                                    OptOut.clinic_id == clinic_id)) is not None:
        errors["number"] = InputError("number", "already on the list")
    if errors or e164 is None:
        return None, errors
    return NewEntry(e164, scope, reason), errors


def removal_reason(form: Mapping[str, str]) -> tuple[str, dict[str, InputError]]:
    errors: dict[str, InputError] = {}
    return _reason(form, errors), errors


def _reason(form: Mapping[str, str], errors: dict[str, InputError]) -> str:
    reason = (form.get("reason") or "").strip()
    try:
        text(OptOut.reason, reason, "reason")
    except InputError as exc:
        errors["reason"] = exc
    if not reason and "reason" not in errors:
        errors["reason"] = InputError("reason", "required")
    return reason


def add(session: Session, staff: Staff, clinic_id: int, entry: NewEntry, now: datetime) -> OptOut:
    row = OptOut(e164=entry.e164, scope=entry.scope, reason=entry.reason, source="admin",
                 clinic_id=clinic_id, staff_id=staff.id, created_at=now)
    session.add(row)
    session.flush()
    audit(session, staff.id, "dnc_add", "opt_out", row.id, clinic_id=clinic_id, number=entry.e164,
          scope=entry.scope, reason=entry.reason)
    return row


def remove(session: Session, staff: Staff, row: OptOut, reason: str) -> None:
    # The number stays in the audit row: who may call it again, and since when, must be traceable.
    audit(session, staff.id, "dnc_remove", "opt_out", row.id, clinic_id=row.clinic_id,
          number=row.e164, scope=row.scope, reason=reason, added_reason=row.reason)
    session.delete(row)


def entries(session: Session) -> list[OptOut]:
    """The entries the session may see (its clinics'), newest first."""
    return list(session.scalars(select(OptOut).order_by(OptOut.created_at.desc(), OptOut.id.desc())))
