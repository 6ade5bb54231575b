"""What the admin pages share: every problem of a form collected by field (shown all at once),
the signed-in admin, their language, and a row of their clinics or a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort

from callcenter.core.inputs import InputError
from callcenter.core.models import Base
from callcenter.core.web import db

T = TypeVar("T")
M = TypeVar("M", bound=Base)


def row_or_404(model: type[M], row_id: int) -> M:
    """The row by id; missing and another clinic's (the session's scope hides it) alike: 404."""
    row = db().get(model, row_id)
    if row is None:
        abort(404)
    return row


class Problems:
    """The form's problems by field, in the order found (the first one gets the focus)."""

    def __init__(self, *errors: InputError) -> None:
        self.errors: dict[str, InputError] = {e.field: e for e in errors}

    def check(self, step: Callable[[], T]) -> T | None:
        """The step's value, or None with its InputError kept (the first per field)."""
        try:
            return step()
        except InputError as exc:
            self.errors.setdefault(exc.field, exc)
            return None

    def add(self, error: InputError) -> None:
        self.errors.setdefault(error.field, error)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def localized(self, locale: str) -> dict[str, str]:
        return {name: exc.localized(locale) for name, exc in self.errors.items()}
