"""/admin/numbers (both databases): channels and tracking numbers by their rules; the main line
off the "numbers without a channel" list and told apart in the reports."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.analytics import REPORTS, Filters
from callcenter.core.models import AuditLog, Call, Channel, Clinic, TrackingNumber
from callcenter.inbound.calls import record_call_event
from tests import factories as f
from webhooks import CallEventKind as K

CONFIG: dict[str, Any] = {"TIMEZONE": "Europe/Moscow", "LOCALE": "en", "REGION": "RU"}
MARCH = Filters(clinic_id=0, tz=ZoneInfo("Europe/Moscow"), start=date(2026, 3, 1),
                end=date(2026, 3, 31))


def _admin(client: Any, session: Session, clinic: Clinic, locale: str = "en") -> None:
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None, locale=locale)


def _counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Channel)) or 0,
            session.scalar(select(func.count()).select_from(TrackingNumber)) or 0)


def test_admin_builds_channels_and_numbers(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    _admin(client, session, clinic)
    assert client.post("/admin/channels", data={"name": "Yandex Direct", "code": "yandex_direct",
                                                "offered_as_answer": "1"}).status_code == 302
    channel = session.scalars(select(Channel)).one()
    assert (channel.code, channel.name, channel.offered_as_answer, channel.active) == (
        "yandex_direct", "Yandex Direct", True, True)
    # Typed as people write it; stored as E.164 in the clinic's numbering plan.
    added = client.post("/admin/numbers", data={"e164": "8 (495) 123-45-67", "clinic_id": clinic.id,
                                                "channel_id": channel.id, "label": "search ads"})
    assert added.status_code == 302
    number = session.scalars(select(TrackingNumber)).one()
    assert (number.e164, number.clinic_id, number.channel_id, number.label, number.main_line,
            number.auto_created) == ("+74951234567", clinic.id, channel.id, "search ads", False, False)
    page = client.get(added.headers["Location"]).get_data(as_text=True)
    assert "Number added" in page and "8 (495) 123-45-67" in page

    assert client.post(f"/admin/channels/{channel.id}", data={"name": "Yandex search ads",
                                                              "code": "changed"}).status_code == 302
    assert client.post(f"/admin/numbers/{number.id}", data={
        "clinic_id": clinic.id, "channel_id": channel.id, "label": "search, spring"}).status_code == 302
    assert client.post(f"/admin/channels/{channel.id}/active", data={"active": "0"}).status_code == 302
    session.expire_all()
    assert (channel.name, channel.code, channel.offered_as_answer, channel.active) == (
        "Yandex search ads", "yandex_direct", False, False)  # the code never changes
    assert (number.label, number.channel_id) == ("search, spring", channel.id)  # kept its channel
    form = client.get("/admin/numbers").get_data(as_text=True).split('id="numbers"')[0]
    assert ">Yandex search ads</option>" not in form  # a retired channel is not offered anew
    assert client.post(f"/admin/numbers/{number.id}/active", data={"active": "0"}).status_code == 302
    session.expire_all()
    assert number.active is False
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["create_channel", "create_tracking_number", "rename_channel",
                       "edit_tracking_number", "retire_channel", "retire_tracking_number"]


@pytest.mark.parametrize(("form", "field"), [
    ({"name": "", "code": "radio"}, "name"),
    ({"name": "   ", "code": "radio"}, "name"),
    ({"name": "Radio", "code": ""}, "code"),
    ({"name": "Radio", "code": "Radio FM"}, "code"),
    ({"name": "Radio", "code": "unattributed"}, "code"),
    ({"name": "Radio", "code": "maps"}, "code"),  # taken
    ({"name": "x" * 201, "code": "radio"}, "name"),
])
def test_bad_channel_names_the_field_and_saves_nothing(client: Any, session: Session,
                                                       form: dict[str, str], field: str) -> None:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "maps", "+74951230001")
    session.commit()
    _admin(client, session, clinic)
    answer = client.post("/admin/channels", data=form)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and f'id="err-{field}" data-field="{field}"' in page
    assert _counts(session) == (1, 1)


@pytest.mark.parametrize(("change", "field"), [
    ({"e164": ""}, "e164"),
    ({"e164": "call us"}, "e164"),
    ({"e164": "+7 495 123-00-01"}, "e164"),  # this clinic's own number already
    ({"e164": "+7 495 123-00-99"}, "e164"),  # another clinic's number: one number, one clinic
    ({"channel_id": "999999"}, "channel_id"),
    ({"channel_id": "retired"}, "channel_id"),
    ({"label": "x" * 201}, "label"),
])
def test_bad_number_names_the_field_and_saves_nothing(client: Any, session: Session,
                                                      change: dict[str, str], field: str) -> None:
    clinic, other = f.clinic(session), f.clinic(session, name="Other clinic")
    f.channel_number(session, clinic, "maps", "+74951230001")
    f.channel_number(session, other, "billboard", "+74951230099")
    retired = Channel(code="old_radio", name="Old radio", active=False)
    session.add(retired)
    session.commit()
    _admin(client, session, clinic, locale="ru")
    form = {"e164": "+74951230002", "clinic_id": clinic.id, "channel_id": "", "label": "",
            **change}
    if form["channel_id"] == "retired":
        form["channel_id"] = retired.id
    answer = client.post("/admin/numbers", data=form)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and f'id="err-{field}" data-field="{field}"' in page
    assert "Ничего не сохранено" in page
    assert _counts(session) == (3, 2)


def test_another_clinics_number_and_channel_answer_404(client: Any, session: Session) -> None:
    mine, theirs = f.clinic(session), f.clinic(session, name="Other clinic")
    number = f.channel_number(session, theirs, "billboard", "+74951230099")
    session.commit()
    _admin(client, session, mine)
    form = {"clinic_id": mine.id, "channel_id": "", "label": "mine now", "main_line": "1"}
    assert client.get(f"/admin/numbers/{number.id}").status_code == 404
    assert client.post(f"/admin/numbers/{number.id}", data=form).status_code == 404
    assert client.post(f"/admin/numbers/{number.id}/active", data={"active": "0"}).status_code == 404
    assert client.get(f"/admin/channels/{number.channel_id}").status_code == 404
    assert client.post(f"/admin/channels/{number.channel_id}", data={"name": "X"}).status_code == 404
    assert client.post(f"/admin/channels/{number.channel_id}/active",
                       data={"active": "0"}).status_code == 404
    assert client.post("/admin/numbers", data={"e164": "+74951230005",
                                               "clinic_id": theirs.id}).status_code == 404
    assert client.get("/admin/numbers/999999").status_code == 404
    assert "+74951230099" not in client.get("/api/tracking-numbers").get_data(as_text=True)
    session.expire_all()
    assert (number.clinic_id, number.label, number.main_line, number.active) == (
        theirs.id, "billboard", False, True)
    assert _counts(session) == (1, 1)


def test_main_line_leaves_the_unassigned_list_and_reads_as_main_line(client: Any,
                                                                     session: Session) -> None:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "maps", "+74951230001")
    events = (("c1", "+74951230001"), ("c2", "+74951110000"), ("c3", "+74951110000"),
              ("c4", "+74952220000"), ("c5", None))
    for call_id, dialed in events:  # the main line and a new ad number arrive unknown
        record_call_event(session, f.event(K.RINGING, call_id=call_id, dialed=dialed), config=CONFIG)
    session.commit()
    main = session.scalars(select(TrackingNumber).where(TrackingNumber.e164 == "+74951110000")).one()
    _admin(client, session, clinic)
    unassigned = client.get("/admin").get_data(as_text=True)
    assert "+74951110000" in unassigned and "+74952220000" in unassigned

    saved = client.post(f"/admin/numbers/{main.id}", data={
        "clinic_id": clinic.id, "channel_id": "", "label": "reception", "main_line": "1"})
    assert saved.status_code == 302
    unassigned = client.get("/admin").get_data(as_text=True)
    assert "+74951110000" not in unassigned and "+74952220000" in unassigned
    listed = {n["e164"]: n for n in client.get("/api/tracking-numbers").get_json()}
    assert listed["+74951110000"]["main_line"] is True and listed["+74952220000"]["main_line"] is False
    pending = client.get("/api/tracking-numbers?unattributed=1").get_json()
    assert [n["e164"] for n in pending] == ["+74952220000"]

    flt = Filters(**{**MARCH.__dict__, "clinic_id": clinic.id})
    by_line = {(r["channel"], r["line"]): r["calls"] for r in REPORTS["channels"].build(session, flt)}
    assert by_line == {("Maps", "channel"): 1, (None, "main_line"): 2, (None, "no_channel"): 1,
                       (None, "no_number"): 1}
    by_number = {r["tracking_number"]: r["line"] for r in
                 REPORTS["tracking_numbers"].build(session, flt)}
    assert by_number == {"+74951230001 maps": "channel", "+74951110000 reception": "main_line",
                         "+74952220000 unassigned number": "no_channel", None: "no_number"}
    dashboard = client.get("/marketing?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    channels = dashboard.split('id="report-channels"')[-1].split("</table>")[0]
    for label in ("main line", "number without a channel", "no tracking number"):
        assert channels.count(label) == 1, label


def test_api_sets_the_main_line_and_refuses_a_non_boolean(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    number = f.channel_number(session, clinic, "maps", "+74951230001")
    session.commit()
    _admin(client, session, clinic)
    bad = client.patch(f"/api/tracking-numbers/{number.id}", json={"channel": None, "main_line": "yes"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "main_line"
    session.expire_all()
    assert (number.channel_id is not None, number.main_line) == (True, False)
    good = client.patch(f"/api/tracking-numbers/{number.id}", json={"channel": None, "main_line": True})
    assert good.status_code == 200 and good.get_json()["main_line"] is True
    session.expire_all()
    assert (number.channel_id, number.main_line) == (None, True)
    assert session.scalar(select(func.count()).select_from(Call)) == 0


def test_a_retired_channel_is_offered_nowhere_anew(app: Any, client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    kept = f.channel_number(session, clinic, "radio", "+74951230001")
    record_call_event(session, f.event(K.RINGING, dialed="+74951110000"), config=CONFIG)
    session.commit()
    unassigned = session.scalars(select(TrackingNumber).where(
        TrackingNumber.e164 == "+74951110000")).one()
    desk = app.test_client()
    f.signed_in(desk, session, role="receptionist", clinic_row=clinic)
    assert '"radio"' in desk.get("/desk").get_data(as_text=True)  # a "how did you hear" answer
    _admin(client, session, clinic)
    assert client.post(f"/admin/channels/{kept.channel_id}/active",
                       data={"active": "0"}).status_code == 302
    assert ">Radio</option>" not in client.get("/admin").get_data(as_text=True)
    client.post(f"/admin/tracking-numbers/{unassigned.id}", data={"channel_id": kept.channel_id})
    refused = client.patch(f"/api/tracking-numbers/{unassigned.id}", json={"channel": "radio"})
    assert refused.status_code == 400 and refused.get_json()["field"] == "channel"
    session.expire_all()
    assert unassigned.channel_id is None
    # The number that has it keeps it, through the API too.
    kept_again = client.patch(f"/api/tracking-numbers/{kept.id}", json={"channel": "radio"})
    assert kept_again.status_code == 200
    assert '"radio"' not in desk.get("/desk").get_data(as_text=True)
