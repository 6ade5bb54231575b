"""PBX webhooks: one normalized CallEvent, one module per provider, one registry."""

from __future__ import annotations

from .asterisk import AsteriskAdapter
from .events import (
    Adapter,
    Binding,
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
)
from .generic import GenericAdapter
from .mango import MangoAdapter
from .telnyx import TelnyxAdapter
from .threecx import ThreeCXAdapter
from .twilio import TwilioAdapter
from .yeastar import YeastarAdapter
from .zadarma import ZadarmaAdapter

# The registry, written out in one place: adding a PBX is one module and one line here.
ADAPTERS: dict[str, Adapter] = {
    "zadarma": ZadarmaAdapter(),
    "mango": MangoAdapter(),
    "yeastar": YeastarAdapter(),
    "telnyx": TelnyxAdapter(),
    "3cx": ThreeCXAdapter(),
    "twilio": TwilioAdapter(),
    "asterisk": AsteriskAdapter(),
    "generic": GenericAdapter(),
}


def get_adapter(name: str) -> Adapter | None:
    return ADAPTERS.get(name)


__all__ = [
    "ADAPTERS",
    "Adapter",
    "Binding",
    "CallEvent",
    "CallEventKind",
    "Direction",
    "InboundRequest",
    "PayloadError",
    "SignatureError",
    "WebhookReply",
    "get_adapter",
]
