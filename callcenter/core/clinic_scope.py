"""Clinic scope: which clinics' rows a session may read and write, enforced in ONE place.

Every ORM statement of a scoped session (select, `session.get`, lazy load, ORM update and
delete) gets `clinic IN (the scope)` criteria on every clinic-owned table, so a query written
without thinking of clinics still sees only the signed-in staff member's own; another clinic's
row is simply not there, and its id answers exactly like an id that does not exist.

A web request's session starts scoped to no clinic at all (`NOBODY`): signing in widens it to
the staff member's clinics (`restrict` with `scope_of`); a route that a PBX or 3CX calls,
authenticated by a signature or key, says which clinic, or the whole installation, explicitly.
A session that carries no scope (worker, CLI, the webhook pipeline) is installation-wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import event, exists, func, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from callcenter.core.models import (
    AnalyticsDirty,
    Appointment,
    AuditLog,
    BookingCredit,
    Call,
    CallCandidate,
    CallDraft,
    CallEventRecord,
    Campaign,
    Clinic,
    Complaint,
    ComplaintRule,
    DialAttempt,
    DialTask,
    DoctorAbsence,
    DoctorNotice,
    DoctorSchedule,
    EventAttempt,
    EventReceiver,
    ExternalRef,
    FhirConnection,
    FhirWriteback,
    IdempotentRequest,
    ImportJob,
    ImportProfile,
    IntegrationToken,
    Message,
    NonPatientRoute,
    OptOut,
    Organisation,
    OrganisationMessage,
    OutboxEvent,
    Patient,
    PatientPhone,
    PbxAccount,
    Rating,
    RawWebhook,
    RollupCall,
    RollupCallback,
    RollupHour,
    RollupStale,
    Service,
    SlotClaim,
    Staff,
    StaffClinic,
    StaffRole,
    TrackingNumber,
    Treatment,
    WebAdAccount,
    WebCallLink,
    WebConversion,
    WebLease,
    WebPool,
    WebPoolNumber,
    WebVisit,
)

KEY = "clinic_scope"
# An execution option for the few reads that must see past the scope: who is signing in (before
# anyone's clinics are known), and whether a login is taken anywhere (logins are global).
PAST_SCOPE = {"clinic_scope_past": True}


@dataclass(frozen=True)
class Scope:
    clinic_ids: frozenset[int]
    # Raw webhooks that never reached a clinic (rejected, malformed, failed to apply) may hold
    # any clinic's patients: only someone who administers every clinic sees them. The same holds
    # for audit rows and do-not-call entries no clinic can claim (written before they had one).
    unassigned_webhooks: bool = False


NOBODY = Scope(frozenset())


def clinic_ids_of(session: Session, staff: Staff) -> frozenset[int]:
    """The staff member's own clinic and any further ones they work in."""
    more = session.scalars(select(StaffClinic.clinic_id).where(StaffClinic.staff_id == staff.id))
    return frozenset({staff.clinic_id, *more})


def scope_of(session: Session, staff: Staff) -> Scope:
    ids = clinic_ids_of(session, staff)
    clinics = Clinic.__table__  # the table, not the entity: counted past any scope already set
    others = session.scalar(select(func.count()).select_from(clinics)
                            .where(clinics.c.id.not_in(ids)))
    return Scope(ids, unassigned_webhooks=staff.role == StaffRole.ADMIN and others == 0)


def installation(session: Session) -> Scope:
    """Every clinic, unassigned webhooks included: for callers authenticated by a PBX signature."""
    return Scope(frozenset(session.scalars(select(Clinic.__table__.c.id))), unassigned_webhooks=True)


def restrict(session: Session, scope: Scope) -> Session:
    """From now on the session sees only the scope's clinics (set it before loading any row)."""
    session.info[KEY] = scope
    return session


def current(session: Session) -> Scope | None:
    return session.info.get(KEY)


def install(factory: sessionmaker[Session]) -> None:
    """Make every session of the factory honour its scope (a no-op for unscoped sessions)."""
    event.listen(factory, "do_orm_execute", _add_criteria)


def _add_criteria(state: ORMExecuteState) -> None:
    scope = current(state.session)
    if scope is None or state.is_column_load or not (state.is_select or state.is_update
                                                      or state.is_delete):
        return
    if state.execution_options.get("clinic_scope_past"):
        return
    state.statement = state.statement.options(*_criteria(tuple(sorted(scope.clinic_ids)),
                                                         scope.unassigned_webhooks))


_PATIENTS = Patient.__table__.alias("scope_patients")
_CALLS = Call.__table__.alias("scope_calls")
_TASKS = DialTask.__table__.alias("scope_dial_tasks")


@lru_cache(maxsize=1024)
def _criteria(ids: tuple[int, ...], unassigned: bool) -> tuple[object, ...]:
    # Built once per scope: some 55 options a statement, each a lambda SQLAlchemy analyses, cost
    # milliseconds to make and dominated a desk request's CPU when made anew for every statement.
    # The options are immutable, so every statement of every session in that scope shares them.
    # Lambdas, so the criteria follow a table into its aliases (subqueries of the analytics).
    def own(model: type) -> object:
        return with_loader_criteria(model, lambda cls: cls.clinic_id.in_(ids), include_aliases=True)

    raw = ((lambda cls: or_(cls.clinic_id.in_(ids), cls.clinic_id.is_(None))) if unassigned
           else (lambda cls: cls.clinic_id.in_(ids)))
    return (
        *(own(m) for m in (Patient, Call, Appointment, Treatment, DialTask, Campaign, TrackingNumber,
                           Service, PbxAccount, Message, CallDraft, SlotClaim, DoctorNotice,
                           ExternalRef, ImportProfile, ImportJob, IntegrationToken, IdempotentRequest,
                           EventReceiver, OutboxEvent, EventAttempt, FhirConnection, FhirWriteback,
                           WebPool, WebVisit, WebLease, WebCallLink, WebAdAccount, WebConversion,
                           Complaint, ComplaintRule, Organisation, NonPatientRoute, OrganisationMessage,
                           Rating, AnalyticsDirty, RollupCall, RollupHour, RollupCallback,
                           RollupStale, BookingCredit)),
        with_loader_criteria(Clinic, lambda cls: cls.id.in_(ids), include_aliases=True),
        *(with_loader_criteria(m, raw, include_aliases=True) for m in (RawWebhook, AuditLog, OptOut)),
        # A child row is in scope when its parent is: a correlated EXISTS on the parent's primary
        # key. An uncorrelated `parent_id IN (SELECT id FROM parent WHERE clinic_id IN …)` made
        # SQLite list every patient (or call) of the clinic for each statement: 20 ms of a card's
        # 35 at 100,000 patients. The parents are plain table aliases, so the subquery neither
        # correlates to the statement's own patients/calls nor gets criteria of its own.
        with_loader_criteria(PatientPhone, lambda cls: exists().where(
            _PATIENTS.c.id == cls.patient_id, _PATIENTS.c.clinic_id.in_(ids))
            .correlate_except(_PATIENTS), include_aliases=True),
        with_loader_criteria(CallCandidate, lambda cls: exists().where(
            _CALLS.c.id == cls.call_id, _CALLS.c.clinic_id.in_(ids))
            .correlate_except(_CALLS), include_aliases=True),
        with_loader_criteria(CallEventRecord, lambda cls: exists().where(
            _CALLS.c.id == cls.call_id, _CALLS.c.clinic_id.in_(ids))
            .correlate_except(_CALLS), include_aliases=True),
        # A staff member belongs to their own clinic and to every clinic they also work in; a
        # doctor's schedule and absences go with the doctor. (Each lambda names `ids` itself: the
        # lambda's cache key tracks only the closure variables it reads directly.)
        with_loader_criteria(Staff, lambda cls: or_(cls.clinic_id.in_(ids), cls.id.in_(
            select(StaffClinic.staff_id).where(StaffClinic.clinic_id.in_(ids)))), include_aliases=True),
        *(with_loader_criteria(model, lambda cls: cls.doctor_id.in_(select(Staff.id).where(or_(
            Staff.clinic_id.in_(ids), Staff.id.in_(select(StaffClinic.staff_id).where(
                StaffClinic.clinic_id.in_(ids)))))), include_aliases=True)
          for model in (DoctorSchedule, DoctorAbsence)),
        with_loader_criteria(WebPoolNumber, lambda cls: cls.pool_id.in_(
            select(WebPool.id).where(WebPool.clinic_id.in_(ids))), include_aliases=True),
        with_loader_criteria(DialAttempt, lambda cls: exists().where(
            _TASKS.c.id == cls.task_id, _TASKS.c.clinic_id.in_(ids))
            .correlate_except(_TASKS), include_aliases=True),
    )
