"""First run in the browser: /setup while no staff account exists, then the checklist /admin/setup.

While set-up is pending every page leads to /setup and every API answers 503; webhooks, the 3CX
lookup, health and static files keep working, so calls that arrive meanwhile are stored. Every
page also learns here whether the database holds the demo clinic (its banner in base.html).
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
)
from sqlalchemy import select

from callcenter.access import first_run
from callcenter.access.auth import is_api_request, require_role, sign_in
from callcenter.access.locale import request_locale
from callcenter.admin.checklist import checklist
from callcenter.core import clinic_scope
from callcenter.core.config import LOCALES
from callcenter.core.labels import LANGUAGE_NAMES
from callcenter.core.models import Clinic, utcnow
from callcenter.core.web import db

bp = Blueprint("setup", __name__, template_folder="templates")

DONE = "callcenter.setup_done"  # app.extensions: set once seen, for set-up is never undone
OPEN_WHILE_PENDING = ("/static/", "/webhooks/", "/3cx/", "/healthz", "/api/openapi.json")


def setup_pending() -> bool:
    if current_app.extensions.get(DONE):
        return False
    if first_run.pending(db()):
        return True
    current_app.extensions[DONE] = True
    return False


@bp.before_app_request
def _set_up_first() -> Any:
    if request.path == "/setup" or request.path.startswith(OPEN_WHILE_PENDING):
        return None
    if not setup_pending():
        return None
    if is_api_request():
        return jsonify({"error": "setup_required",
                        "message": "this installation is not set up yet: open /setup"}), 503
    return redirect("/setup", 303 if request.method == "POST" else 302)


@bp.app_context_processor
def _demo_banner() -> dict[str, Any]:
    return {"is_demo_installation": _is_demo_installation}


def _is_demo_installation() -> bool:
    """Asked by base.html once per page; read past the clinic scope, for the banner is for anyone."""
    if "is_demo" not in g:
        clinics = Clinic.__table__
        g.is_demo = db().execute(select(clinics.c.id).where(clinics.c.is_demo.is_(True))
                                 .limit(1)).first() is not None
    return bool(g.is_demo)


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Response | str | tuple[str, int]:
    if not setup_pending():
        abort(404)
    locale = request_locale(current_app.config["LOCALE"])
    if request.method == "GET":
        config = current_app.config
        return _form(locale, {"timezone": config["TIMEZONE"], "language": locale,
                              "region": config["REGION"]}, {})
    try:
        answers = first_run.check(request.form)
    except first_run.Problems as exc:
        errors = {field: error.localized(locale) for field, error in exc.problems.items()}
        return _form(locale, request.form, errors), 400
    session = db()
    # Nobody is signed in yet: the set-up may take over a clinic a webhook created meanwhile.
    clinic_scope.restrict(session, clinic_scope.installation(session))
    try:
        admin = first_run.create_first_clinic(session, answers, utcnow(), admin_locale=locale)
    except first_run.AlreadySetUp:
        return render_template("admin/setup.html", locale=locale, taken=True), 409
    sign_in(admin, utcnow())
    session.commit()
    current_app.extensions[DONE] = True
    return redirect("/admin/setup", 303)


def _form(locale: str, values: Any, errors: dict[str, str]) -> str:
    names = Locale.parse(locale).territories
    regions = sorted(((code, names.get(code, code)) for code in first_run.regions()),
                     key=lambda pair: pair[1])
    shown = {field: values.get(field, "") for field in first_run.FIELDS if "password" not in field}
    return render_template("admin/setup.html", locale=locale, taken=False, values=shown,
                           errors=errors, zones=first_run.time_zones(), regions=regions,
                           languages=[(code, LANGUAGE_NAMES[code]) for code in LOCALES])


@bp.get("/admin/setup")
@require_role("admin")
def checklist_page() -> str:
    session = db()
    clinics = session.scalars(select(Clinic).order_by(Clinic.id)).all()  # the admin's own
    return render_template("admin/setup_checklist.html",
                           locale=request_locale(current_app.config["LOCALE"]),
                           clinics=[(clinic, checklist(session, clinic)) for clinic in clinics])
