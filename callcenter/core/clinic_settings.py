"""What differs per clinic of a network, read in ONE place: each value is the clinic's own when
set, else the installation's setting (the environment, or the setting's default).

Every path that dials, shows a caller ID or creates a patient asks here, so a clinic that sets
its own value is obeyed everywhere at once; `callcenter check-config` prints, per clinic, which
value applies and where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import time
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from callcenter.core import migrate
from callcenter.core.config import DEFAULTS, set_in_environment
from callcenter.core.db import make_engine, make_session_factory, session_scope
from callcenter.core.models import Clinic

CALLER_ID = "TWILIO_CALLER_ID"
CALL_HOURS = "CALL_HOURS"
SMS_PROVIDER = "SMS_PROVIDER"
SMS_WINDOW = "SMS_WINDOW"
SMS_CONFIRMATION = "SMS_CONFIRMATION"
SMS_SENDER = "SMS_SENDER"


def clock(text: str) -> time:
    """'09:30' → 09:30; '24:00' is the end of the day (time.max)."""
    hours, _, minutes = text.strip().partition(":")
    if int(hours) == 24:
        return time.max
    return time(int(hours), int(minutes))


def clock_text(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


def parse_window(text: str) -> tuple[time, time]:
    """'16:00-20:00' → (16:00, 20:00)."""
    start, _, end = text.partition("-")
    return clock(start), clock(end)


def caller_id(clinic: Clinic, config: Mapping[str, Any]) -> str:
    """The number the clinic's outbound calls show; '' when neither the clinic nor the
    installation has one."""
    return clinic.caller_id or config[CALLER_ID]


def call_window(clinic: Clinic, config: Mapping[str, Any]) -> tuple[time, time]:
    """Outbound calls only between these times of the patient's day."""
    if clinic.call_window_start is not None and clinic.call_window_end is not None:
        return clinic.call_window_start, clinic.call_window_end
    return parse_window(config[CALL_HOURS])


def sms_window(clinic: Clinic, config: Mapping[str, Any]) -> tuple[time, time]:
    """Texts only between these times of the patient's day."""
    if clinic.sms_window_start is not None and clinic.sms_window_end is not None:
        return clinic.sms_window_start, clinic.sms_window_end
    return parse_window(config[SMS_WINDOW])


def sms_confirmation(clinic: Clinic, config: Mapping[str, Any]) -> str:
    """How visits are confirmed by text; "off" whenever the installation sends no texts."""
    if not config[SMS_PROVIDER]:
        return "off"
    return clinic.sms_confirmation or config[SMS_CONFIRMATION]


def sms_sender(clinic: Clinic, config: Mapping[str, Any]) -> str:
    return clinic.sms_sender or config[SMS_SENDER]


def patient_language(clinic: Clinic) -> str:
    """The language a new patient card starts with."""
    return clinic.patient_language or clinic.locale


def origins(clinic: Clinic, config: Mapping[str, Any],
            environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(what, value, where it comes from) for each per-clinic value of this clinic."""

    def installation(key: str) -> str:
        env = DEFAULTS[key].env
        return f"{'environment' if set_in_environment(env, environ) else 'default'} {env}"

    own = f"clinic {clinic.id}'s own setting"
    start, end = call_window(clinic, config)
    text_start, text_end = sms_window(clinic, config)
    return [
        ("caller ID", caller_id(clinic, config) or "none",
         own if clinic.caller_id else installation(CALLER_ID)),
        ("calling window", f"{clock_text(start)}-{clock_text(end)}",
         own if clinic.call_window_start is not None else installation(CALL_HOURS)),
        ("text window", f"{clock_text(text_start)}-{clock_text(text_end)}",
         own if clinic.sms_window_start is not None else installation(SMS_WINDOW)),
        ("confirmation by text", sms_confirmation(clinic, config),
         own if clinic.sms_confirmation and config[SMS_PROVIDER] else installation(SMS_CONFIRMATION)),
        ("text sender", sms_sender(clinic, config) or "none",
         own if clinic.sms_sender else installation(SMS_SENDER)),
        ("new patients' language", patient_language(clinic),
         own if clinic.patient_language else "the clinic's language"),
    ]


def report(config: Mapping[str, Any], environ: Mapping[str, str] | None = None,
           more: Callable[[Session, Clinic], Iterable[str]] | None = None) -> list[str]:
    """check-config's lines about per-clinic values, read from the database when it has clinics;
    `more` adds a feature's own lines per clinic (its PBX accounts)."""
    url = config["DATABASE_URL"]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return ["clinics: no database yet; the first clinic takes the values above"]
    try:
        revision = migrate.current_revision(url)
        if revision != migrate.head_revision():
            return [f"clinics: the database is at {revision or 'no'} revision; "
                    "run `callcenter db upgrade` to see per-clinic values"]
        engine = make_engine(url)
        try:
            with session_scope(make_session_factory(engine)) as session:
                clinics = session.scalars(select(Clinic).order_by(Clinic.id)).all()
                lines = [line for c in clinics for line in (
                    *(f"clinic {c.id} {c.name}: {what} {value} ({origin})"
                      for what, value, origin in origins(c, config, environ)),
                    *(f"clinic {c.id} {c.name}: {text}" for text in (more(session, c) if more else ())))]
        finally:
            engine.dispose()
    except OperationalError as exc:
        return [f"clinics: cannot read the database ({type(exc.orig).__name__})"]
    return lines or ["clinics: none yet; the first one takes the values above"]
