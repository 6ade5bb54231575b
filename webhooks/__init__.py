"""PBX webhooks: one normalized CallEvent, one module per provider, one registry."""

from __future__ import annotations

from webhooks.asterisk import AsteriskAdapter
from webhooks.events import (
    TEST_CALLER,
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
from webhooks.generic import GenericAdapter
from webhooks.mango import MangoAdapter
from webhooks.telnyx import TelnyxAdapter
from webhooks.threecx import ThreeCXAdapter
from webhooks.twilio import TwilioAdapter
from webhooks.yeastar import YeastarAdapter
from webhooks.zadarma import ZadarmaAdapter

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
    "TEST_CALLER",
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
