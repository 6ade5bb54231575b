"""Retention: old processed webhooks and recording links go; calls, and refused webhooks under
review, stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.access.retention import prune
from callcenter.core.models import Call, CallEventRecord, RawState, RawWebhook
from callcenter.inbound.calls import record_call_event
from tests import factories as f
from webhooks import CallEventKind as K

CONFIG: dict[str, Any] = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}


def _raw(session: Session, state: RawState, age_days: int) -> RawWebhook:
    raw = RawWebhook(provider="generic", path="", method="POST", query="", headers={}, body=b"{}",
                     state=state, received_at=f.T0 - timedelta(days=age_days))
    session.add(raw)
    session.flush()
    return raw


def test_prune_keeps_calls_and_what_is_under_review(session: Session) -> None:
    old_processed = _raw(session, RawState.PROCESSED, 100)
    recent = _raw(session, RawState.PROCESSED, 10)
    refused = _raw(session, RawState.REJECTED, 100)
    ancient_refused = _raw(session, RawState.REJECTED, 400)
    old_call = f.event(K.RECORDING, -100 * 86400, call_id="old", recording_url="https://r/1.mp3")
    record_call_event(session, old_call, config=CONFIG, raw_webhook_id=old_processed.id)
    new_call = f.event(K.RECORDING, 0, call_id="new", recording_url="https://r/2.mp3")
    record_call_event(session, new_call, config=CONFIG, raw_webhook_id=recent.id)
    session.commit()
    ids = {name: raw.id for name, raw in [("old", old_processed), ("recent", recent),
                                          ("refused", refused), ("ancient", ancient_refused)]}
    kwargs = {"raw_days": 90, "review_days": 365, "recording_days": 30}
    counted = prune(session, f.T0, dry_run=True, **kwargs)
    assert (counted.raw_webhooks, counted.recordings) == (2, 1)
    assert session.scalar(select(func.count(RawWebhook.id))) == 4  # a dry run changes nothing
    prune(session, f.T0, **kwargs)
    session.commit()
    session.expire_all()
    assert set(session.scalars(select(RawWebhook.id))) == {ids["recent"], ids["refused"]}
    calls = {c.provider_call_id: c for c in session.scalars(select(Call))}
    assert calls["old"].recording_url is None and calls["new"].recording_url == "https://r/2.mp3"
    assert session.scalar(select(func.count(CallEventRecord.id))) == 2  # events stay, unlinked
