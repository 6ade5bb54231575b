"""Which visits today's confirmation runs are about, whether a call or a text confirms them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Appointment, AppointmentStatus
from callcenter.outbound.workdays import (
    ClinicCalendar,
    confirmation_runs,
    confirmed_at_booking,
    in_part,
)


@dataclass(frozen=True)
class VisitToConfirm:
    visit_id: int
    patient_id: int
    visit_day: date
    not_before: datetime  # the start of the run's window, on the day the run is made
    deadline: datetime


def visits_to_confirm(session: Session, clinic_id: int, calendar: ClinicCalendar, now: datetime,
                      evening: tuple[time, time], morning: tuple[time, time]) -> list[VisitToConfirm]:
    """Booked visits of today's runs (evening for tomorrow, morning after days off), leaving out
    those booked so recently that they count as confirmed at booking."""
    found: list[VisitToConfirm] = []
    for run in confirmation_runs(calendar.local_day(now), calendar, evening, morning):
        day_start = calendar.at(run.visit_day, time(0))
        day_end = calendar.at(run.visit_day + timedelta(days=1), time(0))
        visits = session.execute(
            select(Appointment.id, Appointment.patient_id, Appointment.starts_at,
                   Appointment.created_at)
            .where(Appointment.clinic_id == clinic_id, Appointment.status == AppointmentStatus.BOOKED,
                   Appointment.starts_at >= day_start, Appointment.starts_at < day_end)
            .order_by(Appointment.starts_at)
        ).all()
        split = calendar.split(run.visit_day)
        not_before = calendar.at(run.call_day, run.window[0])
        deadline = min(calendar.at(run.call_day, run.window[1]), day_end)
        found += [VisitToConfirm(v.id, v.patient_id, run.visit_day, not_before, deadline)
                  for v in visits
                  if in_part(v.starts_at.astimezone(calendar.tz).time(), run.part, split)
                  and not confirmed_at_booking(v.created_at, v.starts_at, calendar)]
    return found
