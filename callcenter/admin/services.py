"""The price list's rules: what a service form must hold before anything is written.

Every field is checked and every problem collected (the form shows them all at once, each by
its field); only a form without problems becomes a write, in one transaction by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.admin.forms import Problems
from callcenter.core.config import LOCALES
from callcenter.core.inputs import InputError, problem
from callcenter.core.models import Clinic, Service
from callcenter.core.price_list import (
    amount_input,
    known_currencies,
    parse_amount,
    service_name,
)
from callcenter.core.specialties import SPECIALTIES

MAX_MINUTES = 12 * 60
NAME_LIMIT = 200


@dataclass
class ServiceForm:
    """The form as typed, shown back unchanged when it has problems."""

    names: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LOCALES, ""))
    duration_minutes: str = "30"
    price_min: str = ""
    price_max: str = ""
    specialties: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, service: Service, currency: str) -> ServiceForm:
        return cls(names={code: (service.names or {}).get(code, "") for code in LOCALES},
                   duration_minutes=str(service.duration_minutes),
                   price_min=amount_input(service.price_min, currency),
                   price_max=amount_input(service.price_max, currency),
                   specialties=list(service.specialties or []))

    @classmethod
    def read(cls, form: Any) -> ServiceForm:
        """From the posted form (a werkzeug MultiDict: specialties are several values)."""
        return cls(names={code: str(form.get(f"name_{code}", "")) for code in LOCALES},
                   duration_minutes=str(form.get("duration_minutes", "")),
                   price_min=str(form.get("price_min", "")), price_max=str(form.get("price_max", "")),
                   specialties=[str(v) for v in form.getlist("specialties")])


@dataclass(frozen=True)
class ServiceValues:
    names: dict[str, str]
    duration_minutes: int
    price_min: int | None
    price_max: int | None
    specialties: list[str]


def _names(names: Mapping[str, str]) -> dict[str, str]:
    kept = {}
    for code, raw in names.items():
        value = raw.strip() if isinstance(raw, str) else ""
        reason = problem(value)
        if reason is not None:
            raise InputError(f"name_{code}", reason)
        if len(value) > NAME_LIMIT:
            raise InputError(f"name_{code}", "longer than {most} characters", most=NAME_LIMIT)
        if value:
            kept[code] = value
    if not kept:
        raise InputError("names", "give the service a name in at least one language")
    return kept


def _minutes(raw: str) -> int:
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_MINUTES:
        raise InputError("duration_minutes", "minutes from 1 to {most}", most=MAX_MINUTES)
    return int(value)


def _specialties(codes: list[str]) -> list[str]:
    unknown = [c for c in codes if c not in SPECIALTIES]
    if unknown:
        raise InputError("specialties", "unknown specialty: {value}", value=unknown[0][:40])
    return sorted(set(codes), key=list(SPECIALTIES).index)


def validate(form: ServiceForm, currency: str, locale: str) -> tuple[ServiceValues | None, Problems]:
    """The values to store, or None with every problem of the form."""
    problems = Problems()
    names = problems.check(lambda: _names(form.names))
    minutes = problems.check(lambda: _minutes(form.duration_minutes))
    low = problems.check(lambda: parse_amount(form.price_min, currency, locale, "price_min"))
    high = problems.check(lambda: parse_amount(form.price_max, currency, locale, "price_max"))
    specialties = problems.check(lambda: _specialties(form.specialties))
    if high is not None and low is None and "price_min" not in problems.errors:
        problems.add(InputError("price_min", "a range needs its lowest price too"))
    if low is not None and high is not None and low > high:
        problems.add(InputError("price_max", "the highest price is below the lowest"))
    if problems.errors or names is None or minutes is None or specialties is None:
        return None, problems
    return ServiceValues(names, minutes, low, None if high == low else high, specialties), problems


def apply(service: Service, values: ServiceValues) -> None:
    service.names = values.names
    service.duration_minutes = values.duration_minutes
    service.price_min = values.price_min
    service.price_max = values.price_max
    service.specialties = values.specialties


def price_list(session: Session, clinic: Clinic) -> list[Service]:
    """The clinic's services, those in use first, each group by name."""
    rows = session.scalars(select(Service).where(Service.clinic_id == clinic.id)).all()
    return sorted(rows, key=lambda s: (not s.active, sorted((s.names or {}).values())))


def currency_code(raw: str) -> str:
    value = raw.strip().upper()
    if value not in known_currencies():
        raise InputError("currency", "unknown currency code: {value}", value=raw.strip()[:12])
    return value


def change_currency(session: Session, clinic: Clinic, previous: str, new: str) -> None:
    """The clinic's prices keep their figures (6 500 stays 6 500) in the new currency; refused
    when one would lose a fraction the new currency cannot hold. The caller commits."""
    shift = get_currency_precision(new) - get_currency_precision(previous)
    services = session.scalars(select(Service).where(Service.clinic_id == clinic.id)).all()
    for service in services:
        for name in ("price_min", "price_max"):
            minor = getattr(service, name)
            if minor is None:
                continue
            moved = Decimal(minor).scaleb(shift)
            if moved != moved.to_integral_value():
                raise InputError("currency", "{currency} has no fractions for the price of "
                                 "{service}", currency=new, service=service_name(service, clinic.locale))
            setattr(service, name, int(moved))
    clinic.currency = new
