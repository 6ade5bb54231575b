"""/admin/numbers: advertising channels and tracking numbers — create, rename, assign, retire."""

from __future__ import annotations

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
from sqlalchemy.exc import IntegrityError

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin.forms import Problems, row_or_404
from callcenter.admin.numbers import (
    ChannelForm,
    NumberForm,
    channel_problems,
    channels_in_use,
    create_number,
    editable_channel,
    form_clinic,
    number_values,
    save_channel,
    update_number,
)
from callcenter.admin.pages import admin as staff
from callcenter.admin.pages import locale as page_locale
from callcenter.core import clinic_scope
from callcenter.core.i18n import N_, t
from callcenter.core.models import Channel, Clinic, TrackingNumber
from callcenter.core.phones import display
from callcenter.core.web import db

bp = Blueprint("numbers_admin", __name__, template_folder="templates")

DONE = {"channel-created": N_("Channel added"), "channel-saved": N_("Channel saved"),
        "channel-retired": N_("Channel retired"), "channel-reinstated": N_("Channel back in use"),
        "number-created": N_("Number added"), "number-saved": N_("Number saved"),
        "number-retired": N_("Number retired"), "number-reinstated": N_("Number back in use")}


def _channel(channel_id: int) -> Channel:
    scope = clinic_scope.current(db())
    assert scope is not None  # set when require_role loaded the staff member
    channel = editable_channel(db(), channel_id, scope.clinic_ids)
    if channel is None:  # missing, or also another clinic's: alike
        abort(404)
    return channel


def _clinic(form: NumberForm, default: int | None = None) -> Clinic:
    """The form's clinic (by default the number's own, or the admin's); another clinic's: 404."""
    if not form.clinic_id.strip():
        form.clinic_id = str(default or staff().clinic_id)
    clinic = form_clinic(db(), form)
    if clinic is None:  # missing, or another clinic's: alike
        abort(404)
    return clinic


def _page(*, channel_form: ChannelForm | None = None, number_form: NumberForm | None = None,
          editing_channel: Channel | None = None, editing_number: TrackingNumber | None = None,
          channel_errors: Problems | None = None, number_errors: Problems | None = None,
          status: int = 200) -> tuple[str, int]:
    session = db()
    locale = page_locale()
    clinics = list(session.scalars(select(Clinic).order_by(Clinic.name)))
    home = str(staff().clinic_id)
    regions = {c.id: c.region for c in clinics}
    numbers = session.scalars(select(TrackingNumber).order_by(
        TrackingNumber.active.desc(), TrackingNumber.main_line.desc(), TrackingNumber.e164)).all()
    done = request.args.get("done", "")
    message = DONE.get(done)
    return render_template(
        "admin/numbers.html", locale=locale, clinics=clinics,
        clinic_names={c.id: c.name for c in clinics},
        channels=session.scalars(select(Channel).order_by(Channel.active.desc(), Channel.name)).all(),
        in_use=channels_in_use(session),
        numbers=[(n, display(n.e164, regions.get(n.clinic_id, "RU"))) for n in numbers],
        channel_form=channel_form or ChannelForm(),
        number_form=number_form or NumberForm(clinic_id=home),
        editing_channel=editing_channel, editing_number=editing_number,
        channel_errors=channel_errors.localized(locale) if channel_errors else {},
        number_errors=number_errors.localized(locale) if number_errors else {},
        message=t(message, locale) if message else "", done=done if message else "",
        adding=request.args.get("add", ""),
    ), status


def _done(what: str) -> Response:
    return redirect(url_for("numbers_admin.page", done=what))


@bp.get("/admin/numbers")
@require_role("admin")
def page() -> tuple[str, int]:
    return _page()


@bp.post("/admin/channels")
@require_role("admin")
def create_channel() -> Response | tuple[str, int]:
    form = ChannelForm.read(request.form)
    problems = channel_problems(db(), form, None)
    if problems:
        return _page(channel_form=form, channel_errors=problems, status=400)
    channel = Channel(code=form.code.strip(), active=True)
    save_channel(channel, form)
    db().add(channel)
    try:
        db().flush()
    except IntegrityError:  # the same code added at the same moment elsewhere
        db().rollback()
        return _page(channel_form=form, channel_errors=channel_problems(db(), form, None),
                     status=400)
    audit(db(), staff().id, "create_channel", "channel", channel.id, code=channel.code)
    db().commit()
    return _done("channel-created")


@bp.get("/admin/channels/<int:channel_id>")
@require_role("admin")
def edit_channel(channel_id: int) -> tuple[str, int]:
    channel = _channel(channel_id)
    return _page(channel_form=ChannelForm.of(channel), editing_channel=channel)


@bp.post("/admin/channels/<int:channel_id>")
@require_role("admin")
def rename_channel(channel_id: int) -> Response | tuple[str, int]:
    channel = _channel(channel_id)
    form = ChannelForm.read(request.form)
    form.code = channel.code
    problems = channel_problems(db(), form, channel)
    if problems:
        return _page(channel_form=form, editing_channel=channel, channel_errors=problems,
                     status=400)
    previous = channel.name
    save_channel(channel, form)
    audit(db(), staff().id, "rename_channel", "channel", channel.id, previous=previous,
          name=channel.name)
    db().commit()
    return _done("channel-saved")


@bp.post("/admin/channels/<int:channel_id>/active")
@require_role("admin")
def channel_active(channel_id: int) -> Response:
    """Retire a channel (its numbers and reports keep it) or put it back in use."""
    channel = _channel(channel_id)
    channel.active = request.form.get("active") == "1"
    audit(db(), staff().id, "reinstate_channel" if channel.active else "retire_channel",
          "channel", channel.id)
    db().commit()
    return _done("channel-reinstated" if channel.active else "channel-retired")


@bp.post("/admin/numbers")
@require_role("admin")
def create() -> Response | tuple[str, int]:
    form = NumberForm.read(request.form)
    clinic = _clinic(form)
    values, problems = number_values(db(), form, clinic, None)
    if values is None:
        return _page(number_form=form, number_errors=problems, status=400)
    try:
        number = create_number(db(), values)
    except IntegrityError:  # the same number registered at the same moment elsewhere
        db().rollback()
        return _page(number_form=form,
                     number_errors=number_values(db(), form, _clinic(form), None)[1], status=400)
    audit(db(), staff().id, "create_tracking_number", "tracking_number", number.id,
          clinic_id=number.clinic_id, channel=values.channel.code if values.channel else None,
          main_line=number.main_line)
    db().commit()
    return _done("number-created")


@bp.get("/admin/numbers/<int:number_id>")
@require_role("admin")
def edit(number_id: int) -> tuple[str, int]:
    number = row_or_404(TrackingNumber, number_id)
    return _page(number_form=NumberForm.of(number), editing_number=number)


@bp.post("/admin/numbers/<int:number_id>")
@require_role("admin")
def save(number_id: int) -> Response | tuple[str, int]:
    number = row_or_404(TrackingNumber, number_id)
    form = NumberForm.read(request.form)
    form.e164 = number.e164
    values, problems = number_values(db(), form, _clinic(form, number.clinic_id), number)
    if values is None:
        return _page(number_form=form, editing_number=number, number_errors=problems, status=400)
    moved = update_number(db(), number, values)
    audit(db(), staff().id, "edit_tracking_number", "tracking_number", number.id,
          clinic_id=number.clinic_id, channel=values.channel.code if values.channel else None,
          main_line=number.main_line, calls_moved=moved)
    db().commit()
    return _done("number-saved")


@bp.post("/admin/numbers/<int:number_id>/active")
@require_role("admin")
def number_active(number_id: int) -> Response:
    """Retire a number (no longer advertised; calls still reaching it are kept) or reinstate it."""
    number = row_or_404(TrackingNumber, number_id)
    number.active = request.form.get("active") == "1"
    audit(db(), staff().id, "reinstate_tracking_number" if number.active
          else "retire_tracking_number", "tracking_number", number.id)
    db().commit()
    return _done("number-reinstated" if number.active else "number-retired")
