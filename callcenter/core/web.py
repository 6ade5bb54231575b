"""Thin blueprints; each module owns one area of URLs."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from callcenter.access import clinic_scope
from callcenter.core.runtime import Runtime


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
    from callcenter.access import auth as auth_core
    from callcenter.access import auth_routes as auth
    from callcenter.access import privacy_routes as privacy
    from callcenter.admin import routes as admin
    from callcenter.analytics import routes as marketing
    from callcenter.callscripts import routes as scripts_api
    from callcenter.core import errors, ids, security_headers
    from callcenter.core import health_routes as health
    from callcenter.core import openapi_routes as openapi
    from callcenter.core.i18n import t
    from callcenter.desk import routes as desk
    from callcenter.inbound import api_routes as api_calls
    from callcenter.inbound import threecx_routes as threecx
    from callcenter.inbound import webhook_routes as webhooks
    from callcenter.outbound import routes as campaigns_admin
    from callcenter.outbound import twilio_routes as outbound

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
