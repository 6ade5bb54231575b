"""What every desk blueprint needs of the request: the signed-in staff member, their language and
clinic, the card answered as JSON (audited), and refusals as JSON naming the field."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from callcenter.access.auth import current_staff
from callcenter.access.locale import request_locale
from callcenter.core.inputs import FieldError
from callcenter.core.models import Clinic, Staff, utcnow
from callcenter.core.web import db
from callcenter.desk import feed as desk_feed
from callcenter.desk.http_input import DeskError
from callcenter.desk.popcard import build_card


def staff() -> Staff:
    found = current_staff()
    assert found is not None  # require_role ran first
    return found


def locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def clinic(clinic_id: int | None = None) -> Clinic:
    """The given clinic (a record's own), else the staff member's home clinic."""
    found = db().get(Clinic, clinic_id or staff().clinic_id)
    assert found is not None  # only ids of rows in the session's scope reach here
    return found


def card_response(call_id: int, via: str) -> Response:
    """The card as JSON, audited as a view (the write happens after the read-only build)."""
    session = db()
    card = build_card(session, call_id, utcnow(), locale(), speaker=staff())
    if card is None:
        raise DeskError("call_id", "no such call", 404)
    session.rollback()
    desk_feed.audit_card_view(session, staff().id, card, via=via)
    session.commit()
    return jsonify(card)


def answer_errors(bp: Blueprint, error: str, *kinds: type[FieldError]) -> None:
    """Refusals of these kinds answer JSON {error, field, message} in the reader's language."""
    def handler(exc: FieldError) -> tuple[Response, int]:
        return jsonify({"error": error, "field": exc.field, "message": exc.localized(locale())}), exc.status

    for kind in kinds:
        bp.register_error_handler(kind, handler)
