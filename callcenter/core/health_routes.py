"""/healthz: is the database reachable, is Redis, is a worker alive.

The status code answers "can this web process take a call" (database and Redis): a load balancer
must not pull the web out because the workers are down, since webhooks and pops do not need them.
A missing worker shows as status "degraded" with 200; monitors that only read status codes ask
/healthz?strict=1, which is 503 whenever any check fails.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from callcenter.core.models import utcnow
from callcenter.core.web import db, runtime
from callcenter.core.worker_heartbeat import ALIVE_WITHIN, live_workers

bp = Blueprint("health", __name__)
SERVING = ("database", "redis")


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    checks: dict[str, str] = {}
    workers = 0
    try:
        db().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # a health probe reports, it does not raise
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        runtime().redis.ping()
        checks["redis"] = "ok"
        workers, registered = live_workers(runtime().redis, utcnow())
        checks["workers"] = "ok" if workers else (
            f"none alive: {registered} registered, no heartbeat within {ALIVE_WITHIN.seconds} s")
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
        checks["workers"] = "unknown: Redis is down"
    healthy = all(v == "ok" for v in checks.values())
    serving = all(checks[name] == "ok" for name in SERVING)
    strict = request.args.get("strict") in ("1", "true", "yes")
    return jsonify({"status": "ok" if healthy else "degraded", "checks": checks, "workers": workers}), (
        200 if (healthy or (serving and not strict)) else 503
    )
