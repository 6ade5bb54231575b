"""Placeholder values as each locale says them: how to address a person, how to say a time.

Address rules (documented in docs/scripts.md, "Placeholders"):
- ru: "Имя Отчество" when the patronymic is known, else the first name.
- en: "Mr./Ms. Lastname" when sex and last name are known, else the first name.
- zh: surname + 先生 / 女士 when sex is known, else the full name (surname first).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time

from callcenter.core.i18n import N_, t
from callcenter.core.models import (
    Appointment,
    Clinic,
    Patient,
    Service,
    Sex,
    Staff,
    Treatment,
    TreatmentType,
)
from callcenter.core.price_list import currency_of, service_name, service_price

# Weekday + day + month, no year: what a receptionist says aloud ("вторник, 24 ноября").
DATE_PATTERNS = {"ru": "EEEE, d MMMM", "en": "EEEE, MMMM d", "zh": "M月d日EEEE"}

TREATMENT_LABELS: dict[str, dict[TreatmentType, str]] = {
    "ru": {
        TreatmentType.EXTRACTION: "удаление зуба",
        TreatmentType.FILLING: "пломбирование",
        TreatmentType.ROOT_CANAL: "лечение каналов",
        TreatmentType.PROSTHETICS: "протезирование",
        TreatmentType.CLEANING: "профессиональная чистка",
        TreatmentType.PERIODONTAL: "лечение дёсен",
        TreatmentType.IMPLANT: "установка импланта",
        TreatmentType.IMPLANT_CROWN: "коронка на имплант",
        TreatmentType.ORTHODONTIC_RETAINER: "установка ретейнера",
        TreatmentType.OTHER: "лечение",
    },
    "en": {
        TreatmentType.EXTRACTION: "the extraction",
        TreatmentType.FILLING: "the filling",
        TreatmentType.ROOT_CANAL: "the root canal treatment",
        TreatmentType.PROSTHETICS: "the crown or prosthesis",
        TreatmentType.CLEANING: "the cleaning",
        TreatmentType.PERIODONTAL: "the gum treatment",
        TreatmentType.IMPLANT: "the implant placement",
        TreatmentType.IMPLANT_CROWN: "the crown on your implant",
        TreatmentType.ORTHODONTIC_RETAINER: "the retainer fitting",
        TreatmentType.OTHER: "your treatment",
    },
    "zh": {
        TreatmentType.EXTRACTION: "拔牙",
        TreatmentType.FILLING: "补牙",
        TreatmentType.ROOT_CANAL: "根管治疗",
        TreatmentType.PROSTHETICS: "镶牙",
        TreatmentType.CLEANING: "洁牙",
        TreatmentType.PERIODONTAL: "牙周治疗",
        TreatmentType.IMPLANT: "种植体植入",
        TreatmentType.IMPLANT_CROWN: "种植牙戴冠",
        TreatmentType.ORTHODONTIC_RETAINER: "佩戴保持器",
        TreatmentType.OTHER: "治疗",
    },
}


# Said in place of a price the list does not have: never a guess, never another service's price.
NO_PRICE = N_("not on our price list: the doctor names the cost at the consultation")


def format_when(moment: datetime, tz: tzinfo | str, locale: str) -> str:
    """Weekday, date and time in the clinic's zone: "вторник, 24 ноября, 14:30"."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = moment.astimezone(zone)
    day = format_date(local, DATE_PATTERNS.get(locale, DATE_PATTERNS["en"]), locale=locale)
    clock = format_time(local, "short", locale=locale)
    joined = Locale.parse(locale).datetime_formats["medium"]  # "{1}, {0}" / "{1} {0}"
    return str(joined).replace("{1}", day).replace("{0}", clock)


def address_patient(patient: Patient, locale: str) -> str | None:
    """How the receptionist addresses the patient; None when no name is known (ask for it)."""
    first, last, middle = patient.first_name.strip(), patient.last_name.strip(), patient.patronymic.strip()
    if locale == "ru":
        return f"{first} {middle}" if first and middle else first or None
    if locale == "zh":
        if last and patient.sex in (Sex.MALE, Sex.FEMALE):
            return last + ("先生" if patient.sex is Sex.MALE else "女士")
        return (last + first) or None
    if last and patient.sex in (Sex.MALE, Sex.FEMALE):
        return ("Mr. " if patient.sex is Sex.MALE else "Ms. ") + last
    return first or last or None


def doctor_name(doctor: Staff, locale: str) -> str:
    """ru: full name as on the schedule; en: "Dr. Lastname"; zh: "王医生"."""
    if locale == "ru":
        return " ".join(p for p in (doctor.last_name, doctor.first_name, doctor.patronymic) if p)
    if locale == "zh":
        return f"{doctor.last_name}医生"
    return f"Dr. {doctor.last_name}"


def agent_name(agent: Staff, locale: str) -> str:
    """The receptionist introduces themselves by first name (full name in Chinese)."""
    if locale == "zh":
        return agent.last_name + agent.first_name
    return agent.first_name or agent.last_name


def treatment_label(kind: TreatmentType, locale: str) -> str:
    return TREATMENT_LABELS.get(locale, TREATMENT_LABELS["en"])[kind]


def service_values(service: Service, clinic: Clinic, locale: str) -> dict[str, str | None]:
    """The service the caller asked about and its list price, nothing of any other service."""
    price = service_price(service, currency_of(clinic), locale)
    return {"service": service_name(service, locale, clinic.locale) or None,
            "service_price": price or t(NO_PRICE, locale)}


def person_values(clinic: Clinic, locale: str, agent: Staff | None, patient: Patient | None,
                  appointment: Appointment | None, treatment: Treatment | None) -> dict[str, str | None]:
    """Who speaks, to whom, and the visit or treatment the call is about."""
    values: dict[str, str | None] = {
        "agent": agent_name(agent, locale) if agent else None,
        "patient": address_patient(patient, locale) if patient else None,
    }
    if appointment is not None:
        values["appointment_time"] = format_when(appointment.starts_at, clinic.timezone, locale)
        values["service"] = appointment.service or None
    if treatment is not None:
        values["treatment"] = treatment_label(treatment.type, locale)
    return values
