"""First run: an installation without a staff account is set up once — its clinic, then its first
administrator — by the /setup page or `callcenter init`, both through `check` and
`create_first_clinic`.

"Set up" means a staff account with a login exists (the demo's, an administrator's): with none,
nobody could sign in to do anything else. Of two set-ups racing on an empty database the database
keeps one: both write the single `first_run` row, whose key is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.access.passwords import hash_password
from callcenter.access.staff_accounts import password_problem
from callcenter.core.config import LOCALES
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError, InputError, problem, text
from callcenter.core.models import Clinic, FirstRun, Staff, StaffRole

# The answers in the order a terminal asks for them; the page shows them in the same order.
FIELDS = ("clinic_name", "address", "timezone", "language", "region",
          "login", "first_name", "last_name", "password", "password_again")
OPTIONAL = frozenset({"address", "last_name"})


@dataclass(frozen=True)
class Answers:
    clinic_name: str
    address: str
    timezone: str
    language: str
    region: str
    login: str
    first_name: str
    last_name: str
    password: str


class Problems(ValueError):
    """Every field's problem at once (field → error), so a form can mark them all."""

    def __init__(self, problems: dict[str, FieldError]) -> None:
        super().__init__("; ".join(f"{field}: {error.message}" for field, error in problems.items()))
        self.problems = problems


class AlreadySetUp(Exception):
    """The installation has its administrator: set-up is not offered twice."""


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


@cache
def regions() -> tuple[str, ...]:
    """ISO 3166 countries phonenumbers can read numbers of (the clinic's numbering plan)."""
    return tuple(sorted(phonenumbers.SUPPORTED_REGIONS))


def pending(session: Session) -> bool:
    """True until a staff account with a login exists (read past any clinic scope)."""
    staff = Staff.__table__
    found = session.execute(select(staff.c.id).where(staff.c.login.is_not(None)).limit(1)).first()
    return found is None


def check(form: Mapping[str, str]) -> Answers:
    """The answers, each checked; Problems naming every field that is wrong (nothing written)."""
    values = {field: (form.get(field) or "").strip() for field in FIELDS}
    values["password"] = form.get("password") or ""  # spaces are part of a password
    values["password_again"] = form.get("password_again") or ""
    values["region"] = values["region"].upper()
    problems: dict[str, FieldError] = {}
    for field in FIELDS:
        try:
            _check_field(field, values)
        except FieldError as error:
            problems[field] = error
    if problems:
        raise Problems(problems)
    del values["password_again"]
    return Answers(**values)


def _check_field(field: str, values: dict[str, str]) -> None:
    value = values[field]
    if not value and field not in OPTIONAL:
        raise InputError(field, N_("Required"))
    reason = problem(value)
    if reason is not None:
        raise InputError(field, reason)
    columns = {"clinic_name": Clinic.name, "address": Clinic.address, "login": Staff.login,
               "first_name": Staff.first_name, "last_name": Staff.last_name}
    if field in columns:
        text(columns[field], value, field)
    if field == "timezone" and value not in time_zones():
        raise InputError(field, N_("Not a time zone name (for example Europe/Moscow)"))
    if field == "language" and value not in LOCALES:
        raise InputError(field, N_("Choose one of: {choices}"), choices=", ".join(LOCALES))
    if field == "region" and value not in regions():
        raise InputError(field, N_("Not a two-letter country code (for example RU)"))
    if field == "login" and any(c.isspace() for c in value):
        raise InputError(field, N_("A login has no spaces"))
    if field == "password":
        weak = password_problem(values["login"], value)
        if weak is not None:
            raise InputError(field, weak)
    if field == "password_again" and value != values["password"]:
        raise InputError(field, N_("The two passwords differ"))


def create_first_clinic(session: Session, answers: Answers, now: datetime, *,
                        admin_locale: str | None = None, via: str = "web") -> Staff:
    """The clinic and its first administrator, flushed (the caller commits); AlreadySetUp when an
    account exists or another set-up won the race (then nothing of this one is left).

    A clinic written before set-up (a webhook on the empty installation creates the default one)
    becomes this clinic, so the calls stored meanwhile are its own. The session must see every
    clinic (no clinic scope, or the installation's)."""
    if not pending(session):
        raise AlreadySetUp()
    password_hash = hash_password(answers.password)  # slow: before the transaction writes
    clinic = session.scalar(select(Clinic).order_by(Clinic.id).limit(1))
    if clinic is None:
        clinic = Clinic(opening_hours={})
        session.add(clinic)
    clinic.name, clinic.address, clinic.is_demo = answers.clinic_name, answers.address, False
    clinic.timezone, clinic.locale, clinic.region = answers.timezone, answers.language, answers.region
    try:
        session.flush()
        admin = Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login=answers.login,
                      password_hash=password_hash, first_name=answers.first_name,
                      last_name=answers.last_name, locale=admin_locale or answers.language)
        session.add(admin)
        session.flush()
        session.add(FirstRun(id=1, admin_id=admin.id, done_at=now))
        session.flush()
    except IntegrityError:
        # The other set-up committed first: its first_run row (or its login) is in the way.
        session.rollback()
        raise AlreadySetUp() from None
    audit(session, admin.id, "first_run", "clinic", clinic.id, via=via)
    return admin
