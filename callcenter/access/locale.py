"""Which language a page or answer is in: the signed-in person's, else the browser's, else the clinic's."""

from __future__ import annotations

from flask import request

from callcenter.access.auth import current_staff
from callcenter.core.config import LOCALES


def request_locale(default: str) -> str:
    """The signed-in staff member's language, else the browser's, else the clinic default."""
    staff = current_staff()
    if staff is not None and staff.locale in LOCALES:
        return staff.locale
    best = request.accept_languages.best_match(LOCALES) if request else None
    return best or default
