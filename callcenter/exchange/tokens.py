"""Integration tokens for the sync API: made for one clinic with some scopes, shown once, kept
as a hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.clinic_scope import PAST_SCOPE
from callcenter.core.inputs import InputError
from callcenter.core.models import IntegrationToken
from callcenter.exchange.columns import KINDS

PREFIX = "cct_"
CHANGES_SCOPE = "changes:read"
SCOPES = (*(f"{kind}:write" for kind in KINDS), CHANGES_SCOPE)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, clinic_id: int, name: str,
                 scopes: list[str] | None = None) -> tuple[IntegrationToken, str]:
    """A new token (every scope unless some are named) and its secret, which is not kept."""
    chosen = list(scopes) if scopes else list(SCOPES)
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown:
        raise InputError("scope", "unknown scope {scope}; the scopes are: {choices}",
                         scope=unknown[0][:40], choices=", ".join(SCOPES))
    secret = PREFIX + secrets.token_urlsafe(32)
    row = IntegrationToken(clinic_id=clinic_id, name=name.strip()[:80] or "connector",
                           token_hash=_hash(secret), prefix=secret[:12], scopes=chosen)
    session.add(row)
    session.flush()
    return row, secret


def find_token(session: Session, secret: str) -> IntegrationToken | None:
    """The live token with this secret, whichever clinic it serves (it is what says which)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(IntegrationToken).where(IntegrationToken.token_hash == _hash(secret))
                         .execution_options(**PAST_SCOPE))
    return row if row is not None and row.revoked_at is None else None


def revoke_token(session: Session, token_id: int, now: datetime) -> IntegrationToken:
    row = session.get(IntegrationToken, token_id)
    if row is None:
        raise LookupError(f"no integration token {token_id}")
    row.revoked_at = row.revoked_at or now
    return row
