"""The card never loses work: what a receptionist typed on a call's card (outcome, "how did you
hear", notes) is kept per call and staff member until the wrap-up is saved.

Kept on the server rather than in the browser's storage: the desk is a shared computer, and
localStorage would hold patient notes unencrypted after sign-out and past the idle lock (which
removes every card from the page); a server-side draft is behind the same sign-in, clinic scope,
erasure and backups as the call itself, and follows the receptionist to another computer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import Call, CallDraft, CallOutcome


def save(session: Session, call: Call, staff_id: int, now: datetime, *, outcome: CallOutcome | None,
         heard_from: str, notes: str) -> None:
    """Keep the typed values (insert or overwrite: two tabs of one desk converge on the last)."""
    session.execute(insert_ignoring_conflicts(session, CallDraft).values(
        call_id=call.id, staff_id=staff_id, clinic_id=call.clinic_id, outcome="", heard_from="",
        notes="", updated_at=now))
    session.execute(update(CallDraft).where(CallDraft.call_id == call.id,
                                            CallDraft.staff_id == staff_id)
                    .values(outcome=str(outcome) if outcome else "", heard_from=heard_from,
                            notes=notes, updated_at=now))


def discard(session: Session, call_id: int, staff_id: int) -> None:
    """The wrap-up was saved: the draft has done its job."""
    session.execute(delete(CallDraft).where(CallDraft.call_id == call_id,
                                            CallDraft.staff_id == staff_id))


def draft_json(session: Session, call_id: int, staff_id: int | None) -> dict[str, Any] | None:
    """This staff member's draft of the call, as the card restores it; None when there is none."""
    if staff_id is None:
        return None
    draft = session.scalar(select(CallDraft).where(CallDraft.call_id == call_id,
                                                   CallDraft.staff_id == staff_id))
    if draft is None:
        return None
    return {"outcome": draft.outcome or None, "heard_from": draft.heard_from or None,
            "notes": draft.notes, "updated_at": draft.updated_at.isoformat()}
