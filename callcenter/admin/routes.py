"""/admin: what needs an administrator's hand — unassigned tracking numbers, webhooks that failed."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core.i18n import N_, t
from callcenter.core.ids import storable
from callcenter.core.models import Call, Channel, RawState, RawWebhook, TrackingNumber
from callcenter.core.web import db, runtime
from callcenter.inbound.attribution import assign_channel, unattributed_numbers
from callcenter.inbound.ingest import reprocess

bp = Blueprint("admin", __name__, template_folder="templates")
ATTENTION = (RawState.FAILED, RawState.REJECTED, RawState.INVALID)


@bp.get("/admin")
@require_role("admin")
def page() -> str:
    session = db()
    numbers = unattributed_numbers(session)
    calls_per_number = dict(session.execute(
        select(Call.tracking_number_id, func.count(Call.id))
        .where(Call.tracking_number_id.in_([n.id for n in numbers]))
        .group_by(Call.tracking_number_id)
    ).all()) if numbers else {}
    raws = session.scalars(select(RawWebhook).where(RawWebhook.state.in_(ATTENTION))
                          .order_by(RawWebhook.id.desc()).limit(50)).all()
    locale = request_locale(current_app.config["LOCALE"])
    return render_template(
        "admin/index.html", locale=locale,
        numbers=numbers, calls_per_number=calls_per_number, raws=raws,
        channels=session.scalars(select(Channel).where(Channel.active.is_(True))
                                 .order_by(Channel.name)).all(),
        message=_done_text(request.args.get("done", ""), locale),
    )


DONE = {"assigned": N_("Channel assigned; past calls re-attributed: {}"),
        "reprocessed": N_("Processed again: {}"),
        "not-found": N_("Not found")}


def _done_text(done: str, locale: str) -> str:
    """The confirmation line after a form post (done=<what>:<figure>)."""
    what, _, figure = done.partition(":")
    if what not in DONE:
        return ""
    return t(DONE[what], locale).format(figure)


@bp.post("/admin/tracking-numbers/<int:number_id>")
@require_role("admin")
def assign(number_id: int) -> Response:
    session = db()
    number = session.get(TrackingNumber, number_id)
    if number is None:  # or another clinic's: the session's scope hides it
        abort(404)
    channel_id = request.form.get("channel_id", type=int)
    channel = session.get(Channel, channel_id) if storable(channel_id) else None
    if channel is None or not channel.active:  # a retired channel takes no new numbers
        return redirect(url_for("admin.page", done="not-found"))
    moved = assign_channel(session, number, channel)
    staff = current_staff()
    audit(session, staff.id if staff else None, "assign_channel", "tracking_number", number.id,
          channel=channel.code)
    session.commit()
    return redirect(url_for("admin.page", done=f"assigned:{moved}"))


@bp.post("/admin/webhooks/<int:raw_id>/reprocess")
@require_role("admin")
def reprocess_one(raw_id: int) -> Response:
    if db().get(RawWebhook, raw_id) is None:  # the pipeline's own session is installation-wide
        abort(404)
    try:
        result = reprocess(runtime(), raw_id)
    except LookupError:
        return redirect(url_for("admin.page", done="not-found"))
    return redirect(url_for("admin.page", done=f"reprocessed:{result.status}"))
