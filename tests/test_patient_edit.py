"""The card's edit form (both databases): names, birth date, sex, language, numbers with labels,
consents and notes, checked as the new-patient form is, refused in the staff member's language
naming the field, audited, and told to the clinic's system as `patient.updated` — while a change
the clinic's system sent through the sync API is not echoed back to it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog, OutboxEvent, Patient, Sex
from callcenter.exchange.tokens import create_token
from tests import factories as f


@pytest.fixture
def card(client: Any, session: Session) -> tuple[Patient, str]:
    """A patient the clinic's system sent through the sync API, and that API's token."""
    clinic = f.clinic(session)
    f.set_up(session, clinic)
    _, token = create_token(session, clinic.id, "IDENT")
    session.commit()
    sent = client.put("/api/sync/patients/P-77", headers={"Authorization": f"Bearer {token}"},
                      json={"last_name": "Иванова", "first_name": "Мария", "birth_date": "1982-04-03",
                            "sex": "female", "phones": [{"number": "+7 916 123-45-67", "label": "mobile"}]})
    assert sent.status_code == 200, sent.get_json()
    patient = session.get(Patient, sent.get_json()["results"][0]["id"])
    assert patient is not None
    return patient, token


def _form(**fields: Any) -> dict[str, Any]:
    form = {"last_name": "Иванова", "first_name": "Мария", "patronymic": "Петровна",
            "birth_date": "1982-04-03", "sex": "female", "language": "ru",
            "phone": ["+7 916 123-45-67", "8 (495) 765-43-21", ""], "phone_label": ["mobile", "home", "mobile"],
            "consent_calls": "1", "notes": "allergic to lidocaine"}
    form.update(fields)
    return form


def _events(session: Session, kind: str) -> list[OutboxEvent]:
    session.expire_all()
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind)
                                .order_by(OutboxEvent.id)))


def test_the_card_is_edited_audited_and_announced(client: Any, session: Session,
                                                  card: tuple[Patient, str]) -> None:
    patient, token = card
    staff = f.signed_in(client, session, locale="en")
    page = client.get(f"/desk/patients/{patient.id}/edit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="Иванова"' in html and 'value="+79161234567"' in html and 'value="1982-04-03"' in html

    saved = client.post(f"/desk/patients/{patient.id}/edit", data=_form())
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/desk/patients/{patient.id}")
    session.expire_all()
    assert (patient.patronymic, patient.notes, patient.consent_calls, patient.consent_marketing) == (
        "Петровна", "allergic to lidocaine", True, False)
    assert [(p.e164, p.label) for p in patient.phones] == [("+79161234567", "mobile"),
                                                           ("+74957654321", "home")]
    [event] = _events(session, "patient.updated")
    assert event.patient_id == patient.id and event.data["external_id"] == "P-77"
    assert event.data["changed"] == ["patronymic", "notes", "phones"]
    assert event.data["phones"][1] == {"number": "+74957654321", "label": "home"}
    edits = session.scalars(select(AuditLog).where(AuditLog.action == "edit_patient")).all()
    assert [(a.staff_id, a.object_id) for a in edits] == [(staff.id, str(patient.id))]
    assert "Петровна" not in str(edits[0].details)  # which fields, never their values

    # Saved again unchanged: nothing to tell.
    assert client.post(f"/desk/patients/{patient.id}/edit", data=_form()).status_code == 303
    assert len(_events(session, "patient.updated")) == 1
    # Clearing the birth date and the consents is a change too.
    cleared = _form(birth_date="", consent_calls=None)
    cleared.pop("consent_calls")
    assert client.post(f"/desk/patients/{patient.id}/edit", data=cleared).status_code == 303
    assert _events(session, "patient.updated")[-1].data["changed"] == ["birth_date", "consent_calls"]

    # The clinic's system changes the card itself: no event goes back to it.
    resent = client.put("/api/sync/patients/P-77", headers={"Authorization": f"Bearer {token}"},
                        json={"last_name": "Петрова", "notes": "married"})
    assert resent.get_json()["results"][0]["outcome"] == "updated"
    assert len(_events(session, "patient.updated")) == 2
    session.expire_all()
    assert patient.last_name == "Петрова"


@pytest.mark.parametrize(("fields", "field", "russian"), [
    ({"phone": ["8-916-12"], "phone_label": ["mobile"]}, "phones.0.number", "не номер телефона"),
    ({"birth_date": "2999-01-01"}, "birth_date", "1900-01-01"),
    ({"last_name": "", "first_name": " "}, "first_name", "имя"),
    ({"language": "fr"}, "language", "ru, en, zh"),
    ({"sex": "x"}, "sex", "female"),
    # A wrong label was refused as "label: …": the field in English, not under the numbers.
    ({"phone_label": ["fax", "home", "mobile"]}, "phones.0.label", "Телефоны: одно из: mobile"),
])
def test_a_refusal_names_the_field_in_the_staff_language_and_changes_nothing(
        client: Any, session: Session, card: tuple[Patient, str], fields: dict[str, Any],
        field: str, russian: str) -> None:
    patient, _token = card
    f.signed_in(client, session, locale="ru")
    refused = client.post(f"/desk/patients/{patient.id}/edit", data=_form(**fields))
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert f'data-field="{field}"' in html and russian in html and 'aria-invalid="true"' in html
    session.expire_all()
    assert patient.patronymic == "" and [p.e164 for p in patient.phones] == ["+79161234567"]
    assert _events(session, "patient.updated") == []


def test_a_number_sent_without_its_label_is_kept_not_dropped(client: Any, session: Session,
                                                              card: tuple[Patient, str]) -> None:
    """A form without the label selects used to drop every number, deleting the card's phones."""
    patient, _token = card
    f.signed_in(client, session, locale="ru")
    saved = client.post(f"/desk/patients/{patient.id}/edit",
                        data=_form(phone=["+7 916 123-45-67", "8 (495) 765-43-21"], phone_label=["home"]))
    assert saved.status_code == 303
    session.expire_all()
    assert [(p.e164, p.label) for p in patient.phones] == [("+79161234567", "home"), ("+74957654321", "mobile")]


def test_another_clinics_card_is_not_found(client: Any, session: Session,
                                           card: tuple[Patient, str]) -> None:
    patient, _token = card
    f.signed_in(client, session, clinic_row=f.clinic(session, name="Other"), locale="en")
    assert client.get(f"/desk/patients/{patient.id}/edit").status_code == 404
    assert client.post(f"/desk/patients/{patient.id}/edit", data=_form()).status_code == 404
    session.expire_all()
    assert patient.patronymic == "" and patient.sex == Sex.FEMALE


def test_erasure_takes_the_card_out_of_its_events(client: Any, session: Session,
                                                  card: tuple[Patient, str]) -> None:
    patient, _token = card
    f.signed_in(client, session, locale="en")
    assert client.post(f"/desk/patients/{patient.id}/edit", data=_form()).status_code == 303
    admin = client.application.test_client()
    f.signed_in(admin, session, role="admin", extension="900", locale="en")
    erased = admin.post(f"/api/patients/{patient.id}/erase", json={"confirm": True})
    assert erased.status_code == 200, erased.get_json()
    [event] = _events(session, "patient.updated")
    assert event.data == {"id": patient.id, "erased": True}
    assert client.post(f"/desk/patients/{patient.id}/edit", data=_form()).status_code == 404
