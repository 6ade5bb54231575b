"""/admin/staff: the clinic's staff accounts — list, create, edit, deactivate and reactivate,
reset a password. Doctors are staff too (no sign-in); their schedules are on /admin/doctors."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from callcenter.access import softphone_accounts, staff_admin
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core.config import LOCALES
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import FieldError
from callcenter.core.labels import LANGUAGE_NAMES
from callcenter.core.models import Clinic, Staff, utcnow
from callcenter.core.specialties import SPECIALTIES
from callcenter.core.web import db

bp = Blueprint("staff_admin", __name__, template_folder="templates")

ROLE_NAMES = {"receptionist": N_("Receptionist"), "marketing": N_("Marketing"),
              "admin": N_("Administrator"), "doctor": N_("Doctor")}
DONE = {"created": N_("Saved. They choose their own password at the first sign-in."),
        "saved": N_("Saved"),
        "softphone": N_("Browser phone saved: it connects when they next open the desk"),
        "deactivated": N_("Deactivated; signed out everywhere"),
        "activated": N_("Active again"),
        "password": N_("Temporary password set; signed out everywhere. Give it to them in person: "
                       "they choose their own at the next sign-in.")}


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _actor() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff


def _staff_or_404(staff_id: int) -> Staff:
    staff = db().get(Staff, staff_id)
    if staff is None:  # or another clinic's: the session's scope hides them
        abort(404)
    return staff


def _form_page(form: staff_admin.StaffInput, staff: Staff | None,
               errors: dict[str, object] | None = None, status: int = 200,
               phone_form: Mapping[str, str] | None = None) -> tuple[str, int]:
    session = db()
    locale = _locale()
    page = render_template(
        "admin/staff_form.html", locale=locale, form=form, member=staff, errors=errors or {},
        phone=phone_form if phone_form is not None else _phone_form(staff),
        roles=ROLE_NAMES, locales=[(code, LANGUAGE_NAMES.get(code, code)) for code in LOCALES],
        clinics=session.scalars(select(Clinic).order_by(Clinic.name)).all(),
        specialties=SPECIALTIES, manageable=staff is None or staff_admin.manageable(session, staff),
        message=t(DONE[request.args["done"]], locale) if request.args.get("done") in DONE else "")
    return page, status


def _phone_form(staff: Staff | None) -> dict[str, str]:
    """The browser phone section as stored: never the password, only whether one is set."""
    if staff is None:
        return {}
    secret_key = current_app.config["SECRET_KEY"]
    phone = softphone_accounts.read(secret_key, staff)
    if phone is None:
        return {"kind": "off", "unreadable": "yes" if softphone_accounts.unreadable(secret_key, staff) else ""}
    return phone.public()


def _errors(exc: staff_admin.Refused) -> dict[str, object]:
    locale = _locale()
    return {name: error.localized(locale) for name, error in exc.by_field().items()}


@bp.get("/admin/staff")
@require_role("admin")
def staff_list() -> str:
    session = db()
    clinics = {c.id: c.name for c in session.scalars(select(Clinic))}
    return render_template("admin/staff_list.html", locale=_locale(), roles=ROLE_NAMES,
                           people=staff_admin.visible_staff(session), clinics=clinics)


@bp.get("/admin/staff/new")
@require_role("admin")
def staff_new() -> tuple[str, int]:
    scope = sorted(db().scalars(select(Clinic.id)))
    role = request.args.get("role", "receptionist")
    form = staff_admin.StaffInput(role=role if role in ROLE_NAMES else "receptionist",
                                  locale=_actor().locale, clinic_ids=[str(i) for i in scope[:1]])
    return _form_page(form, None)


@bp.post("/admin/staff")
@require_role("admin")
def staff_create() -> Response | tuple[str, int]:
    session = db()
    form = staff_admin.StaffInput.from_form(request.form, request.form.to_dict(flat=False))
    try:
        staff = staff_admin.create(session, form, _actor(), utcnow())
    except staff_admin.Refused as exc:
        session.rollback()
        return _form_page(form, None, _errors(exc), exc.status)
    session.commit()
    return redirect(url_for("staff_admin.staff_edit", staff_id=staff.id, done="created"))


@bp.route("/admin/staff/<int:staff_id>", methods=["GET", "POST"])
@require_role("admin")
def staff_edit(staff_id: int) -> Response | tuple[str, int]:
    session = db()
    staff = _staff_or_404(staff_id)
    if request.method == "GET":
        return _form_page(staff_admin.StaffInput.of(staff, staff_admin.clinics_of(session, staff)),
                          staff)
    form = staff_admin.StaffInput.from_form(request.form, request.form.to_dict(flat=False))
    try:
        staff_admin.update(session, staff, form, _actor())
    except staff_admin.Refused as exc:
        session.rollback()
        return _form_page(form, _staff_or_404(staff_id), _errors(exc), exc.status)
    session.commit()
    return redirect(url_for("staff_admin.staff_edit", staff_id=staff.id, done="saved"))


def _current_form(staff: Staff) -> staff_admin.StaffInput:
    return staff_admin.StaffInput.of(staff, staff_admin.clinics_of(db(), staff))


@bp.post("/admin/staff/<int:staff_id>/active")
@require_role("admin")
def staff_active(staff_id: int) -> Response | tuple[str, int]:
    session = db()
    staff = _staff_or_404(staff_id)
    wanted = request.form.get("active", "")
    try:
        if wanted not in ("0", "1"):
            raise staff_admin.Refused([FieldError("active", N_("Unknown choice"))])
        staff_admin.set_active(session, staff, wanted == "1", _actor(), utcnow())
    except staff_admin.Refused as exc:
        session.rollback()
        staff = _staff_or_404(staff_id)
        return _form_page(_current_form(staff), staff, _errors(exc), 400)
    session.commit()
    done = "activated" if wanted == "1" else "deactivated"
    return redirect(url_for("staff_admin.staff_edit", staff_id=staff.id, done=done))


@bp.post("/admin/staff/<int:staff_id>/password")
@require_role("admin")
def staff_password(staff_id: int) -> Response | tuple[str, int]:
    session = db()
    staff = _staff_or_404(staff_id)
    try:
        staff_admin.reset_password(session, staff, request.form.get("password", ""), _actor(),
                                   utcnow())
    except staff_admin.Refused as exc:
        session.rollback()
        staff = _staff_or_404(staff_id)
        return _form_page(_current_form(staff), staff, _errors(exc), 400)
    session.commit()
    return redirect(url_for("staff_admin.staff_edit", staff_id=staff.id, done="password"))



@bp.post("/admin/staff/<int:staff_id>/softphone")
@require_role("admin")
def staff_softphone(staff_id: int) -> Response | tuple[str, int]:
    session = db()
    staff = _staff_or_404(staff_id)
    try:
        staff_admin.set_softphone(session, staff, request.form.to_dict(), current_app.config["SECRET_KEY"],
                                  _actor())
    except staff_admin.Refused as exc:
        session.rollback()
        staff = _staff_or_404(staff_id)
        typed = {**_phone_form(staff), "kind": request.form.get("softphone_kind", "off"),
                 **{key: request.form.get(name, "") for name, key in softphone_accounts.TYPED.items()}}
        return _form_page(_current_form(staff), staff, _errors(exc), exc.status, typed)
    session.commit()
    return redirect(url_for("staff_admin.staff_edit", staff_id=staff.id, done="softphone"))
