"""JSON errors for API and webhook clients: a status and a body naming the problem, never a 500 page."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from callcenter.core.inputs import InputError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/3cx/", "/healthz", "/wt/"))


def register(app: Flask, request_locale: Callable[[], str]) -> None:
    """`request_locale` names the reader's language: staff see refusals in their own."""
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not wants_json() or exc.response is not None:  # abort(response) carries its own body
            return exc
        body = {"error": exc.name.lower().replace(" ", "_"), "message": exc.description}
        return jsonify(body), exc.code or 500

    @app.errorhandler(InputError)
    def _input_error(exc: InputError):  # type: ignore[no-untyped-def]
        body = {"error": "invalid_request", "field": exc.field,
                "message": exc.localized(request_locale())}
        return jsonify(body), 400

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": "internal_error", "message": "unexpected server error"}), 500
