"""/admin/services: the clinic's price list — create, edit, retire; the currency it is in."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin.forms import Problems, row_or_404
from callcenter.admin.pages import admin as staff
from callcenter.admin.pages import locale as page_locale
from callcenter.admin.services import (
    ServiceForm,
    apply,
    change_currency,
    currency_code,
    price_list,
    validate,
)
from callcenter.core.config import LOCALES
from callcenter.core.i18n import N_, t
from callcenter.core.ids import storable
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, Service
from callcenter.core.price_list import currency_of, known_currencies, service_name, service_price
from callcenter.core.specialties import SPECIALTIES
from callcenter.core.web import db

bp = Blueprint("services_admin", __name__, template_folder="templates")

LANGUAGES = {"ru": N_("Russian"), "en": N_("English"), "zh": N_("Chinese")}
DONE = {"created": N_("Service added"), "saved": N_("Service saved"),
        "retired": N_("Service retired: the desk no longer offers it"),
        "reinstated": N_("Service back on the price list"), "currency": N_("Currency saved")}


def _clinic(raw: Any) -> Clinic:
    """The clinic asked for (the staff member's own by default); another clinic's is a 404."""
    clinic_id = staff().clinic_id if raw in (None, "") else raw
    try:
        clinic_id = int(clinic_id)
    except (TypeError, ValueError):
        abort(404)
    clinic = db().get(Clinic, clinic_id) if storable(clinic_id) else None
    if clinic is None:
        abort(404)
    return clinic


def _page(clinic: Clinic, form: ServiceForm, *, editing: Service | None = None,
          problems: Problems | None = None, status: int = 200) -> tuple[str, int]:
    locale = page_locale()
    currency = currency_of(clinic)
    rows = [{"service": s, "name": service_name(s, locale, clinic.locale),
             "price": service_price(s, currency, locale),
             "specialties": [t(SPECIALTIES[c], locale) for c in s.specialties if c in SPECIALTIES]}
            for s in price_list(db(), clinic)]
    order = [locale, *(code for code in LOCALES if code != locale)]
    message = DONE.get(request.args.get("done", ""))
    return render_template(
        "admin/services.html", locale=locale, clinic=clinic, clinics=_clinics(), rows=rows,
        form=form, editing=editing, errors=problems.localized(locale) if problems else {},
        currency=currency, currencies=known_currencies(), specialties=SPECIALTIES,
        languages=[(code, LANGUAGES[code]) for code in order if code in LANGUAGES],
        message=t(message, locale) if message else "",
    ), status


def _clinics() -> list[Clinic]:
    return list(db().scalars(select(Clinic).order_by(Clinic.name)))


@bp.get("/admin/services")
@require_role("admin")
def page() -> tuple[str, int]:
    return _page(_clinic(request.args.get("clinic_id")), ServiceForm())


@bp.post("/admin/services")
@require_role("admin")
def create() -> Response | tuple[str, int]:
    clinic = _clinic(request.form.get("clinic_id"))
    form = ServiceForm.read(request.form)
    values, problems = validate(form, currency_of(clinic), page_locale())
    if values is None:
        return _page(clinic, form, problems=problems, status=400)
    service = Service(clinic_id=clinic.id, active=True)
    apply(service, values)
    session = db()
    session.add(service)
    session.flush()
    audit(session, staff().id, "create_service", "service", service.id, clinic_id=clinic.id)
    session.commit()
    return redirect(url_for("services_admin.page", clinic_id=clinic.id, done="created"))


@bp.get("/admin/services/<int:service_id>")
@require_role("admin")
def edit(service_id: int) -> tuple[str, int]:
    service = row_or_404(Service, service_id)
    clinic = _clinic(service.clinic_id)
    return _page(clinic, ServiceForm.of(service, currency_of(clinic)), editing=service)


@bp.post("/admin/services/<int:service_id>")
@require_role("admin")
def save(service_id: int) -> Response | tuple[str, int]:
    service = row_or_404(Service, service_id)
    clinic = _clinic(service.clinic_id)
    form = ServiceForm.read(request.form)
    values, problems = validate(form, currency_of(clinic), page_locale())
    if values is None:
        return _page(clinic, form, editing=service, problems=problems, status=400)
    apply(service, values)
    audit(db(), staff().id, "edit_service", "service", service.id)
    db().commit()
    return redirect(url_for("services_admin.page", clinic_id=clinic.id, done="saved"))


@bp.post("/admin/services/<int:service_id>/active")
@require_role("admin")
def set_active(service_id: int) -> Response:
    """Retire a service (kept for the record, no longer offered) or put it back on the list."""
    service = row_or_404(Service, service_id)
    service.active = request.form.get("active") == "1"
    audit(db(), staff().id, "reinstate_service" if service.active else "retire_service",
          "service", service.id)
    db().commit()
    return redirect(url_for("services_admin.page", clinic_id=service.clinic_id,
                            done="reinstated" if service.active else "retired"))


def _problem_page(clinic: Clinic, exc: InputError) -> tuple[str, int]:
    return _page(clinic, ServiceForm(), problems=Problems(exc), status=400)


@bp.post("/admin/services/currency")
@require_role("admin")
def set_currency() -> Response | tuple[str, int]:
    clinic = _clinic(request.form.get("clinic_id"))
    try:
        code = currency_code(request.form.get("currency", ""))
    except InputError as exc:
        return _problem_page(clinic, exc)
    previous = currency_of(clinic)
    try:
        change_currency(db(), clinic, previous, code)
    except InputError as exc:
        db().rollback()
        return _problem_page(clinic, exc)
    audit(db(), staff().id, "set_currency", "clinic", clinic.id, previous=previous, currency=code)
    db().commit()
    return redirect(url_for("services_admin.page", clinic_id=clinic.id, done="currency"))
