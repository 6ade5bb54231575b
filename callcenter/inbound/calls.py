"""record_call_event(): the only writer of Call rows.

Idempotent and order-independent: every event is stored once under its dedupe key, and the call's
state is what `call_fold.fold` makes of all of its events, so retries change nothing and events
that arrive out of order (ended before answered, recording before end) converge to the same call.
An event that arrives in order is applied to the call's row alone (`call_fold.step`, proved equal
to the fold); only an out-of-order one reads all the call's events again.

The hot path of every webhook: Core statements run on the driver's cursor of the session's
connection (core/driver_sql.py; no ORM unit of work), about five per event (docs/performance.md
has the profiles that chose them).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from callcenter.access.clinics import clinic_id_for_number
from callcenter.core.driver_sql import Statement
from callcenter.core.models import (
    Call,
    CallCandidate,
    CallDirection,
    CallerKind,
    CallEventRecord,
    CallStatus,
    DialTask,
    Staff,
    TaskPurpose,
    TaskState,
    utcnow,
)
from callcenter.inbound import call_fold
from callcenter.inbound.attribution import NumberRow, channel_for_dialed, number_row
from callcenter.inbound.matching import match_caller
from webhooks import CallEvent, CallEventKind

REACHED = "reached"  # a missed-call task's result when the caller got through another way
CALLS = Call.__table__
EVENTS = CallEventRecord.__table__
STATE_NAMES = tuple(field.name for field in fields(call_fold.CallState))
STATE = tuple(CALLS.c[name] for name in STATE_NAMES)
ROW = (CALLS.c.id, CALLS.c.clinic_id, CALLS.c.direction, CALLS.c.tracking_number_id, *STATE)
_CallRow = namedtuple("_CallRow", [column.name for column in ROW])

# Statements built once, values bound at execution: building one per call cost more CPU than
# running it (the profile in docs/performance.md; ~120 µs of SQLAlchemy's cache-key work each).
STAFF = Staff.__table__
# The staff member at the extension, looked up inside the statement that writes the call.
AGENT = (select(STAFF.c.id).where(STAFF.c.clinic_id == bindparam("_clinic"),
                                  STAFF.c.sip_extension == bindparam("_extension"))
         .limit(1).scalar_subquery())
LOCKED_ROW = Statement(select(*ROW).where(CALLS.c.provider == bindparam("_provider"),
                                          CALLS.c.provider_call_id == bindparam("_call"))
                       .with_for_update())
FACTS = (select(EVENTS.c.kind, EVENTS.c.occurred_at, EVENTS.c.id, EVENTS.c.data)
         .where(EVENTS.c.call_id == bindparam("_id")))
_UPDATE_CALL = update(CALLS).where(CALLS.c.id == bindparam("_id"))
UPDATE_CALL = Statement(_UPDATE_CALL)
UPDATE_CALL_AGENT = Statement(_UPDATE_CALL.values(agent_id=AGENT))
TASKS = DialTask.__table__
CLOSE_MISSED_CALLS = Statement(update(CALLS).where(
    CALLS.c.clinic_id == bindparam("_clinic"), CALLS.c.direction == CallDirection.INBOUND,
    CALLS.c.status == CallStatus.MISSED, CALLS.c.caller == bindparam("_remote"),
    CALLS.c.callback_done_at.is_(None), CALLS.c.started_at < bindparam("_started"),
).values(callback_done_at=bindparam("_done"), callback_call_id=bindparam("_id")))
# OR rather than IN: a list is an expanding parameter, which the driver path does not take.
CLOSE_MISSED_TASKS = Statement(update(TASKS).where(
    TASKS.c.clinic_id == bindparam("_clinic"), TASKS.c.purpose == TaskPurpose.MISSED_CALL,
    TASKS.c.phone == bindparam("_remote"),
    or_(TASKS.c.state == TaskState.PENDING, TASKS.c.state == TaskState.FAILED),
).values(state=TaskState.DONE, result=REACHED, next_attempt_at=None))


@dataclass(frozen=True)
class _Inserts:
    """INSERT … ON CONFLICT DO NOTHING, in the database's own dialect."""

    call: Statement
    event: Statement
    candidate: Any


@functools.cache
def _inserts(dialect: str) -> _Inserts:
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return _Inserts(
        call=Statement(builder(CALLS).values(agent_id=AGENT).on_conflict_do_nothing()
                       .returning(CALLS.c.id)),
        event=Statement(builder(EVENTS).on_conflict_do_nothing().returning(EVENTS.c.id)),
        candidate=builder(CallCandidate.__table__).on_conflict_do_nothing())


@dataclass(frozen=True)
class CallChange:
    """What one event did to a call; `changed` is False for a redelivered event."""

    call_id: int
    clinic_id: int
    created: bool
    changed: bool
    status: CallStatus
    kind: CallEventKind
    answered: bool
    answered_by: str | None  # the extension that took it

    @staticmethod
    def of(call_id: int, clinic_id: int, created: bool, changed: bool, state: call_fold.CallState,
           kind: CallEventKind) -> CallChange:
        answered = state.answered_at is not None
        return CallChange(call_id, clinic_id, created, changed, state.status, kind, answered,
                          state.extension or None if answered else None)


def record_call_event(
    session: Session, event: CallEvent, *, config: dict[str, Any], raw_webhook_id: int | None = None,
    clinic_id: int | None = None,
) -> CallChange:
    """Apply one normalized event; the caller commits. A new call belongs to `clinic_id` when
    given (our own dialers know it), else to the clinic of the number it came through."""
    session.flush()  # rows the caller added (a patient, a number) are seen by these statements
    conn = session.connection()
    fact = call_fold.Fact(str(event.kind), event.occurred_at, 0, _event_data(event))
    # A ringing event usually opens its call: try the insert first and save a lookup.
    row = None if event.kind == CallEventKind.RINGING else _locked_row(conn, event)
    if row is None:
        opened = _open_call(session, conn, event, fact, clinic_id, config, raw_webhook_id)
        if opened is not None:
            return opened
        row = _locked_row(conn, event)  # a concurrent or earlier delivery opened it
        assert row is not None
    call_id, clinic_id, direction = row.id, row.clinic_id, str(row.direction)
    before = _state(row)
    fact_id = _insert_event(conn, call_id, event, fact, raw_webhook_id)
    if fact_id is None:
        return CallChange.of(call_id, clinic_id, False, False, before, event.kind)
    fact = replace(fact, id=fact_id)
    after = (call_fold.step(direction, before, fact)
             or call_fold.fold(direction, before, _facts(conn, call_id)))
    values = {name: value for name, value in _columns(after).items() if getattr(before, name) != value}
    outbound = direction == CallDirection.OUTBOUND
    remote = after.dialed if outbound else after.caller
    newly_known = bool(remote) and not (before.dialed if outbound else before.caller)
    if remote and newly_known:
        linked, candidates = _link_caller(session, call_id, clinic_id, remote, after.started_at)
        values.update(linked)
        _keep_candidates(conn, call_id, candidates)
    if not outbound and row.tracking_number_id is None and after.dialed:
        values.update(_attribution(conn, clinic_id, after.dialed, None))
    if remote and after.answered_at is not None and (before.answered_at is None or newly_known):
        _close_missed_callbacks(conn, call_id, clinic_id, remote, after)
    if "extension" in values and after.extension:
        UPDATE_CALL_AGENT.execute(conn, {**values, "_id": call_id, "_clinic": clinic_id,
                                         "_extension": after.extension})
    elif values:
        UPDATE_CALL.execute(conn, {**values, "_id": call_id})
    _forget_loaded(session, call_id)
    return CallChange.of(call_id, clinic_id, False, True, after, event.kind)


def _open_call(session: Session, conn: Connection, event: CallEvent, fact: call_fold.Fact,
               clinic_id: int | None, config: dict[str, Any],
               raw_webhook_id: int | None) -> CallChange | None:
    """A new call written whole in one INSERT (state, patient, channel, agent); None when the
    call exists already (then the caller applies the event to it)."""
    inbound = event.direction != CallDirection.OUTBOUND
    number = number_row(conn, event.dialed) if inbound and event.dialed else None
    if clinic_id is None:
        clinic_id = (number.clinic_id if number is not None
                     else clinic_id_for_number(session, event.dialed if inbound else event.caller,
                                               config))
    direction = str(event.direction)
    state = call_fold.first(direction, fact, event.caller, event.dialed)
    values = {**_new_call(event, clinic_id), **_columns(state), "_clinic": clinic_id,
              "_extension": state.extension or None}
    remote = state.caller if inbound else state.dialed
    linked, candidates = _link_caller(session, None, clinic_id, remote, state.started_at)
    values.update(linked)
    if inbound and state.dialed:
        values.update(_attribution(conn, clinic_id, state.dialed, number))
    call_id = _inserts(conn.dialect.name).call.scalar(conn, values)
    if call_id is None:
        return None
    _keep_candidates(conn, call_id, candidates)
    _insert_event(conn, call_id, event, fact, raw_webhook_id)
    if remote and state.answered_at is not None:
        _close_missed_callbacks(conn, call_id, clinic_id, remote, state)
    return CallChange.of(call_id, clinic_id, True, True, state, event.kind)


def _insert_event(conn: Connection, call_id: int, event: CallEvent, fact: call_fold.Fact,
                  raw_webhook_id: int | None) -> int | None:
    """The event stored under its dedupe key: its id, or None when it was stored before."""
    return _inserts(conn.dialect.name).event.scalar(conn, {
        "call_id": call_id, "kind": fact.kind, "occurred_at": fact.occurred_at,
        "dedupe_key": event.dedupe_key, "raw_webhook_id": raw_webhook_id, "data": fact.data,
        "received_at": utcnow(),
    })


def _attribution(conn: Connection, clinic_id: int, dialed: str,
                 known: NumberRow | None) -> dict[str, Any]:
    number = channel_for_dialed(conn, clinic_id, dialed, known)
    return {} if number is None else {"tracking_number_id": number.id, "channel_id": number.channel_id}


def _new_call(event: CallEvent, clinic_id: int) -> dict[str, Any]:
    return {
        "clinic_id": clinic_id, "provider": event.provider,
        "provider_call_id": event.provider_call_id, "direction": CallDirection(event.direction),
        "caller": event.caller, "caller_raw": event.caller_raw[:64], "dialed": event.dialed,
        "started_at": event.occurred_at, "status": CallStatus.RINGING,
        "caller_kind": CallerKind.NEW, "first_time": True, "heard_from_note": "", "notes": "",
        "updated_at": utcnow(),
    }


def _locked_row(conn: Connection, event: CallEvent) -> _CallRow | None:
    """The call's row, locked until commit (PostgreSQL) so concurrent deliveries fold one by one."""
    row = LOCKED_ROW.one_or_none(conn, {"_provider": event.provider, "_call": event.provider_call_id})
    return None if row is None else _CallRow(*row)


def _columns(state: call_fold.CallState) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value (a fifth of a webhook's CPU, profiled).
    return {name: getattr(state, name) for name in STATE_NAMES}


def _state(row: _CallRow) -> call_fold.CallState:
    return call_fold.CallState(*row[4:])


def _facts(conn: Connection, call_id: int) -> list[call_fold.Fact]:
    return [call_fold.Fact(kind, at, fact_id, data or {})
            for kind, at, fact_id, data in conn.execute(FACTS, {"_id": call_id})]


def _forget_loaded(session: Session, call_id: int) -> None:
    """The caller's session may hold the call as an object: it must not answer from before."""
    loaded = session.identity_map.get(session.identity_key(Call, call_id))
    if loaded is not None:
        session.expire(loaded)


def _event_data(event: CallEvent) -> dict[str, Any]:
    return {
        "direction": str(event.direction),
        "caller": event.caller,
        "dialed": event.dialed,
        "extension": event.extension,
        "duration": event.duration,
        "recording_url": event.recording_url,
        "extra": dict(event.extra),
    }


def _link_caller(session: Session, call_id: int | None, clinic_id: int, remote: str | None,
                 started_at: datetime) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The caller's patients: one is linked; several (a family) are all kept as candidates,
    returned for the caller to store once the call has its id. No number: a hidden caller."""
    match = match_caller(session, clinic_id, remote, before=started_at, exclude_call_id=call_id)
    linked = match.patient_ids[0] if len(match.patient_ids) == 1 else None
    return ({"caller_kind": match.kind, "first_time": match.first_time, "patient_id": linked},
            match.patient_ids if len(match.patient_ids) > 1 else ())


def _keep_candidates(conn: Connection, call_id: int, patient_ids: tuple[int, ...]) -> None:
    if patient_ids:
        conn.execute(_inserts(conn.dialect.name).candidate,
                     [{"call_id": call_id, "patient_id": patient_id} for patient_id in patient_ids])


def _close_missed_callbacks(conn: Connection, call_id: int, clinic_id: int, remote: str,
                            state: call_fold.CallState) -> None:
    """A caller who got through, or was called back, leaves the missed-call list ... and every
    outbound list: the missed-call tasks for that number are done."""
    done_at: datetime = state.answered_at or state.started_at
    CLOSE_MISSED_CALLS.execute(conn, {"_clinic": clinic_id, "_remote": remote, "_id": call_id,
                                      "_started": state.started_at, "_done": done_at})
    CLOSE_MISSED_TASKS.execute(conn, {"_clinic": clinic_id, "_remote": remote})
