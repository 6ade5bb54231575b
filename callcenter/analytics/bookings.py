"""Which call a booking is credited to.

A booking is an appointment that is not the moved copy of an earlier one. It is credited to the
call it was created from; failing that, to the latest inbound call from one of the patient's
numbers (a family number counts for each member) within the window before the booking was
created. Each booking is credited to one call at most, so it counts once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, case, false, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from callcenter.analytics.periods import Filters
from callcenter.analytics.sqltime import shifted
from callcenter.core.models import Appointment, AppointmentStatus, Call, CallDirection, PatientPhone

ATTENDED = (AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED)


def credited_call_id(window_seconds: int) -> ColumnElement[Any]:
    """Per appointment row: the id of the call the booking is credited to (NULL: none)."""
    earlier = aliased(Call)
    phone = aliased(PatientPhone)
    latest_call = (
        select(earlier.id)
        .join(phone, phone.e164 == earlier.caller)
        .where(
            phone.patient_id == Appointment.patient_id,
            earlier.clinic_id == Appointment.clinic_id,
            earlier.direction == CallDirection.INBOUND,
            earlier.started_at <= Appointment.created_at,
            earlier.started_at >= shifted(Appointment.created_at, -window_seconds),
        )
        .order_by(earlier.started_at.desc(), earlier.id.desc())
        .limit(1)
        .correlate(Appointment)
        .scalar_subquery()
    )
    return func.coalesce(Appointment.created_by_call_id, latest_call)


def credited_bookings(flt: Filters, *, by_visit: bool = False) -> Select[Any]:
    """(appointment_id, call_id, attended, revenue, starts_at) for the bookings the period can own.

    Funnel reports pick bookings created from the period start to the period end plus the window
    (others cannot be credited to a call in the period) and every booking made on a call;
    by_visit picks visits in the period instead.
    """
    column = Appointment.starts_at if by_visit else Appointment.created_at
    until = flt.end_utc if by_visit else flt.end_utc + timedelta(seconds=flt.window_seconds)
    attended = Appointment.status.in_(ATTENDED)
    return (
        select(
            Appointment.id.label("appointment_id"),
            credited_call_id(flt.window_seconds).label("call_id"),
            case((attended, 1), else_=0).label("attended"),
            case((attended, Appointment.price), else_=None).label("revenue"),
            Appointment.starts_at.label("starts_at"),
        )
        .where(
            Appointment.clinic_id == flt.clinic_id,
            Appointment.rescheduled_from_id.is_(None),
            # A booking made on a call is that call's whenever it was written down.
            or_(and_(column >= flt.start_utc, column < until),
                Appointment.created_by_call_id.is_not(None) if not by_visit else false()),
        )
    )
