"""/admin/services and the price question (both databases): the price list is kept by its
rules, nothing half-saved, and the script names the price of exactly the service asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog, Call, Clinic, Service
from callcenter.inbound.calls import record_call_event
from tests import factories as f
from webhooks import CallEventKind as K

CONFIG: dict[str, Any] = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}
NBSP = "\xa0"
GOOD = {"name_ru": "Пломба", "name_en": "Filling", "name_zh": "补牙", "duration_minutes": "45",
        "price_min": "6 500", "price_max": "", "specialties": ["therapist"]}


def _admin(client: Any, session: Session, clinic: Clinic | None = None, locale: str = "en") -> None:
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None, locale=locale)


def _count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Service)) or 0


def test_admin_adds_edits_and_retires_a_service(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    _admin(client, session, clinic, locale="ru")
    added = client.post("/admin/services", data={**GOOD, "clinic_id": clinic.id})
    assert added.status_code == 302
    service = session.scalars(select(Service)).one()
    assert service.names == {"ru": "Пломба", "en": "Filling", "zh": "补牙"}
    assert (service.clinic_id, service.duration_minutes, service.price_min, service.price_max,
            service.specialties, service.active) == (clinic.id, 45, 650000, None, ["therapist"], True)
    page = client.get(added.headers["Location"]).get_data(as_text=True)
    assert "Услуга добавлена" in page and f"6{NBSP}500{NBSP}₽" in page

    edited = client.post(f"/admin/services/{service.id}", data={
        **GOOD, "name_zh": "", "price_min": "30000", "price_max": "45 000,50",
        "specialties": ["surgeon", "implantologist"]})
    assert edited.status_code == 302
    session.expire_all()
    assert service.names == {"ru": "Пломба", "en": "Filling"}
    assert (service.price_min, service.price_max) == (3000000, 4500050)
    assert service.specialties == ["surgeon", "implantologist"]  # the vocabulary's order
    page = client.get("/admin/services").get_data(as_text=True)
    assert f"от 30{NBSP}000{NBSP}₽ до 45{NBSP}000,50{NBSP}₽" in page

    retired = client.post(f"/admin/services/{service.id}/active", data={"active": "0"})
    assert retired.status_code == 302
    session.expire_all()
    assert service.active is False
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_type == "service")).all()
    assert actions == ["create_service", "edit_service", "retire_service"]


@pytest.mark.parametrize(("change", "field"), [
    ({"name_ru": "", "name_en": "  ", "name_zh": ""}, "names"),
    ({"duration_minutes": "0"}, "duration_minutes"),
    ({"duration_minutes": "-15"}, "duration_minutes"),
    ({"duration_minutes": "half an hour"}, "duration_minutes"),
    ({"price_min": "9000", "price_max": "6500"}, "price_max"),
    ({"price_min": "", "price_max": "6500"}, "price_min"),
    ({"price_min": "six thousand"}, "price_min"),
    ({"price_min": "65.005"}, "price_min"),
    ({"specialties": ["astrologer"]}, "specialties"),
    ({"name_en": "x" * 201}, "name_en"),
])
def test_bad_input_names_the_field_and_saves_nothing(client: Any, session: Session,
                                                     change: dict[str, Any], field: str) -> None:
    clinic = f.clinic(session)
    _admin(client, session, clinic)
    answer = client.post("/admin/services", data={**GOOD, **change, "clinic_id": clinic.id})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert f'id="err-{field}" data-field="{field}"' in page
    assert "Nothing was saved" in page
    assert _count(session) == 0


def test_every_problem_is_shown_at_once_in_the_staff_language(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    _admin(client, session, clinic, locale="zh")
    answer = client.post("/admin/services", data={"clinic_id": clinic.id, "duration_minutes": "0",
                                                  "price_min": "5", "price_max": "1"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    for field in ("names", "duration_minutes", "price_max"):
        assert f'data-field="{field}"' in page
    assert "请至少用一种语言填写项目名称" in page and "最高价低于最低价" in page
    # The staff member's language comes first and the first problem (no name) has the focus.
    assert page.index('id="name_zh"') < page.index('id="name_ru"')
    assert 'lang="zh" autofocus' in page
    assert 'value="0" aria-invalid="true" aria-describedby="err-duration_minutes"' in page
    assert _count(session) == 0


def test_an_edit_with_a_problem_leaves_the_service_as_it_was(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    service = Service(clinic_id=clinic.id, names={"en": "Cleaning"}, duration_minutes=45,
                      price_min=400000)
    session.add(service)
    session.commit()
    _admin(client, session, clinic)
    answer = client.post(f"/admin/services/{service.id}", data={
        "name_en": "Deep cleaning", "duration_minutes": "60", "price_min": "5000",
        "price_max": "4000"})
    assert answer.status_code == 400 and 'data-field="price_max"' in answer.get_data(as_text=True)
    session.expire_all()
    assert (service.names, service.duration_minutes, service.price_min) == (
        {"en": "Cleaning"}, 45, 400000)


def test_another_clinics_service_answers_404(client: Any, session: Session) -> None:
    mine, theirs = f.clinic(session), f.clinic(session, name="Other clinic")
    other = Service(clinic_id=theirs.id, names={"en": "Veneer set"}, duration_minutes=90,
                    price_min=3000000)
    session.add(other)
    session.commit()
    _admin(client, session, mine)
    assert client.get(f"/admin/services/{other.id}").status_code == 404
    assert client.post(f"/admin/services/{other.id}", data=GOOD).status_code == 404
    assert client.post(f"/admin/services/{other.id}/active", data={"active": "0"}).status_code == 404
    assert client.get(f"/admin/services?clinic_id={theirs.id}").status_code == 404
    assert client.post("/admin/services", data={**GOOD, "clinic_id": theirs.id}).status_code == 404
    assert client.get("/admin/services/999999").status_code == 404
    assert "Veneer set" not in client.get("/admin/services").get_data(as_text=True)
    session.expire_all()
    assert (other.names, other.active, _count(session)) == ({"en": "Veneer set"}, True, 1)


def test_currency_change_keeps_the_figures_or_refuses(client: Any, session: Session) -> None:
    clinic = f.clinic(session)
    whole = Service(clinic_id=clinic.id, names={"en": "Filling"}, duration_minutes=45,
                    price_min=650000)
    session.add(whole)
    session.commit()
    _admin(client, session, clinic)
    assert client.post("/admin/services/currency",
                       data={"clinic_id": clinic.id, "currency": "JPY"}).status_code == 302
    session.expire_all()
    assert (clinic.currency, whole.price_min) == ("JPY", 6500)  # still 6 500, now yen
    bad = client.post("/admin/services/currency", data={"clinic_id": clinic.id, "currency": "XYZ1"})
    assert bad.status_code == 400 and 'data-field="currency"' in bad.get_data(as_text=True)
    assert client.post("/admin/services/currency",
                       data={"clinic_id": clinic.id, "currency": "USD"}).status_code == 302
    whole.price_min = 649950  # $6,499.50
    session.commit()
    refused = client.post("/admin/services/currency", data={"clinic_id": clinic.id, "currency": "JPY"})
    assert refused.status_code == 400 and 'data-field="currency"' in refused.get_data(as_text=True)
    session.expire_all()
    assert (clinic.currency, whole.price_min) == ("USD", 649950)


# The script for a call asking about prices: the asked service's price and no other.
def _price_list(session: Session) -> tuple[Clinic, dict[str, Service]]:
    clinic = f.clinic(session, name="Улыбка")
    f.channel_number(session, clinic, "maps", "+74951230001")
    services = {
        "filling": Service(clinic_id=clinic.id, names={"ru": "Пломба", "en": "Filling", "zh": "补牙"},
                           duration_minutes=45, price_min=650000),
        "implant": Service(clinic_id=clinic.id, names={"ru": "Имплант", "en": "Implant",
                                                       "zh": "种植牙"},
                           duration_minutes=90, price_min=3000000, price_max=4500000),
        "consultation": Service(clinic_id=clinic.id, names={"ru": "Консультация"},
                                duration_minutes=30),
        "retired": Service(clinic_id=clinic.id, names={"en": "Old whitening"}, duration_minutes=60,
                           price_min=1200000, active=False),
    }
    session.add_all(services.values())
    record_call_event(session, f.event(K.RINGING, dialed="+74951230001"), config=CONFIG)
    session.commit()
    return clinic, services


def _script(client: Any, call_id: int, service: Service, locale: str) -> tuple[int, str]:
    answer = client.get(f"/api/calls/{call_id}/script", query_string={
        "scenario": "price_question", "service_id": service.id, "locale": locale})
    return answer.status_code, json.dumps(answer.get_json(), ensure_ascii=False)


ALL_PRICES = ("6\u00a0500", "6,500", "30\u00a0000", "30,000", "45\u00a0000", "45,000", "12\u00a0000",
              "12,000")


@pytest.mark.parametrize(("locale", "service", "said"), [
    ("ru", "filling", f"«Пломба» — 6{NBSP}500{NBSP}₽"),
    ("en", "filling", "Filling — RUB6,500"),
    ("zh", "filling", "补牙——RUB6,500"),
    ("ru", "implant", f"«Имплант» — от 30{NBSP}000{NBSP}₽ до 45{NBSP}000{NBSP}₽"),
    ("en", "implant", "Implant — from RUB30,000 to RUB45,000"),
    ("zh", "implant", "种植牙——RUB30,000至RUB45,000"),
    ("ru", "consultation", "«Консультация» — в прейскуранте её нет: стоимость врач назовёт на консультации"),
    ("en", "consultation", "Консультация — not on our price list: the doctor names the cost at the consultation"),
    ("zh", "consultation", "Консультация——价目表上没有：费用由医生在面诊时告知"),
])
def test_price_question_names_exactly_the_asked_service(client: Any, session: Session, locale: str,
                                                        service: str, said: str) -> None:
    clinic, services = _price_list(session)
    _admin(client, session, clinic)
    call_id = session.scalar(select(Call.id))
    status, script = _script(client, call_id, services[service], locale)
    assert status == 200
    assert said in script
    others = [p for p in ALL_PRICES if p not in said]
    assert [p for p in others if p in script] == []


def test_without_a_service_the_price_is_left_for_the_receptionist(client: Any,
                                                                  session: Session) -> None:
    clinic, _ = _price_list(session)
    _admin(client, session, clinic)
    call_id = session.scalar(select(Call.id))
    script = client.get(f"/api/calls/{call_id}/script?scenario=price_question&locale=en").get_json()
    assert {"service", "service_price"} <= set(script["missing"])
    assert "[service] — [price from the list]" in json.dumps(script, ensure_ascii=False)


def test_a_retired_or_another_clinics_service_prices_nothing(client: Any, session: Session) -> None:
    clinic, services = _price_list(session)
    other = f.clinic(session, name="Other clinic")
    foreign = Service(clinic_id=other.id, names={"en": "Filling"}, duration_minutes=45,
                      price_min=100)
    session.add(foreign)
    session.commit()
    _admin(client, session, clinic)
    call_id = session.scalar(select(Call.id))
    for service in (services["retired"], foreign):
        answer = client.get(f"/api/calls/{call_id}/script",
                            query_string={"scenario": "price_question", "service_id": service.id})
        assert answer.status_code == 404 and answer.get_json()["field"] == "service_id"


def test_preview_with_a_service(client: Any, session: Session) -> None:
    clinic, services = _price_list(session)
    _admin(client, session, clinic)
    answer = client.post("/api/scripts/preview", json={
        "scenario": "price_question", "locale": "en", "service_id": services["implant"].id})
    assert answer.status_code == 200
    assert "Implant — from RUB30,000 to RUB45,000" in json.dumps(answer.get_json(), ensure_ascii=False)
    wrong = client.post("/api/scripts/preview", json={"scenario": "price_question",
                                                      "service_id": "implant"})
    assert wrong.status_code == 400
