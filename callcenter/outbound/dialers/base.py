"""The dialer contract: place one attempt, say what happened (now, or later by webhook)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from callcenter.core.models import DialMode, TaskPurpose
from callcenter.outbound.results import Outcome
from webhooks import CallEvent


@dataclass(frozen=True)
class DialRequest:
    attempt_id: int
    task_id: int
    clinic_id: int
    caller_id: str  # the clinic's number the patient sees ('' = none set)
    phone: str  # E.164
    purpose: TaskPurpose
    language: str
    text: str  # the whole prompt
    thanks_text: str


@dataclass(frozen=True)
class DialResult:
    provider_call_id: str | None
    # None: the call goes on without us and its outcome arrives through webhooks (Twilio).
    outcome: Outcome | None
    digits: str = ""
    # Call progress for the call log, for dialers no webhook reports on (SIP).
    events: list[CallEvent] = field(default_factory=list)
    # Why a call that reached nobody ended so (dial_reasons.Reason), and the PBX's SIP status.
    reason: str = ""
    sip_status: int | None = None


class Dialer(Protocol):
    mode: DialMode
    # "twilio:AC…" / "sip:pbx.local": the trunk whose CPS and channel limits apply.
    trunk: str

    def line(self) -> AbstractContextManager[None]:
        """The line for one dial (SIP: registered, once per process and renewed); raises
        dial_reasons.DialFailure if refused. Several dials may hold it at once."""

    def close(self) -> None:
        """Let go of the line (SIP unregisters) when the process stops dialing."""

    def dial(self, request: DialRequest, pace: Callable[[], AbstractContextManager[object]]) -> DialResult:
        """Place the call; `pace()` blocks until this call may start, and the call must start
        inside its block (outbound.pacing.Pacer.slot)."""
