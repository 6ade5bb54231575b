"""Dialers: one way each of placing an automatic call (Twilio REST, SIP via pyVoIP) or none (preview)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callcenter.core.models import DialMode
from callcenter.outbound.dialers.base import Dialer, DialRequest, DialResult

# Imported here, not on first use: the worker process loads pyVoIP and twilio once and every
# forked job inherits them, instead of each call paying for the import.
from callcenter.outbound.dialers.sip import SipDialer
from callcenter.outbound.dialers.twilio import TwilioDialer


def dialer_for(mode: DialMode, config: Mapping[str, Any]) -> Dialer:
    if mode is DialMode.TWILIO:
        return TwilioDialer(config)
    if mode is DialMode.SIP:
        return SipDialer(config)
    raise ValueError(f"{mode.value} campaigns are dialed by a person, not by a worker")


__all__ = ["DialRequest", "DialResult", "Dialer", "dialer_for"]
