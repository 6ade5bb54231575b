"""/admin/audit on both databases: filters by staff member, patient, action and period (the
clinic's days), pages newest first, CSV of the filtered rows (itself audited), field errors,
and each clinic's admin seeing only its own rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog, StaffClinic
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, CLICK_TO_CALL="off")


@pytest.fixture
def world(app: Any, session: Session) -> w.World:
    world = w.build(session)
    for staff, patient in ((world.anna, world.maria), (world.anna, world.emily),
                           (world.john, world.maria)):
        client = app.test_client()
        f.open_session(client, session, staff)
        assert client.get(f"/desk/patients/{patient.id}").status_code == 200
    return world


@pytest.fixture
def admin(app: Any, session: Session, world: w.World) -> Any:
    return w.admin_client(app, session, world.clinic)


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-audit="(\d+)"', page)]


def _views(session: Session, **where: Any) -> list[int]:
    query = select(AuditLog.id).where(AuditLog.action == "view_patient")
    for name, value in where.items():
        query = query.where(getattr(AuditLog, name) == value)
    return sorted(session.scalars(query), reverse=True)


def test_filters_by_staff_patient_and_action(session: Session, world: w.World, admin: Any) -> None:
    by_anna = admin.get("/admin/audit", query_string={"staff": world.anna.id,
                                                      "action": "view_patient"})
    assert _ids(by_anna.get_data(as_text=True)) == _views(session, staff_id=world.anna.id)
    maria = str(world.maria.id)
    by_card = _ids(admin.get(f"/admin/audit?patient={maria}&action=view_patient").get_data(as_text=True))
    assert by_card == _views(session, object_id=maria) and len(by_card) == 2
    by_phone = admin.get("/admin/audit", query_string={"patient": "8 (916) 111-22-33",
                                                       "action": "view_patient"})
    assert _ids(by_phone.get_data(as_text=True)) == by_card
    everything = _ids(admin.get("/admin/audit").get_data(as_text=True))
    assert everything == _views(session) and len(everything) == 3


def test_period_is_the_clinics_days(session: Session, world: w.World, admin: Any) -> None:
    late, row_id = datetime(2026, 1, 10, 20, 30, tzinfo=UTC), _views(session)[0]  # 23:30 in Moscow
    session.execute(update(AuditLog).where(AuditLog.id == row_id).values(at=late))
    session.commit()
    same_day = admin.get("/admin/audit?from=2026-01-10&to=2026-01-10").get_data(as_text=True)
    assert _ids(same_day) == [row_id]
    assert _ids(admin.get("/admin/audit?from=2026-01-11&to=2026-01-11").get_data(as_text=True)) == []


def test_pages_newest_first(session: Session, world: w.World, admin: Any) -> None:
    session.add_all([AuditLog(staff_id=world.anna.id, action="bulk", object_type="clinic",
                              object_id=str(world.clinic.id), clinic_id=world.clinic.id,
                              at=datetime(2026, 2, 1, 9, minute, tzinfo=UTC)) for minute in range(55)])
    session.commit()
    first = admin.get("/admin/audit?action=bulk").get_data(as_text=True)
    second = admin.get("/admin/audit?action=bulk&page=2").get_data(as_text=True)
    ids = _ids(first) + _ids(second)
    expected = list(session.scalars(select(AuditLog.id).where(AuditLog.action == "bulk")
                                    .order_by(AuditLog.at.desc())))
    assert len(_ids(first)) == 50 and ids == expected
    assert 'rel="next"' in first and 'rel="next"' not in second and 'rel="prev"' in second


def test_csv_holds_the_filtered_rows_and_the_export_is_audited(session: Session, world: w.World,
                                                               admin: Any) -> None:
    response = admin.get("/admin/audit.csv", query_string={"staff": world.anna.id,
                                                           "action": "view_patient"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["object_id"] for r in rows] == [
        str(a.object_id) for a in session.scalars(
            select(AuditLog).where(AuditLog.id.in_(_views(session, staff_id=world.anna.id)))
            .order_by(AuditLog.id.desc()))]
    assert {r["staff"] for r in rows} == {world.anna.display_name}
    assert rows[0]["at"].endswith("+03:00")  # the clinic's clock
    export = session.scalars(select(AuditLog).where(AuditLog.object_type == "audit_log")).one()
    assert export.action == "export" and export.details == {
        "rows": len(rows), "filters": {"staff": str(world.anna.id), "action": "view_patient"}}


@pytest.mark.parametrize(("query", "field"), [
    ("staff=abc", "staff"), ("staff=99999", "staff"), ("patient=nobody", "patient"),
    ("from=2026-13-01", "from"), ("to=tomorrow", "to"), ("from=2026-02-02&to=2026-02-01", "to"),
    ("page=0", "page"), ("action=" + "x" * 41, "action"), ("patient=%00", "patient"),
])
def test_bad_filters_name_the_field(admin: Any, query: str, field: str) -> None:
    # The CSV has no pages: every filtered row.
    for url in ("/admin/audit",) if field == "page" else ("/admin/audit", "/admin/audit.csv"):
        response = admin.get(f"{url}?{query}")
        assert response.status_code == 400, url
        assert f'data-field="{field}"' in response.get_data(as_text=True)


def test_clinic_b_sees_none_of_clinic_as_rows(app: Any, session: Session, world: w.World) -> None:
    other = f.clinic(session, name="Clinic B")
    session.commit()
    b_admin = app.test_client()
    b_staff = f.signed_in(b_admin, session, role="admin", clinic_row=other, extension="9", locale="en")
    a_rows = set(session.scalars(select(AuditLog.id).where(AuditLog.clinic_id == world.clinic.id)))
    page = b_admin.get("/admin/audit").get_data(as_text=True)
    assert a_rows and not a_rows & set(_ids(page))
    assert world.anna.display_name not in page
    assert _ids(b_admin.get(f"/admin/audit?patient={world.maria.id}").get_data(as_text=True)) == []
    exported = b_admin.get("/admin/audit.csv").get_data(as_text=True).lstrip("\ufeff")
    assert {r["clinic_id"] for r in csv.DictReader(io.StringIO(exported))} <= {str(other.id)}
    # A row no clinic can claim is seen only by an admin of every clinic.
    session.add(AuditLog(staff_id=None, action="system", object_type="installation"))
    session.commit()
    orphan = session.scalar(select(AuditLog.id).where(AuditLog.action == "system"))
    assert orphan not in _ids(b_admin.get("/admin/audit").get_data(as_text=True))
    session.add(StaffClinic(staff_id=b_staff.id, clinic_id=world.clinic.id))
    session.commit()
    assert orphan in _ids(b_admin.get("/admin/audit?action=system").get_data(as_text=True))
