"""What every blueprint needs from a request: the runtime and the clinic-scoped database session."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g
from sqlalchemy.orm import Session

from callcenter.core import clinic_scope
from callcenter.core.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["callcenter"]


def db() -> Session:
    """The request's database session, closed at teardown. It sees no clinic's rows until the
    signed-in staff member widens it to theirs (`auth.current_staff`), or a signature-checked
    route to the clinic its caller serves (`clinic_scope`)."""
    if "db" not in g:
        g.db = clinic_scope.restrict(runtime().sessions(), clinic_scope.NOBODY)
    return g.db


def session_opener() -> Callable[[], Session]:
    """Opens sessions like the request's (same database, same clinic scope) for threads the
    request starts: a session is never shared between threads. The scope is the one the request
    holds now, so call it after the viewer is known."""
    sessions, scope = runtime().sessions, clinic_scope.current(db()) or clinic_scope.NOBODY
    return lambda: clinic_scope.restrict(sessions(), scope)
