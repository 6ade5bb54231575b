"""/admin/webtracking: a clinic's number pools (numbers, fallback, hold, traffic, sites), the tag
to paste into the site, and where its conversions go (Metrica counter, Google Ads account)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from sqlalchemy import select

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, Staff, TrackingNumber, WebPool
from callcenter.core.phones import display
from callcenter.core.web import db
from callcenter.webtracking import ad_accounts
from callcenter.webtracking.pools import PoolForm, pool_values, save_pool, snippet

bp = Blueprint("webtracking_admin", __name__, template_folder="templates")

DONE = {"created": N_("Pool added"), "saved": N_("Pool saved"), "ads": N_("Ad accounts saved")}


def _admin() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _clinic(form: Mapping[str, str]) -> Clinic:
    """The clinic the form or query names (absent: the admin's own); another clinic's: 404."""
    raw = (form.get("clinic_id") or "").strip() or str(_admin().clinic_id)
    clinic = db().get(Clinic, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    if clinic is None:
        abort(404)
    return clinic


def _pool(pool_id: int) -> WebPool:
    pool = db().get(WebPool, pool_id)
    if pool is None:  # missing, or another clinic's: alike
        abort(404)
    return pool


def _page(clinic: Clinic, *, form: PoolForm | None = None, editing: WebPool | None = None,
          errors: Mapping[str, InputError] | None = None, ad_errors: Mapping[str, InputError] | None = None,
          status: int = 200) -> tuple[str, int]:
    session, locale = db(), _locale()
    numbers = session.scalars(select(TrackingNumber).where(
        TrackingNumber.clinic_id == clinic.id, TrackingNumber.active.is_(True))
        .order_by(TrackingNumber.e164)).all()
    pools = session.scalars(select(WebPool).where(WebPool.clinic_id == clinic.id)
                            .order_by(WebPool.name)).all()
    service = current_app.config["PUBLIC_URL"] or request.host_url
    done = DONE.get(request.args.get("done", ""))
    return render_template(
        "webtracking/admin.html", locale=locale, clinic=clinic,
        clinics=session.scalars(select(Clinic).order_by(Clinic.name)).all(),
        numbers=[(n, display(n.e164, clinic.region)) for n in numbers],
        shown={n.id: display(n.e164, clinic.region) for n in numbers},
        pools=[(p, snippet(service, p)) for p in pools], form=form or PoolForm(), editing=editing,
        errors={k: e.localized(locale) for k, e in (errors or {}).items()},
        ads=ad_accounts.form_of(session, clinic.id),
        ad_errors={k: e.localized(locale) for k, e in (ad_errors or {}).items()},
        message=t(done, locale) if done else ""), status


@bp.get("/admin/webtracking")
@require_role("admin")
def page() -> tuple[str, int]:
    return _page(_clinic(request.args))


@bp.post("/admin/webtracking/pools")
@require_role("admin")
def create() -> Response | tuple[str, int]:
    clinic = _clinic(request.form)
    form = PoolForm.read(request.form)
    values, problems = pool_values(db(), form, clinic, None)
    if values is None:
        return _page(clinic, form=form, errors=problems, status=400)
    pool = save_pool(db(), clinic, None, values)
    audit(db(), _admin().id, "create_web_pool", "web_pool", pool.id, clinic_id=clinic.id,
          numbers=len(values.numbers))
    db().commit()
    return redirect(f"/admin/webtracking?clinic_id={clinic.id}&done=created")


@bp.get("/admin/webtracking/pools/<int:pool_id>")
@require_role("admin")
def edit(pool_id: int) -> tuple[str, int]:
    pool = _pool(pool_id)
    return _page(_clinic({"clinic_id": str(pool.clinic_id)}), form=PoolForm.of(pool), editing=pool)


@bp.post("/admin/webtracking/pools/<int:pool_id>")
@require_role("admin")
def save(pool_id: int) -> Response | tuple[str, int]:
    pool = _pool(pool_id)
    clinic = _clinic({"clinic_id": str(pool.clinic_id)})
    form = PoolForm.read(request.form)
    values, problems = pool_values(db(), form, clinic, pool)
    if values is None:
        return _page(clinic, form=form, editing=pool, errors=problems, status=400)
    save_pool(db(), clinic, pool, values)
    audit(db(), _admin().id, "edit_web_pool", "web_pool", pool.id, clinic_id=clinic.id,
          numbers=len(values.numbers), active=values.active)
    db().commit()
    return redirect(f"/admin/webtracking?clinic_id={clinic.id}&done=saved")


@bp.post("/admin/webtracking/ads")
@require_role("admin")
def save_ads() -> Response | tuple[str, int]:
    clinic = _clinic(request.form)
    problems = ad_accounts.save(db(), clinic.id, request.form, current_app.config["SECRET_KEY"])
    if problems:
        db().rollback()
        return _page(clinic, ad_errors=problems, status=400)
    audit(db(), _admin().id, "edit_web_ad_accounts", "clinic", clinic.id)
    db().commit()
    return redirect(f"/admin/webtracking?clinic_id={clinic.id}&done=ads")
