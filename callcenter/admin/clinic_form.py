"""The clinic settings form: every field checked first, every problem named, then one write.

The form is text as staff type it (`09:00-14:00, 15:00-20:00` for a day with a break); `read`
turns it into the values the clinic row stores, or into every field's problem at once, so the
page can mark them all and nothing is half-saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import available_timezones

import phonenumbers

from callcenter.core.clinic_settings import clock, clock_text
from callcenter.core.config import LOCALES
from callcenter.core.config_values import SMS_CONFIRMATION_MODES
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError, limit, problem
from callcenter.core.models import WEEKDAYS, Clinic
from callcenter.core.phones import normalize
from callcenter.outbound.workdays import ClinicCalendar

# What the clinics list's "new clinic" form asks; the settings page asks the rest too.
IDENTITY = ("name", "address", "timezone", "locale", "region")
HOURS_FIELDS = tuple(f"hours_{day}" for day in WEEKDAYS)
FIELDS = (*IDENTITY, *HOURS_FIELDS, "morning_until", "evening_from", "call_window", "caller_id",
          "patient_language", "sms_confirmation", "sms_window", "sms_sender")
# Phone networks show at most 11 characters of a sender name (alphanumeric sender ID).
SENDER_NAME_MOST = 11


class Problems(ValueError):
    """Every field's problem at once (field → error)."""

    def __init__(self, problems: dict[str, FieldError]) -> None:
        super().__init__("; ".join(f"{field}: {error.message}" for field, error in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """A clinic's settings as the form gives them, checked."""

    name: str
    address: str
    timezone: str
    locale: str
    region: str
    opening_hours: dict[str, list[list[str]]]
    morning_until: time
    evening_from: time
    call_window: tuple[time, time] | None  # None: the installation's CALLCENTER_CALL_HOURS
    caller_id: str | None  # None: the installation's CALLCENTER_TWILIO_CALLER_ID
    patient_language: str | None  # None: the clinic's language
    sms_confirmation: str | None  # None: the installation's CALLCENTER_SMS_CONFIRMATION
    sms_window: tuple[time, time] | None  # None: the installation's CALLCENTER_SMS_WINDOW
    sms_sender: str | None  # None: the installation's CALLCENTER_SMS_SENDER


@cache
def zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def shown(clinic: Clinic) -> dict[str, str]:
    """The clinic's stored settings as the form's text."""
    values = {"name": clinic.name, "address": clinic.address, "timezone": clinic.timezone,
              "locale": clinic.locale, "region": clinic.region,
              "morning_until": clock_text(clinic.morning_until),
              "evening_from": clock_text(clinic.evening_from),
              "caller_id": clinic.caller_id or "", "patient_language": clinic.patient_language or ""}
    # What the schedule works with: a clinic never given hours is open Monday to Friday, 9 to 18.
    hours = ClinicCalendar.build(clinic.timezone, clinic.opening_hours).hours
    for index, day in enumerate(WEEKDAYS):
        values[f"hours_{day}"] = ", ".join(f"{clock_text(start)}-{clock_text(end)}"
                                           for start, end in hours.get(index, ()))
    values["call_window"] = _window_text(clinic.call_window_start, clinic.call_window_end)
    values["sms_window"] = _window_text(clinic.sms_window_start, clinic.sms_window_end)
    values["sms_confirmation"] = clinic.sms_confirmation or ""
    values["sms_sender"] = clinic.sms_sender or ""
    return values


def _window_text(start: time | None, end: time | None) -> str:
    return f"{clock_text(start)}-{clock_text(end)}" if start and end else ""


def _clock(raw: str, field: str) -> time:
    hours, sep, minutes = raw.strip().partition(":")
    if not (sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
            and hours.isascii() and minutes.isascii()):
        raise FieldError(field, N_("{value} is not a time (HH:MM)"), value=raw.strip()[:20])
    if int(hours) > 24 or int(minutes) > 59 or (int(hours) == 24 and int(minutes)):
        raise FieldError(field, N_("{value} is not a time (HH:MM)"), value=raw.strip()[:20])
    return clock(raw)


def _span(raw: str, field: str) -> tuple[time, time]:
    start_text, sep, end_text = raw.partition("-")
    try:
        if not sep:
            raise FieldError(field, "")
        start, end = _clock(start_text, field), _clock(end_text, field)
    except FieldError:
        raise FieldError(field, N_("{value} is not a range of times (HH:MM-HH:MM)"),
                         value=raw.strip()[:40]) from None
    if start >= end:
        raise FieldError(field, N_("{value} ends before it starts"), value=raw.strip()[:40])
    return start, end


def day_hours(raw: str, field: str) -> list[tuple[time, time]]:
    """'09:00-14:00, 15:00-20:00' → the day's shifts in order; empty = closed."""
    spans = sorted(_span(part, field) for part in raw.replace(";", ",").split(",") if part.strip())
    for (_, earlier_end), (later_start, _) in pairwise(spans):
        if later_start < earlier_end:
            raise FieldError(field, N_("the ranges overlap"))
    return spans


def _text(raw: str, field: str, column: Any, required: bool = False) -> str:
    value = raw.strip()
    reason = problem(value)
    if reason is not None:
        raise FieldError(field, reason)
    if required and not value:
        raise FieldError(field, N_("required"))
    most = limit(column)
    if len(value) > most:
        raise FieldError(field, N_("longer than {most} characters"), most=most)
    return value


def _timezone(raw: str) -> str:
    if raw.strip() not in zones():
        raise FieldError("timezone", N_("{value} is not a known time zone (e.g. Europe/Moscow)"),
                         value=raw.strip()[:64])
    return raw.strip()


def _locale(raw: str, field: str, optional: bool = False) -> str | None:
    if optional and not raw.strip():
        return None
    if raw.strip() not in LOCALES:
        raise FieldError(field, N_("choose one of the languages offered"))
    return raw.strip()


def _region(raw: str) -> str:
    value = raw.strip().upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise FieldError("region", N_("{value} is not a country code (two letters, e.g. RU)"),
                         value=raw.strip()[:8])
    return value


def _phone(raw: str, region: str, field: str) -> str:
    number = normalize(raw, region)
    if number is None or not phonenumbers.is_valid_number(phonenumbers.parse(number)):
        raise FieldError(field, N_("{value} is not a phone number"), value=raw.strip()[:32])
    return number


def _caller_id(raw: str, region: str) -> str | None:
    return _phone(raw, region, "caller_id") if raw.strip() else None


def _sms_confirmation(raw: str) -> str | None:
    if not raw.strip():
        return None
    if raw.strip() not in SMS_CONFIRMATION_MODES:
        raise FieldError("sms_confirmation", N_("choose one of the ways offered"))
    return raw.strip()


def _sms_sender(raw: str, region: str) -> str | None:
    """A number the texts come from (Twilio), or a registered sender name (SMSC): a name is what
    the patient's phone shows, so it is Latin letters and digits within the networks' limit."""
    value = raw.strip()
    if not value:
        return None
    if value[0] == "+" or value[0].isdigit():
        return _phone(value, region, "sms_sender")
    if len(value) > SENDER_NAME_MOST:
        raise FieldError("sms_sender", N_("longer than {most} characters"), most=SENDER_NAME_MOST)
    if not all(c.isascii() and (c.isalnum() or c in " .-_") for c in value):
        raise FieldError("sms_sender", N_("{value} is neither a phone number nor a sender name "
                                          "(Latin letters and digits)"), value=value[:32])
    return value


def _window(raw: str, field: str) -> tuple[time, time] | None:
    return _span(raw, field) if raw.strip() else None


def _checked(form: Mapping[str, str], problems: dict[str, FieldError], field: str,
             check: Any, *args: Any) -> Any:
    try:
        return check(form.get(field, ""), *args)
    except FieldError as error:
        problems[error.field] = error
        return None


def identity(form: Mapping[str, str], problems: dict[str, FieldError]) -> dict[str, Any]:
    """Name, address, zone, language and country: what a new clinic needs."""
    return {
        "name": _checked(form, problems, "name", _text, "name", Clinic.name, True),
        "address": _checked(form, problems, "address", _text, "address", Clinic.address),
        "timezone": _checked(form, problems, "timezone", _timezone),
        "locale": _checked(form, problems, "locale", _locale, "locale"),
        "region": _checked(form, problems, "region", _region),
    }


def read(form: Mapping[str, str]) -> Settings:
    """The checked settings, or Problems naming every bad field."""
    problems: dict[str, FieldError] = {}
    values = identity(form, problems)
    hours = {day: _checked(form, problems, f"hours_{day}", day_hours, f"hours_{day}")
             for day in WEEKDAYS}
    morning = _checked(form, problems, "morning_until", _clock, "morning_until")
    evening = _checked(form, problems, "evening_from", _clock, "evening_from")
    if morning is not None and evening is not None and morning > evening:
        problems["evening_from"] = FieldError("evening_from", N_("the evening starts before the morning ends"))
    window = _checked(form, problems, "call_window", _window, "call_window")
    caller = _checked(form, problems, "caller_id", _caller_id, values["region"] or "RU")
    language = _checked(form, problems, "patient_language", _locale, "patient_language", True)
    confirmation = _checked(form, problems, "sms_confirmation", _sms_confirmation)
    text_window = _checked(form, problems, "sms_window", _window, "sms_window")
    sender = _checked(form, problems, "sms_sender", _sms_sender, values["region"] or "RU")
    if problems:
        raise Problems(problems)
    return Settings(
        **values, morning_until=morning, evening_from=evening, call_window=window,
        caller_id=caller, patient_language=language, sms_confirmation=confirmation,
        sms_window=text_window, sms_sender=sender,
        opening_hours={day: [[clock_text(a), clock_text(b)] for a, b in spans]
                       for day, spans in hours.items() if spans})


def apply(clinic: Clinic, settings: Settings) -> None:
    """Write checked settings onto the clinic row (the caller commits once)."""
    clinic.name, clinic.address = settings.name, settings.address
    clinic.timezone, clinic.locale, clinic.region = settings.timezone, settings.locale, settings.region
    clinic.opening_hours = settings.opening_hours
    clinic.morning_until, clinic.evening_from = settings.morning_until, settings.evening_from
    clinic.call_window_start, clinic.call_window_end = settings.call_window or (None, None)
    clinic.caller_id = settings.caller_id
    clinic.patient_language = settings.patient_language
    clinic.sms_confirmation = settings.sms_confirmation
    clinic.sms_window_start, clinic.sms_window_end = settings.sms_window or (None, None)
    clinic.sms_sender = settings.sms_sender
