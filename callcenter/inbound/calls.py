"""record_call_event(): the only writer of Call rows.

Idempotent and order-independent: every event is stored once under its dedupe key, and the call's
state is recomputed from all of its events, so retries change nothing and events that arrive out
of order (ended before answered, recording before end) converge to the same call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.access.clinics import clinic_for_number
from callcenter.core.db import insert_ignoring_conflicts
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
from callcenter.inbound.attribution import channel_for_dialed
from callcenter.inbound.matching import match_caller
from webhooks import CallEvent, CallEventKind

REACHED = "reached"  # a missed-call task's result when the caller got through another way


@dataclass(frozen=True)
class CallChange:
    """What one event did to a call; `changed` is False for a redelivered event."""

    call_id: int
    clinic_id: int
    created: bool
    changed: bool
    status: CallStatus
    kind: CallEventKind


def _insert_ignore(session: Session, model: type, values: dict[str, Any]) -> bool:
    """INSERT that silently yields to a concurrent or earlier identical row; True if inserted."""
    result = session.execute(insert_ignoring_conflicts(session, model).values(**values))
    return bool(result.rowcount)


def record_call_event(
    session: Session, event: CallEvent, *, config: dict[str, Any], raw_webhook_id: int | None = None,
    clinic_id: int | None = None,
) -> CallChange:
    """Apply one normalized event; the caller commits. A new call belongs to `clinic_id` when
    given (our own dialers know it), else to the clinic of the number it came through."""
    call = _locked_call(session, event.provider, event.provider_call_id)
    created = False
    if call is None:
        if clinic_id is None:
            clinic_number = event.caller if event.direction == CallDirection.OUTBOUND else event.dialed
            clinic_id = clinic_for_number(session, clinic_number, config).id
        created = _insert_ignore(session, Call, {
            "clinic_id": clinic_id,
            "provider": event.provider,
            "provider_call_id": event.provider_call_id,
            "direction": CallDirection(event.direction),
            "caller": event.caller,
            "caller_raw": event.caller_raw[:64],
            "dialed": event.dialed,
            "started_at": event.occurred_at,
            "status": CallStatus.RINGING,
            "caller_kind": CallerKind.NEW,
            "first_time": True,
            "heard_from_note": "",
            "notes": "",
            "updated_at": utcnow(),
        })
        call = _locked_call(session, event.provider, event.provider_call_id)
        assert call is not None
    inserted = _insert_ignore(session, CallEventRecord, {
        "call_id": call.id,
        "kind": str(event.kind),
        "occurred_at": event.occurred_at,
        "dedupe_key": event.dedupe_key,
        "raw_webhook_id": raw_webhook_id,
        "data": _event_data(event),
        "received_at": utcnow(),
    })
    if not inserted:
        return CallChange(call.id, call.clinic_id, False, False, call.status, event.kind)
    known_before = call.dialed if call.direction == CallDirection.OUTBOUND else call.caller
    answered_before = call.answered_at is not None
    session.expire(call, ["events"])
    _fold_events(session, call)
    remote = call.dialed if call.direction == CallDirection.OUTBOUND else call.caller
    newly_known = bool(remote) and not known_before
    if created or newly_known:
        _link_caller(session, call, remote, call.clinic_id)
    if call.direction == CallDirection.INBOUND and call.tracking_number_id is None and call.dialed:
        number = channel_for_dialed(session, call.clinic_id, call.dialed)
        if number is not None:
            call.tracking_number_id = number.id
            call.channel_id = number.channel_id
    if remote and call.answered_at is not None and (not answered_before or newly_known):
        _close_missed_callbacks(session, call, remote)
    session.flush()
    return CallChange(call.id, call.clinic_id, created, True, call.status, event.kind)


def _locked_call(session: Session, provider: str, provider_call_id: str) -> Call | None:
    """The call row, locked until commit (PostgreSQL) so concurrent deliveries fold one by one."""
    return session.execute(
        select(Call).where(Call.provider == provider, Call.provider_call_id == provider_call_id)
        .with_for_update()
    ).scalar_one_or_none()


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


def _fold_events(session: Session, call: Call) -> None:
    """Recompute the call's times, status and agent from all its events, in time order."""
    events = sorted(call.events, key=lambda e: (e.occurred_at, e.id or 0))

    def first(kinds: set[str]) -> CallEventRecord | None:
        return next((e for e in events if e.kind in kinds), None)

    def last(kinds: set[str]) -> CallEventRecord | None:
        return next((e for e in reversed(events) if e.kind in kinds), None)

    call.started_at = events[0].occurred_at
    ringing = first({"ringing"})
    answered = first({"answered"})
    ended = last({"ended", "missed"})
    recording = last({"recording"})
    call.ringing_at = ringing.occurred_at if ringing else None
    call.answered_at = answered.occurred_at if answered else None
    call.ended_at = ended.occurred_at if ended else None
    for record in events:
        data = record.data or {}
        call.caller = call.caller or data.get("caller")
        call.dialed = call.dialed or data.get("dialed")
    if ended is not None:
        if answered is not None:
            call.status = CallStatus.COMPLETED
        else:
            call.status = (CallStatus.FAILED if call.direction == CallDirection.OUTBOUND
                           else CallStatus.MISSED)
    else:
        call.status = CallStatus.ANSWERED if answered else CallStatus.RINGING
    call.duration = _talk_seconds(answered, ended)
    if recording is not None:
        call.recording_url = recording.data.get("recording_url")
    agent_event = answered or last({"ringing", "transferred"})
    extension = (agent_event.data or {}).get("extension") if agent_event else None
    if extension and extension != call.extension:
        call.extension = extension
        call.agent_id = session.scalar(
            select(Staff.id).where(Staff.clinic_id == call.clinic_id,
                                   Staff.sip_extension == extension).limit(1)
        )


def _talk_seconds(answered: CallEventRecord | None, ended: CallEventRecord | None) -> int | None:
    if answered is None or ended is None:
        return None
    reported = (ended.data or {}).get("duration")
    if isinstance(reported, int) and reported >= 0:
        return reported
    return max(int((ended.occurred_at - answered.occurred_at).total_seconds()), 0)


def _link_caller(session: Session, call: Call, remote: str | None, clinic_id: int) -> None:
    match = match_caller(session, clinic_id, remote, before=call.started_at, exclude_call_id=call.id)
    call.caller_kind = match.kind
    call.first_time = match.first_time
    call.patient_id = match.patient_ids[0] if len(match.patient_ids) == 1 else None
    if len(match.patient_ids) > 1:
        for patient_id in match.patient_ids:
            _insert_ignore(session, CallCandidate, {"call_id": call.id, "patient_id": patient_id})
        session.expire(call, ["candidates"])


def _close_missed_callbacks(session: Session, call: Call, remote: str) -> None:
    """A caller who got through, or was called back, leaves the missed-call list."""
    done_at: datetime = call.answered_at or call.started_at
    session.execute(
        update(Call)
        .where(Call.clinic_id == call.clinic_id, Call.direction == CallDirection.INBOUND,
               Call.status == CallStatus.MISSED, Call.caller == remote,
               Call.callback_done_at.is_(None), Call.started_at < call.started_at)
        .values(callback_done_at=done_at, callback_call_id=call.id)
        .execution_options(synchronize_session=False)
    )
    # ... and off every outbound list: the missed-call tasks for that number are done.
    session.execute(
        update(DialTask)
        .where(DialTask.clinic_id == call.clinic_id, DialTask.purpose == TaskPurpose.MISSED_CALL,
               DialTask.phone == remote, DialTask.state.in_((TaskState.PENDING, TaskState.FAILED)))
        .values(state=TaskState.DONE, result=REACHED, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
