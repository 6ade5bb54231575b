"""Retention: raw webhooks and recording links are kept only as long as the clinic's policy says.

Calls themselves stay (they are the statistics); a processed raw webhook has done its job once its
call is recorded, and a recording link outlives its use. Refused and failed webhooks are kept
longer, for security review and re-processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from callcenter.core.models import Call, CallEventRecord, RawState, RawWebhook


@dataclass(frozen=True)
class Pruned:
    raw_webhooks: int
    recordings: int


def prune(session: Session, now: datetime, *, raw_days: int, review_days: int, recording_days: int,
          dry_run: bool = False) -> Pruned:
    """Delete processed raw webhooks older than raw_days (refused/failed: review_days) and forget
    recording links of calls older than recording_days. The caller commits."""
    processed_before = now - timedelta(days=raw_days)
    review_before = now - timedelta(days=review_days)
    old_raw = select(RawWebhook.id).where(
        ((RawWebhook.state == RawState.PROCESSED) & (RawWebhook.received_at < processed_before))
        | ((RawWebhook.state != RawState.PROCESSED) & (RawWebhook.received_at < review_before))
    )
    old_calls = (Call.started_at < now - timedelta(days=recording_days)) & Call.recording_url.is_not(None)
    counted = Pruned(
        raw_webhooks=session.scalar(select(func.count()).select_from(old_raw.subquery())) or 0,
        recordings=session.scalar(select(func.count(Call.id)).where(old_calls)) or 0,
    )
    if dry_run:
        return counted
    ids = old_raw.scalar_subquery()
    session.execute(update(CallEventRecord).where(CallEventRecord.raw_webhook_id.in_(ids))
                    .values(raw_webhook_id=None).execution_options(synchronize_session=False))
    session.execute(delete(RawWebhook).where(RawWebhook.id.in_(ids))
                    .execution_options(synchronize_session=False))
    session.execute(update(Call).where(old_calls).values(recording_url=None)
                    .execution_options(synchronize_session=False))
    return counted
