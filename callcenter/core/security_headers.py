"""Browser-facing protections on every answer, set in one place rather than route by route.

The policy allows only our own files: no inline script, handler or style attribute runs, so an
injected `<script>` or `onerror=` in a patient's name or notes stays inert. Pages are never framed
(clickjacking on the desk's buttons). Nothing but static files may be kept by a browser or proxy
cache: almost every page and API answer carries patient data, and a shared computer at the front
desk must not show it from the cache after sign-out.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "same-origin",  # a patient's URL never leaves in a Referer
    "X-Content-Type-Options": "nosniff",
}
CACHEABLE_ENDPOINTS = frozenset({"static"})


def allow_connect(*sources: str) -> None:
    """This answer's page may also connect to these origins (the desk's PBX WebSocket)."""
    g.csp_connect = (*g.get("csp_connect", ()), *sources)


def install(app: Flask) -> None:
    """Registers the hook on the app; it also runs for error answers and redirects."""

    @app.after_request
    def _protect(response: Response) -> Response:
        response.headers.update(HEADERS)
        extra = g.get("csp_connect", ())
        if extra:
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
                "connect-src 'self'", " ".join(("connect-src 'self'", *extra)))
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response
