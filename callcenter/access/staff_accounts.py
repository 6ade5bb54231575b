"""Staff passwords and deactivation: each ends the staff member's sessions at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import staff_sessions
from callcenter.access.auth import HOME_BY_ROLE
from callcenter.access.passwords import hash_password, verify_password
from callcenter.core.i18n import N_
from callcenter.core.models import Staff

MIN_LENGTH = 10
MIN_DISTINCT = 5


def password_problem(login: str | None, password: str) -> str | None:
    """What is wrong with a new password (an English msgid, translated where shown), or None. Length and not-guessable only:
    composition rules make passwords harder to remember, not to guess (NIST SP 800-63B). The demo's
    published passwords (each login's own name) are all shorter than MIN_LENGTH."""
    lowered = password.casefold()
    if len(password) < MIN_LENGTH:
        return N_("The password is shorter than 10 characters")
    if login and login.casefold() in lowered:
        return N_("The password contains the login or is a known demo password")
    if len(set(password)) < MIN_DISTINCT:
        return N_("Too simple: too few different characters")
    return None


class WeakPassword(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def change_password(db: Session, staff: Staff, new_password: str, now: datetime) -> int:
    """Set a new password and end every session of the staff member; returns how many ended.
    Raises WeakPassword (nothing changed). The caller commits."""
    problem = password_problem(staff.login, new_password)
    if problem is None and verify_password(staff.password_hash, new_password):
        # Above all after a reset: keeping the temporary password keeps one the admin knows.
        problem = N_("The new password is the same as the current one")
    if problem is not None:
        raise WeakPassword(problem)
    staff.password_hash = hash_password(new_password)
    staff.must_change_password = False
    return staff_sessions.end_all(db, staff.id, now, "password")


def reset_password(db: Session, staff: Staff, temporary: str, now: datetime) -> int:
    """An administrator sets a temporary password: every session of the staff member ends, and
    their next sign-in opens only the page where they choose their own. Raises WeakPassword
    (nothing changed); returns how many sessions ended. The caller commits."""
    problem = password_problem(staff.login, temporary)
    if problem is not None:
        raise WeakPassword(problem)
    staff.password_hash = hash_password(temporary)
    staff.must_change_password = True
    return staff_sessions.end_all(db, staff.id, now, "password_reset")


def deactivate(db: Session, staff: Staff, now: datetime) -> int:
    """No more sign-ins, and every open session ends now; returns how many ended. The caller commits."""
    staff.active = False
    return staff_sessions.end_all(db, staff.id, now, "deactivated")


def by_login(db: Session, login: str) -> Staff:
    staff = db.scalar(select(Staff).where(Staff.login == login))
    if staff is None:
        raise LookupError(f"no staff member with login {login!r}")
    return staff


def with_known_password(db: Session) -> list[str]:
    """Logins of active staff (of the roles that can sign in) whose password is the login itself:
    every demo account (admin/admin …) and the commonest default. One Argon2 check per account:
    trying each demo password on every account cost 6 (66 s for 21 accounts on a busy 2-core
    machine), and password_problem already keeps demo passwords off every other account."""
    rows = db.scalars(select(Staff).where(Staff.active.is_(True), Staff.login.is_not(None),
                                          Staff.password_hash.is_not(None))).all()
    return sorted(staff.login for staff in rows
                  if staff.login and str(staff.role) in HOME_BY_ROLE
                  and verify_password(staff.password_hash, staff.login))
