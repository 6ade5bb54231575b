"""The desk's new-patient form, read from its JSON body: every field checked and, when wrong,
refused naming the field (in the staff member's language through DeskError's msgid)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.core.config_values import LOCALES
from callcenter.core.inputs import optional_text, problem
from callcenter.core.models import Clinic, Patient, Sex
from callcenter.core.phones import normalize
from callcenter.desk.http_input import DeskError
from callcenter.inbound.leads import PHONE_LABELS, NewPatient

MOST_PHONES = 6
MOST_DIGITS_TEXT = 40  # "+7 (903) 000-11-22 ext. 5" and the like
OLDEST = date(1900, 1, 1)


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    if value not in choices:
        raise DeskError(name, "one of: {choices}", choices=", ".join(choices))
    return str(value)


def _birth_date(body: dict[str, Any], today: date) -> date | None:
    value = body.get("birth_date")
    if value in (None, ""):
        return None
    try:
        born = date.fromisoformat(str(value)[:10]) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        born = None
    if born is None:
        raise DeskError("birth_date", "expected a date like 1980-04-30")
    if not OLDEST <= born <= today:
        raise DeskError("birth_date", "must be between {first} and today", first=OLDEST.isoformat())
    return born


def _phones(body: dict[str, Any], region: str) -> list[tuple[str, str]]:
    rows = body.get("phones")
    if rows in (None, []):
        return []
    if not isinstance(rows, list) or len(rows) > MOST_PHONES:
        raise DeskError("phones", "a list of at most {most} numbers", most=MOST_PHONES)
    phones = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DeskError(f"phones.{index}", "expected an object with number and label")
        raw = row.get("number")
        if raw in (None, ""):
            continue  # an empty row the form left
        e164 = normalize(raw, region) if isinstance(raw, str) and len(raw) <= MOST_DIGITS_TEXT \
            and problem(raw) is None else None
        if e164 is None:
            raise DeskError(f"phones.{index}.number", "not a phone number")
        label = _choice(row, "label", PHONE_LABELS) or PHONE_LABELS[0]
        phones.append((e164, label))
    return phones


def read(body: dict[str, Any], clinic: Clinic, now: datetime) -> NewPatient:
    """The form's fields; the language defaults to the clinic's for new patients (never the
    receptionist's), the sex to unknown."""
    names = {name: optional_text(getattr(Patient, name), body, name).strip()
             for name in ("last_name", "first_name", "patronymic", "notes")}
    if not (names["first_name"] or names["last_name"]):
        raise DeskError("first_name", "a first or last name is needed")
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    return NewPatient(
        **names, language=_choice(body, "language", LOCALES),
        sex=Sex(_choice(body, "sex", tuple(s.value for s in Sex)) or Sex.UNKNOWN),
        birth_date=_birth_date(body, today), phones=_phones(body, clinic.region))
