"""/admin/doctors: each doctor's weekly schedule (split shifts, slot length) and absences
(vacation, sick leave) — what the offered slots are made of. A doctor's name, specialties and
clinics are edited on the staff page."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from callcenter.access import staff_admin
from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core.i18n import N_, t
from callcenter.core.models import WEEKDAYS, Clinic, DoctorAbsence, Staff, StaffRole, utcnow
from callcenter.core.specialties import SPECIALTIES
from callcenter.core.web import db
from callcenter.schedule import working_time

bp = Blueprint("doctor_admin", __name__, template_folder="templates")

DAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
             N_("Saturday"), N_("Sunday"))
KIND_NAMES = {"vacation": N_("Vacation"), "sick_leave": N_("Sick leave"), "other": N_("Other")}
DONE = {"schedule": N_("Schedule saved"), "absence": N_("Absence added"),
        "absence-removed": N_("Absence removed"),
        "visits": N_("Absence added. Booked visits on those days to move: {}")}


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _actor_id() -> int:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff.id


def _doctor_or_404(staff_id: int) -> Staff:
    doctor = db().get(Staff, staff_id)
    if doctor is None or doctor.role != StaffRole.DOCTOR:  # another clinic's doctor is not there
        abort(404)
    return doctor


def _zone(doctor: Staff) -> str:
    clinic = db().get(Clinic, doctor.clinic_id)
    return clinic.timezone if clinic is not None else str(current_app.config["TIMEZONE"])


def _done() -> str:
    what, _, figure = request.args.get("done", "").partition(":")
    return t(DONE[what], _locale()).format(figure) if what in DONE else ""


@bp.get("/admin/doctors")
@require_role("admin")
def doctor_list() -> str:
    session = db()
    doctors = staff_admin.visible_staff(session, doctors=True)
    weeks = {d.id: working_time.week_of(session, d) for d in doctors}
    return render_template("admin/doctor_list.html", locale=_locale(), doctors=doctors,
                           weeks=weeks, specialties=SPECIALTIES, days=DAY_NAMES,
                           weekdays=WEEKDAYS, per_day=working_time.WINDOWS_PER_DAY)


def _page(doctor: Staff, values: dict[str, str] | None = None, slot: object = None,
          errors: dict[str, str] | None = None, absence: dict[str, str] | None = None,
          status: int = 200) -> tuple[str, int]:
    session = db()
    saved, saved_slot = working_time.week_of(session, doctor)
    today = utcnow().astimezone(ZoneInfo(_zone(doctor))).date()
    return render_template(
        "admin/doctor_schedule.html", locale=_locale(), doctor=doctor,
        values=saved if values is None else values, slot=saved_slot if values is None else slot,
        errors=errors or {}, absence=absence or {}, days=DAY_NAMES, weekdays=WEEKDAYS,
        per_day=working_time.WINDOWS_PER_DAY, field_name=working_time.field_name,
        absences=working_time.absences_of(session, doctor, today), kinds=KIND_NAMES,
        specialties=SPECIALTIES, message=_done()), status


def _errors(exc: staff_admin.Refused) -> dict[str, str]:
    locale = _locale()
    return {name: error.localized(locale) for name, error in exc.by_field().items()}


@bp.get("/admin/doctors/<int:staff_id>")
@require_role("admin")
def doctor_page(staff_id: int) -> tuple[str, int]:
    return _page(_doctor_or_404(staff_id))


@bp.post("/admin/doctors/<int:staff_id>/schedule")
@require_role("admin")
def doctor_schedule(staff_id: int) -> Response | tuple[str, int]:
    session = db()
    doctor = _doctor_or_404(staff_id)
    form = {key: value for key, value in request.form.items() if key != "csrf_token"}
    try:
        windows, slot = working_time.parse_week(form)
    except staff_admin.Refused as exc:
        return _page(doctor, form, form.get("slot_minutes", ""), _errors(exc), status=400)
    working_time.replace_week(session, doctor, windows, slot)
    audit(session, _actor_id(), "doctor_schedule_saved", "staff", doctor.id,
          windows=len(windows), slot_minutes=slot)
    session.commit()
    return redirect(url_for("doctor_admin.doctor_page", staff_id=doctor.id, done="schedule"))


@bp.post("/admin/doctors/<int:staff_id>/absences")
@require_role("admin")
def absence_add(staff_id: int) -> Response | tuple[str, int]:
    session = db()
    doctor = _doctor_or_404(staff_id)
    form = working_time.AbsenceInput(**{name: request.form.get(name, "") for name in (
        "starts_on", "ends_on", "kind", "note")})
    try:
        absence, visits = working_time.add_absence(session, doctor, form, utcnow(), _zone(doctor))
    except staff_admin.Refused as exc:
        session.rollback()
        return _page(doctor, errors=_errors(exc), absence=vars(form), status=400)
    audit(session, _actor_id(), "doctor_absence_added", "doctor_absence", absence.id,
          doctor_id=doctor.id, kind=str(absence.kind), starts_on=absence.starts_on.isoformat(),
          ends_on=absence.ends_on.isoformat())
    session.commit()
    done = f"visits:{visits}" if visits else "absence"
    return redirect(url_for("doctor_admin.doctor_page", staff_id=doctor.id, done=done))


@bp.post("/admin/doctors/<int:staff_id>/absences/<int:absence_id>/delete")
@require_role("admin")
def absence_remove(staff_id: int, absence_id: int) -> Response:
    session = db()
    doctor = _doctor_or_404(staff_id)
    absence = session.scalar(select(DoctorAbsence).where(DoctorAbsence.id == absence_id,
                                                         DoctorAbsence.doctor_id == doctor.id))
    if absence is None:
        abort(404)
    audit(session, _actor_id(), "doctor_absence_removed", "doctor_absence", absence.id,
          doctor_id=doctor.id, kind=str(absence.kind))
    session.delete(absence)
    session.commit()
    return redirect(url_for("doctor_admin.doctor_page", staff_id=doctor.id, done="absence-removed"))

