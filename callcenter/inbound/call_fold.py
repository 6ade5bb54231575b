"""A call's state from its events: the full fold, and the one-event step that gives the same.

Pure functions over plain values (no session), so the rule is stated once and the step can be
proved equal to the fold (tests/test_call_fold.py). The fold orders events by (time, id): the id
breaks ties in arrival order. An event that sorts after every stored one (the usual case: a
PBX sends ringing, answered, ended in order) is applied to the call's current state alone; any
other is refolded from all of the call's events, so order of arrival never changes the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from callcenter.core.models import CallDirection, CallStatus

AGENT_KINDS = frozenset({"ringing", "transferred"})
END_KINDS = frozenset({"ended", "missed"})


@dataclass(frozen=True)
class Fact:
    """One stored event as the fold reads it."""

    kind: str
    occurred_at: datetime
    id: int
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CallState:
    """What the events decide about a call (the columns record_call_event writes)."""

    started_at: datetime
    ringing_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    status: CallStatus
    duration: int | None
    recording_url: str | None
    caller: str | None
    dialed: str | None
    extension: str | None
    # The latest event's time: a new event at or after it can be applied on its own.
    last_event_at: datetime | None


def _status(direction: str, answered: bool, ended: bool) -> CallStatus:
    if ended:
        if answered:
            return CallStatus.COMPLETED
        return CallStatus.FAILED if direction == CallDirection.OUTBOUND else CallStatus.MISSED
    return CallStatus.ANSWERED if answered else CallStatus.RINGING


def _talk_seconds(answered_at: datetime | None, ended_at: datetime | None,
                  reported: Any) -> int | None:
    if answered_at is None or ended_at is None:
        return None
    if isinstance(reported, int) and reported >= 0:
        return reported
    return max(int((ended_at - answered_at).total_seconds()), 0)


def _extension(current: str | None, agent: Fact | None) -> str | None:
    # The agent is whoever answered first, else the desk that rang last; an event naming no
    # extension leaves the one known.
    extension = (agent.data or {}).get("extension") if agent else None
    return extension or current


def fold(direction: str, base: CallState, events: Sequence[Fact]) -> CallState:
    """The call recomputed from all its events; `base` gives what events only fill in (caller,
    dialed, extension, recording when none was reported)."""
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.id))
    answered = next((e for e in ordered if e.kind == "answered"), None)
    ringing = next((e for e in ordered if e.kind == "ringing"), None)
    ended = next((e for e in reversed(ordered) if e.kind in END_KINDS), None)
    recording = next((e for e in reversed(ordered) if e.kind == "recording"), None)
    caller, dialed = base.caller, base.dialed
    for record in ordered:
        data = record.data or {}
        caller = caller or data.get("caller")
        dialed = dialed or data.get("dialed")
    agent = answered or next((e for e in reversed(ordered) if e.kind in AGENT_KINDS), None)
    return CallState(
        started_at=ordered[0].occurred_at,
        ringing_at=ringing.occurred_at if ringing else None,
        answered_at=answered.occurred_at if answered else None,
        ended_at=ended.occurred_at if ended else None,
        status=_status(direction, answered is not None, ended is not None),
        duration=_talk_seconds(answered.occurred_at if answered else None,
                               ended.occurred_at if ended else None,
                               (ended.data or {}).get("duration") if ended else None),
        recording_url=(recording.data or {}).get("recording_url") if recording else base.recording_url,
        caller=caller, dialed=dialed,
        extension=_extension(base.extension, agent),
        last_event_at=ordered[-1].occurred_at,
    )


def step(direction: str, state: CallState, event: Fact) -> CallState | None:
    """`state` with one more event that sorts after every stored one; None when the step alone
    cannot tell (the event is earlier than the latest, or the latest is unknown, or a first
    answer arrives after the end): then the caller refolds."""
    if state.last_event_at is None or event.occurred_at < state.last_event_at:
        return None
    data = event.data or {}
    changes: dict[str, Any] = {"last_event_at": event.occurred_at,
                               "caller": state.caller or data.get("caller"),
                               "dialed": state.dialed or data.get("dialed")}
    first_answer = event.kind == "answered" and state.answered_at is None
    if first_answer and state.ended_at is not None:
        return None  # the talk time would need the end event's reported duration
    if event.kind == "ringing" and state.ringing_at is None:
        changes["ringing_at"] = event.occurred_at
    if first_answer or (event.kind in AGENT_KINDS and state.answered_at is None):
        changes["extension"] = _extension(state.extension, event)
    answered_at = event.occurred_at if first_answer else state.answered_at
    ended_at = state.ended_at
    if event.kind in END_KINDS:
        ended_at = event.occurred_at
        changes["duration"] = _talk_seconds(answered_at, ended_at, data.get("duration"))
    if event.kind == "recording":
        changes["recording_url"] = data.get("recording_url")
    changes.update(answered_at=answered_at, ended_at=ended_at,
                   status=_status(direction, answered_at is not None, ended_at is not None))
    return replace(state, **changes)


def first(direction: str, event: Fact, caller: str | None, dialed: str | None) -> CallState:
    """A new call's state from its first event."""
    empty = CallState(started_at=event.occurred_at, ringing_at=None, answered_at=None,
                      ended_at=None, status=CallStatus.RINGING, duration=None, recording_url=None,
                      caller=caller, dialed=dialed, extension=None, last_event_at=None)
    return fold(direction, empty, [event])
