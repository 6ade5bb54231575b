"""GET /3cx/lookup (and /3cx/lookup/c/<token> for a clinic's own 3CX account): who is calling, for the contact pop 3CX shows on its own phones and apps.

3CX calls it while the phone rings (the default scenario of integrations/3cx/callcenter.xml),
so it is one indexed query. Only a number that belongs to exactly one patient is named: for a
shared (family) number 3CX shows no contact and our desk pop lets the receptionist pick.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import audit
from callcenter.access.clinics import default_clinic
from callcenter.core import clinic_scope
from callcenter.core.models import Patient, PatientPhone
from callcenter.core.phones import mask, normalize
from callcenter.core.web import db
from callcenter.inbound.pbx_accounts import find
from webhooks.threecx import key_matches

bp = Blueprint("threecx", __name__)
# Two is enough to know a number is shared; the names of the others are not needed.
MATCH_LIMIT = 2


def caller_number(raw: str, region: str) -> str | None:
    """3CX sends [Number] as "+7..." in the URL unencoded, so the plus arrives as a space."""
    if raw[:1] == " " and raw.strip()[:1].isdigit():
        raw = "+" + raw.strip()
    return normalize(raw, region)


def _key_clinic_session(clinic_id: int) -> Session:
    """The 3CX key serves one clinic (setting 3CX_CLINIC, or the clinic whose own 3CX account the
    URL names): the lookup names only its patients."""
    session = db()
    if not clinic_id:
        clinic_scope.restrict(session, clinic_scope.installation(session))
        clinic_id = default_clinic(session, current_app.config).id
    return clinic_scope.restrict(session, clinic_scope.Scope(frozenset({clinic_id})))


@bp.get("/3cx/lookup")
def lookup() -> tuple[Response, int]:
    return _lookup(current_app.config["3CX_SECRET"], current_app.config["3CX_CLINIC"])


@bp.get("/3cx/lookup/c/<token>")
def lookup_for_account(token: str) -> tuple[Response, int]:
    connection = find(db(), "3cx", token, current_app.config["SECRET_KEY"])
    if connection is None:
        return jsonify({"error": "unknown_account",
                        "message": "no 3CX account has this URL"}), 403
    return _lookup(connection.own["3CX_SECRET"], connection.clinic_id)


def _lookup(secret: str, clinic_id: int) -> tuple[Response, int]:
    config = current_app.config
    # Header only: a key in the query string ends up in access logs.
    given = request.headers.get("X-Api-Key", "")
    if not key_matches(given.strip(), secret):
        return jsonify({"error": "forbidden", "message": "missing or wrong 3CX key"}), 403
    raw = request.args.get("number")
    if raw is None:
        return jsonify({"error": "invalid_request", "field": "number",
                        "message": "number is required"}), 400
    e164 = caller_number(raw, config["REGION"])
    session = _key_clinic_session(clinic_id)
    rows = [] if e164 is None else session.execute(
        select(Patient.id, Patient.first_name, Patient.last_name)
        .join(PatientPhone, PatientPhone.patient_id == Patient.id)
        .where(PatientPhone.e164 == e164, Patient.erased_at.is_(None))
        .order_by(Patient.id).limit(MATCH_LIMIT)
    ).all()
    named = rows[0] if len(rows) == 1 else None
    audit.record(session, None, "lookup", "patient", named.id if named else "",
                 by="3cx", number=mask(e164), matches=len(rows))
    session.commit()
    if named is None:
        return jsonify({"matches": len(rows)}), 200
    base = (config["PUBLIC_URL"] or request.host_url).rstrip("/")
    return jsonify({
        "id": str(named.id), "first_name": named.first_name, "last_name": named.last_name,
        "phone": e164, "contact_url": f"{base}/desk/patients/{named.id}", "matches": 1,
    }), 200
