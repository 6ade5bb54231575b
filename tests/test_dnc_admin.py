"""/admin/do-not-call on both databases: add and remove with a reason (audited), field errors with
nothing saved, each clinic's own list, and the rules on the calling paths (outbound lists,
click-to-call)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog, OptOut, utcnow
from callcenter.outbound.reach import callable_phones, number_opted_out
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings

OTHER_PHONE = "+79035550011"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, CLICK_TO_CALL="off")


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


@pytest.fixture
def admin(app: Any, session: Session, world: w.World) -> Any:
    return w.admin_client(app, session, world.clinic)


def _add(admin: Any, **form: str) -> Any:
    return admin.post("/admin/do-not-call", data=form)


def test_add_then_remove_with_reasons_both_audited(session: Session, world: w.World,
                                                   admin: Any) -> None:
    response = _add(admin, number="8 916 111-22-33", scope="all", reason="asked on the phone")
    assert response.status_code == 303
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Added to the do-not-call list." in page and "asked on the phone" in page
    entry = session.scalars(select(OptOut)).one()
    assert (entry.e164, entry.scope, entry.clinic_id, entry.source) == (
        w.MARIA_PHONE, "all", world.clinic.id, "admin")
    assert number_opted_out(session, w.MARIA_PHONE, world.clinic.id)
    assert world.maria.id not in callable_phones(session, [world.maria.id])

    assert admin.post(f"/admin/do-not-call/{entry.id}/delete", data={"reason": ""}).status_code == 400
    assert session.scalars(select(OptOut)).one().id == entry.id  # a refused removal removes nothing
    removed = admin.post(f"/admin/do-not-call/{entry.id}/delete", data={"reason": "wants reminders"})
    assert removed.status_code == 303
    session.expire_all()
    assert session.scalars(select(OptOut)).all() == []
    trail = session.scalars(select(AuditLog).where(AuditLog.object_type == "opt_out")
                            .order_by(AuditLog.id)).all()
    assert [(a.action, a.details["reason"], a.details["number"], a.clinic_id) for a in trail] == [
        ("dnc_add", "asked on the phone", w.MARIA_PHONE, world.clinic.id),
        ("dnc_remove", "wants reminders", w.MARIA_PHONE, world.clinic.id)]
    assert all(a.staff_id is not None and a.at is not None for a in trail)


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"number": "", "scope": "all", "reason": "x"}, "number", "required"),
    ({"number": "call me maybe", "scope": "all", "reason": "x"}, "number", "not a phone number"),
    ({"number": w.MARIA_PHONE, "scope": "everything", "reason": "x"}, "scope",
     "choose one of the listed values"),
    ({"number": w.MARIA_PHONE, "scope": "all", "reason": "  "}, "reason", "required"),
    ({"number": w.MARIA_PHONE, "scope": "all", "reason": "x" * 301}, "reason",
     "longer than 300 characters"),
    ({"number": w.MARIA_PHONE, "scope": "all", "reason": "bad\x00byte"}, "reason",
     "contains a NUL character"),
])
def test_bad_input_names_the_field_and_saves_nothing(session: Session, admin: Any,
                                                     form: dict[str, str], field: str,
                                                     message: str) -> None:
    response = _add(admin, **form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(rf'data-field="{field}">{re.escape(message)}<', page), page
    assert "Nothing was saved" in page
    assert session.scalars(select(OptOut)).all() == []
    assert session.scalars(select(AuditLog).where(AuditLog.object_type == "opt_out")).all() == []


def test_errors_speak_the_admins_language(app: Any, session: Session, world: w.World) -> None:
    client = w.admin_client(app, session, world.clinic, locale="ru")
    page = client.post("/admin/do-not-call", data={"number": "", "scope": "all", "reason": "x"})
    assert "обязательно" in page.get_data(as_text=True).lower()


def test_a_number_already_listed_is_refused(admin: Any) -> None:
    assert _add(admin, number=w.MARIA_PHONE, scope="all", reason="first").status_code == 303
    again = _add(admin, number=w.MARIA_PHONE, scope="all", reason="second")
    assert again.status_code == 400 and "already on the list" in again.get_data(as_text=True)


def test_each_clinic_keeps_its_own_list(app: Any, session: Session, world: w.World,
                                        admin: Any) -> None:
    other = f.clinic(session, name="Clinic B")
    session.commit()
    b_admin = w.admin_client(app, session, other, extension="9")
    assert _add(b_admin, number=OTHER_PHONE, scope="all", reason="B's reason").status_code == 303
    b_entry = session.scalars(select(OptOut)).one()
    mine = admin.get("/admin/do-not-call").get_data(as_text=True)
    assert "B's reason" not in mine and "903" not in mine
    assert admin.post(f"/admin/do-not-call/{b_entry.id}/delete",
                      data={"reason": "not yours"}).status_code == 404
    # B's entry binds B, not A; an entry without a clinic (written before clinics had lists)
    # binds both.
    assert number_opted_out(session, OTHER_PHONE, other.id)
    assert not number_opted_out(session, OTHER_PHONE, world.clinic.id)
    session.add(OptOut(e164=w.EMILY_PHONE, scope="all", source="desk", created_at=utcnow()))
    session.commit()
    assert number_opted_out(session, w.EMILY_PHONE, other.id)
    assert number_opted_out(session, w.EMILY_PHONE, world.clinic.id)


def test_click_to_call_refuses_a_listed_number(client: Any, session: Session, world: w.World,
                                               admin: Any) -> None:
    assert _add(admin, number=w.EMILY_PHONE, scope="all", reason="no calls").status_code == 303
    f.open_session(client, session, world.john)
    response = client.post("/api/desk/dial", json={"number": w.EMILY_PHONE})
    assert response.status_code == 409
    assert response.get_json()["field"] == "number"
    assert "do-not-call" in response.get_json()["message"]
    # Marketing-only refusals do not stop a receptionist's call.
    assert _add(admin, number=w.MARIA_PHONE, scope="marketing", reason="no offers").status_code == 303
    assert client.post("/api/desk/dial", json={"number": w.MARIA_PHONE}).status_code == 503
