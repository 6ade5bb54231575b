"""/admin/audit: the audit trail of the admin's clinics — filters, pages, CSV (itself audited)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, render_template, request

from callcenter.access import audit_log
from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin import pages
from callcenter.core.inputs import InputError
from callcenter.core.web import db

bp = Blueprint("audit_admin", __name__, template_folder="templates")
# A spreadsheet runs a cell that starts like a formula: such cells are written as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@bp.get("/admin/audit")
@require_role("admin")
def page() -> str | tuple[str, int]:
    home = pages.home_clinic()
    staff = audit_log.staff_of_scope(db())
    context: dict[str, Any] = {"locale": pages.locale(), "staff_members": staff, "args": request.args,
                               "actions": audit_log.actions(db()), "rows": [], "error": None}
    try:
        flt = audit_log.parse(db(), request.args, home.timezone, home.region)
        number = audit_log.page_number(request.args)
    except InputError as exc:
        context["error"] = exc
        return render_template("admin/audit.html", **context), 400
    rows, more = audit_log.page(db(), flt, number)
    names = {s.id: s.display_name for s in staff}
    query = flt.query(request.args.get("patient", "").strip())
    context.update(number=number, more=more, query=query, rows=[
        {"row": r, "at": pages.local(r.at, home.timezone), "staff": names.get(r.staff_id, "")}
        for r in rows])
    return render_template("admin/audit.html", **context)


@bp.get("/admin/audit.csv")
@require_role("admin")
def export() -> Response | tuple[str, int]:
    home = pages.home_clinic()
    try:
        flt = audit_log.parse(db(), request.args, home.timezone, home.region)
    except InputError:
        return page()
    names = {s.id: s.display_name for s in audit_log.staff_of_scope(db())}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=audit_log.CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for record in audit_log.csv_rows(db(), flt, names):
        writer.writerow({k: _cell(v) for k, v in record.items()})
        count += 1
    audit(db(), pages.admin().id, "export", "audit_log", clinic_id=home.id, rows=count,
          filters=flt.query(request.args.get("patient", "").strip()))
    db().commit()
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit_log.csv"'})


def _cell(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value
