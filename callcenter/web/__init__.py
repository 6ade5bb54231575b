"""Thin blueprints; each module owns one area of URLs."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from ..runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["callcenter"]


def db() -> Session:
    """The request's database session, closed at teardown."""
    if "db" not in g:
        g.db = runtime().sessions()
    return g.db


def register_blueprints(app: Flask) -> None:
    from . import errors, health, webhooks

    errors.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
