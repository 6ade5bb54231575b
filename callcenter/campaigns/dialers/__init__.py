"""Dialers: one way each of placing an automatic call (Twilio REST, SIP via pyVoIP) or none (preview)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import DialMode
from .base import Dialer, DialRequest, DialResult


def dialer_for(mode: DialMode, config: Mapping[str, Any]) -> Dialer:
    if mode is DialMode.TWILIO:
        from .twilio import TwilioDialer

        return TwilioDialer(config)
    if mode is DialMode.SIP:
        from .sip import SipDialer

        return SipDialer(config)
    raise ValueError(f"{mode.value} campaigns are dialed by a person, not by a worker")


__all__ = ["DialRequest", "DialResult", "Dialer", "dialer_for"]
