"""/admin: unassigned tracking numbers get a channel, failed webhooks are processed again."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from callcenter.core.models import Call, Channel, RawState, RawWebhook, Staff, StaffRole
from callcenter.inbound.calls import record_call_event
from tests import factories as f
from webhooks import CallEventKind as K

CONFIG: dict[str, Any] = {"TIMEZONE": "Europe/Moscow", "LOCALE": "en", "REGION": "RU"}


def test_admin_assigns_a_channel_from_the_page(client, session: Session) -> None:
    clinic = f.clinic(session)
    session.add(Channel(code="billboard", name="Billboard on the ring road"))
    record_call_event(session, f.event(K.RINGING, dialed="+74959990000"), config=CONFIG)
    session.commit()
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None, locale="en")
    page = client.get("/admin").get_data(as_text=True)
    assert "Numbers without a channel" in page and "+74959990000" in page
    number_id = re.search(r'action="/admin/tracking-numbers/(\d+)"', page).group(1)
    channel_id = session.scalar(select(Channel.id).where(Channel.code == "billboard"))
    response = client.post(f"/admin/tracking-numbers/{number_id}", data={"channel_id": channel_id})
    assert response.status_code == 302
    assert "past calls re-attributed: 1" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    session.expire_all()
    assert session.scalars(select(Call)).one().channel_id == channel_id
    assert "+74959990000" not in client.get("/admin").get_data(as_text=True)


def test_failed_webhook_listed_and_processed_again(client, session: Session) -> None:
    raw = RawWebhook(provider="generic", path="", method="POST", query="", headers={}, body=b"{}",
                     state=RawState.FAILED, error="OperationalError: database is locked")
    session.add(raw)
    session.commit()
    f.signed_in(client, session, role="admin", extension=None, locale="en")
    page = client.get("/admin").get_data(as_text=True)
    assert "database is locked" in page and f"/admin/webhooks/{raw.id}/reprocess" in page
    response = client.post(f"/admin/webhooks/{raw.id}/reprocess")
    assert response.status_code == 302
    session.expire_all()
    # Without its signature headers the stored request cannot be verified again: kept, rejected.
    assert session.get(RawWebhook, raw.id).state == RawState.REJECTED


def test_a_doctor_cannot_sign_in_to_pages(client, session: Session) -> None:
    clinic = f.clinic(session)
    session.add(Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, login="dr", first_name="D",
                      last_name="R", password_hash=hash_password("pw")))
    session.commit()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"login": "dr", "password": "pw", "csrf_token": token})
    assert response.status_code == 403
    assert client.get("/").headers["Location"].endswith("/login")
