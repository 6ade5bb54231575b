"""/admin/do-not-call: numbers the clinic must not call — list, add with a reason, remove with a
reason; both audited."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from callcenter.access.auth import require_role
from callcenter.admin import pages
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import InputError
from callcenter.core.models import OptOut, utcnow
from callcenter.core.phones import display
from callcenter.core.web import db
from callcenter.outbound import do_not_call as dnc

bp = Blueprint("dnc_admin", __name__, template_folder="templates")
DONE = {"added": N_("Added to the do-not-call list."), "removed": N_("Removed from the list.")}


@bp.get("/admin/do-not-call")
@require_role("admin")
def page() -> str:
    return _render()


@bp.post("/admin/do-not-call")
@require_role("admin")
def add() -> Response | tuple[str, int]:
    clinic = pages.chosen_clinic(request.form)
    entry, errors = dnc.check_new(db(), request.form, clinic.region, clinic.id)
    if entry is None:
        return _render(errors=errors, form=request.form.to_dict()), 400
    dnc.add(db(), pages.admin(), clinic.id, entry, utcnow())
    db().commit()
    return redirect(url_for("dnc_admin.page", done="added"), 303)


@bp.post("/admin/do-not-call/<int:entry_id>/delete")
@require_role("admin")
def remove(entry_id: int) -> Response | tuple[str, int]:
    row = db().get(OptOut, entry_id)
    if row is None:  # or another clinic's: the session's scope hides it
        abort(404)
    reason, errors = dnc.removal_reason(request.form)
    if errors:
        return _render(errors={f"remove-{entry_id}": errors["reason"]}), 400
    dnc.remove(db(), pages.admin(), row, reason)
    db().commit()
    return redirect(url_for("dnc_admin.page", done="removed"), 303)


def _render(errors: dict[str, InputError] | None = None, form: dict[str, str] | None = None) -> str:
    locale = pages.locale()
    home = pages.home_clinic()
    clinics = pages.clinics()
    names = {c.id: c.name for c in clinics}
    rows = [{"row": r, "number": display(r.e164, home.region) if r.e164 else "—",
             "clinic": names.get(r.clinic_id, t("every clinic", locale)) if r.clinic_id else t("every clinic", locale),
             "at": pages.local(r.created_at, home.timezone),
             "scope": t(dnc.SCOPES.get(r.scope, r.scope), locale),
             "source": t(dnc.SOURCES.get(r.source, r.source), locale)}
            for r in dnc.entries(db())]
    done = request.args.get("done", "")
    return render_template(
        "admin/do_not_call.html", locale=locale, rows=rows, clinics=clinics, home=home,
        scopes=dnc.SCOPES, form=form or {}, message=t(DONE[done], locale) if done in DONE else "",
        errors={k: e.localized(locale) for k, e in (errors or {}).items()})
