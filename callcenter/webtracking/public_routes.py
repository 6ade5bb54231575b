"""/wt/<key>/number: what the site snippet calls from the clinic's website. Public (the key is
in the site's HTML), so: answered only to the pool's own sites (CORS), rate-limited per address,
and nothing in it or its answer is patient data — a random visitor id in, a number out.

An ad burst lands here, so the path does not wait for the database: the pool comes from this
process's cache (pool_cache), and the check that the copy is current, the address's rate, the
lease and the visit are one Lua script in Redis, one round trip, which keeps the records until
the worker writes them (records.flush)."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request

from callcenter.core.inputs import InputError
from callcenter.core.models import utcnow
from callcenter.core.phones import national_digits
from callcenter.core.ratelimit import Limit, RedisCounters, hit, seconds_left, window_key
from callcenter.core.web import db, runtime
from callcenter.webtracking import pool_cache
from callcenter.webtracking.leases import Gate, Leaser, Stale, Throttled
from callcenter.webtracking.visits import Facts, read_facts, request_number, serves

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


def _pools() -> pool_cache.PoolCache:
    pools = current_app.extensions.get("webtracking.pools")
    if pools is None:
        pools = current_app.extensions["webtracking.pools"] = pool_cache.PoolCache(runtime().redis)
    return pools


def _pool(key: str, origin: str) -> pool_cache.PoolConfig | Response:
    """The pool, if the request's site is one of its sites; a refusal is answered only after
    the cached copy was checked against the version in Redis."""
    pools = _pools()
    for checked in (False, True):
        if checked:
            pools.refresh()
        pool = pools.get(key[:32], lambda k: pool_cache.load(db(), k))
        if pool is not None and origin in pool.sites:
            return pool
    if pool is None:
        abort(404)
    return _refuse(403, "origin_not_allowed", "Origin", "this site is not one of the pool's sites")


def _throttled(limit: Limit, now: float, origin: str) -> Response:
    refused = _refuse(429, "rate_limited", "", "too many number requests from this address")
    refused.headers["Retry-After"] = str(seconds_left(limit, now))
    return _cors(refused, origin)


def _leaser() -> Leaser:
    leaser = current_app.extensions.get("webtracking.leaser")
    if leaser is None:
        leaser = current_app.extensions["webtracking.leaser"] = Leaser(runtime().redis)
    return leaser


@bp.route("/wt/<key>/number", methods=["POST", "OPTIONS"])
def number(key: str) -> Response:
    origin = request.headers.get("Origin", "")
    for _attempt in range(2):  # a second time only after the pool changed under the first
        pool = _pool(key, origin)
        if isinstance(pool, Response):
            return pool
        if request.method == "OPTIONS":
            return _cors(Response(status=204), origin)
        now = time.time()
        limit = Limit(f"wt{pool.id}", current_app.config["WEBTRACKING_RATE"], 60)
        subject = request.remote_addr or "unknown"
        facts = _facts()
        if isinstance(facts, Response) or not serves(pool, facts) or not pool.active:
            # No lease to ask for: the address is counted on its own round trip.
            if not hit(RedisCounters(runtime().redis), limit, subject, now).allowed:
                return _throttled(limit, now, origin)
            if isinstance(facts, Response):
                return _cors(facts, origin)
        gate = Gate(pool_cache.VERSION, pool.seen, window_key(limit, subject, now), limit.limit,
                    limit.window)
        try:
            answer = request_number(db(), _leaser(), pool, facts, utcnow(), gate)
        except Stale:
            _pools().refresh()
            continue
        except Throttled:
            return _throttled(limit, now, origin)
        original = pool.fallback
        return _cors(jsonify({"number": answer.number, "visit": answer.visit_id,
                              "fallback": answer.fallback, "renew_seconds": answer.renew_seconds,
                              "original": original, "national_digits": national_digits(original)}),
                     origin)
    return _cors(_refuse(503, "busy", "", "the pool is being changed; ask again"), origin)


def _facts() -> Facts | Response:
    body = request.get_data()  # kept: a request asked again after a pool change reads it twice
    if len(body) > MAX_BODY:
        return _refuse(413, "too_large", "body", f"at most {MAX_BODY} bytes")
    try:
        return read_facts(json.loads(body or b"null"))
    except InputError as exc:
        return _refuse(400, "invalid_request", exc.field, exc.message)
    except ValueError:  # not JSON, not UTF-8
        return _refuse(400, "invalid_request", "body", "expected a JSON object")
