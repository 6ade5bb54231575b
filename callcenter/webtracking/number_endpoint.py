"""POST /wt/<key>/number: what the site snippet calls from the clinic's website. Public (the key
is in the site's HTML), so: answered only to the pool's own sites (CORS), rate-limited per
address, and nothing in it or its answer is patient data — a random visitor id in, a number out.

An ad burst lands here, so the path waits neither for the database nor for a framework:
- the pool comes from this process's cache (pool_cache), and the check that the copy is current,
  the address's rate, the lease and the visit are one Lua script in Redis, one round trip, which
  keeps the records until the worker writes them (records.flush);
- it is answered in front of Flask (`mount`, core.wsgi_front): Flask's request cycle cost more
  CPU than all of the above together (bench webtracking_leases). There is no answer here before
  the installation is set up, as from Flask's routes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.wsgi import get_input_stream

from callcenter.core import clinic_scope
from callcenter.core.inputs import InputError
from callcenter.core.models import utcnow
from callcenter.core.ratelimit import Limit, RedisCounters, hit, seconds_left, window_key
from callcenter.core.runtime import Runtime
from callcenter.core.wsgi_front import Reply, refusal, serve
from callcenter.webtracking import pool_cache
from callcenter.webtracking.leases import Gate, Leaser, Stale, Throttled
from callcenter.webtracking.visits import Facts, read_facts, request_number, serves

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PATH = re.compile(r"/wt/([^/]+)/number")
MAX_BODY = 8192
CORS = {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600", "Vary": "Origin"}


def _allowed(reply: Reply, origin: str) -> Reply:
    """Readable by the page of that site (CORS)."""
    reply.headers.update(CORS, **{"Access-Control-Allow-Origin": origin})
    return reply


class NumberEndpoint:
    """The number requests of every pool; safe to share between threads."""

    def __init__(self, runtime: Runtime, rate: int, ready: Callable[[], bool]) -> None:
        self.runtime = runtime
        self.rate = rate  # number requests per address and minute, per pool
        self._ready = ready
        self._set_up = False
        self._pools: pool_cache.PoolCache | None = None
        self._leaser: Leaser | None = None

    @property
    def pools(self) -> pool_cache.PoolCache:
        if self._pools is None:  # not at start-up: Redis may come up after the app is built
            self._pools = pool_cache.PoolCache(self.runtime.redis)
        return self._pools

    @property
    def leaser(self) -> Leaser:
        if self._leaser is None:
            self._leaser = Leaser(self.runtime.redis)
        return self._leaser

    def answer(self, key: str, method: str, origin: str, address: str,
               body: Callable[[], bytes]) -> Reply:
        """The reply to one request; `body()` reads the request's body (at most MAX_BODY + 1
        bytes, and it may be asked twice)."""
        if method not in ("POST", "OPTIONS"):
            return Reply(405, {"error": "method_not_allowed", "message": "POST or OPTIONS"},
                         {"Allow": "POST, OPTIONS"})
        if not self._set_up:
            self._set_up = self._ready()
            if not self._set_up:
                return Reply(503, {"error": "setup_required",
                                   "message": "this installation is not set up yet: open /setup"})
        for _attempt in range(2):  # a second time only after the pool changed under the first
            pool = self._pool(key, origin)
            if isinstance(pool, Reply):
                return pool
            if method == "OPTIONS":
                return _allowed(Reply(204), origin)
            try:
                return _allowed(self._number(pool, origin, address, body), origin)
            except Stale:
                self.pools.refresh()
        return _allowed(refusal(503, "busy", "", "the pool is being changed; ask again"), origin)

    def _pool(self, key: str, origin: str) -> pool_cache.PoolConfig | Reply:
        """The pool, if the request's site is one of its sites; a refusal is answered only after
        the cached copy was checked against the version in Redis."""
        pool = None
        for checked in (False, True):
            if checked:
                self.pools.refresh()
            pool = self.pools.get(key[:32], self._load)
            if pool is not None and origin in pool.sites:
                return pool
        if pool is None:
            return Reply(404, {"error": "not_found", "message": "no pool has this key"})
        return refusal(403, "origin_not_allowed", "Origin", "this site is not one of the pool's sites")

    def _load(self, key: str) -> pool_cache.PoolConfig | None:
        with clinic_scope.restrict(self.runtime.sessions(), clinic_scope.NOBODY) as session:
            return pool_cache.load(session, key)

    def _number(self, pool: pool_cache.PoolConfig, origin: str, address: str,
                body: Callable[[], bytes]) -> Reply:
        now = time.time()
        limit = Limit(f"wt{pool.id}", self.rate, 60)
        facts = _facts(body())
        if isinstance(facts, Reply) or not serves(pool, facts) or not pool.active:
            # No lease to ask for: the address is counted on its own round trip.
            if not hit(RedisCounters(self.runtime.redis), limit, address, now).allowed:
                return _throttled(limit, now)
            if isinstance(facts, Reply):
                return facts
        gate = Gate(pool_cache.VERSION, pool.seen, window_key(limit, address, now), limit.limit,
                    limit.window)
        try:
            with self.runtime.sessions() as session:  # read only if Redis lost its id counters
                answer = request_number(session, self.leaser, pool, facts, utcnow(), gate)
        except Throttled:
            return _throttled(limit, now)
        return Reply(200, {"number": answer.number, "visit": answer.visit_id,
                           "fallback": answer.fallback, "renew_seconds": answer.renew_seconds,
                           "original": pool.fallback, "national_digits": pool.fallback_digits})


def _throttled(limit: Limit, now: float) -> Reply:
    refused = refusal(429, "rate_limited", "", "too many number requests from this address")
    refused.headers["Retry-After"] = str(seconds_left(limit, now))
    return refused


def _facts(body: bytes) -> Facts | Reply:
    if len(body) > MAX_BODY:
        return refusal(413, "too_large", "body", f"at most {MAX_BODY} bytes")
    try:
        return read_facts(json.loads(body or b"null"))
    except InputError as exc:
        return refusal(400, "invalid_request", exc.field, exc.message)
    except ValueError:  # not JSON, not UTF-8
        return refusal(400, "invalid_request", "body", "expected a JSON object")


def mount(inner: WSGIApplication, endpoint: NumberEndpoint) -> WSGIApplication:
    """A WSGI application answering /wt/<key>/number itself and everything else by `inner`."""

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = PATH.fullmatch(environ.get("PATH_INFO", ""))
        if found is None:
            return inner(environ, start_response)
        read: list[bytes] = []

        def body() -> bytes:
            if not read:
                read.append(get_input_stream(environ).read(MAX_BODY + 1))
            return read[0]

        return serve(environ, start_response, lambda: endpoint.answer(
            found.group(1), environ.get("REQUEST_METHOD", ""), environ.get("HTTP_ORIGIN", ""),
            environ.get("REMOTE_ADDR") or "unknown", body), "/wt/…/number")

    return application
