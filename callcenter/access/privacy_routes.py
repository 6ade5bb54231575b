"""Admin JSON API for a patient's requests: a copy of their data, or its erasure (both audited)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from callcenter.access import privacy
from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.core.models import Patient, StaffRole, utcnow
from callcenter.core.web import db

bp = Blueprint("privacy", __name__)


def _find(patient_id: int) -> Patient | None:
    return db().get(Patient, patient_id)  # None too for another clinic's: the session's scope


def _not_found(patient_id: int) -> tuple[Response, int]:
    return jsonify({"error": "not_found", "field": "patient_id",
                    "message": f"no patient {patient_id} at this clinic"}), 404


@bp.get("/api/patients/<int:patient_id>/export")
@require_role(StaffRole.ADMIN)
def export_patient(patient_id: int) -> Response | tuple[Response, int]:
    if _find(patient_id) is None:
        return _not_found(patient_id)
    document = privacy.export(db(), patient_id, utcnow())
    audit(db(), current_staff().id, "export", "patient", patient_id)  # type: ignore[union-attr]
    db().commit()
    response = jsonify(document)
    response.headers["Content-Disposition"] = f'attachment; filename="patient-{patient_id}.json"'
    return response


@bp.post("/api/patients/<int:patient_id>/erase")
@require_role(StaffRole.ADMIN)
def erase_patient(patient_id: int) -> Response | tuple[Response, int]:
    if _find(patient_id) is None:
        return _not_found(patient_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("confirm") is not True:
        return jsonify({"error": "invalid_request", "field": "confirm",
                        "message": 'erasure cannot be undone: send {"confirm": true}'}), 400
    now = utcnow()
    try:
        removed = privacy.erase(db(), patient_id, current_staff().id, now)  # type: ignore[union-attr]
    except privacy.AlreadyErased as exc:
        return jsonify({"error": "already_erased", "message": str(exc)}), 409
    db().commit()
    return jsonify({"patient_id": patient_id, "erased_at": now.isoformat(), "removed": removed})
