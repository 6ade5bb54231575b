"""The changes feed's cursor on PostgreSQL with two real transactions committing out of order:
an event whose transaction commits after a later one is still read, once. (SQLite has one
writer at a time, so its events commit in id order; see callcenter/exchange/feed.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from callcenter.core import events_out
from callcenter.core.models import Patient, Sex
from callcenter.exchange.tokens import create_token
from tests import factories as f


@pytest.fixture
def token(session: Session) -> tuple[int, str]:
    clinic = f.clinic(session)
    f.set_up(session, clinic)
    _, secret = create_token(session, clinic.id, "feed", ["changes:read"])
    session.commit()
    return clinic.id, secret


@pytest.fixture
def writers(app: Any) -> Iterator[tuple[Session, Session]]:
    """Two sessions on connections of their own: two concurrent transactions."""
    first, second = app.extensions["callcenter"].sessions(), app.extensions["callcenter"].sessions()
    yield first, second
    first.close()
    second.close()


def _new_card(session: Session, clinic_id: int, name: str) -> str:
    """A card and its patient.created event, written and flushed but not committed."""
    patient = Patient(clinic_id=clinic_id, last_name=name, first_name="Test", sex=Sex.UNKNOWN,
                      preferred_language="ru")
    session.add(patient)
    event = events_out.patient_created(patient, datetime.now(UTC))
    session.flush()
    return event.uid


class Reader:
    """A connector polling the feed, keeping its cursor and everything it read."""

    def __init__(self, client: Any, secret: str) -> None:
        self.client, self.secret, self.cursor = client, secret, ""
        self.read: list[dict[str, Any]] = []

    def poll(self) -> list[str]:
        answer = self.client.get(f"/api/sync/changes?since={self.cursor}&limit=1000",
                                 headers={"Authorization": f"Bearer {self.secret}"})
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        self.read += body["changes"]
        self.cursor = body["next"]
        return [event["id"] for event in body["changes"]]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_event_committed_late_is_not_stepped_over(
        client: Any, token: tuple[int, str], writers: tuple[Session, Session]) -> None:
    clinic_id, secret = token
    early, late = writers
    reader = Reader(client, secret)

    # 1. The first transaction writes its event, the second writes one after it and commits
    #    first: the feed waits for the first rather than pass it.
    first = _new_card(early, clinic_id, "First")
    second = _new_card(late, clinic_id, "Second")
    late.commit()
    assert reader.poll() == []
    early.commit()
    assert reader.poll() == [first, second]

    # 2. The second transaction starts (takes its id) first, the first writes the lower event
    #    id, the second commits: the second's event is shown at once, and the first's after it
    #    commits, although its sequence number is below the cursor's by then.
    late.execute(text("SELECT pg_current_xact_id()"))
    third = _new_card(early, clinic_id, "Third")
    fourth = _new_card(late, clinic_id, "Fourth")
    late.commit()
    assert reader.poll() == [fourth]
    early.commit()
    assert reader.poll() == [third]
    sequences = {event["id"]: event["sequence"] for event in reader.read}
    assert sequences[third] < sequences[fourth]  # an id cursor would have skipped "Third"

    # 3. A transaction that rolls back leaves nothing; everything was read once.
    _new_card(early, clinic_id, "Rolled back")
    early.rollback()
    assert reader.poll() == []
    ids = [event["id"] for event in reader.read]
    assert ids == [first, second, fourth, third] and len(set(ids)) == 4
