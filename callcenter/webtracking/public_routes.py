"""/wt/<key>/number: what the site snippet calls from the clinic's website. Public (the key is
in the site's HTML), so: answered only to the pool's own sites (CORS), rate-limited per address,
and nothing in it or its answer is patient data — a random visitor id in, a number out.

An ad burst lands here, so the path does not wait for the database: the pool comes from this
process's cache (pool_cache), the lease and the visit are one Lua script in Redis, which keeps
the records until the worker writes them (records.flush)."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request

from callcenter.core.inputs import InputError
from callcenter.core.models import utcnow
from callcenter.core.phones import national_digits
from callcenter.core.ratelimit import Limit, RedisCounters, hit
from callcenter.core.web import db, runtime
from callcenter.webtracking import pool_cache
from callcenter.webtracking.leases import Leaser
from callcenter.webtracking.visits import read_facts, request_number

bp = Blueprint("webtracking_public", __name__)

MAX_BODY = 8192


def _cors(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Vary"] = "Origin"
    return response


def _refuse(status: int, error: str, field: str, message: str) -> Response:
    answer = jsonify({"error": error, "field": field, "message": message})
    answer.status_code = status
    return answer


def _pool(key: str) -> pool_cache.PoolConfig:
    pools = current_app.extensions.get("webtracking.pools")
    if pools is None:
        pools = current_app.extensions["webtracking.pools"] = pool_cache.PoolCache(runtime().redis)
    pool = pools.get(key[:32], lambda k: pool_cache.load(db(), k))
    if pool is None:
        abort(404)
    return pool


def _leaser() -> Leaser:
    leaser = current_app.extensions.get("webtracking.leaser")
    if leaser is None:
        leaser = current_app.extensions["webtracking.leaser"] = Leaser(runtime().redis)
    return leaser


@bp.route("/wt/<key>/number", methods=["POST", "OPTIONS"])
def number(key: str) -> Response:
    pool = _pool(key)
    origin = request.headers.get("Origin", "")
    if origin not in pool.sites:
        return _refuse(403, "origin_not_allowed", "Origin",
                       "this site is not one of the pool's sites")
    if request.method == "OPTIONS":
        return _cors(Response(status=204), origin)
    now = time.time()
    limit = Limit(f"wt{pool.id}", current_app.config["WEBTRACKING_RATE"], 60)
    verdict = hit(RedisCounters(runtime().redis), limit, request.remote_addr or "unknown", now)
    if not verdict.allowed:
        refused = _refuse(429, "rate_limited", "", "too many number requests from this address")
        refused.headers["Retry-After"] = str(verdict.retry_after)
        return _cors(refused, origin)
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        return _cors(_refuse(413, "too_large", "body", f"at most {MAX_BODY} bytes"), origin)
    try:
        facts = read_facts(json.loads(body or b"null"))
    except InputError as exc:
        return _cors(_refuse(400, "invalid_request", exc.field, exc.message), origin)
    except ValueError:  # not JSON, not UTF-8
        return _cors(_refuse(400, "invalid_request", "body", "expected a JSON object"), origin)
    answer = request_number(db(), _leaser(), pool, facts, utcnow())
    original = pool.fallback
    return _cors(jsonify({"number": answer.number, "visit": answer.visit_id,
                          "fallback": answer.fallback, "renew_seconds": answer.renew_seconds,
                          "original": original, "national_digits": national_digits(original)}),
                 origin)
