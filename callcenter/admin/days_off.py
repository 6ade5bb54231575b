"""A clinic's days off: added by hand with a reason, or a year of its country's public holidays
imported from the `holidays` library (kept up to date by its maintainers, transfers included)."""

from __future__ import annotations

from datetime import date

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError, limit, problem
from callcenter.core.models import Clinic, DayOff

# The holiday names' language for each interface language (the library's codes).
HOLIDAY_LANGUAGE = {"ru": "ru", "en": "en_US", "zh": "zh_CN"}
FIRST_YEAR, LAST_YEAR = 2000, 2100


def year_of(raw: str) -> int:
    value = raw.strip()
    if not (value.isdecimal() and value.isascii() and FIRST_YEAR <= int(value) <= LAST_YEAR):
        raise FieldError("year", N_("a year from {first} to {last}"), first=FIRST_YEAR, last=LAST_YEAR)
    return int(value)


def day_of(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise FieldError("day", N_("{value} is not a date (YYYY-MM-DD)"), value=raw.strip()[:20]) from None


def reason_of(raw: str) -> str:
    value = raw.strip()
    reason = problem(value)
    if reason is not None:
        raise FieldError("reason", reason)
    most = limit(DayOff.reason)
    if len(value) > most:
        raise FieldError("reason", N_("longer than {most} characters"), most=most)
    return value


def public_holidays(country: str, year: int, language: str) -> dict[date, str]:
    """The country's public holidays of the year, named in the language (the library's own
    language when it has no translation into this one)."""
    if country not in holidays.list_supported_countries():
        raise FieldError("year", N_("no public holiday calendar is known for the country {country}"),
                         country=country)
    calendar = holidays.country_holidays(country, years=year)
    wanted = HOLIDAY_LANGUAGE.get(language)
    if wanted in calendar.supported_languages:
        calendar = holidays.country_holidays(country, years=year, language=wanted)
    return dict(sorted(calendar.items()))


def listed(session: Session, clinic: Clinic) -> list[DayOff]:
    return list(session.scalars(select(DayOff).where(DayOff.clinic_id == clinic.id)
                                .order_by(DayOff.day)))


def add(session: Session, clinic: Clinic, day: date, reason: str) -> DayOff:
    """One day off; a day already off keeps its row (the caller commits)."""
    if session.scalar(select(DayOff.id).where(DayOff.clinic_id == clinic.id, DayOff.day == day)):
        raise FieldError("day", N_("{value} is already a day off"), value=day.isoformat())
    row = DayOff(clinic_id=clinic.id, day=day, reason=reason)
    session.add(row)
    return row


def import_year(session: Session, clinic: Clinic, year: int, language: str) -> int:
    """Add the year's public holidays of the clinic's country; days already off stay as they
    are. Returns how many were added (the caller commits)."""
    found = public_holidays(clinic.region, year, language)
    taken = set(session.scalars(select(DayOff.day).where(
        DayOff.clinic_id == clinic.id, DayOff.day.in_(list(found)))))
    most = limit(DayOff.reason)
    added = [DayOff(clinic_id=clinic.id, day=day, reason=name[:most])
             for day, name in found.items() if day not in taken]
    session.add_all(added)
    return len(added)


def remove(session: Session, clinic: Clinic, day: date) -> bool:
    row = session.scalar(select(DayOff).where(DayOff.clinic_id == clinic.id, DayOff.day == day))
    if row is None:
        return False
    session.delete(row)
    return True
