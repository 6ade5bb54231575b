"""The clinic's own measures of a good front desk (seeds 002, 003), with their targets, for the
clinic and per receptionist, over one period (a week or a month of the clinic's calendar).

Each figure keeps the rows it was counted from (ids and days, never names or numbers), so the
page can show them one click away; docs/complaints-and-measures.md defines every figure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.analytics.funnel import ANSWERED, call_conditions
from callcenter.analytics.periods import Filters
from callcenter.core.models import (
    Appointment,
    AuditLog,
    Call,
    Complaint,
    DialTask,
    Patient,
    PatientPhone,
    Rating,
    TaskPurpose,
)

# (measure, target, "min" = at least the target is good, "max" = at most)
TARGETS: dict[str, tuple[float, str]] = {
    "data_accuracy": (0.99, "min"),
    "booked_same_day": (0.95, "min"),
    "complaint_share": (0.01, "max"),
    "satisfaction": (4.5, "min"),
    "follow_ups_same_day": (1.0, "min"),  # "done daily": every one on its day
}
# The desk's call lists (everything but the visit confirmations a robot can make).
FOLLOW_UPS = frozenset(TaskPurpose) - {TaskPurpose.CONFIRMATION}


@dataclass
class Figure:
    measure: str
    part: float = 0  # the numerator (the sum of scores for satisfaction)
    whole: int = 0  # the denominator (the ratings for satisfaction)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        return round(self.part / self.whole, 4) if self.whole else None

    @property
    def target(self) -> float:
        return TARGETS[self.measure][0]

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if TARGETS[self.measure][1] == "min" else self.value <= self.target


def _keys(staff_id: int | None) -> tuple[int | None, ...]:
    """Where a row counts: the clinic, and its receptionist when there is one (a row nobody
    handled counts once, for the clinic)."""
    return (None,) if staff_id is None else (None, staff_id)


def _patient_calls(session: Session, flt: Filters) -> list[Call]:
    """Answered inbound calls of patients (not organisations, not test calls) in the period."""
    return list(session.scalars(select(Call).where(*call_conditions(flt), Call.status.in_(ANSWERED))
                                .order_by(Call.started_at)))


def data_accuracy(session: Session, flt: Filters) -> Figure:
    """Cards created in the period that have a phone number, a birth date and a known source
    (one of the patient's calls came through a channel or names how they heard of us)."""
    figure = Figure("data_accuracy")
    patients = session.scalars(select(Patient).where(
        Patient.clinic_id == flt.clinic_id, Patient.erased_at.is_(None),
        Patient.created_at >= flt.start_utc, Patient.created_at < flt.end_utc).order_by(Patient.id)).all()
    ids = [p.id for p in patients]
    phoned = set(session.scalars(select(PatientPhone.patient_id).where(PatientPhone.patient_id.in_(ids))))
    sourced = set(session.scalars(select(Call.patient_id).where(
        Call.patient_id.in_(ids), or_(Call.channel_id.is_not(None), Call.heard_from_channel_id.is_not(None)))))
    for p in patients:
        ok = p.id in phoned and p.birth_date is not None and p.id in sourced
        figure.whole += 1
        figure.part += ok
        figure.rows.append({"card": p.id, "day": p.created_at.astimezone(flt.tz).date().isoformat(),
                            "phone": p.id in phoned, "birth_date": p.birth_date is not None,
                            "source": p.id in sourced, "counted": ok})
    return figure


def booked_same_day(session: Session, flt: Filters, calls: list[Call]) -> dict[int | None, Figure]:
    """First-time callers' answered calls, and whether a visit was booked for them on the same
    local day as the call (on that call or a later one that day). Keyed by receptionist; None is
    the clinic."""
    firsts = [c for c in calls if c.first_time]
    patient_ids = {c.patient_id for c in firsts if c.patient_id}
    booked_days = defaultdict(set)
    for patient_id, created in session.execute(select(Appointment.patient_id, Appointment.created_at)
                                               .where(Appointment.patient_id.in_(patient_ids))):
        booked_days[patient_id].add(created.astimezone(flt.tz).date())
    figures: dict[int | None, Figure] = defaultdict(lambda: Figure("booked_same_day"))
    for c in firsts:
        day = c.started_at.astimezone(flt.tz).date()
        ok = bool(c.patient_id) and day in booked_days.get(c.patient_id, set())
        for key in _keys(c.agent_id):
            figures[key].whole += 1
            figures[key].part += ok
            figures[key].rows.append({"call": c.id, "day": day.isoformat(), "counted": ok})
    return figures


def complaint_share(session: Session, flt: Filters, calls: list[Call]) -> dict[int | None, Figure]:
    """Complaints recorded in the period per answered patient call (the flow)."""
    figures: dict[int | None, Figure] = defaultdict(lambda: Figure("complaint_share"))
    for c in calls:
        for key in _keys(c.agent_id):
            figures[key].whole += 1
    for complaint in session.scalars(select(Complaint).where(
            Complaint.clinic_id == flt.clinic_id, Complaint.created_at >= flt.start_utc,
            Complaint.created_at < flt.end_utc).order_by(Complaint.id)):
        row = {"complaint": complaint.id, "day": complaint.created_at.astimezone(flt.tz).date().isoformat(),
               "counted": True}
        for key in _keys(complaint.created_by_id):
            figures[key].part += 1
            figures[key].rows.append(row)
    return figures


def satisfaction(session: Session, flt: Filters) -> dict[int | None, Figure]:
    """The mean 1-5 rating given in the period; per receptionist, of the calls and visits
    they handled (their count is the receptionist's "reviews")."""
    figures: dict[int | None, Figure] = defaultdict(lambda: Figure("satisfaction"))
    for rating in session.scalars(select(Rating).where(
            Rating.clinic_id == flt.clinic_id, Rating.created_at >= flt.start_utc,
            Rating.created_at < flt.end_utc).order_by(Rating.id)):
        row = {"rating": rating.id, "day": rating.created_at.astimezone(flt.tz).date().isoformat(),
               "score": rating.score, "channel": rating.channel, "counted": True}
        for key in _keys(rating.agent_id):
            figures[key].part += rating.score
            figures[key].whole += 1
            figures[key].rows.append(row)
    return figures


def follow_ups_same_day(session: Session, flt: Filters) -> dict[int | None, Figure]:
    """The follow-up calls a receptionist made in the period (the first outcome they recorded on
    a task of the desk's lists), and whether it was made by the task's due day."""
    figures: dict[int | None, Figure] = defaultdict(lambda: Figure("follow_ups_same_day"))
    made: dict[tuple[int, int], Any] = {}
    for staff_id, object_id, at in session.execute(select(AuditLog.staff_id, AuditLog.object_id, AuditLog.at).where(
            AuditLog.clinic_id == flt.clinic_id, AuditLog.action == "task_outcome",
            AuditLog.object_type == "dial_task", AuditLog.staff_id.is_not(None),
            AuditLog.at >= flt.start_utc, AuditLog.at < flt.end_utc).order_by(AuditLog.at)):
        if object_id.isdigit():
            made.setdefault((staff_id, int(object_id)), at)
    tasks = {task.id: task for task in session.scalars(select(DialTask).where(
        DialTask.id.in_({task_id for _, task_id in made}), DialTask.purpose.in_(FOLLOW_UPS)))}
    for (staff_id, task_id), at in made.items():
        task = tasks.get(task_id)
        if task is None:
            continue
        day = at.astimezone(flt.tz).date()
        ok = day <= task.due_date
        row = {"task": task.id, "purpose": str(task.purpose), "due": task.due_date.isoformat(),
               "day": day.isoformat(), "counted": ok}
        for key in _keys(staff_id):
            figures[key].whole += 1
            figures[key].part += ok
            figures[key].rows.append(row)
    return figures


def measures(session: Session, flt: Filters) -> dict[int | None, dict[str, Figure]]:
    """Every figure of the period: {None: the clinic's, receptionist id: theirs}."""
    calls = _patient_calls(session, flt)
    found: dict[int | None, dict[str, Figure]] = defaultdict(dict)
    found[None]["data_accuracy"] = data_accuracy(session, flt)
    for part in (booked_same_day(session, flt, calls), complaint_share(session, flt, calls),
                 satisfaction(session, flt), follow_ups_same_day(session, flt)):
        for key, figure in part.items():
            found[key][figure.measure] = figure
    for key in found:
        for measure in TARGETS:
            if measure != "data_accuracy" or key is None:
                found[key].setdefault(measure, Figure(measure))
    return dict(found)
