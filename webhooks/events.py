"""The one event type past the edge, the request it is parsed from, and the adapter contract."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl

# The caller of every test call the admin page sends: no telephone network hands out +7 000…,
# so no patient can have it. The desk marks its card as a test and analytics leave it out.
TEST_CALLER = "+70000000000"


class CallEventKind(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    TRANSFERRED = "transferred"
    ENDED = "ended"
    MISSED = "missed"
    RECORDING = "recording"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Binding:
    """A fact about a call that the provider's signature does not fix on its own.

    The first accepted request stores, under (scope, key), the call it named and its facts; a
    later request under the same scope and key must name the same call with the same facts, or
    it is refused and applies nothing (callcenter/webhook_bindings.py). `field` is the request
    field blamed when a binding is refused.
    """

    scope: str
    key: str
    call: str
    facts: Mapping[str, str] = field(default_factory=dict)
    field: str = "body"


@dataclass(frozen=True)
class CallEvent:
    """A provider's webhook, normalized. Times are aware UTC; numbers E.164 (None if hidden)."""

    provider: str
    provider_call_id: str
    kind: CallEventKind
    occurred_at: datetime
    direction: Direction = Direction.INBOUND
    caller: str | None = None
    caller_raw: str = ""
    dialed: str | None = None
    extension: str | None = None
    duration: int | None = None
    recording_url: str | None = None
    # The provider's own id of this event, when it has one; otherwise derived (see dedupe_key).
    event_id: str | None = None
    # Digits pressed in an outbound <Gather>, answering-machine result, etc.
    extra: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Checked and recorded in the same transaction that applies the event.
    bindings: tuple[Binding, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("CallEvent.occurred_at must be timezone-aware")
        if not self.provider_call_id:
            raise ValueError("CallEvent.provider_call_id is empty")

    @property
    def dedupe_key(self) -> str:
        """Same delivery, same key: a retried webhook maps onto the event already stored."""
        if self.event_id:
            return f"{self.kind}:{self.event_id}"[:200]
        stamp = self.occurred_at.strftime("%Y%m%dT%H%M%S")
        return f"{self.kind}:{stamp}:{self.extension or ''}"[:200]


class _Headers(dict[str, str]):
    """Case-insensitive header lookup over a plain dict."""

    def get_ci(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.items():
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class InboundRequest:
    """A webhook as stored raw: enough to verify and parse it again later."""

    provider: str
    subpath: str
    method: str
    url: str  # the full public URL, as the provider signed it
    headers: Mapping[str, str]
    body: bytes
    query: str = ""
    remote_addr: str = ""
    # When we received it: replay windows and events without a time of their own use this, so a
    # stored request re-processed later is judged as it was on arrival.
    received_at: datetime | None = None

    def header(self, name: str) -> str | None:
        return _Headers(self.headers).get_ci(name)

    def form(self) -> dict[str, str]:
        """The url-encoded form (the query string for GET): strict UTF-8, every key at most once.

        A repeated key is refused, not resolved: Twilio signs the sorted set of a key's values,
        so "last one wins" would let a reordered request verify as one thing and parse as another.
        """
        try:
            source = self.query if self.method == "GET" else self.body.decode("utf-8")
            pairs = parse_qsl(source, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise PayloadError("body", "not a url-encoded UTF-8 form") from None
        form: dict[str, str] = {}
        for key, value in pairs:
            if key in form:
                raise PayloadError(key, "sent more than once")
            form[key] = value
        return form

    def args(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class SignatureError(Exception):
    """The request is not provably from the provider: 403, nothing applied."""


class PayloadError(Exception):
    """Authentic but malformed: 400 with a JSON body naming the field."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class WebhookReply:
    status: int = 204
    body: str | bytes = ""
    content_type: str = "text/plain; charset=utf-8"


class Adapter(Protocol):
    """One PBX dialect. `settings` is the app config (secrets, REGION, REPLAY_WINDOW, ...)."""

    name: str

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        """Raise SignatureError unless the request is authentic (constant-time compare)."""

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        """Turn the request into events; raise PayloadError naming the bad field."""

    def reply(
        self, request: InboundRequest, events: list[CallEvent], settings: Mapping[str, Any]
    ) -> WebhookReply:
        """What the provider expects back (TwiML, an echo, or an empty 2xx)."""
