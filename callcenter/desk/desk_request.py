"""What every desk blueprint needs of the request: the signed-in staff member, their language and
clinic, the card answered as JSON (audited), and refusals as JSON naming the field."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from callcenter.core.inputs import FieldError
from callcenter.core.models import utcnow
from callcenter.core.web import db
from callcenter.desk import feed as desk_feed
from callcenter.desk.http_input import DeskError, desk_clinic, desk_locale, desk_staff
from callcenter.desk.popcard import build_card

# One definition of each, in http_input (the booking helpers use them there too).
staff, clinic, locale = desk_staff, desk_clinic, desk_locale


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
