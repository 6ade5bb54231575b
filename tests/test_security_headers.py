"""Every answer carries the browser protections; every one but a static file forbids caching.

Walks every GET route as every caller (the route-roles table's machinery: the same URLs, clients
and world), so a page added later is covered without being listed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from callcenter.core.security_headers import CONTENT_SECURITY_POLICY
from tests import api_world
from tests import desk_world as w
from tests.conftest import app_settings
from tests.test_route_roles import CALLERS, _caller, _rules, _send, _values


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET,
                        **{"3CX_SECRET": "headers-3cx-key"})


def _problems(endpoint: str, headers: Any) -> list[str]:
    problems = []
    expected = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}
    problems += [f"{name}: {headers.get(name)!r}" for name, value in expected.items()
                 if headers.get(name) != value]
    cache = headers.get("Cache-Control", "")
    if endpoint == "static":
        if "no-store" in cache:
            problems.append("a static file may be cached")
    elif cache != "no-store":
        problems.append(f"Cache-Control: {cache!r}")
    return problems


def test_the_policy_allows_only_our_own_files_and_no_framing() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_every_get_route_for_every_caller(app: Any, session: Session) -> None:
    api_world.build(app.test_client(), session)
    values = _values(session)
    clients = {caller: _caller(app, session, caller) for caller in CALLERS}
    problems, statuses = [], set()
    for rule in _rules(app):
        if "GET" not in rule.methods:
            continue
        url = rule.build(values, append_unknown=False)[1]
        for caller, client in clients.items():
            response = _send(client, session, "GET", url)
            statuses.add(response.status_code)
            problems += [f"GET {url} as {caller} ({response.status_code}): {p}"
                         for p in _problems(rule.endpoint, response.headers)]
    assert problems == [], "\n".join(problems)
    assert {200, 302, 401, 403} <= statuses  # pages, refusals and redirects alike


def test_errors_and_webhook_replies_forbid_caching_too(client: Any) -> None:
    for response in (client.get("/api/calls/999999"), client.get("/no-such-page"),
                     client.post("/webhooks/generic", json=[{"event": "ringing"}]),
                     client.post("/login", data={"login": "x", "password": "y"})):
        assert _problems("any", response.headers) == [], response.status_code
