"""/webhooks/<provider>[/c/<token>][/<subpath>]: hop 1 of webhook → pop (store raw, verify, parse,
apply), answered in front of Flask (core.wsgi_front).

This is the busiest path of an installation that serves a clinic network, and Flask's request
cycle was about a fifth of a webhook's CPU (bench webhook_throughput, py-spy on the workers).

The other webhooks under /webhooks/ — Twilio's callbacks for our own calls, the SMS gateways, the
softphone's voice URL — are Flask routes, each more specific than these: a request one of them
takes goes to Flask, as it did when these were Flask routes too. Webhooks are answered before the
installation is set up and need no staff session, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request

from callcenter.core.runtime import Runtime
from callcenter.core.wsgi_front import Reply, serve
from callcenter.inbound.ingest import handle_webhook
from callcenter.inbound.webhook_http import as_inbound, refused_by_limits
from callcenter.inbound.webhook_rate import SourceRate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)
PREFIX = "/webhooks/"
METHODS = ["GET", "POST"]  # and HEAD, as GET
ALLOW = "GET, HEAD, OPTIONS, POST"
# Endpoint names as Flask's would be: the route tables of the tests list every route by them.
ROUTES = Map([
    Rule("/webhooks/<provider>", methods=METHODS, defaults={"subpath": ""},
         endpoint="webhooks.receive"),
    Rule("/webhooks/<provider>/<path:subpath>", methods=METHODS, endpoint="webhooks.receive"),
    # A clinic's own account with the provider (inbound/pbx_accounts.py): the token picks its secret.
    Rule("/webhooks/<provider>/c/<token>", methods=METHODS, defaults={"subpath": ""},
         endpoint="webhooks.receive_for_account"),
    Rule("/webhooks/<provider>/c/<token>/<path:subpath>", methods=METHODS,
         endpoint="webhooks.receive_for_account"),
])


class WebhookFront:
    def __init__(self, runtime: Runtime, rate: SourceRate, most_bytes: int, public_url: str) -> None:
        self.runtime = runtime
        self.rate = rate
        self.most_bytes = most_bytes
        self.public_url = public_url

    def answer(self, given: Request, provider: str, subpath: str, token: str | None) -> Reply:
        refused = refused_by_limits(given, self.most_bytes, self.rate)
        if refused is not None:
            return Reply(refused.status, {"error": refused.error, "message": refused.message},
                         refused.headers())
        inbound = as_inbound(given, provider, subpath, self.public_url)
        try:
            result = handle_webhook(self.runtime, inbound, token=token)
        except DBAPIError as exc:
            # Nothing could be stored: ask the PBX to retry rather than pretend we have it.
            log.error("webhook not stored, database unavailable: %s", type(exc.orig).__name__)
            return Reply(503, {"error": "database_unavailable", "message": "try again shortly"},
                         {"Retry-After": "5"})
        if result.error is not None:
            return Reply(result.status, {**result.error, "raw_id": result.raw_id})
        reply = result.reply
        assert reply is not None
        return Reply(reply.status, content=reply.body, content_type=reply.content_type)


def mount(inner: WSGIApplication, flask_routes: Map, front: WebhookFront) -> WSGIApplication:
    """A WSGI application answering the PBX webhooks itself and everything else by `inner`
    (Flask, whose own routes are `flask_routes`)."""

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(PREFIX) or flask_routes.bind_to_environ(
                environ).test():
            return inner(environ, start_response)
        try:
            _rule, args = ROUTES.bind_to_environ(environ).match()
        except RequestRedirect as redirect:
            return redirect(environ, start_response)
        except MethodNotAllowed:
            options = environ.get("REQUEST_METHOD") == "OPTIONS"
            return serve(environ, start_response, lambda: _other_method(options), PREFIX)
        except NotFound:
            return inner(environ, start_response)
        given = Request(environ)
        provider = args["provider"]
        return serve(environ, start_response,
                     lambda: front.answer(given, provider, args["subpath"], args.get("token")),
                     PREFIX + provider)

    return application


def _other_method(options: bool) -> Reply:
    if options:
        return Reply(200, headers={"Allow": ALLOW})
    return Reply(405, {"error": "method_not_allowed", "message": f"use one of {ALLOW}"},
                 {"Allow": ALLOW})
