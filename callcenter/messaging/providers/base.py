"""The one normalized shape every text provider speaks: what we send, what comes back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from callcenter.core.models import MessageStatus
from webhooks import InboundRequest, WebhookReply


@dataclass(frozen=True)
class Outgoing:
    message_id: int  # ours: the provider keeps it (SMSC) or our callback URL carries it (Twilio)
    to: str  # E.164
    body: str
    sender: str  # a number or a registered sender name; '' = the account's default
    callback_url: str  # where status callbacks go; '' = the one set in the provider's account


@dataclass(frozen=True)
class Sent:
    provider_message_id: str
    status: MessageStatus
    segments: int | None = None
    cost: Decimal | None = None


class SendError(Exception):
    """The provider refused or could not be reached. `permanent`: trying again cannot help;
    `opted_out`: the provider itself holds the number's opt-out (Twilio 21610)."""

    def __init__(self, code: str, message: str, *, permanent: bool, opted_out: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.permanent = permanent
        self.opted_out = opted_out


@dataclass(frozen=True)
class MessageEvent:
    """A status change of a message we sent, or a message that came in."""

    provider: str
    kind: str  # "status" | "incoming"
    provider_message_id: str
    status: MessageStatus | None = None  # status: the new state (None: the provider does not know)
    error: str = ""
    phone: str | None = None  # the patient's side, E.164
    to: str = ""  # incoming: our number it was sent to
    body: str = ""
    # incoming: the provider's own reading of an opt-out word ("STOP", "START"), when it has one
    opt_out: str = ""
    # status: our message id where the callback URL carries it (a callback may beat our commit)
    message_id: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Provider(Protocol):
    name: str

    def send(self, outgoing: Outgoing) -> Sent:
        """Hand one message over; raises SendError."""
        ...

    def lookup(self, outgoing: Outgoing, since: datetime) -> Sent | None:
        """The message if the provider already has it (a worker died after handing it over)."""
        ...

    def verify(self, request: InboundRequest) -> None:
        """Raise webhooks.SignatureError unless the callback is authentic."""
        ...

    def parse(self, request: InboundRequest) -> list[MessageEvent]:
        """The callback's events; raises webhooks.PayloadError naming the bad field."""
        ...

    def reply(self, request: InboundRequest) -> WebhookReply:
        """What the provider expects back once the events are stored."""
        ...
