"""The call card over HTTP on both databases: drafts per call and staff member, today's calls
without an outcome, the new-patient form (language, sex, birth date, labelled numbers,
duplicates, field errors in the staff member's language), recordings streamed through the
service from a local Twilio stand-in (basic auth, byte ranges, audit), and the call history page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import privacy
from callcenter.core.models import AuditLog, Call, CallDraft, Patient, Sex, utcnow
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings
from tests.fake_twilio import FakeTwilio
from tests.wav import tone_wav

SID, TOKEN = "AC" + "c" * 32, "card-twilio-token"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(SID, TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, twilio: FakeTwilio) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, CLICK_TO_CALL="off",
                        TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE=twilio.base_url)


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


def _desk(client: Any, session: Session, staff: Any) -> Any:
    f.open_session(client, session, staff)
    return client


def _call(client: Any, session: Session, name: str, *events: str, **kw: Any) -> Call:
    for event in events:
        body, headers = w.webhook(name, event, **kw)
        assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    call = session.scalars(select(Call).where(Call.provider_call_id == name)).one()
    session.refresh(call)
    return call


def test_a_draft_is_kept_per_staff_member_until_the_wrap_up(app: Any, session: Session,
                                                          world: w.World) -> None:
    anna = _desk(app.test_client(), session, world.anna)
    john = _desk(app.test_client(), session, world.john)
    call = _call(anna, session, "d-1", "ringing", "answered")
    kept = anna.post(f"/api/desk/calls/{call.id}/draft",
                     json={"outcome": "information", "heard_from": "maps_listing", "notes": "Перезвонить"})
    assert kept.status_code == 200, kept.get_json()
    card = anna.get(f"/api/desk/calls/{call.id}/card").get_json()
    assert card["draft"]["notes"] == "Перезвонить" and card["draft"]["outcome"] == "information"
    assert john.get(f"/api/desk/calls/{call.id}/card").get_json()["draft"] is None  # anna's own
    again = anna.post(f"/api/desk/calls/{call.id}/draft", json={"outcome": "", "notes": "Второй вариант"})
    assert again.status_code == 200
    card = anna.get(f"/api/desk/calls/{call.id}/card").get_json()
    assert card["draft"] == {**card["draft"], "notes": "Второй вариант", "outcome": None}

    bad = anna.post(f"/api/desk/calls/{call.id}/draft", json={"outcome": "maybe", "notes": ""})
    assert bad.status_code == 400 and bad.get_json()["field"] == "outcome"
    bad = anna.post(f"/api/desk/calls/{call.id}/draft", json={"notes": "a\x00b"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "notes"

    listed = anna.get("/api/desk/lists").get_json()["without_outcome"]
    assert [(r["call_id"], r["draft"]) for r in listed] == [(call.id, True)]
    assert anna.post(f"/api/desk/calls/{call.id}/wrap-up",
                     json={"outcome": "information", "notes": "Готово"}).status_code == 200
    assert session.scalars(select(CallDraft).where(CallDraft.call_id == call.id)).all() == []
    assert anna.get("/api/desk/lists").get_json()["without_outcome"] == []


def test_only_this_desks_answered_calls_wait_for_an_outcome(app: Any, session: Session,
                                                           world: w.World) -> None:
    anna = _desk(app.test_client(), session, world.anna)
    mine = _call(anna, session, "o-1", "ringing", "answered", "ended", extension="101")
    _call(anna, session, "o-2", "ringing", "answered", extension="102", caller=w.EMILY_PHONE)
    _call(anna, session, "o-3", "ringing", "missed", caller=w.STRANGER_PHONE)
    rows = anna.get("/api/desk/lists").get_json()["without_outcome"]
    assert [r["call_id"] for r in rows] == [mine.id]
    assert rows[0]["name"] == "Соколова Мария Ивановна" and rows[0]["draft"] is False


def test_new_patient_takes_the_clinics_language_and_the_whole_form(app: Any, session: Session,
                                                                  world: w.World) -> None:
    world.clinic.patient_language = "zh"
    session.commit()
    john = _desk(app.test_client(), session, world.john)  # an English desk
    call = _call(john, session, "n-1", "ringing", "answered", caller="+79035550000", extension="102")
    card = john.get(f"/api/desk/calls/{call.id}/card").get_json()
    assert card["new_patient_language"] == "zh" and card["patients"] == []

    made = john.post(f"/api/desk/calls/{call.id}/new-patient",
                     json={"last_name": "王", "first_name": "芳", "sex": "female",
                           "birth_date": "1990-05-17",
                           "phones": [{"number": "8 916 000-11-22", "label": "home"},
                                      {"number": "", "label": "work"}]})
    assert made.status_code == 200, made.get_json()
    patient = session.get(Patient, made.get_json()["call"]["patient_id"])
    session.refresh(patient)
    assert (patient.preferred_language, patient.sex, patient.birth_date) == ("zh", Sex.FEMALE, date(1990, 5, 17))
    assert sorted((p.e164, p.label) for p in patient.phones) == [("+79035550000", "mobile"),
                                                                ("+79160001122", "home")]
    assert made.get_json()["patients"][0]["address"] == "王女士"

    other = _call(john, session, "n-2", "ringing", "answered", caller="+79035550001", extension="102")
    english = john.post(f"/api/desk/calls/{other.id}/new-patient",
                        json={"first_name": "Jane", "last_name": "Doe", "language": "en", "sex": "female"})
    assert english.get_json()["patients"][0]["address"] == "Ms. Doe"  # the "Mr./Ms." of scripts


def test_duplicates_by_number_and_by_name_and_birth_date(app: Any, session: Session,
                                                         world: w.World) -> None:
    world.maria.birth_date = date(1985, 3, 2)
    session.commit()
    anna = _desk(app.test_client(), session, world.anna)
    call = _call(anna, session, "u-1", "ringing", "answered", caller="+79035550002")
    by_number = anna.post(f"/api/desk/calls/{call.id}/new-patient",
                          json={"first_name": "Ольга", "phones": [{"number": w.MARIA_PHONE, "label": "family"}]})
    assert by_number.status_code == 409
    [found] = by_number.get_json()["duplicates"]
    assert found == {"id": world.maria.id, "name": "Соколова Мария Ивановна", "reason": "number",
                     "birth_date": "1985-03-02", "url": f"/desk/patients/{world.maria.id}"}
    assert "уже" in by_number.get_json()["message"]  # in the desk's language

    by_name = anna.post(f"/api/desk/calls/{call.id}/new-patient",
                        json={"last_name": "СОКОЛОВА", "first_name": "мария", "birth_date": "1985-03-02"})
    assert by_name.status_code == 409
    assert by_name.get_json()["duplicates"][0]["reason"] == "name_birth_date"
    assert session.scalar(select(Call.patient_id).where(Call.id == call.id)) is None  # nothing written

    anyway = anna.post(f"/api/desk/calls/{call.id}/new-patient",
                       json={"last_name": "Соколова", "first_name": "Мария", "birth_date": "1985-03-02",
                             "create_anyway": True})
    assert anyway.status_code == 200
    assert anyway.get_json()["call"]["patient_id"] not in (None, world.maria.id)
    views = session.scalars(select(AuditLog).where(AuditLog.action == "view_patient",
                                                   AuditLog.object_id == str(world.maria.id))).all()
    assert {v.details.get("via") for v in views} >= {"duplicate_check"}


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"first_name": "Ян", "birth_date": (date.today() + timedelta(days=400)).isoformat()},
     "birth_date", "сегодня"),
    ({"first_name": "Ян", "birth_date": "17.05.1990"}, "birth_date", "дата"),
    ({"first_name": "Ян", "phones": [{"number": "+79161234567"}, {"number": "12"}]},
     "phones.1.number", "номер"),
    ({"first_name": "Ян", "phones": [{"number": "+79161234567", "label": "pager"}]},
     "phones.0.label", "mobile"),
    ({"first_name": "Ян", "sex": "x"}, "sex", "female"),
    ({"first_name": "Ян", "language": "de"}, "language", "ru"),
    ({"last_name": " "}, "first_name", "имя"),
])
def test_the_form_names_the_field_in_the_staff_members_language(app: Any, session: Session, world: w.World,
                                                                body: dict[str, Any], field: str,
                                                                words: str) -> None:
    anna = _desk(app.test_client(), session, world.anna)
    call = _call(anna, session, "v-1", "ringing", caller="+79035550003")
    refused = anna.post(f"/api/desk/calls/{call.id}/new-patient", json=body)
    assert refused.status_code == 400, refused.get_json()
    assert refused.get_json()["field"] == field and words in refused.get_json()["message"]
    assert session.scalar(select(Call.patient_id).where(Call.id == call.id)) is None


def _recorded_call(session: Session, world: w.World, url: str, provider: str = "twilio") -> Call:
    now = utcnow()
    call = Call(clinic_id=world.clinic.id, provider=provider, provider_call_id=f"CA{provider}{len(url)}",
                direction="inbound", caller=w.MARIA_PHONE, dialed=w.TRACKED, patient_id=world.maria.id,
                started_at=now - timedelta(minutes=5), answered_at=now - timedelta(minutes=4),
                ended_at=now - timedelta(minutes=1), duration=180, status="completed",
                recording_url=url, notes="Просила перезвонить")
    session.add(call)
    session.commit()
    return call


def test_a_twilio_recording_streams_through_the_service_with_ranges(app: Any, session: Session,
                                                                   world: w.World, twilio: FakeTwilio) -> None:
    audio = tone_wav(seconds=1)
    twilio.recordings["RE" + "1" * 32] = audio
    call = _recorded_call(session, world, twilio.recording_url("RE" + "1" * 32))
    anna = _desk(app.test_client(), session, world.anna)

    whole = anna.get(f"/desk/calls/{call.id}/recording")
    assert whole.status_code == 200 and whole.data == audio
    assert whole.headers["Content-Type"] == "audio/x-wav" and whole.headers["Accept-Ranges"] == "bytes"
    part = anna.get(f"/desk/calls/{call.id}/recording", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == audio[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(audio)}"
    past = anna.get(f"/desk/calls/{call.id}/recording", headers={"Range": f"bytes={len(audio) + 5}-"})
    assert past.status_code == 416 and past.get_json()["field"] == "recording"
    assert twilio.media_requests == [None, "bytes=100-199", f"bytes={len(audio) + 5}-"]

    plays = session.scalars(select(AuditLog).where(AuditLog.action == "play_recording")).all()
    assert [(p.staff_id, p.object_id, p.details["range"]) for p in plays] == [
        (world.anna.id, str(call.id), "all"), (world.anna.id, str(call.id), "bytes=100-199"),
        (world.anna.id, str(call.id), f"bytes={len(audio) + 5}-")]
    assert all(p.details["patient_id"] == world.maria.id for p in plays)


class _Listener(BaseHTTPRequestHandler):
    """A recording host that is not Twilio's: it serves the file to anyone and notes what it got."""

    seen: list[str | None] = []

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = tone_wav(seconds=1)
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_credentials_go_only_to_the_providers_own_host(app: Any, session: Session, world: w.World,
                                                      twilio: FakeTwilio) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Listener.seen = []
    try:
        elsewhere = _recorded_call(session, world, f"http://127.0.0.1:{server.server_port}/r.wav")
        anna = _desk(app.test_client(), session, world.anna)
        assert anna.get(f"/desk/calls/{elsewhere.id}/recording").status_code == 200
        assert _Listener.seen == [None]  # the Twilio call's link points elsewhere: no credentials
    finally:
        server.shutdown()
        server.server_close()
    twilio.recordings["RE" + "2" * 32] = tone_wav(seconds=1)
    generic = _recorded_call(session, world, twilio.recording_url("RE" + "2" * 32), provider="generic")
    refused = anna.get(f"/desk/calls/{generic.id}/recording")  # not a Twilio call: sent unsigned
    assert refused.status_code == 502 and refused.get_json()["field"] == "recording"
    pbx_file = _recorded_call(session, world, "/var/spool/asterisk/monitor/x.wav", provider="asterisk")
    assert anna.get(f"/desk/calls/{pbx_file.id}/recording").status_code == 404


def test_the_call_history_page_shows_calls_outcomes_recordings_and_visits(app: Any, session: Session,
                                                                         world: w.World) -> None:
    recorded = _recorded_call(session, world, "https://api.twilio.com/2010-04-01/Accounts/x/Recordings/RE1")
    anna = _desk(app.test_client(), session, world.anna)
    earlier = _call(anna, session, "h-1", "ringing", "answered", "ended")
    anna.post(f"/api/desk/calls/{earlier.id}/wrap-up", json={"outcome": "booked", "notes": "Записана"})
    page = anna.get(f"/desk/patients/{world.maria.id}/calls")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'src="/desk/calls/{recorded.id}/recording"' in html and "Просила перезвонить" in html
    assert "Записана" in html and "<td>Записан</td>" in html and "Пломба" in html and "Чистка" in html
    assert f'data-call-id="{earlier.id}"' in html
    assert session.scalars(select(AuditLog).where(AuditLog.action == "view_patient",
                                                  AuditLog.object_id == str(world.maria.id))).all()


def test_erasing_the_patient_erases_the_drafts_of_their_calls(app: Any, session: Session,
                                                              world: w.World) -> None:
    anna = _desk(app.test_client(), session, world.anna)
    call = _call(anna, session, "e-1", "ringing", "answered")
    anna.post(f"/api/desk/calls/{call.id}/draft", json={"notes": "Аллергия на лидокаин"})
    assert session.scalars(select(CallDraft)).all()
    privacy.erase(session, world.maria.id, world.anna.id, utcnow())
    session.commit()
    assert session.scalars(select(CallDraft)).all() == []
