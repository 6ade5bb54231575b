"""A file row (its cells under our field names) → the record `upsert.Writer` writes. Only the
fields the file has go into the record, so a file without a "notes" column leaves notes alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_precision

from callcenter.core.i18n import N_, t
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic
from callcenter.core.price_list import currency_of, parse_amount
from callcenter.core.specialties import SPECIALTIES
from callcenter.exchange import values
from callcenter.exchange.columns import normalized
from callcenter.exchange.tables import Cell

PHONE_LABELS = {"phones": "mobile", "phone_mobile": "mobile", "phone_home": "home",
                "phone_work": "work", "phone_family": "family"}
LOCALES = ("ru", "en", "zh")


@dataclass(frozen=True)
class Context:
    region: str
    zone: str
    locale: str
    currency: str
    specialty_names: dict[str, str]
    dates: values.Dates  # remembers each column's format: one Context per import

    @classmethod
    def of(cls, clinic: Clinic) -> Context:
        names = {normalized(t(name, locale)): code for code, name in SPECIALTIES.items()
                 for locale in LOCALES}
        region = clinic.region or "RU"
        return cls(region, clinic.timezone, clinic.locale or "ru", currency_of(clinic), names,
                   values.Dates(region, clinic.timezone))


Cells = dict[str, list[Cell]]  # field → its cells (several columns may feed `phones`)


def _one(cells: Cells, name: str) -> Cell:
    found = cells.get(name)
    return found[0] if found else None


def _names(cells: Cells, record: dict[str, Any], ctx: Context) -> None:
    for name in ("last_name", "first_name", "patronymic"):
        if name in cells:
            record[name] = values.text(_one(cells, name), name, 100)
    if "full_name" in cells:
        parts = values.text(_one(cells, "full_name"), "full_name", 300).split()
        if len(parts) == 1 and ctx.locale == "zh" and len(parts[0]) > 1:
            parts = [parts[0][0], parts[0][1:]]  # 张伟: the family name is the first character
        if ctx.locale == "en" and len(parts) > 1:
            parts = [parts[-1], *parts[:-1]]  # "John Smith": given name first
        for name, part in zip(("last_name", "first_name", "patronymic"), parts, strict=False):
            record.setdefault(name, part[:100])


def _person(cells: Cells, ctx: Context, nameless: str) -> dict[str, Any]:
    """A patient's or doctor's id and names; `nameless` is the refusal when there are none."""
    record: dict[str, Any] = {"external_id": values.external_id(_one(cells, "external_id"))}
    _names(cells, record, ctx)
    if not (record.get("last_name") or record.get("first_name")):
        raise InputError("last_name", nameless)
    return record


def patient(cells: Cells, ctx: Context) -> dict[str, Any]:
    record = _person(cells, ctx, N_("the patient has no name"))
    if "birth_date" in cells:
        record["birth_date"] = ctx.dates.day(_one(cells, "birth_date"), "birth_date")
    if "sex" in cells:
        record["sex"] = values.sex(_one(cells, "sex"))
    if "language" in cells:
        record["preferred_language"] = values.language(_one(cells, "language"))
    numbers: list[tuple[str, str]] = []
    for name, label in PHONE_LABELS.items():
        for cell in cells.get(name, []):
            numbers += values.phones(cell, label, ctx.region, name)
    if any(name in cells for name in PHONE_LABELS):
        record["phones"] = numbers
    for name in ("consent_calls", "consent_marketing"):
        if name in cells:
            record[name] = values.boolean(_one(cells, name), name)
    if "notes" in cells:
        record["notes"] = values.text(_one(cells, "notes"), "notes")
    return record


def doctor(cells: Cells, ctx: Context) -> dict[str, Any]:
    record = _person(cells, ctx, N_("the doctor has no name"))
    if "specialties" in cells:
        record["specialties"] = values.specialties(_one(cells, "specialties"), ctx.specialty_names)
    if "active" in cells:
        record["active"] = values.boolean(_one(cells, "active"), "active")
    return record


def _amount(cell: Cell, ctx: Context, field: str) -> int | None:
    if cell is None:
        return None
    return parse_amount(str(cell), ctx.currency, ctx.locale, field)


def service(cells: Cells, ctx: Context) -> dict[str, Any]:
    record: dict[str, Any] = {"external_id": values.external_id(_one(cells, "external_id"))}
    names = {locale: values.text(_one(cells, f"name_{locale}"), f"name_{locale}", 200)
             for locale in LOCALES if f"name_{locale}" in cells}
    if "name" in cells:
        names.setdefault(ctx.locale, values.text(_one(cells, "name"), "name", 200))
    record["names"] = {locale: name for locale, name in names.items() if name}
    if "duration" in cells:
        record["duration_minutes"] = values.minutes(_one(cells, "duration"))
    if "price" in cells or "price_max" in cells:
        low = _amount(_one(cells, "price"), ctx, "price")
        high = _amount(_one(cells, "price_max"), ctx, "price_max")
        if low is not None and high is not None and high < low:
            raise InputError("price_max", "the highest price is below the lowest")
        record["price_min"], record["price_max"] = low, high if high is not None else low
    if "specialties" in cells:
        record["specialties"] = values.specialties(_one(cells, "specialties"), ctx.specialty_names)
    if "active" in cells:
        record["active"] = values.boolean(_one(cells, "active"), "active")
    return record


def _end(cell: Cell, starts: datetime, ctx: Context) -> datetime | None:
    """The end as a moment, or as a time of day on the visit's own day ("10:30")."""
    if cell in (None, ""):
        return None
    if isinstance(cell, time) or (isinstance(cell, str) and len(cell) <= 8):
        at = ctx.dates.clock(cell, "end")
        on = starts.astimezone(ctx.dates.zone).date()
        return ctx.dates.utc(datetime.combine(on, at))
    return ctx.dates.moment(cell, "end")


def appointment(cells: Cells, ctx: Context) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": values.external_id(_one(cells, "external_id")),
        "patient_id": values.external_id(_one(cells, "patient_id"), "patient_id"),
        "doctor_id": values.external_id(_one(cells, "doctor_id"), "doctor_id"),
    }
    starts = ctx.dates.moment(_one(cells, "start"), "start")
    if starts is None and _one(cells, "time") in (None, ""):
        starts = ctx.dates.moment(_one(cells, "date"), "date")  # "09.03.2026 10:00"
    if starts is None:
        on = ctx.dates.day(_one(cells, "date"), "date")
        at = ctx.dates.clock(_one(cells, "time"), "time")
        if on is None or at is None:
            raise InputError("start", "the visit has no date and time")
        starts = ctx.dates.utc(datetime.combine(on, at))
    ends = _end(_one(cells, "end"), starts, ctx)
    record["starts_at"] = starts
    record["ends_at"] = values.between(starts, ends, values.minutes(_one(cells, "duration")))
    if "service" in cells:
        record["service"] = values.text(_one(cells, "service"), "service", 200)
    if _one(cells, "booked_at") not in (None, ""):
        record["booked_at"] = ctx.dates.moment(_one(cells, "booked_at"), "booked_at")
    if "status" in cells:
        record["status"] = values.status(_one(cells, "status"))
    if "price" in cells and _one(cells, "price") is not None:
        minor = _amount(_one(cells, "price"), ctx, "price")
        record["price"] = None if minor is None else str(
            Decimal(minor).scaleb(-get_currency_precision(ctx.currency)))
    if "notes" in cells:
        record["notes"] = values.text(_one(cells, "notes"), "notes")
    return record


def treatment(cells: Cells, ctx: Context) -> dict[str, Any]:
    record: dict[str, Any] = {
        "external_id": values.external_id(_one(cells, "external_id")),
        "patient_id": values.external_id(_one(cells, "patient_id"), "patient_id"),
        "type": values.treatment_type(_one(cells, "type")),
    }
    performed = ctx.dates.day(_one(cells, "date"), "date")
    if performed is None:
        raise InputError("date", "the treatment has no date")
    record["performed_on"] = performed
    for name in ("doctor_id", "appointment_id"):
        cell = _one(cells, name)
        if cell not in (None, ""):
            record[name] = values.external_id(cell, name)
    if "notes" in cells:
        record["notes"] = values.text(_one(cells, "notes"), "notes")
    return record


BUILDERS: dict[str, Callable[[Cells, Context], dict[str, Any]]] = {
    "patients": patient, "doctors": doctor, "services": service,
    "appointments": appointment, "treatments": treatment,
}


REFERENCES = {"patient_id": "patients", "doctor_id": "doctors", "appointment_id": "appointments"}


def lookups(kind: str, rows: list[Cells]) -> dict[str, set[str]]:
    """{kind: external ids} the rows name (their own and the rows they point at), to look up
    at once; a cell that is no valid id is looked up for nothing and refused later."""
    wanted: dict[str, set[str]] = {}
    for name, target in (("external_id", kind), *REFERENCES.items()):
        ids = {str(cell).strip() for cells in rows if (cell := _one(cells, name)) not in (None, "")}
        if ids:
            wanted.setdefault(target, set()).update(ids)
    return wanted
