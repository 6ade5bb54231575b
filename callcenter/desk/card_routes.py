"""The call card's own routes: its draft, the new-patient form, the patient's edit form, the
recording played through the service, and the patient's call history page."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.core import patient_records
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import FieldError, optional_text, text
from callcenter.core.labels import LANGUAGE_NAMES, PURPOSES
from callcenter.core.models import Call, CallDraft, CallOutcome, Sex, utcnow
from callcenter.core.web import db
from callcenter.desk import drafts, history
from callcenter.desk import patient_form as form
from callcenter.desk.desk_request import answer_errors, card_response, clinic, locale, staff
from callcenter.desk.http_input import DeskError, body_json, call_by_id, patient_by_id
from callcenter.desk.popcard import full_name, patient_summaries
from callcenter.desk.texts import desk_texts
from callcenter.inbound import leads, recordings

bp = Blueprint("desk_card", __name__, template_folder="templates")
answer_errors(bp, "invalid_request", DeskError, recordings.RecordingUnavailable)

DESK = ("receptionist", "admin")
DUPLICATE = N_("The clinic may already have this patient: open the card, or create anyway")


@bp.post("/api/desk/calls/<int:call_id>/draft")
@require_role(*DESK)
def save_draft(call_id: int) -> Response:
    """What is typed on the card, kept until the wrap-up is saved (not audited: nothing is read)."""
    call = call_by_id(call_id)
    body = body_json()
    value = optional_text(CallDraft.outcome, body, "outcome")
    try:
        outcome = CallOutcome(value) if value else None
    except ValueError:
        raise DeskError("outcome", "one of: {choices}",
                        choices=", ".join(o.value for o in CallOutcome)) from None
    drafts.save(db(), call, staff().id, utcnow(), outcome=outcome,
                heard_from=optional_text(CallDraft.heard_from, body, "heard_from"),
                notes=text(Call.notes, body.get("notes", ""), "notes"))
    db().commit()
    return jsonify({"call_id": call.id, "saved": True})


@bp.post("/api/desk/calls/<int:call_id>/new-patient")
@require_role(*DESK)
def new_patient(call_id: int) -> Response | tuple[Response, int]:
    """A card for an unknown caller: names, language, sex, birth date, numbers with labels.
    A possible duplicate (same number, or same name and birth date) answers 409 with links,
    unless the receptionist said "create anyway"."""
    call = call_by_id(call_id)
    body = body_json()
    given = form.read(body, clinic(call.clinic_id), utcnow())
    if body.get("create_anyway") is not True:
        found = leads.duplicates(db(), call, given)
        if found:
            for patient, reason in found:
                audit(db(), staff().id, "view_patient", "patient", patient.id, call_id=call.id,
                      via="duplicate_check", reason=reason)
            db().commit()
            return jsonify({
                "error": "duplicate", "field": "patient", "message": t(DUPLICATE, locale()),
                "duplicates": [{"id": p.id, "name": full_name(p), "reason": reason,
                                "birth_date": p.birth_date.isoformat() if p.birth_date else None,
                                "url": f"/desk/patients/{p.id}"} for p, reason in found],
            }), 409
    patient = leads.create(db(), call, given, utcnow())
    audit(db(), staff().id, "create_patient", "patient", patient.id, call_id=call.id,
          anyway=body.get("create_anyway") is True)
    db().commit()
    return card_response(call_id, "new_patient")


@bp.route("/desk/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@require_role(*DESK)
def edit_patient(patient_id: int) -> Response | tuple[str, int]:
    """The card's edit form: names, birth date, sex, language, numbers with labels, consents and
    notes, checked as the new-patient form is; a refusal shows the form again with the field
    named in the staff member's language. Saved: audited (the fields changed, not their values)
    and told to the clinic's system (patient.updated)."""
    patient = patient_by_id(patient_id)
    lang, values, problem = locale(), form.form_values(patient), None
    if request.method == "POST":
        values = form.form_body(request.form, request.form.getlist("phone"),
                                request.form.getlist("phone_label"))
        try:
            changes = form.read_edit(values, clinic(patient.clinic_id), utcnow())
            changed = patient_records.update(patient, changes, utcnow())
        except FieldError as exc:
            problem = {"field": exc.field, "message": exc.localized(lang)}
        else:
            audit(db(), staff().id, "edit_patient", "patient", patient.id, via="card_page",
                  changed=",".join(changed))
            db().commit()
            return redirect(f"/desk/patients/{patient.id}", 303)  # type: ignore[return-value]
    else:
        audit(db(), staff().id, "view_patient", "patient", patient.id, via="edit_form")
        db().commit()
    page = render_template("desk/patient_edit.html", locale=lang, patient_id=patient.id,
                           name=full_name(patient), values=values, problem=problem,
                           texts=desk_texts(lang), languages=LANGUAGE_NAMES,
                           labels=form.PHONE_LABELS, sexes=[s.value for s in Sex],
                           rows=max(min(len(values["phones"]) + 1, form.MOST_PHONES),
                                    len(values["phones"])))
    return page, 400 if problem else 200


@bp.get("/desk/calls/<int:call_id>/recording")
@require_role(*DESK)
def recording(call_id: int) -> Response:
    """The recording, fetched from the provider with its credentials and streamed; every fetch is
    an audited play (a seek is a fetch of its own: each part of the audio heard is on record)."""
    call = call_by_id(call_id)
    where = recordings.source(call, current_app.config)
    byte_range = recordings.clean_range(request.headers.get("Range"))
    audit(db(), staff().id, "play_recording", "call", call.id, patient_id=call.patient_id,
          range=byte_range or "all")
    db().commit()
    playback = recordings.open_playback(where, byte_range)
    response = Response(playback.body, status=playback.status, headers=playback.headers,
                        direct_passthrough=True)
    response.call_on_close(playback.close)
    return response


@bp.get("/desk/patients/<int:patient_id>/calls")
@require_role(*DESK)
def patient_calls(patient_id: int) -> str:
    """The patient's calls (outcomes, notes, recordings) and visits, newest first."""
    patient = patient_by_id(patient_id)
    lang, own_clinic = locale(), clinic(patient.clinic_id)
    offset = request.args.get("offset", "0")
    start = int(offset) if offset.isdigit() and len(offset) < 7 else 0
    calls, total = history.calls(db(), patient, own_clinic, lang, start)
    summary = patient_summaries(db(), own_clinic, [patient.id], utcnow(), lang)[0]
    visits = history.visits(db(), patient, own_clinic, lang)
    audit(db(), staff().id, "view_patient", "patient", patient.id, via="call_history")
    db().commit()
    return render_template("desk/patient_calls.html", locale=lang, patient=summary, calls=calls,
                           total=total, offset=start, page=history.PAGE, visits=visits,
                           texts=desk_texts(lang), purposes=PURPOSES)
