"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

from callcenter.core import logging_setup
from callcenter.core.config import load_config
from callcenter.core.runtime import Runtime


def create_app(config_override: Mapping[str, Any] | None = None) -> Flask:
    config = load_config(override=config_override)
    app = Flask(__name__)
    app.config.update(config)
    app.config["MAX_CONTENT_LENGTH"] = config["MAX_WEBHOOK_BYTES"] * 4
    app.json.ensure_ascii = False
    logging_setup.configure(config["LOG_LEVEL"], config["LOG_FORMAT"])
    logging_setup.install_request_ids(app)
    if config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config["TRUSTED_PROXIES"])  # type: ignore[method-assign]
    runtime = Runtime.from_config(config)
    app.extensions["callcenter"] = runtime

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    from callcenter.core.web import register_blueprints

    register_blueprints(app)
    return app
