"""The outbox on both databases: idempotent enqueue, refusals honoured, statuses only forward,
a lost worker's claim settled by asking the provider, the webhook edge storing what it refuses."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from callcenter.core.models import (
    DialTask,
    Message,
    MessagePurpose,
    MessageStatus,
    OptOut,
    RawState,
    RawWebhook,
    TaskPurpose,
    TaskState,
    utcnow,
)
from callcenter.messaging import optout, outbox, sending
from callcenter.messaging.providers import MessageEvent, provider_for
from callcenter.messaging.providers.base import Sent
from callcenter.messaging.send_rate import SendRate
from tests import factories as f
from tests.conftest import app_settings
from tests.sms_env import TOKEN, provider_settings, start_fake

PHONE = "+79161234500"
MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
def fake() -> Iterator[Any]:
    server = start_fake("twilio")
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, fake: Any) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, SMS_WINDOW="00:00-24:00",
                        **provider_settings("twilio", fake))


def _draft(clinic_id: int, key: str | None = "confirmation:1:1") -> outbox.Draft:
    return outbox.Draft(clinic_id, MessagePurpose.CONFIRMATION, PHONE, "Напоминаем", dedupe_key=key)


def test_one_text_per_key_and_none_to_a_refusal(app: Any, session: Session) -> None:
    clinic = f.clinic(session)
    config = app.config
    first = outbox.enqueue(session, _draft(clinic.id), utcnow(), config)
    again = outbox.enqueue(session, _draft(clinic.id), utcnow(), config)
    session.commit()
    assert first is not None and again is None
    assert session.scalar(select(Message.status).where(Message.id == first)) is MessageStatus.QUEUED

    assert optout.record(session, clinic.id, PHONE, None, utcnow())
    assert not optout.record(session, clinic.id, PHONE, None, utcnow())  # once is enough
    session.commit()
    # The queued text is withdrawn, and nothing new is stored for the number.
    assert session.scalar(select(Message.status).where(Message.id == first)) is MessageStatus.CANCELLED
    assert outbox.enqueue(session, _draft(clinic.id, "text_back:x"), utcnow(), config) is None
    assert session.scalars(select(OptOut.scope).where(OptOut.e164 == PHONE)).all() == ["sms"]


def test_a_refusal_of_calls_too_drops_the_pending_calls(app: Any, session: Session) -> None:
    clinic = f.clinic(session)
    patient = f.patient(session, clinic, PHONE)
    session.add(DialTask(clinic_id=clinic.id, patient_id=patient.id, purpose=TaskPurpose.RECALL,
                         due_date=utcnow().date(), phone=PHONE, state=TaskState.PENDING))
    session.commit()
    optout.record(session, clinic.id, PHONE, patient.id, utcnow(), scope="all")
    session.commit()
    assert session.scalar(select(DialTask.state)) is TaskState.CANCELLED


def test_statuses_only_move_forward(app: Any, session: Session) -> None:
    clinic = f.clinic(session)
    message_id = outbox.enqueue(session, _draft(clinic.id), utcnow(), app.config)
    assert message_id is not None
    session.commit()

    def status(value: MessageStatus) -> MessageStatus:
        outbox.apply_status(session, MessageEvent("twilio", "status", "SM1", value, message_id=message_id),
                            utcnow())
        session.commit()
        message = session.get(Message, message_id)
        assert message is not None
        return message.status

    assert status(MessageStatus.DELIVERED) is MessageStatus.DELIVERED
    assert status(MessageStatus.SENT) is MessageStatus.DELIVERED  # a late "sent" changes nothing
    assert status(MessageStatus.UNDELIVERED) is MessageStatus.DELIVERED


def test_a_delivery_reported_while_the_sender_records_its_send_is_kept(app: Any, session: Session) -> None:
    """Twilio calls back within milliseconds of accepting a text: on PostgreSQL its
    "delivered" landed between the sender's read of the row and its commit, and the sender's
    "sent" overwrote it (the rating question stayed "sent" for good)."""
    runtime = app.extensions["callcenter"]
    clinic = f.clinic(session)
    message_id = outbox.enqueue(session, _draft(clinic.id), utcnow(), app.config)
    assert message_id is not None
    session.get(Message, message_id).status = MessageStatus.SENDING
    session.commit()

    def callback() -> None:
        with runtime.write_guard(), runtime.sessions() as other:
            outbox.apply_status(other, MessageEvent("twilio", "status", "SM9", MessageStatus.DELIVERED,
                                                    message_id=message_id), utcnow())
            other.commit()

    with runtime.write_guard(), runtime.sessions() as sender:
        sending._load(sender, [message_id])  # the sender's own steps, as in _send_group
        outbox.record_sent(sender, message_id, Sent("SM9", MessageStatus.SENT), utcnow())
        reporter = threading.Thread(target=callback)
        reporter.start()
        reporter.join(0.5)  # it waits for the sender's commit now; before, it was done by here
        sender.commit()
    reporter.join(30)
    assert not reporter.is_alive()
    session.expire_all()
    assert session.get(Message, message_id).status is MessageStatus.DELIVERED


def test_a_lost_workers_claim_is_settled_with_the_provider(app: Any, session: Session, fake: Any) -> None:
    clinic = f.clinic(session)
    config = app.config
    handed = outbox.enqueue(session, _draft(clinic.id, "a"), utcnow(), config)
    lost = outbox.enqueue(session, outbox.Draft(clinic.id, MessagePurpose.DESK, "+79161234501", "Ответ"),
                          utcnow(), config)
    session.commit()
    assert handed is not None and lost is not None
    provider = provider_for("twilio", config)
    assert provider is not None
    # Both claimed; the first reached the provider before the worker died, the second did not.
    long_ago = utcnow() - timedelta(minutes=10)
    for message_id in (handed, lost):
        claimed = outbox.claim(session, message_id, long_ago, config, "")
        assert not isinstance(claimed, str)
        if message_id == handed:
            provider.send(claimed)
    assert sending.recover(session, provider, utcnow(), config) == 2
    session.expire_all()
    first, second = session.get(Message, handed), session.get(Message, lost)
    assert first is not None and second is not None
    assert first.status is MessageStatus.SENT and first.provider_message_id
    assert second.status is MessageStatus.QUEUED and second.provider_message_id is None
    assert len(fake.to(PHONE)) == 1


def test_the_window_waits_for_the_morning() -> None:
    evening = datetime(2026, 3, 10, 19, 30, tzinfo=UTC)  # 22:30 in Moscow
    opens = outbox.window_opens(evening, MOSCOW, (time(9), time(21)))
    assert opens.astimezone(MOSCOW) == datetime(2026, 3, 11, 9, 0, tzinfo=MOSCOW)
    noon = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert outbox.window_opens(noon, MOSCOW, (time(9), time(21))) == noon


def test_webhook_edge_refuses_unsigned_and_malformed_and_keeps_them(client: Any, session: Session) -> None:
    body = {"MessageSid": "SM1", "MessageStatus": "delivered", "AccountSid": "AC1"}
    unsigned = client.post("/webhooks/sms/twilio/status", data=body)
    assert unsigned.status_code == 403 and unsigned.json["error"] == "bad_signature"
    url = "http://localhost/webhooks/sms/twilio/status"
    signature = RequestValidator(TOKEN).compute_signature(url, {"MessageStatus": "delivered"})
    malformed = client.post("/webhooks/sms/twilio/status", data={"MessageStatus": "delivered"},
                            headers={"X-Twilio-Signature": signature})
    assert malformed.status_code == 400 and malformed.json["field"] == "MessageSid"
    assert client.post("/webhooks/sms/nobody", data=urlencode(body)).status_code == 404
    states = session.scalars(select(RawWebhook.state).order_by(RawWebhook.id)).all()
    assert states == [RawState.REJECTED, RawState.INVALID]


def test_erasure_removes_the_texts_words_and_number(app: Any, session: Session) -> None:
    from callcenter.access import privacy

    clinic = f.clinic(session)
    patient = f.patient(session, clinic, PHONE)
    message_id = outbox.enqueue(session, outbox.Draft(clinic.id, MessagePurpose.DESK, PHONE, "Личное",
                                                      patient_id=patient.id), utcnow(), app.config)
    session.commit()
    assert [m["body"] for m in privacy.export(session, patient.id, utcnow())["messages"]] == ["Личное"]
    privacy.erase(session, patient.id, None, utcnow())
    session.commit()
    message = session.get(Message, message_id)
    assert message is not None and message.body == "" and PHONE not in message.phone
    assert message.status is MessageStatus.CANCELLED


def test_send_slots_never_exceed_the_limit_in_any_calendar_second(redis_url: str) -> None:
    """Three senders (one a slow one taking a late slot) share the provider's 20 per second."""
    connection = redis.Redis.from_url(redis_url)
    senders = [SendRate(connection, "sms:test", 20) for _ in range(3)]
    slots = [senders[n % 3].grant()[0] for n in range(200)]
    per_second: dict[int, int] = {}
    for slot in slots:
        per_second[slot // 1_000_000] = per_second.get(slot // 1_000_000, 0) + 1
        # Every slot leaves the last 12 % of its second clear for a request handed over late.
        assert slot % 1_000_000 <= 880_000
    assert slots == sorted(slots) and sum(per_second.values()) == 200
    # Asked for ten times the limit, the share is reached, never passed.
    assert max(per_second.values()) == 20
    connection.close()


def test_a_rate_below_one_per_second_gets_one_text_per_longer_window(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    rate = SendRate(connection, "sms:slow", 0.5)
    first, second = rate.grant()[0], rate.grant()[0]
    assert (rate.permits, second // 2_000_000 - first // 2_000_000) == (1, 1)
    connection.close()
