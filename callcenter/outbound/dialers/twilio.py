"""Twilio: create the call over REST; TwiML, <Gather> and status come back to /webhooks/twilio/outbound/."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from callcenter.core.models import DialMode
from callcenter.outbound.dialers.base import DialRequest, DialResult

TWILIO_API = "https://api.twilio.com"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class _BaseUrlHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, sending to another base URL (TWILIO_API_BASE, e.g. a test server)."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=15)
        self.base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if url.startswith(TWILIO_API):
            url = self.base + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


def client(config: Mapping[str, Any]) -> Client:
    base = config["TWILIO_API_BASE"]
    http = _BaseUrlHttpClient(base) if base else None
    return Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], http_client=http)


def callback_url(config: Mapping[str, Any], attempt_id: int, what: str) -> str:
    return f"{config['PUBLIC_URL'].rstrip('/')}/webhooks/twilio/outbound/{attempt_id}/{what}"


class TwilioDialer:
    mode = DialMode.TWILIO

    def __init__(self, config: Mapping[str, Any]) -> None:
        for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_URL"):
            if not config[key]:
                raise RuntimeError(f"{key} is required for Twilio campaigns")
        self.config = config
        self.trunk = f"twilio:{config['TWILIO_ACCOUNT_SID']}"
        self.client = client(config)

    def line(self) -> AbstractContextManager[None]:
        return nullcontext()  # Twilio's REST API needs no standing connection

    def close(self) -> None:
        return None

    def dial(self, request: DialRequest, pace: Callable[[], AbstractContextManager[object]]) -> DialResult:
        if not request.caller_id:
            raise RuntimeError(f"clinic {request.clinic_id} has no caller ID for Twilio calls")
        with pace():
            call = self.client.calls.create(
                to=request.phone, from_=request.caller_id,
                url=callback_url(self.config, request.attempt_id, "twiml"), method="POST",
                status_callback=callback_url(self.config, request.attempt_id, "status"),
                status_callback_event=STATUS_EVENTS, status_callback_method="POST",
                machine_detection="Enable", timeout=self.config["DIAL_RING_SECONDS"],
            )
        return DialResult(provider_call_id=call.sid, outcome=None)
