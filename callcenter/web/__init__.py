"""Thin blueprints; each module owns one area of URLs."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from .. import clinic_scope
from ..runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["callcenter"]


def db() -> Session:
    """The request's database session, closed at teardown. It sees no clinic's rows until the
    signed-in staff member widens it to theirs (`auth.current_staff`), or a signature-checked
    route to the clinic its caller serves (`clinic_scope`)."""
    if "db" not in g:
        g.db = clinic_scope.restrict(runtime().sessions(), clinic_scope.NOBODY)
    return g.db


def register_blueprints(app: Flask) -> None:
    from .. import auth as auth_core
    from ..i18n import t
    from . import (
        admin,
        api_calls,
        auth,
        campaigns_admin,
        desk,
        errors,
        health,
        ids,
        marketing,
        openapi,
        outbound,
        privacy,
        scripts_api,
        security_headers,
        threecx,
        webhooks,
    )

    app.url_map.converters["int"] = ids.IdConverter  # before any route is added
    errors.register(app)
    security_headers.install(app)
    auth_core.init_app(app)
    app.jinja_env.globals["t"] = t
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(outbound.bp)  # before webhooks.bp: its catch-all route is wider
    app.register_blueprint(campaigns_admin.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(api_calls.bp)
    app.register_blueprint(marketing.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(threecx.bp)
    app.register_blueprint(scripts_api.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(openapi.bp)
