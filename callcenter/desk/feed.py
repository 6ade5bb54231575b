"""What one desk does with one desk event: pop the card, update it, close it, or ignore it.

The rule: a ringing event pops at the desk whose extension rang (every desk when it names no
extension: ring-all); once a call is answered at extension X, every other desk closes the pop;
a call that ends unanswered closes everywhere (it goes to the missed list).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.callscripts.library import Library
from callcenter.callscripts.selection import library_for
from callcenter.core import clinic_scope
from callcenter.core.models import CallStatus, Staff, utcnow
from callcenter.core.runtime import Runtime
from callcenter.desk.popcard import build_card, card_call
from callcenter.inbound import screenpop
from callcenter.schedule.offer_memo import OfferMemo

POP, UPDATE, CLOSE = "pop", "update", "close"
RINGS = ("ringing", "transferred")
HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class Desk:
    staff_id: int
    clinic_ids: frozenset[int]
    extension: str | None
    locale: str


def desk_action(kind: str, event_extension: str | None, status: str, answered_by: str | None,
                was_answered: bool, desk_extension: str | None) -> str | None:
    """POP / UPDATE / CLOSE / None for one desk, from the event and the call's current state.

    The current state matters on resume: a ringing event replayed after the call was taken
    elsewhere must not pop.
    """
    mine = answered_by is not None and answered_by == desk_extension
    if kind in RINGS:
        if event_extension not in (None, desk_extension):
            return None
        if status == CallStatus.RINGING or (status in (CallStatus.ANSWERED, CallStatus.COMPLETED) and mine):
            return POP
        if kind == "transferred" and event_extension == desk_extension and status == CallStatus.ANSWERED:
            return POP  # the card follows the call to the desk it was put through to
        return None
    if kind == "answered":
        if event_extension is None or event_extension == desk_extension:
            return POP if event_extension == desk_extension else UPDATE
        return CLOSE
    if kind in ("ended", "missed", "recording"):
        if was_answered and (mine or answered_by is None):
            return UPDATE
        return CLOSE
    return None


class _LibraryCache:
    """The script library for the streams, re-checked for changed files every few seconds
    (a stream runs outside the request, and a pop should not stat every script file)."""

    def __init__(self, seconds: float = 5.0) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.loaded: tuple[float, str, Library] | None = None

    def __call__(self, runtime: Runtime) -> Library:
        folder = runtime.config.get("SCRIPTS_DIR") or ""
        with self.lock:
            if self.loaded is None or self.loaded[1] != folder or time.monotonic() - self.loaded[0] > self.seconds:
                self.loaded = (time.monotonic(), folder, library_for(folder or None))
            return self.loaded[2]


scripts_library = _LibraryCache()
slot_offers = OfferMemo()  # the pops of a ringing peak share their clinic's offer


def sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def audit_card_view(session: Session, staff_id: int, card: dict[str, Any], via: str) -> None:
    """Every patient shown on a desk is an audited view."""
    audit_views(session, staff_id, card["call"]["id"], [p["id"] for p in card["patients"]], via)


def audit_views(session: Session, staff_id: int, call_id: int, patient_ids: list[int], via: str) -> None:
    for patient_id in patient_ids:
        audit(session, staff_id, "view_patient", "patient", patient_id, call_id=call_id, via=via)


@dataclass(frozen=True)
class Outgoing:
    """One SSE message for one desk, and the patients it shows (audited once it is sent)."""

    kind: str  # POP, UPDATE or CLOSE
    text: str
    call_id: int
    patient_ids: list[int]


def _decided(desk: Desk, payload: dict[str, Any], status: str, answered_by: str | None, answered: bool,
             shown: Collection[int]) -> str | None:
    """desk_action for this desk, from the event's state or the call's row."""
    event = str(payload.get("event"))
    action = desk_action(event, payload.get("extension"), status, answered_by, answered, desk.extension)
    if action == POP and event == "answered" and payload["call_id"] in shown:
        return UPDATE  # the card is on this desk already: only its state changes
    return action


def _state(payload: dict[str, Any], status: str) -> dict[str, Any]:
    return {"call_id": payload["call_id"], "status": status, "event": payload.get("event"),
            "extension": payload.get("extension")}


def message_for(runtime: Runtime, desk: Desk, event_id: str, payload: dict[str, Any],
                now: datetime, shown: Collection[int] = ()) -> Outgoing | None:
    """The SSE message this desk gets for one stream entry (None: not for this desk).

    `shown`: calls this connection already popped; answering one of them needs no new card.
    """
    if payload.get("type") != "call" or payload.get("clinic_id") not in desk.clinic_ids:
        return None  # another clinic's call: not even its close reaches this desk
    event, extension = payload.get("event"), payload.get("extension")
    if event in RINGS and extension not in (None, desk.extension):
        return None  # ringing elsewhere: decided without touching the database
    if event not in RINGS and "answered" in payload:
        # Not a ring: the state the event left decides, as the call's row would (an event
        # published before who-answered travelled with it reads the row below).
        status = str(payload.get("status"))
        action = _decided(desk, payload, status, payload.get("answered_by"), bool(payload["answered"]), shown)
        if action is None:
            return None
        if action != POP:
            return Outgoing(action, sse(action, _state(payload, status), event_id), payload["call_id"], [])
    with runtime.sessions() as session:
        clinic_scope.restrict(session, clinic_scope.Scope(desk.clinic_ids))
        call = card_call(session, payload["call_id"])
        if call is None:
            return None
        status = str(call.status)
        action = _decided(desk, payload, status, call.extension if call.answered_at else None,
                          call.answered_at is not None, shown)
        if action is None:
            return None
        state = _state(payload, status)
        if action != POP:
            return Outgoing(action, sse(action, state, event_id), call.id, [])
        card = build_card(session, call.id, now, desk.locale, speaker=session.get(Staff, desk.staff_id),
                          library=scripts_library(runtime), call=call, offers=slot_offers)
        if card is None:
            return None
        return Outgoing(POP, sse(POP, {**state, "card": card}, event_id), call.id,
                        [p["id"] for p in card["patients"]])


def record_sent(runtime: Runtime, desk: Desk, sent: Collection[Outgoing]) -> None:
    """Audit what a desk was shown, in one transaction; written after sending, so the pop never
    waits for a writer."""
    shown = [outgoing for outgoing in sent if outgoing.patient_ids]
    if not shown:
        return
    with runtime.write_guard(), runtime.sessions() as session:
        for outgoing in shown:
            audit_views(session, desk.staff_id, outgoing.call_id, outgoing.patient_ids, "pop")
        session.commit()


def resolve_start(runtime: Runtime, last_id: str) -> str:
    """ "$" pinned to the newest id now, so nothing between two blocking reads is lost."""
    if last_id != "$":
        return last_id
    newest = runtime.redis.xrevrange(screenpop.STREAM, count=1)
    if not newest:
        return "0-0"
    raw = newest[0][0]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class Stop(Protocol):
    """A threading.Event, or anything else that says when a stream must end (its session did)."""

    def is_set(self) -> bool: ...


def stream(runtime: Runtime, desk: Desk, last_id: str, clock: Any, sleep: Any,
           stop: Stop, block_ms: int = 5000) -> Iterator[str]:
    """The desk's SSE body: pops from last_id on, a comment every 15 s to keep proxies open.

    The blocking reads use a connection of the stream's own, with a timeout longer than the block.
    `stop` ends every stream of the app (shutdown), at the latest one block later.
    """
    reader = redis.Redis.from_url(runtime.config["REDIS_URL"], socket_timeout=block_ms / 1000 + 5,
                                  socket_connect_timeout=2)
    try:
        yield "retry: 1000\n\n"
        position = None
        shown: set[int] = set()
        quiet_since = clock()
        while not stop.is_set():
            try:
                if position is None:
                    position = resolve_start(runtime, last_id)
                entries = list(screenpop.read(runtime, position, block_ms=block_ms, client=reader))
            except redis.RedisError:
                yield ": redis unavailable, retrying\n\n"
                sleep(1.0)
                continue
            # The cards of one read are audited together once it is sent: on SQLite each audit
            # write queues for the one writer behind the webhooks, and a desk that fell behind
            # would wait there once per card, falling further behind.
            sent: list[Outgoing] = []
            try:
                for event_id, payload in entries:
                    if stop.is_set():
                        return
                    position = event_id
                    outgoing = message_for(runtime, desk, event_id, payload, utcnow(), shown)
                    if outgoing is not None:
                        quiet_since = clock()
                        if outgoing.kind == POP:
                            shown.add(outgoing.call_id)
                        sent.append(outgoing)  # before sending: the desk may hang up right after it
                        yield outgoing.text
            finally:
                record_sent(runtime, desk, sent)
            if clock() - quiet_since >= HEARTBEAT_SECONDS:
                quiet_since = clock()
                yield ": keep-alive\n\n"
    finally:
        reader.close()
