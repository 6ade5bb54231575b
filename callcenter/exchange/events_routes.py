"""/admin/events: where the clinic's own system takes our events (URL and signing secret), the
delivery log with each attempt's answer, and replay."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from sqlalchemy import select

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin.pages import admin as staff
from callcenter.admin.pages import chosen_clinic, clinics
from callcenter.admin.pages import locale as page_locale
from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError
from callcenter.core.models import EventAttempt, EventReceiver, OutboxEvent, utcnow
from callcenter.core.web import db
from callcenter.exchange.delivery import receiver_secret, replay, seal_secret

bp = Blueprint("events_admin", __name__, template_folder="templates")

SHOWN = 50
STATES = {"pending": N_("waiting"), "sending": N_("sending"), "delivered": N_("delivered"),
          "failed": N_("given up"), "held": N_("not sent (no receiver then)")}


def _receiver_input(form: Any, existing: EventReceiver | None) -> tuple[str, str, bool]:
    url = (form.get("url") or "").strip()
    parts = urlsplit(url)
    if len(url) > 500 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("url", "an http:// or https:// address is needed")
    secret = (form.get("secret") or "").strip()
    if not secret and existing is None:
        raise InputError("secret", "a signing secret is needed")
    if secret and not 16 <= len(secret) <= 200:
        raise InputError("secret", "from 16 to 200 characters")
    return url, secret, form.get("enabled") == "1"


@bp.get("/admin/events")
@require_role("admin")
def page(error: InputError | None = None, status: int = 200) -> tuple[str, int]:
    clinic = chosen_clinic(request.values)
    receiver = db().get(EventReceiver, clinic.id)
    events = db().scalars(select(OutboxEvent).where(OutboxEvent.clinic_id == clinic.id)
                          .order_by(OutboxEvent.id.desc()).limit(SHOWN)).all()
    attempts: dict[int, list[EventAttempt]] = {}
    for attempt in db().scalars(select(EventAttempt).where(
            EventAttempt.event_id.in_([event.id for event in events])).order_by(EventAttempt.id)):
        attempts.setdefault(attempt.event_id, []).append(attempt)
    unreadable = receiver is not None and receiver_secret(
        receiver, current_app.config["SECRET_KEY"]) is None
    locale = page_locale()
    return render_template(
        "exchange/events.html", locale=locale, clinic=clinic, clinics=clinics(), receiver=receiver,
        unreadable=unreadable, events=events, attempts=attempts, states=STATES,
        error=error.localized(locale) if error else "", error_field=error.field if error else "",
    ), status


@bp.post("/admin/events")
@require_role("admin")
def save() -> Response | tuple[str, int]:
    clinic = chosen_clinic(request.form)
    receiver = db().get(EventReceiver, clinic.id)
    try:
        url, secret, enabled = _receiver_input(request.form, receiver)
    except InputError as exc:
        return page(exc, 400)
    if receiver is None:
        receiver = EventReceiver(clinic_id=clinic.id)
        db().add(receiver)
    receiver.url, receiver.enabled, receiver.updated_at = url, enabled, utcnow()
    if secret:
        receiver.sealed_secret = seal_secret(current_app.config["SECRET_KEY"], secret)
    audit(db(), staff().id, "event_receiver", "clinic", clinic.id, clinic_id=clinic.id,
          enabled=enabled, secret_changed=bool(secret))
    db().commit()
    return redirect(f"/admin/events?clinic_id={clinic.id}", 303)


@bp.post("/admin/events/<int:event_id>/replay")
@require_role("admin")
def replay_event(event_id: int) -> Response:
    event = db().get(OutboxEvent, event_id)
    if event is None:
        abort(404)
    replay(db(), event, utcnow())
    audit(db(), staff().id, "event_replay", "clinic", event.clinic_id, clinic_id=event.clinic_id,
          event=event.uid)
    db().commit()
    return redirect(f"/admin/events?clinic_id={event.clinic_id}", 303)
