"""Text providers behind one registry, like the PBX adapters: one module each, one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from callcenter.messaging.providers.base import MessageEvent, Outgoing, Provider, SendError, Sent
from callcenter.messaging.providers.smsc import SmscGateway
from callcenter.messaging.providers.twilio import TwilioMessaging

PROVIDERS: dict[str, Callable[[Mapping[str, Any]], Provider]] = {
    "twilio": TwilioMessaging,
    "smsc": SmscGateway,
}


def provider_for(name: str, config: Mapping[str, Any]) -> Provider | None:
    factory = PROVIDERS.get(name)
    return factory(config) if factory is not None else None


__all__ = ["PROVIDERS", "MessageEvent", "Outgoing", "Provider", "SendError", "Sent", "provider_for"]
