"""/admin/fhir: the clinic's FHIR server (base URL and bearer token, sealed), how often to pull,
the last pull's counts, refusals and error, a "pull now" button, and the status write-back log."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request
from sqlalchemy import func, select

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin.pages import admin as staff
from callcenter.admin.pages import chosen_clinic, clinics, local
from callcenter.admin.pages import locale as page_locale
from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError, problem
from callcenter.core.models import FhirConnection, FhirWriteback, OutboxEvent, utcnow
from callcenter.core.web import db, runtime
from callcenter.exchange.fhir_client import open_token, seal_token
from callcenter.exchange.fhir_jobs import queue_pull

bp = Blueprint("fhir_admin", __name__, template_folder="templates")

SHOWN = 50
PULL_STATES = {"never": N_("never"), "running": N_("running"), "ok": N_("finished"),
               "failed": N_("failed")}
WRITE_STATES = {"pending": N_("waiting"), "done": N_("written"), "failed": N_("given up")}


def _input(form: Any, existing: FhirConnection | None) -> tuple[str, str, bool, int]:
    url = (form.get("base_url") or "").strip().rstrip("/")
    try:
        # urlsplit and .port raise on a broken "[v6" host or a port out of range.
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        usable = False
    if len(url) > 500 or not usable or problem(url) is not None:
        raise InputError("base_url", "an http:// or https:// address is needed")
    token = (form.get("token") or "").strip()
    if not token and existing is None:
        raise InputError("token", "a bearer token is needed")
    if len(token) > 4000 or any(ch.isspace() for ch in token):
        raise InputError("token", "a token is one word of at most 4,000 characters")
    if not (token.isascii() and token.isprintable()):
        # It travels in an HTTP header: anything else failed every pull with a traceback.
        raise InputError("token", "a token holds Latin letters, digits and punctuation only")
    minutes = (form.get("pull_minutes") or "0").strip()
    if not minutes.isascii() or not minutes.isdigit() or int(minutes) > 24 * 60:
        raise InputError("pull_minutes", "from 0 to 1,440 minutes")
    return url, token, form.get("enabled") == "1", int(minutes)


@bp.get("/admin/fhir")
@require_role("admin")
def page(error: InputError | None = None, status: int = 200) -> tuple[str, int]:
    clinic = chosen_clinic(request.values)
    connection = db().get(FhirConnection, clinic.id)
    writebacks = db().scalars(select(FhirWriteback).where(FhirWriteback.clinic_id == clinic.id)
                              .order_by(FhirWriteback.changed_at.desc(), FhirWriteback.id.desc())
                              .limit(SHOWN)).all()
    unreadable = connection is not None and open_token(
        current_app.config["SECRET_KEY"], connection.sealed_token) is None
    locale = page_locale()
    return render_template(
        "exchange/fhir.html", locale=locale, clinic=clinic, clinics=clinics(),
        connection=connection, unreadable=unreadable, writebacks=writebacks,
        pull_states=PULL_STATES, write_states=WRITE_STATES,
        when=lambda moment: local(moment, clinic.timezone),
        error=error.localized(locale) if error else "", error_field=error.field if error else "",
    ), status


@bp.post("/admin/fhir")
@require_role("admin")
def save() -> Response | tuple[str, int]:
    clinic = chosen_clinic(request.form)
    connection = db().get(FhirConnection, clinic.id)
    try:
        url, token, enabled, minutes = _input(request.form, connection)
    except InputError as exc:
        return page(exc, 400)
    if connection is None:
        # Visits changed before the server was connected are not written back to it.
        start = db().scalar(select(func.max(OutboxEvent.id)).where(OutboxEvent.clinic_id == clinic.id))
        connection = FhirConnection(clinic_id=clinic.id, outbox_cursor=start or 0, cursors={},
                                    pull_counts={}, pull_refusals=[])
        db().add(connection)
    elif connection.base_url != url:
        connection.cursors = {}  # another server: read it all
    connection.base_url, connection.enabled, connection.pull_minutes = url, enabled, minutes
    connection.updated_at = utcnow()
    if token:
        connection.sealed_token = seal_token(current_app.config["SECRET_KEY"], token)
    audit(db(), staff().id, "fhir_connection", "clinic", clinic.id, clinic_id=clinic.id,
          enabled=enabled, token_changed=bool(token))
    db().commit()
    return redirect(f"/admin/fhir?clinic_id={clinic.id}", 303)


@bp.post("/admin/fhir/pull")
@require_role("admin")
def pull_now() -> Response | tuple[str, int]:
    clinic = chosen_clinic(request.form)
    connection = db().get(FhirConnection, clinic.id)
    if connection is None:
        return page(InputError("base_url", "save the FHIR server's address first"), 400)
    queue_pull(runtime().redis, clinic.id)
    audit(db(), staff().id, "fhir_pull_queued", "clinic", clinic.id, clinic_id=clinic.id)
    db().commit()
    return redirect(f"/admin/fhir?clinic_id={clinic.id}", 303)
