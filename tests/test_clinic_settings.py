"""Clinic settings: the form (checked whole, nothing half-saved), days off and public holidays, the
per-clinic values every path reads (dialers, check-config), a network's clinics, and marketing's
whole-network figures."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import nullcontext
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    AppointmentStatus,
    AuditLog,
    Call,
    CallDirection,
    CallStatus,
    Clinic,
    DayOff,
    DialMode,
    DialTask,
    Patient,
    StaffClinic,
)
from callcenter.inbound import pbx_accounts
from callcenter.outbound import dialing, jobs
from callcenter.outbound.dialers.twilio import TwilioDialer
from tests import factories as f
from tests.analytics_fixture import add_booking, add_call, march
from tests.campaign_env import ROOT, clinic_with_visits, served, wait_until
from tests.conftest import app_settings
from tests.fake_twilio import FakeTwilio
from tests.fake_twilio import Patient as Phone

ACCOUNT = "AC" + "7" * 32
TOKEN = "clinic-settings-token"
INSTALLATION_CALLER = "+74950000000"
GOOD = {"name": "Dental Plus", "address": "Tverskaya 1", "timezone": "Europe/Moscow", "locale": "ru",
        "region": "RU", "hours_mon": "09:00-14:00, 15:00-20:00", "hours_tue": "09:00-18:00",
        "hours_wed": "", "hours_thu": "09:00-18:00", "hours_fri": "09:00-18:00", "hours_sat": "",
        "hours_sun": "", "morning_until": "11:30", "evening_from": "17:00",
        "call_window": "10:00-19:30", "caller_id": "8 (495) 123-45-67", "patient_language": "en"}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT,
                        TWILIO_AUTH_TOKEN=TOKEN, TWILIO_CALLER_ID=INSTALLATION_CALLER,
                        CALL_HOURS="00:00-24:00", CONFIRM_WINDOW="00:00-24:00", LISTS_AT="00:00",
                        DIAL_MODE="twilio")


def _admin(client: Any, session: Session, clinic: Clinic, extension: str = "501") -> Any:
    return f.signed_in(client, session, role="admin", clinic_row=clinic, extension=extension)


def _fresh(session: Session, clinic_id: int) -> Clinic:
    session.expire_all()
    clinic = session.get(Clinic, clinic_id)
    assert clinic is not None
    return clinic


def test_bad_settings_name_every_field_in_the_staff_language_and_save_nothing(
        client: Any, session: Session) -> None:
    clinic = f.clinic(session, name="Before")
    _admin(client, session, clinic)
    bad = {**GOOD, "name": "After", "hours_mon": "9-18", "hours_tue": "09:00-14:00, 13:00-18:00",
           "hours_wed": "18:00-09:00", "timezone": "Mars/Olympus", "caller_id": "12345",
           "morning_until": "25:00", "call_window": "20:00-08:00", "patient_language": "fr"}
    page = client.post("/admin/clinic", data={**bad, "clinic": clinic.id})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    for message in ("9-18 не промежуток времени (ЧЧ:ММ-ЧЧ:ММ)", "диапазоны пересекаются", "18:00-09:00 кончается раньше",
                    "Mars/Olympus — неизвестный часовой пояс", "12345 — не номер телефона",
                    "25:00 не время (ЧЧ:ММ)", "20:00-08:00 кончается раньше",
                    "выберите один из предложенных языков"):
        assert message in text, message
    for field in ("hours_mon", "hours_tue", "hours_wed", "timezone", "caller_id", "morning_until",
                  "call_window", "patient_language"):
        assert f'id="e-{field}"' in text, field
    assert 'value="After"' in text  # what was typed stays in the form
    after = _fresh(session, clinic.id)
    assert (after.name, after.opening_hours, after.caller_id) == ("Before", {}, None)
    assert session.scalar(select(AuditLog.id).where(AuditLog.action == "update_clinic_settings")) is None


def test_good_settings_are_saved_in_one_go_and_read_by_every_path(client: Any, session: Session,
                                                                   app: Any) -> None:
    clinic = f.clinic(session)
    _admin(client, session, clinic)
    saved = client.post("/admin/clinic", data={**GOOD, "clinic": clinic.id})
    assert saved.status_code == 302 and f"clinic={clinic.id}" in saved.headers["Location"]
    row = _fresh(session, clinic.id)
    assert row.opening_hours == {"mon": [["09:00", "14:00"], ["15:00", "20:00"]],
                                 "tue": [["09:00", "18:00"]], "thu": [["09:00", "18:00"]],
                                 "fri": [["09:00", "18:00"]]}
    assert (row.morning_until, row.evening_from) == (time(11, 30), time(17, 0))
    assert (row.call_window_start, row.call_window_end) == (time(10), time(19, 30))
    assert (row.caller_id, row.patient_language) == ("+74951234567", "en")
    assert session.scalar(select(AuditLog.object_id).where(
        AuditLog.action == "update_clinic_settings")) == str(clinic.id)
    page = client.get(f"/admin/clinic?clinic={clinic.id}").get_data(as_text=True)
    assert 'value="09:00-14:00, 15:00-20:00"' in page and 'value="+74951234567"' in page
    # A new caller's card starts in the clinic's language for new patients.
    desk = app.test_client()
    f.signed_in(desk, session, role="receptionist", clinic_row=clinic, extension="777")
    number = f.channel_number(session, clinic, "site", "+74951230001")
    call = add_call(session, clinic, "+79001112233", datetime.now(UTC), number=number)
    session.commit()
    made = desk.post(f"/api/desk/calls/{call.id}/new-patient", json={"first_name": "Lena"})
    assert made.status_code == 200, made.get_data(as_text=True)
    card = session.scalar(select(Patient).where(Patient.first_name == "Lena"))
    assert card is not None and card.preferred_language == "en"


def test_public_holidays_of_russia_and_china_are_imported_listed_and_removable(
        client: Any, session: Session) -> None:
    moscow = f.clinic(session, name="Moscow", region="RU")
    shanghai = f.clinic(session, name="Shanghai", region="CN", timezone="Asia/Shanghai", locale="zh")
    admin = _admin(client, session, moscow)
    session.add(StaffClinic(staff_id=admin.id, clinic_id=shanghai.id))
    session.commit()
    for clinic in (moscow, shanghai):
        done = client.post("/admin/clinic/holidays", data={"clinic": clinic.id, "year": "2026"})
        assert done.status_code == 302 and "done=imported" in done.headers["Location"]
    ru = {d.day: d.reason for d in session.scalars(select(DayOff).where(DayOff.clinic_id == moscow.id))}
    cn = {d.day: d.reason for d in session.scalars(select(DayOff).where(DayOff.clinic_id == shanghai.id))}
    assert {date(2026, 1, 1), date(2026, 1, 7), date(2026, 5, 9), date(2026, 11, 4)} <= set(ru)
    assert "Рождество" in ru[date(2026, 1, 7)]  # named in the clinic's language
    assert {date(2026, 1, 1), date(2026, 10, 1)} <= set(cn) and "国庆" in cn[date(2026, 10, 1)]
    assert date(2026, 2, 17) in cn  # the Spring Festival moves every year
    again = client.post("/admin/clinic/holidays", data={"clinic": moscow.id, "year": "2026"})
    assert "done=imported%3A0" in again.headers["Location"] or "done=imported:0" in again.headers["Location"]
    page = client.get(f"/admin/clinic?clinic={moscow.id}").get_data(as_text=True)
    assert "2026-01-07" in page and ru[date(2026, 1, 7)] in page
    removed = client.post("/admin/clinic/days-off/delete", data={"clinic": moscow.id, "day": "2026-01-07"})
    assert removed.status_code == 302
    added = client.post("/admin/clinic/days-off", data={"clinic": moscow.id, "day": "2026-06-15",
                                                         "reason": "Санитарный день"})
    assert added.status_code == 302
    days = {d.day: d.reason for d in session.scalars(select(DayOff).where(DayOff.clinic_id == moscow.id))}
    assert date(2026, 1, 7) not in days and days[date(2026, 6, 15)] == "Санитарный день"
    for url, form, message in (
            ("/admin/clinic/holidays", {"year": "1066"}, "год от 2000 до 2100"),
            ("/admin/clinic/days-off", {"day": "2026-02-30"}, "2026-02-30 не дата"),
            ("/admin/clinic/days-off", {"day": "2026-06-15"}, "2026-06-15 уже выходной"),
            ("/admin/clinic/days-off/delete", {"day": "2026-06-16"}, "2026-06-16 не выходной")):
        refused = client.post(url, data={"clinic": moscow.id, **form})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), url
    nowhere = f.clinic(session, name="Ascension", region="AC")
    session.add(StaffClinic(staff_id=admin.id, clinic_id=nowhere.id))
    session.commit()
    unknown = client.post("/admin/clinic/holidays", data={"clinic": nowhere.id, "year": "2026"})
    assert unknown.status_code == 400 and "для страны AC" in unknown.get_data(as_text=True)


@pytest.fixture
def twilio() -> Any:
    fake = FakeTwilio(ACCOUNT, TOKEN).start()
    yield fake
    fake.stop()


def test_outbound_dials_with_the_clinics_caller_id_in_its_window(
        app: Any, session: Session, twilio: FakeTwilio, redis_url: str) -> None:
    """The real list builder, claim and Twilio dialer: clinic A follows the installation's settings,
    clinic B its own, and each call lands in the clinic that placed it (B is the first clinic,
    where a call nothing else places used to land)."""
    now = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
    b, _ = clinic_with_visits(session, ["+79001230002"], now)
    a, _ = clinic_with_visits(session, ["+79001230001"], now)
    b.caller_id, b.call_window_start, b.call_window_end = "+74957770000", time(12), time(18)
    session.commit()
    twilio.patients.update({p: Phone(digits="1") for p in ("+79001230001", "+79001230002")})
    connection = redis.Redis.from_url(redis_url)
    with served(app) as base:
        config = {**app.config, "TWILIO_API_BASE": twilio.base_url, "PUBLIC_URL": base}
        for clinic in (a, b):
            assert jobs.build_lists(session, connection, clinic, now, config) == 1
        tasks = {t.clinic_id: t.id for t in session.scalars(select(DialTask))}
        assert dialing.claim_attempt(session, tasks[b.id], 1, DialMode.TWILIO, now, config) \
            == "outside calling hours"
        waiting = session.get(DialTask, tasks[b.id])
        assert waiting is not None and waiting.next_attempt_at == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
        later = now + timedelta(hours=2, minutes=30)
        dialer = TwilioDialer(config)
        for clinic_id, moment in ((a.id, now), (b.id, later)):
            request = dialing.claim_attempt(session, tasks[clinic_id], 1, DialMode.TWILIO, moment, config)
            assert not isinstance(request, str), request
            dialer.dial(request, nullcontext)
        assert {c.to: c.from_ for c in twilio.calls} == {"+79001230001": INSTALLATION_CALLER,
                                                         "+79001230002": "+74957770000"}

        def logged() -> dict[str, int]:
            session.expire_all()
            return {c.dialed: c.clinic_id for c in session.scalars(
                select(Call).where(Call.direction == CallDirection.OUTBOUND))}

        def finished() -> bool:
            return len(twilio.calls) == 2 and all(
                any(url == c.status_callback and form["CallStatus"] == "completed"
                    for url, form, _ in list(c.posts)) for c in twilio.calls)

        wait_until(finished, 60, "both calls played out to their last status callback")
    assert logged() == {"+79001230001": a.id, "+79001230002": b.id}


def test_check_config_says_where_each_value_comes_from(session: Session, database_url: str,
                                                       tmp_path: Path) -> None:
    first = f.clinic(session, name="First")
    second = f.clinic(session, name="Second", caller_id="+74957770000", call_window_start=time(10),
                      call_window_end=time.max, patient_language="zh")
    account = pbx_accounts.save(session, second.id, "zadarma", {"ZADARMA_SECRET": "zd-secret-9f3"}, "cc-key")
    session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "TWILIO_"))}
    env.update({"DATABASE_URL": database_url, "CALLCENTER_INSTANCE_DIR": str(tmp_path),
                "CALLCENTER_SECRET_KEY": "cc-key",
                "CALLCENTER_TWILIO_CALLER_ID": INSTALLATION_CALLER, "PYTHONPATH": str(ROOT)})
    result = subprocess.run([sys.executable, "-m", "callcenter.cli", "check-config"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in (
            f"clinic {first.id} First: caller ID {INSTALLATION_CALLER} (environment CALLCENTER_TWILIO_CALLER_ID)",
            f"clinic {first.id} First: calling window 09:00-21:00 (default CALLCENTER_CALL_HOURS)",
            f"clinic {first.id} First: new patients' language ru (the clinic's language)",
            f"clinic {second.id} Second: caller ID +74957770000 (clinic {second.id}'s own setting)",
            f"clinic {second.id} Second: calling window 10:00-24:00 (clinic {second.id}'s own setting)",
            f"clinic {second.id} Second: new patients' language zh (clinic {second.id}'s own setting)",
            f"clinic {second.id} Second: own zadarma account at /webhooks/zadarma/c/{account.token}: signed"):
        assert line in lines, (line, result.stdout)
    assert "zd-secret-9f3" not in result.stdout


def test_a_network_admin_creates_a_clinic_that_others_do_not_see(client: Any, app: Any,
                                                                 session: Session) -> None:
    a = f.clinic(session, name="Clinic A")
    b = f.clinic(session, name="Clinic B")
    network = _admin(client, session, a)
    session.add(StaffClinic(staff_id=network.id, clinic_id=b.id))
    session.commit()
    refused = client.post("/admin/clinics", data={"name": "", "timezone": "Asia/Nowhere",
                                                  "locale": "ru", "region": "RU"})
    assert refused.status_code == 400
    assert "обязательное поле" in refused.get_data(as_text=True)
    assert session.scalar(select(Clinic.id).where(Clinic.timezone == "Asia/Nowhere")) is None
    made = client.post("/admin/clinics", data={"name": "Clinic C", "address": "Nanjing Road 1",
                                               "timezone": "Asia/Shanghai", "locale": "zh",
                                               "region": "cn"})
    assert made.status_code == 302
    c = session.scalar(select(Clinic).where(Clinic.name == "Clinic C"))
    assert c is not None and (c.timezone, c.locale, c.region) == ("Asia/Shanghai", "zh", "CN")
    assert session.get(StaffClinic, (network.id, c.id)) is not None
    page = client.get(f"/admin/clinic?clinic={c.id}")
    assert page.status_code == 200 and "Clinic C" in page.get_data(as_text=True)
    listed = client.get("/admin/clinics").get_data(as_text=True)
    assert all(name in listed for name in ("Clinic A", "Clinic B", "Clinic C"))
    b_only = app.test_client()
    _admin(b_only, session, b, extension="502")
    assert b_only.get(f"/admin/clinic?clinic={c.id}").status_code == 404
    assert b_only.get(f"/admin/clinic?clinic={a.id}").status_code == 404
    assert b_only.post(f"/admin/clinic?clinic={c.id}", data=GOOD).status_code == 404
    own = b_only.get("/admin/clinics").get_data(as_text=True)
    assert "Clinic B" in own and "Clinic C" not in own and "Clinic A" not in own


def test_marketing_network_figures_are_the_sum_of_its_clinics(client: Any, app: Any,
                                                              session: Session) -> None:
    month = march(session)
    b = f.clinic(session, name="Shanghai", timezone="Asia/Shanghai", locale="zh", region="CN")
    number = f.channel_number(session, b, "metro", "+862155550001")
    number.channel_id = month.maps.channel_id  # the same advertising channel in both clinics
    patient = f.patient(session, b, "+8613800000001")
    wei = f.receptionist(session, b, "801", "wei")
    first = add_call(session, b, "+8613800000001", datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
                     number=number, agent=wei, first_time=True)
    add_call(session, b, None, datetime(2026, 3, 3, 16, 30, tzinfo=UTC), number=number,
             status=CallStatus.MISSED)  # 00:30 on the 4th in Shanghai, still the 3rd in Moscow
    add_booking(session, b, patient, wei, datetime(2026, 3, 2, 1, 5, tzinfo=UTC),
                datetime(2026, 3, 5, 2, 0, tzinfo=UTC), AppointmentStatus.ARRIVED, call=first, price=800)
    marketing = f.signed_in(client, session, role="marketing", clinic_row=month.clinic)
    session.add(StaffClinic(staff_id=marketing.id, clinic_id=b.id))
    session.commit()
    query = "from=2026-03-01&to=2026-03-31"

    def report(name: str, clinic: object) -> list[dict[str, Any]]:
        answer = client.get(f"/api/analytics/{name}?{query}&clinic={clinic}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()["rows"]

    for name in ("summary", "channels", "periods", "hours", "callbacks", "receptionists", "campaigns"):
        one, two, both = report(name, month.clinic.id), report(name, b.id), report(name, "all")
        for column in ("calls", "answered", "missed", "bookings", "arrivals", "revenue", "tasks"):
            if column in (both[0] if both else {}):
                assert sum(r[column] for r in both) == pytest.approx(
                    sum(r[column] for r in one) + sum(r[column] for r in two)), (name, column)
    [a_sum], [b_sum], [total] = (report("summary", c) for c in (month.clinic.id, b.id, "all"))
    assert total["calls"] == a_sum["calls"] + b_sum["calls"] == 12
    assert total["booking_rate"] == round(total["bookings"] / total["calls"], 4)
    maps = {c: {r["channel_id"]: r for r in report("channels", c)}[month.maps.channel_id]
            for c in (month.clinic.id, b.id, "all")}
    assert maps["all"]["calls"] == maps[month.clinic.id]["calls"] + 2 and maps[b.id]["calls"] == 2
    assert maps["all"]["revenue"] == maps[month.clinic.id]["revenue"] + 800
    days = {r["period"]: r["calls"] for r in report("periods", "all")}
    assert days["2026-03-03"] == 1 + 0 and days["2026-03-04"] == 1  # each clinic's own calendar
    export = client.get(f"/marketing/export/summary.csv?{query}&clinic=all").get_data(as_text=True)
    assert export.splitlines()[1].startswith(f"{total['calls']},")
    page = client.get(f"/marketing?{query}&clinic=all").get_data(as_text=True)
    assert 'value="all" selected' in page
    stranger = f.clinic(session, name="Elsewhere")
    assert client.get(f"/api/analytics/summary?clinic={stranger.id}").status_code == 404
    bad = client.get("/api/analytics/summary?clinic=everything")
    assert bad.status_code == 400 and bad.get_json()["field"] == "clinic"
