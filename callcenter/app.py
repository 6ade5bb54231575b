"""The Flask application factory: the one module that knows every feature's blueprint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

from callcenter.access import auth as auth_core
from callcenter.access import auth_routes as auth
from callcenter.access import privacy_routes as privacy
from callcenter.access.locale import request_locale
from callcenter.admin import audit_routes as audit_admin
from callcenter.admin import clinic_routes as clinic_admin
from callcenter.admin import dnc_routes as dnc_admin
from callcenter.admin import doctor_routes, staff_routes
from callcenter.admin import number_routes as numbers_admin
from callcenter.admin import pbx_routes as pbx_admin
from callcenter.admin import routes as admin
from callcenter.admin import service_routes as services_admin
from callcenter.admin import setup_routes as setup
from callcenter.admin import sip_routes as sip_admin
from callcenter.analytics import measures_routes
from callcenter.analytics import routes as marketing
from callcenter.callscripts import routes as scripts_api
from callcenter.complaints import routes as complaints_routes
from callcenter.core import errors, ids, logging_setup, security_headers
from callcenter.core import health_routes as health
from callcenter.core import openapi_routes as openapi
from callcenter.core.config import load_config
from callcenter.core.i18n import pt, t
from callcenter.core.runtime import Runtime
from callcenter.desk import card_routes as desk_card
from callcenter.desk import routes as desk
from callcenter.desk import schedule_routes as desk_schedule
from callcenter.desk import softphone_routes as desk_softphone
from callcenter.desk import visits_routes as desk_visits
from callcenter.exchange import events_routes as events_admin
from callcenter.exchange import fhir_routes as fhir_admin
from callcenter.exchange import import_routes as import_admin
from callcenter.exchange import sync_routes as sync_api
from callcenter.inbound import api_routes as api_calls
from callcenter.inbound import threecx_routes as threecx
from callcenter.inbound import webhook_front, webhook_http
from callcenter.messaging import routes as messaging
from callcenter.messaging import webhook_routes as sms_webhooks
from callcenter.outbound import routes as campaigns_admin
from callcenter.outbound import twilio_routes as outbound
from callcenter.webtracking import admin_routes as webtracking_admin
from callcenter.webtracking import number_endpoint, pool_cache
from callcenter.webtracking import report_routes as webtracking_report


def create_app(config_override: Mapping[str, Any] | None = None) -> Flask:
    config = load_config(override=config_override)
    app = Flask(__name__)
    app.config.update(config)
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_WEBHOOK_BYTES"] * 4
    app.json.ensure_ascii = False
    logging_setup.configure(config["LOG_LEVEL"], config["LOG_FORMAT"])
    logging_setup.install_request_ids(app)
    runtime = Runtime.from_config(config)
    app.extensions["callcenter"] = runtime
    numbers = number_endpoint.NumberEndpoint(runtime, config["WEBTRACKING_RATE"], lambda: _set_up(app))
    app.wsgi_app = number_endpoint.mount(app.wsgi_app, numbers)  # type: ignore[method-assign]
    webhooks = webhook_front.WebhookFront(runtime, webhook_http.source_rate(app),
                                          config["MAX_WEBHOOK_BYTES"], config["PUBLIC_URL"])
    app.wsgi_app = webhook_front.mount(app.wsgi_app, app.url_map, webhooks)  # type: ignore[method-assign]
    if config["TRUSTED_PROXIES"]:  # outside the number endpoint: it rate-limits by the client's address
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config["TRUSTED_PROXIES"])  # type: ignore[method-assign]
    pool_cache.watch(runtime.sessions, lambda: runtime.redis)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    _register_blueprints(app)
    return app


def _set_up(app: Flask) -> bool:
    with app.app_context():
        return not setup.setup_pending()


def _register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = ids.IdConverter  # before any route is added
    # A machine client (PBX, integration) sends no Accept-Language: it reads English.
    errors.register(app, lambda: request_locale("en"))
    security_headers.install(app)
    auth_core.init_app(app)
    app.jinja_env.globals["t"] = t
    app.jinja_env.globals["pt"] = pt
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(pbx_admin.bp)
    app.register_blueprint(sip_admin.bp)
    app.register_blueprint(dnc_admin.bp)
    app.register_blueprint(audit_admin.bp)
    app.register_blueprint(clinic_admin.bp)
    app.register_blueprint(staff_routes.bp)
    app.register_blueprint(doctor_routes.bp)
    app.register_blueprint(services_admin.bp)
    app.register_blueprint(import_admin.bp)
    app.register_blueprint(events_admin.bp)
    app.register_blueprint(fhir_admin.bp)
    app.register_blueprint(sync_api.bp)
    app.register_blueprint(numbers_admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(outbound.bp)
    app.register_blueprint(campaigns_admin.bp)
    app.register_blueprint(sms_webhooks.bp)
    app.register_blueprint(desk_softphone.bp)
    app.register_blueprint(api_calls.bp)
    app.register_blueprint(marketing.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(messaging.bp)
    app.register_blueprint(desk_card.bp)
    app.register_blueprint(desk_schedule.bp)
    app.register_blueprint(desk_visits.bp)
    app.register_blueprint(threecx.bp)
    app.register_blueprint(scripts_api.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(setup.bp)
    app.register_blueprint(webtracking_admin.bp)
    app.register_blueprint(webtracking_report.bp)
    app.register_blueprint(complaints_routes.bp)
    app.register_blueprint(measures_routes.bp)
