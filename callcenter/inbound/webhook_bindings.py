"""Bindings: what the first accepted webhook fixed for a call where a signature leaves gaps.

A provider whose signature covers only some fields (Zadarma) or nothing at all (3CX's shared
key) lets a captured request be re-sent with the uncovered fields changed. The adapter names,
per request, the facts it relies on (webhooks.Binding); here the first request under a key
records them and every later one must agree, in the transaction that applies the events, so a
refused request applies nothing and an accepted one cannot be half-bound.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import WebhookBinding, utcnow
from webhooks import Binding


@dataclass(frozen=True)
class Conflict:
    """Why a request was refused: the field that does not agree with what was bound."""

    field: str
    message: str


def _digest(secret: str, text: str) -> str:
    # Keyed: keys and facts hold phone numbers, which a plain hash would give away by brute force.
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def check(session: Session, provider: str, claims: Iterable[Binding],
          secret: str) -> Conflict | None:
    """Record the claims not yet bound; the first that disagrees with a bound one is returned."""
    for claim in claims:
        key = _digest(secret, f"{claim.scope}\n{claim.key}")
        facts = _digest(secret, json.dumps(dict(claim.facts), sort_keys=True))
        where = (WebhookBinding.provider == provider, WebhookBinding.scope == claim.scope,
                 WebhookBinding.key_digest == key)
        row = session.scalars(select(WebhookBinding).where(*where)).one_or_none()
        if row is None:
            session.execute(insert_ignoring_conflicts(session, WebhookBinding).values(
                provider=provider, scope=claim.scope, key_digest=key, call_key=claim.call[:200],
                facts_digest=facts, created_at=utcnow()))
            # A concurrent delivery may have bound the key first: compare with whatever won.
            row = session.scalars(select(WebhookBinding).where(*where)).one()
        if row.call_key != claim.call[:200]:
            return Conflict(claim.field, f"these {claim.scope} facts already belong to another "
                                         "call")
        if row.facts_digest != facts:
            return Conflict(claim.field, f"disagrees with the {claim.scope} facts first "
                                         "accepted for this call")
    return None
