"""What the clinic's visit reminders will cost a month, for the clinic settings page: last 30
days' visits as the month's, the confirmation template in the language of new patients filled
with typical values, at the provider's price per segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
from callcenter.core.models import Appointment, Clinic, MessagePurpose
from callcenter.messaging import segments, templates
from callcenter.messaging.compose import Composer

MONTH = timedelta(days=30)
# A name, a date and time, a doctor: about this long in any of the languages.
TYPICAL = "x" * 12


@dataclass(frozen=True)
class Estimate:
    visits: int
    segments: int
    price: Decimal
    cost: Decimal


def reminders(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any]) -> Estimate | None:
    """None when the clinic sends no reminders by text."""
    if clinic_settings.sms_confirmation(clinic, config) == "off":
        return None
    language = clinic_settings.patient_language(clinic)
    template = templates.pick(Composer.for_clinic(session, clinic, config).library,
                              MessagePurpose.CONFIRMATION, language, language)
    if template is None:
        return None
    text = templates.render(template, dict.fromkeys(templates.KNOWN, TYPICAL))
    visits = session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.clinic_id == clinic.id, Appointment.starts_at >= now - MONTH,
        Appointment.starts_at < now)) or 0
    price = Decimal(str(config["SMS_PRICE"]))
    return Estimate(visits, segments.count(text).count, price, segments.monthly_cost(text, visits, price))
