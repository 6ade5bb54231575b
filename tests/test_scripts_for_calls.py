"""The script for a real call row (both databases): scenario, locale, names, slots; and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from callcenter.callscripts.selection import library_for, script_for_call
from callcenter.core.models import (
    Appointment,
    Call,
    CallDirection,
    CallerKind,
    CallStatus,
    Channel,
    DayOff,
    DialTask,
    DoctorSchedule,
    Patient,
    Sex,
    Staff,
    StaffRole,
    TaskPurpose,
    Treatment,
    TreatmentType,
)
from tests import factories as f
from tests.conftest import app_settings

TZ = ZoneInfo("Europe/Moscow")
MONDAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 18, 20, tzinfo=TZ).astimezone(UTC)  # Monday evening in Moscow


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    clinic_scripts = tmp_path / "clinic_scripts"
    (clinic_scripts / "ru").mkdir(parents=True)
    return app_settings(database_url, redis_url, tmp_path, SCRIPTS_DIR=str(clinic_scripts))


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ).astimezone(UTC)


def _world(session: Session, locale: str = "ru") -> dict[str, Any]:
    clinic = f.clinic(session, name="Улыбка", locale=locale, morning_until=time(11),
                      evening_from=time(17))
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Марина",
                   last_name="Петрова", patronymic="Ивановна", specialties=["therapist"])
    agent = Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, first_name="Мария",
                  last_name="Иванова", sip_extension="101")
    session.add_all([doctor, agent])
    session.flush()
    for weekday in range(5):
        doctor.schedules.append(DoctorSchedule(weekday=weekday, starts=time(9), ends=time(13)))
        doctor.schedules.append(DoctorSchedule(weekday=weekday, starts=time(15), ends=time(20)))
    patient = Patient(clinic_id=clinic.id, first_name="Иван", patronymic="Петрович",
                      last_name="Сидоров", sex=Sex.MALE, preferred_language="ru")
    session.add(patient)
    session.flush()
    visit = Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                        starts_at=local(MONDAY + timedelta(days=1), 15, 30),
                        ends_at=local(MONDAY + timedelta(days=1), 16), service="осмотр")
    session.add(visit)
    session.flush()
    return {"clinic": clinic, "doctor": doctor, "agent": agent, "patient": patient, "visit": visit}


def _call(session: Session, world: dict[str, Any], **kw: Any) -> Call:
    call = Call(clinic_id=world["clinic"].id, provider="test",
                provider_call_id=kw.pop("provider_call_id", "c1"),
                direction=kw.pop("direction", CallDirection.INBOUND), caller="+79001234567",
                started_at=NOW, status=kw.pop("status", CallStatus.ANSWERED),
                agent_id=world["agent"].id, **kw)
    session.add(call)
    session.commit()
    return call


def _texts(result: Any) -> list[str]:
    return [i["text"] for s in result.sections for i in s["items"]] + [
        i["answer"] for s in result.sections for i in s["items"] if "answer" in i]


def test_repeat_patient_gets_their_name_doctor_visit_and_two_times(session: Session) -> None:
    world = _world(session)
    call = _call(session, world, patient_id=world["patient"].id, caller_kind=CallerKind.REPEAT)
    result = script_for_call(session, call, NOW)
    assert (result.scenario, result.locale, result.file, result.source) == (
        "repeat_patient", "ru", "ru/repeat_patient.md", "packaged")
    assert result.reason.startswith("ru/repeat_patient.md (packaged): the most specific of 1")
    opening = result.sections[0]["items"]
    assert opening[0]["text"] == "Добрый вечер, клиника «Улыбка», администратор Мария."
    assert opening[1]["text"].startswith("Когда пациент назвался: «Иван Петрович, здравствуйте!")
    steps = " ".join(i["text"] for i in result.sections[1]["items"])
    assert "(Петрова Марина Ивановна)" in steps
    assert "(вторник, 24 ноября, 15:30)" in steps
    # Lead time 30 min from 18:20 → 19:00 today; the morning option is tomorrow 09:00.
    assert [(s.label, s.may_wait) for s in result.slots] == [
        ("понедельник, 23 ноября, 19:00", False), ("вторник, 24 ноября, 09:00", False)]
    assert result.slots[0].starts_at == "2026-11-23T16:00:00+00:00"
    assert result.slots[0].local == "2026-11-23T19:00:00+03:00"
    assert result.slots[0].doctor_id == world["doctor"].id
    assert "«понедельник, 23 ноября, 19:00 или вторник, 24 ноября, 09:00?»" in steps
    assert result.missing == []
    assert not any("{" in t for t in _texts(result))


def test_new_caller_in_an_english_clinic(session: Session) -> None:
    world = _world(session, locale="en")
    session.add(Channel(code="maps", name="Maps"))
    session.flush()
    call = _call(session, world, caller_kind=CallerKind.NEW,
                 channel_id=session.query(Channel).one().id)
    result = script_for_call(session, call, NOW - timedelta(hours=8))  # 10:20 local
    assert (result.scenario, result.locale, result.file) == ("first_time", "en", "en/first_time.md")
    assert result.sections[0]["items"][0]["text"] == (
        "Good morning, Улыбка, Мария speaking. How can I help you?")
    # CLDR puts a narrow no-break space before AM/PM.
    assert [s.label for s in result.slots] == ["Monday, November 23, 11:00\u202fAM",
                                               "Monday, November 23, 3:00\u202fPM"]
    assert result.missing == ["patient"]  # asked during the call
    assert result.sections[-1]["items"][0]["text"] == (
        "Thank you, [patient's name]. We'll be glad to see you, and if anything changes just give us a call.")


def test_outbound_confirmation_from_its_dial_task(session: Session) -> None:
    world = _world(session)
    call = _call(session, world, direction=CallDirection.OUTBOUND, patient_id=world["patient"].id,
                 caller_kind=CallerKind.REPEAT)
    session.add(DialTask(clinic_id=world["clinic"].id, patient_id=world["patient"].id,
                         purpose=TaskPurpose.CONFIRMATION, due_date=MONDAY,
                         appointment_id=world["visit"].id, call_id=call.id))
    session.commit()
    result = script_for_call(session, call, NOW)
    assert (result.scenario, result.file) == ("confirmation", "ru/confirmation.md")
    assert result.sections[0]["items"][0]["text"] == (
        "Добрый вечер, Иван Петрович! Это Мария, администратор клиники «Улыбка». Напоминаю о Вашей "
        "записи: вторник, 24 ноября, 15:30, врач — Петрова Марина Ивановна. У Вас получится прийти?")
    assert "matched direction=outbound" in result.reason


def test_follow_up_names_the_treatment_in_chinese(session: Session) -> None:
    world = _world(session)
    patient = world["patient"]
    patient.preferred_language, patient.sex, patient.last_name = "zh", Sex.FEMALE, "王"
    treatment = Treatment(clinic_id=world["clinic"].id, patient_id=patient.id,
                          doctor_id=world["doctor"].id, type=TreatmentType.FILLING,
                          performed_on=MONDAY - timedelta(days=1))
    session.add(treatment)
    session.flush()
    call = _call(session, world, direction=CallDirection.OUTBOUND, patient_id=patient.id,
                 caller_kind=CallerKind.REPEAT)
    session.add(DialTask(clinic_id=world["clinic"].id, patient_id=patient.id, call_id=call.id,
                         purpose=TaskPurpose.FOLLOW_UP, due_date=MONDAY, treatment_id=treatment.id))
    session.commit()
    result = script_for_call(session, call, NOW)
    assert (result.scenario, result.locale) == ("follow_up", "zh")
    assert result.sections[0]["items"][0]["text"] == (
        "晚上好，王女士！我是Улыбка的前台ИвановаМария。想问问您做完补牙之后感觉怎么样？")
    assert [s.label for s in result.slots] == ["11月23日星期一 19:00", "11月24日星期二 09:00"]
    assert result.slots[0].doctor == "Петрова医生"


def test_acute_pain_on_a_full_evening_is_squeezed_in(session: Session) -> None:
    world = _world(session)
    doctor, patient = world["doctor"], world["patient"]
    for n in range(4):  # 18:00-20:00 fully booked
        start = local(MONDAY, 18) + timedelta(minutes=30 * n)
        session.add(Appointment(clinic_id=world["clinic"].id, patient_id=patient.id,
                                doctor_id=doctor.id, starts_at=start, ends_at=start + timedelta(minutes=30)))
    call = _call(session, world, caller_kind=CallerKind.NEW)
    result = script_for_call(session, call, NOW, scenario="acute_pain")
    assert result.scenario == "acute_pain"
    assert [(s.label, s.may_wait) for s in result.slots] == [
        ("понедельник, 23 ноября, 18:30", True), ("вторник, 24 ноября, 09:00", False)]


def test_missed_inbound_call_gets_the_call_back_script(session: Session) -> None:
    world = _world(session)
    call = _call(session, world, caller_kind=CallerKind.NEW, status=CallStatus.MISSED)
    assert script_for_call(session, call, NOW).scenario == "missed_call"


def test_locale_falls_back_and_days_off_move_the_offer(session: Session) -> None:
    world = _world(session)
    world["patient"].preferred_language = "de"
    session.add(DayOff(clinic_id=world["clinic"].id, day=MONDAY + timedelta(days=1)))
    call = _call(session, world, patient_id=world["patient"].id, caller_kind=CallerKind.FAMILY)
    result = script_for_call(session, call, NOW, locale="zh")
    assert result.locale == "zh"
    result = script_for_call(session, call, NOW)
    assert result.locale == "ru"  # "de" is not a supported locale: the clinic's default
    assert [s.label for s in result.slots] == ["понедельник, 23 ноября, 19:00",
                                               "среда, 25 ноября, 09:00"]


def test_clinic_override_wins_and_is_named(session: Session, app: Any, client: Any) -> None:
    folder = Path(app.config["SCRIPTS_DIR"])
    (folder / "ru" / "non_patient.md").write_text(
        "---\nscenario: non_patient\nlocale: ru\ntitle: Свой скрипт\napplies:\n  direction: inbound\n"
        "priority: 50\n---\n## Начало разговора\n- {greeting}! {clinic}, слушаю Вас.\n",
        encoding="utf-8")
    world = _world(session)
    call = _call(session, world, caller_kind=CallerKind.NON_PATIENT)
    result = script_for_call(session, call, NOW, library=library_for(folder))
    assert (result.file, result.source, result.title) == ("ru/non_patient.md", "clinic", "Свой скрипт")
    assert result.sections[0]["items"][0]["text"] == "Добрый вечер! Улыбка, слушаю Вас."
    assert result.slots == []
    # The API (and anything calling inside the app) uses the configured folder by default.
    f.signed_in(client, session, clinic_row=world["clinic"])
    body = client.get(f"/api/calls/{call.id}/script").get_json()
    assert (body["file"], body["source"]) == ("ru/non_patient.md", "clinic")


def test_the_desk_that_pops_can_name_its_receptionist(session: Session) -> None:
    world = _world(session)
    call = _call(session, world, caller_kind=CallerKind.NEW)
    call.agent_id = None
    session.commit()
    assert script_for_call(session, call, NOW).missing == ["agent", "patient"]
    result = script_for_call(session, call, NOW, agent=world["agent"])
    assert result.sections[0]["items"][0]["text"].startswith(
        "Добрый вечер, клиника «Улыбка», администратор Мария.")


def test_api_call_script(client: Any, session: Session, app: Any) -> None:
    world = _world(session)
    call = _call(session, world, patient_id=world["patient"].id, caller_kind=CallerKind.REPEAT)
    f.set_up(session, world["clinic"])
    assert client.get(f"/api/calls/{call.id}/script").status_code == 401
    f.signed_in(client, session, clinic_row=world["clinic"])
    body = client.get(f"/api/calls/{call.id}/script").get_json()
    assert (body["scenario"], body["file"], body["source"]) == ("repeat_patient", "ru/repeat_patient.md",
                                                               "packaged")
    assert len(body["slots"]) == 2 and all(s["doctor_id"] == world["doctor"].id for s in body["slots"])
    assert datetime.fromisoformat(body["slots"][0]["starts_at"]) > datetime.now(UTC)
    assert body["sections"][0]["items"][0]["text"].endswith(", клиника «Улыбка», администратор Мария.")
    other = client.get(f"/api/calls/{call.id}/script?scenario=price_question&locale=en").get_json()
    assert (other["scenario"], other["locale"]) == ("price_question", "en")
    missing = client.get("/api/calls/99999/script")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "not_found", "message": "no call 99999"}
    bad = client.get(f"/api/calls/{call.id}/script?locale=fr")
    assert bad.status_code == 400 and "locale: must be one of ru, en, zh" in bad.get_json()["message"]
    assert client.get(f"/api/calls/{call.id}/script?doctor_id=x").status_code == 400
    unknown = client.get(f"/api/calls/{call.id}/script?scenario=weather")
    assert unknown.status_code == 404 and "weather" in unknown.get_json()["message"]


def test_api_preview(client: Any, session: Session) -> None:
    world = _world(session)
    f.signed_in(client, session, role="admin", clinic_row=world["clinic"])
    body = {"scenario": "confirmation", "locale": "zh", "now": "2026-11-23T08:00:00+03:00",
            "context": {"patient": "李先生", "agent": "小张", "clinic": "微笑口腔",
                        "appointment_time": "明天上午十点", "doctor": "陈医生"}}
    result = client.post("/api/scripts/preview", json=body).get_json()
    assert result["file"] == "zh/confirmation.md"
    assert result["sections"][0]["items"][0]["text"] == (
        "早上好，李先生！我是微笑口腔的前台小张。提醒您一下，您预约了明天上午十点，陈医生。请问您能按时过来吗？")
    assert result["missing"] == ["slot_1", "slot_2"] and result["slots"] == []
    with_clinic = client.post("/api/scripts/preview", json={
        "scenario": "recall", "clinic_id": world["clinic"].id, "now": NOW.isoformat(),
        "caller_kind": "repeat", "channel": "maps"}).get_json()
    assert with_clinic["locale"] == "ru"
    assert [s["label"] for s in with_clinic["slots"]] == ["понедельник, 23 ноября, 19:00",
                                                           "вторник, 24 ноября, 09:00"]
    assert with_clinic["sections"][0]["items"][0]["text"].startswith("Добрый вечер, [имя пациента]!")
    for bad, message in [
        ({"locale": "en"}, "scenario: required"),
        ({"scenario": "recall", "context": {"name": "x"}}, "context: unknown placeholder(s): name"),
        ({"scenario": "recall", "direction": "up"}, "direction: must be one of inbound, outbound, internal"),
        ({"scenario": "recall", "now": "yesterday"}, "now: not an ISO datetime"),
        ({"scenario": "recall", "colour": "red"}, "unknown field(s): colour"),
    ]:
        response = client.post("/api/scripts/preview", json=bad)
        assert response.status_code == 400, bad
        assert message in response.get_json()["message"]
    assert client.post("/api/scripts/preview", json={"scenario": "nope"}).status_code == 404
    missing = client.post("/api/scripts/preview", json={"scenario": "recall", "clinic_id": 999})
    assert missing.status_code == 404 and missing.get_json()["field"] == "clinic_id"
