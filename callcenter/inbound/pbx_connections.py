"""The PBX connections as an administrator sees them: per provider, the URL to paste into the PBX,
whether its secret is set, the last request received, and a test call sent through the service's
own webhook route.

The test call is a ringing call from the reserved TEST_CALLER to one of the clinic's tracking
numbers, built and signed exactly as the provider would (`webhooks.samples`), and posted to
`/webhooks/<provider>` in-process: it goes through the size and rate limits, verify, parse, the
raw store, `record_call_event` and the desk stream, like a real call, and pops a card marked as a
test at the clinic's desks. Analytics leave TEST_CALLER's calls out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.config import DEFAULTS
from callcenter.core.models import Call, CallEventRecord, RawState, RawWebhook, TrackingNumber
from callcenter.inbound import pbx_accounts
from callcenter.inbound.webhook_secrets import SIGNING_SETTINGS
from webhooks import samples


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    paths: tuple[str, ...]  # what to paste into the PBX, under the public address
    pops: bool = True  # False: the PBX reports a call only once it is over (no card pops)


# In the order of docs/pbx.md's table; the paths are the ones that page tells to paste.
PROVIDERS: tuple[Provider, ...] = (
    Provider("twilio", "Twilio", ("/webhooks/twilio/voice", "/webhooks/twilio/status")),
    Provider("asterisk", "Asterisk / FreePBX", ("/webhooks/asterisk",)),
    Provider("generic", "Generic JSON webhook", ("/webhooks/generic",)),
    Provider("zadarma", "Zadarma", ("/webhooks/zadarma",)),
    Provider("mango", "Mango Office", ("/webhooks/mango",)),
    Provider("yeastar", "Yeastar P-Series", ("/webhooks/yeastar",)),
    Provider("telnyx", "Telnyx", ("/webhooks/telnyx",)),
    Provider("3cx", "3CX", ("/webhooks/3cx", "/3cx/lookup"), pops=False),
)
BY_NAME = {p.name: p for p in PROVIDERS}


def account_path(path: str, provider: str, token: str) -> str:
    """One of the provider's paths as a clinic's own account serves it (its token after the
    mount point: /webhooks/twilio/voice → /webhooks/twilio/c/<token>/voice)."""
    mount = f"/webhooks/{provider}"
    if path.startswith(mount):
        return pbx_accounts.path(provider, token) + path[len(mount):]
    return f"{path}/c/{token}"  # /3cx/lookup → /3cx/lookup/c/<token>


def setting_names(provider: str) -> list[str]:
    """The environment variables that sign the provider's webhooks."""
    return [DEFAULTS[key].env for key in SIGNING_SETTINGS[provider]]


def missing_settings(provider: str, config: Mapping[str, Any]) -> list[str]:
    return [DEFAULTS[key].env for key in SIGNING_SETTINGS[provider] if not config.get(key)]


def public_base(config: Mapping[str, Any], request_base: str) -> str:
    """The address the PBX calls: CALLCENTER_PUBLIC_URL, else the one this page was asked on."""
    return (config.get("PUBLIC_URL") or request_base).rstrip("/")


def last_requests(session: Session) -> dict[str, RawWebhook]:
    """Provider → the newest raw request the session may see (scoped: the admin's clinics, and
    requests that reached no clinic only for an admin of every clinic)."""
    newest = select(func.max(RawWebhook.id)).group_by(RawWebhook.provider)
    rows = session.scalars(select(RawWebhook).where(RawWebhook.id.in_(newest)))
    return {row.provider: row for row in rows}


def test_number(session: Session, clinic_id: int) -> str | None:
    """The tracking number the test call dials: one with a channel first, the oldest first."""
    return session.scalar(
        select(TrackingNumber.e164).where(TrackingNumber.clinic_id == clinic_id)
        .order_by(TrackingNumber.channel_id.is_(None), TrackingNumber.id).limit(1))


class Verdict(enum.StrEnum):
    POPPED = "popped"  # processed; the ringing call went to the desks
    LOGGED = "logged"  # processed; a finished call in the log (3CX)
    NOT_SET_UP = "not_set_up"  # the provider's secret is empty: nothing was sent
    NO_NUMBER = "no_number"  # the clinic has no tracking number to ring
    REJECTED = "rejected"  # 403: the signature (or a binding) refused it
    INVALID = "invalid"  # 400/413: the payload was refused
    FAILED = "failed"  # accepted, but applying it failed (kept for re-processing)
    ERROR = "error"  # any other answer (database down, rate limited)


@dataclass
class TestResult:
    provider: str
    verdict: Verdict
    status: int | None = None  # the webhook route's HTTP answer
    detail: str = ""  # the route's refusal message, or the failure
    missing: list[str] = field(default_factory=list)
    dialed: str | None = None
    raw_id: int | None = None
    call_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.POPPED, Verdict.LOGGED)


def send_test_call(app: Flask, session: Session, provider: str, clinic_id: int, now: datetime,
                   request_base: str) -> TestResult:
    """Post a signed test call to the service's own webhook route and read what became of it.

    `session` (scoped to the admin) only reads the tracking number and the outcome; it must hold
    no write, since the webhook's own transaction takes SQLite's writer lock."""
    config = app.config
    # The clinic's own account when it has one: its URL and its secret are what the PBX uses.
    connection = pbx_accounts.for_clinic(session, clinic_id, provider, config["SECRET_KEY"])
    settings = connection.settings(config) if connection else config
    missing = missing_settings(provider, settings)
    if missing:
        return TestResult(provider, Verdict.NOT_SET_UP, missing=missing)
    dialed = test_number(session, clinic_id)
    if dialed is None:
        return TestResult(provider, Verdict.NO_NUMBER)
    session.commit()  # end the read transaction before the webhook's write
    base = public_base(config, request_base)
    sample = samples.ringing(provider, samples.Ring(samples.new_call_id(), dialed, now), settings,
                             base, pbx_accounts.path(provider, connection.token) if connection else "")
    # A fresh application context: the webhook request must not share this page's `g` (its
    # database session and signed-in staff member).
    with app.app_context():
        response = app.test_client().post(sample.path, data=sample.body, headers=sample.headers,
                                          base_url=base)
    answer = response.get_json(silent=True) if response.is_json else None
    result = TestResult(provider, Verdict.ERROR, status=response.status_code, dialed=dialed)
    if response.status_code >= 300:
        result.detail = str((answer or {}).get("message") or response.status)
        result.raw_id = (answer or {}).get("raw_id")
        result.verdict = {403: Verdict.REJECTED, 400: Verdict.INVALID,
                          413: Verdict.INVALID}.get(response.status_code, Verdict.ERROR)
        return result
    raw = session.scalar(select(RawWebhook).where(RawWebhook.provider == provider,
                                                  RawWebhook.received_at >= now)
                         .order_by(RawWebhook.id.desc()).limit(1))
    if raw is not None:
        result.raw_id = raw.id
        if raw.state == RawState.FAILED:
            result.verdict, result.detail = Verdict.FAILED, raw.error
            return result
        result.call_id = session.scalar(
            select(Call.id).join(CallEventRecord, CallEventRecord.call_id == Call.id)
            .where(CallEventRecord.raw_webhook_id == raw.id).limit(1))
    result.verdict = Verdict.POPPED if BY_NAME[provider].pops else Verdict.LOGGED
    return result
