"""What a new clinic still lacks before its front desk can work, each read from the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, column, exists, func, inspect, or_, select, table
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.models import (
    Clinic,
    RawState,
    RawWebhook,
    Staff,
    StaffClinic,
    StaffRole,
    TrackingNumber,
)


@dataclass(frozen=True)
class Item:
    key: str
    title: str  # English msgids: the page translates
    hint: str
    url: str
    done: bool


def checklist(session: Session, clinic: Clinic) -> list[Item]:
    """The clinic's items in the order a new clinic does them."""
    return [
        Item("hours", N_("Clinic hours"), N_("Opening hours per weekday, days off, holidays"),
             "/admin/clinic", any(clinic.opening_hours.values())),
        Item("staff", N_("Staff"), N_("At least one receptionist who can sign in"),
             "/admin/staff", _any_staff(session, clinic.id, StaffRole.RECEPTIONIST)),
        Item("doctors", N_("Doctors"), N_("At least one doctor with a weekly schedule"),
             "/admin/doctors", _any_staff(session, clinic.id, StaffRole.DOCTOR,
                                          Staff.schedules.any())),
        Item("services", N_("Services"), N_("The price list the price question is answered from"),
             "/admin/services", services_done(service_count(session, clinic.id))),
        Item("numbers", N_("Numbers and channels"),
             N_("A phone number of the clinic, with the advertising channel it stands for"),
             "/admin/numbers", _has_numbers(session, clinic.id)),
        Item("pbx", N_("PBX connection"), N_("The first call event received from your PBX"),
             "/admin/pbx", _heard_from_pbx(session, clinic.id)),
    ]


def services_done(count: int | None) -> bool:
    """None: this database has no price list yet (its table comes with the services pages)."""
    return bool(count)


def service_count(session: Session, clinic_id: int) -> int | None:
    """The clinic's services, or None where the `services` table does not exist (yet)."""
    inspector = inspect(session.connection())
    if not inspector.has_table("services"):
        return None
    services = table("services", column("clinic_id"))
    return session.scalar(select(func.count()).select_from(services)
                          .where(services.c.clinic_id == clinic_id))


def _any_staff(session: Session, clinic_id: int, role: StaffRole,
               *more: ColumnElement[bool]) -> bool:
    works_here = or_(Staff.clinic_id == clinic_id, Staff.id.in_(
        select(StaffClinic.staff_id).where(StaffClinic.clinic_id == clinic_id)))
    found = select(Staff.id).where(works_here, Staff.role == role, Staff.active.is_(True), *more)
    if role != StaffRole.DOCTOR:  # doctors have no pages, so no login
        found = found.where(Staff.login.is_not(None))
    return bool(session.scalar(select(exists(found))))


def _has_numbers(session: Session, clinic_id: int) -> bool:
    return bool(session.scalar(select(exists().where(
        TrackingNumber.clinic_id == clinic_id, TrackingNumber.channel_id.is_not(None)))))


def _heard_from_pbx(session: Session, clinic_id: int) -> bool:
    return bool(session.scalar(select(exists().where(
        RawWebhook.clinic_id == clinic_id, RawWebhook.state == RawState.PROCESSED))))

