"""Shared set-up of the text-message tests: a fake provider (Twilio or SMSC), its settings for the
app and for real `python worker.py` processes, and a missed call fed through the call pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Message, utcnow
from callcenter.inbound.ingest import ingest_events
from tests.campaign_env import start_worker, stop_worker, worker_env
from tests.fake_sms import FakeSmsc, FakeTwilioMessaging
from webhooks import CallEvent, CallEventKind, Direction

ACCOUNT = "AC" + "7" * 32
TOKEN = "twilio-sms-token"
SMSC_LOGIN, SMSC_PASSWORD, SMSC_SECRET = "clinic", "smsc-password", "callbacksecret"
PROVIDERS = ("twilio", "smsc")


def provider_settings(provider: str, fake: Any) -> dict[str, Any]:
    """Config keys (as in app.config) that point the provider at the fake."""
    if provider == "twilio":
        return {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_API_BASE": fake.base_url, "SMS_SENDER": "+74950000000"}
    return {"SMS_PROVIDER": "smsc", "SMSC_LOGIN": SMSC_LOGIN, "SMSC_PASSWORD": SMSC_PASSWORD,
            "SMSC_SECRET": SMSC_SECRET, "SMSC_API_BASE": fake.base_url, "SMS_SENDER": "Clinic"}


def start_fake(provider: str, rate_limit: float = 1000) -> Any:
    if provider == "twilio":
        return FakeTwilioMessaging(ACCOUNT, TOKEN, rate_limit=rate_limit, shuffle_callbacks=True).start()
    return FakeSmsc(SMSC_LOGIN, SMSC_PASSWORD, SMSC_SECRET, rate_limit=rate_limit).start()


def point_callbacks(provider: str, fake: Any, base: str) -> None:
    """What the clinic sets in the provider's console: where replies (and SMSC statuses) go."""
    if provider == "twilio":
        fake.inbound_url = f"{base}/webhooks/sms/twilio/inbound"
    else:
        fake.handler_url = f"{base}/webhooks/sms/smsc?charset=utf-8&sha1={SMSC_SECRET}"


ENV_NAMES = {"SMS_PROVIDER": "CALLCENTER_SMS_PROVIDER", "SMS_SENDER": "CALLCENTER_SMS_SENDER",
             "SMSC_LOGIN": "CALLCENTER_SMSC_LOGIN", "SMSC_PASSWORD": "CALLCENTER_SMSC_PASSWORD",
             "SMSC_SECRET": "CALLCENTER_SMSC_SECRET", "SMSC_API_BASE": "CALLCENTER_SMSC_API_BASE"}


def sms_worker_env(database_url: str, redis_url: str, instance: Path, provider: str, fake: Any,
                   base: str, **extra: str) -> dict[str, str]:
    settings = {ENV_NAMES.get(k, k): str(v) for k, v in provider_settings(provider, fake).items()}
    settings.update({"CALLCENTER_PUBLIC_URL": base, "CALLCENTER_SMS_WINDOW": "00:00-24:00",
                     "CALLCENTER_SMS_SEND_TIMEOUT": "5", "CALLCENTER_SMS_RETRY_SECONDS": "1"})
    settings.update(extra)
    return worker_env(database_url, redis_url, instance, **settings)


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[Any]:
    proc = start_worker(env, log)
    try:
        yield proc
    finally:
        stop_worker(proc)


def missed_call(runtime: Any, caller: str, dialed: str, call_id: str) -> None:
    """An unanswered inbound call, entering where every non-HTTP source enters."""
    now = utcnow()
    events = [CallEvent(provider="generic", provider_call_id=call_id, kind=kind, caller=caller,
                        dialed=dialed, direction=Direction.INBOUND, occurred_at=now + timedelta(seconds=i),
                        event_id=f"{call_id}-{kind}")
              for i, kind in enumerate((CallEventKind.RINGING, CallEventKind.MISSED))]
    ingest_events(runtime, "generic", events, "test: missed call")


def messages_to(session: Session, phone: str) -> list[Message]:
    session.expire_all()
    return list(session.scalars(select(Message).where(Message.phone == phone,
                                                      Message.direction == "outbound")
                                .order_by(Message.id)))
