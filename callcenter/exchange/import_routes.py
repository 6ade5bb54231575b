"""/admin/import: upload a file, map its columns, dry run, import as a background job with a
progress bar, cancel, download the refused rows."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
)
from sqlalchemy import select

from callcenter.access.auth import require_role
from callcenter.admin.pages import admin as staff
from callcenter.admin.pages import chosen_clinic
from callcenter.admin.pages import locale as page_locale
from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, ImportJob
from callcenter.core.web import db, runtime
from callcenter.exchange import jobs
from callcenter.exchange.columns import FIELD_NAMES, KINDS, REQUIRED, SYNONYMS, detect, resolve
from callcenter.exchange.profiles import profiles, save_profile
from callcenter.exchange.tables import read_table

bp = Blueprint("import_admin", __name__, template_folder="templates")

MAX_UPLOAD = 50 * 1024 * 1024
SAMPLE_ROWS = 3
KIND_NAMES = {"patients": N_("Patients"), "doctors": N_("Doctors"), "services": N_("Services"),
              "appointments": N_("Visits"), "treatments": N_("Treatments")}
STATES = {"uploaded": N_("waiting for the column mapping"), "queued": N_("queued"),
          "running": N_("running"), "done": N_("done"), "failed": N_("failed"),
          "cancelled": N_("cancelled")}
OUTCOME_NAMES = {"created": N_("created"), "updated": N_("updated"),
                 "unchanged": N_("unchanged"), "refused": N_("refused")}


def _job(job_id: int) -> ImportJob:
    job = db().get(ImportJob, job_id)
    if job is None:
        abort(404)
    return job


def _render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    locale = page_locale()
    return render_template(template, locale=locale, kinds=KIND_NAMES, states=STATES,
                           outcomes=OUTCOME_NAMES, **context), status


@bp.get("/admin/import")
@require_role("admin")
def page(error: InputError | None = None, status: int = 200) -> tuple[str, int]:
    recent = db().scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(30)).all()
    clinics = db().scalars(select(Clinic).order_by(Clinic.name)).all()
    return _render("exchange/import.html", status, recent=recent, clinics=clinics,
                   error=error.localized(page_locale()) if error else "", error_field=error.field if error else "")


@bp.post("/admin/import")
@require_role("admin")
def upload() -> Response | tuple[str, int]:
    request.max_content_length = MAX_UPLOAD + 64 * 1024  # the app's limit is a webhook's
    clinic = chosen_clinic(request.form)
    kind = request.form.get("kind", "")
    upload_file = request.files.get("file")
    try:
        if kind not in KINDS:
            raise InputError("kind", "choose what the file holds")
        if upload_file is None or not upload_file.filename:
            raise InputError("file", "choose a file")
        content = upload_file.read(MAX_UPLOAD + 1)
        if len(content) > MAX_UPLOAD:
            raise InputError("file", "larger than {most} MB", most=MAX_UPLOAD // 2**20)
        table = read_table(content, upload_file.filename)
    except InputError as exc:
        return page(exc, 400)
    job = ImportJob(clinic_id=clinic.id, kind=kind, filename=upload_file.filename[:200],
                    content=content, columns=detect(kind, table.header),
                    rows_total=table.total, created_by_id=staff().id)
    db().add(job)
    db().commit()
    return redirect(f"/admin/import/{job.id}", 303)


@bp.get("/admin/import/<int:job_id>")
@require_role("admin")
def job_page(job_id: int, error: InputError | None = None, status: int = 200) -> tuple[str, int]:
    job = _job(job_id)
    open_now = job.state in jobs.OPEN_STATES
    # The mapping step needs the file; a running job's page (polled) does not.
    table = None if open_now else read_table(job.content, job.filename)
    columns = dict(job.columns)
    saved = profiles(db(), job.clinic_id, job.kind)
    chosen = request.args.get("profile")
    if chosen:
        columns = next((dict(p.columns) for p in saved if p.name == chosen), columns)
    done, total = jobs.progress(runtime().redis, job)
    fields = {name: FIELD_NAMES[name] for name in SYNONYMS[job.kind]}
    return _render("exchange/job.html", status, job=job, header=table.header if table else [],
                   sample=table.sample(SAMPLE_ROWS) if table else [], columns=columns,
                   fields=fields, required=REQUIRED[job.kind], profiles=saved,
                   chosen=chosen or "", done=done, total=total, open=open_now,
                   error=error.localized(page_locale()) if error else "")


@bp.post("/admin/import/<int:job_id>/run")
@require_role("admin")
def run(job_id: int) -> Response | tuple[str, int]:
    job = _job(job_id)
    if job.state in jobs.OPEN_STATES:
        return redirect(f"/admin/import/{job.id}", 303)
    header = read_table(job.content, job.filename).header
    if "keep_mapping" in request.form:
        columns = dict(job.columns)
    else:
        columns = {name: request.form.get(f"column_{index}", "")
                   for index, name in enumerate(header) if name}
    try:
        columns = resolve(job.kind, header, columns)
        name = request.form.get("profile_name", "").strip()
        if name:
            save_profile(db(), job.clinic_id, job.kind, name, columns)
    except InputError as exc:
        db().rollback()
        job.columns = columns
        return job_page(job.id, exc, 400)
    job.columns = columns
    jobs.start(db(), runtime().redis, job, dry_run=request.form.get("dry_run") == "1")
    return redirect(f"/admin/import/{job.id}", 303)


@bp.post("/admin/import/<int:job_id>/cancel")
@require_role("admin")
def cancel(job_id: int) -> Response:
    job = _job(job_id)
    jobs.cancel(db(), runtime().redis, job)
    return redirect(f"/admin/import/{job.id}", 303)


@bp.get("/admin/import/<int:job_id>/status")
@require_role("admin")
def status(job_id: int) -> Response:
    job = _job(job_id)
    done, total = jobs.progress(runtime().redis, job)
    return jsonify(state=job.state, done=done, total=total, counts=job.counts)


@bp.get("/admin/import/<int:job_id>/refused")
@require_role("admin")
def refused(job_id: int) -> Response:
    job = _job(job_id)
    if not job.refused_file:
        abort(404)
    stem = job.filename.rsplit(".", 1)[0] or "import"
    return send_file(io.BytesIO(job.refused_file), mimetype="text/csv", as_attachment=True,
                     download_name=f"{stem}-refused.csv")

