"""A patient's copy of their data and its erasure: through the real webhook route, API and CLI."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from callcenter.access.privacy import SCRUBBED_HEADER, erase, export, mask_numbers
from callcenter.analytics.rollups import refresh
from callcenter.cli import cli
from callcenter.core.models import (
    Appointment,
    AuditLog,
    Base,
    Call,
    CallerNumber,
    DialAttempt,
    DialMode,
    DialTask,
    OptOut,
    Patient,
    PatientPhone,
    RawWebhook,
    Sex,
    Staff,
    StaffRole,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
)
from tests import factories as f
from tests.conftest import app_settings
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "generic-secret"
OWN = "+79001234567"  # only hers
FAMILY = "+79161112233"  # shared with her husband
LATER = "+79005556677"  # called before it was on her card
CLINIC_LINE = "+74951234567"
HER_NAMES = ("Кузнецова", "Мария", "Ивановна")


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=SECRET)


@dataclass
class World:
    her: int
    husband: int
    own_call: int
    family_call_hers: int
    family_call_his: int
    later_call: int
    outbound_call: int
    task: int


def _post(client: Any, events: list[dict[str, Any]]) -> None:
    body = json.dumps(events).encode()
    stamp = int(time.time())
    response = client.post("/webhooks/generic", data=body, content_type="application/json",
                           headers={TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(SECRET, stamp, body)})
    assert response.status_code == 204, response.json


def _call(client: Any, call_id: str, start: datetime, caller: str, dialed: str = CLINIC_LINE,
          direction: str = "inbound") -> None:
    base = {"call_id": call_id, "direction": direction, "from": caller, "to": dialed}
    _post(client, [
        {**base, "event": "ringing", "timestamp": start.isoformat()},
        {**base, "event": "answered", "extension": "101", "timestamp": (start + timedelta(seconds=4)).isoformat()},
        {**base, "event": "ended", "duration": 90, "timestamp": (start + timedelta(seconds=94)).isoformat()},
        {"call_id": call_id, "event": "recording", "duration": 90, "event_id": f"rec-{call_id}",
         "recording_url": f"https://pbx.example/rec/{call_id}.mp3",
         "timestamp": (start + timedelta(seconds=100)).isoformat()},
    ])


def _id(session: Session, provider_call_id: str) -> int:
    return session.scalar(select(Call.id).where(Call.provider_call_id == provider_call_id))  # type: ignore[return-value]


def _world(client: Any, session: Session) -> World:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "maps", CLINIC_LINE)
    her = f.patient(session, clinic, OWN, FAMILY, first_name="Мария", last_name="Кузнецова",
                    patronymic="Ивановна", birth_date=date(1985, 4, 2), sex=Sex.FEMALE,
                    notes="afraid of injections")
    husband = f.patient(session, clinic, FAMILY, first_name="Ivan", last_name="Petrov")
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, login="doc", first_name="Oleg", last_name="D")
    session.add(doctor)
    session.commit()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    _call(client, "own", start, OWN)
    _call(client, "fam-hers", start + timedelta(hours=1), FAMILY)
    _call(client, "fam-his", start + timedelta(hours=2), FAMILY)
    _call(client, "later", start + timedelta(hours=3), LATER)
    _call(client, "out", start + timedelta(hours=4), CLINIC_LINE, OWN, direction="outbound")
    session.expire_all()
    # The desk said who was on the family line each time; her second number came later.
    session.get(Call, _id(session, "fam-hers")).patient_id = her.id  # type: ignore[union-attr]
    session.get(Call, _id(session, "fam-his")).patient_id = husband.id  # type: ignore[union-attr]
    session.add(PatientPhone(patient_id=her.id, e164=LATER))
    session.get(Call, _id(session, "own")).notes = "Мария asked about crowns"  # type: ignore[union-attr]
    visit = Appointment(clinic_id=clinic.id, patient_id=her.id, doctor_id=doctor.id,
                        starts_at=start + timedelta(days=5), ends_at=start + timedelta(days=5, minutes=30),
                        service="crown", price=Decimal("12000.00"), notes="Мария prefers mornings",
                        created_by_call_id=_id(session, "own"))
    session.add(visit)
    session.add(Treatment(clinic_id=clinic.id, patient_id=her.id, type=TreatmentType.FILLING,
                          performed_on=start.date(), notes="tooth 36"))
    task = DialTask(clinic_id=clinic.id, patient_id=her.id, purpose=TaskPurpose.RECALL,
                    due_date=start.date() + timedelta(days=3), phone=OWN, notes="call Мария after 6")
    session.add(task)
    session.flush()
    session.add(DialAttempt(task_id=task.id, attempt_no=1, mode=DialMode.PREVIEW, phone=OWN))
    session.add(OptOut(e164=OWN, patient_id=her.id, scope="marketing"))
    session.add(AuditLog(staff_id=doctor.id, action="view_patient", object_type="patient",
                         object_id=str(her.id)))
    session.commit()
    return World(her.id, husband.id, _id(session, "own"), _id(session, "fam-hers"),
                 _id(session, "fam-his"), _id(session, "later"), _id(session, "out"), task.id)


def _everything(session: Session) -> dict[str, str]:
    """Each table's rows as text: what a database dump would show."""
    dump = {}
    for table in Base.metadata.sorted_tables:
        rows = session.execute(select(table)).all()
        dump[table.name] = " ".join(
            repr(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
            for row in rows for value in row)
    return dump


def test_export_holds_everything_about_her(client, session: Session) -> None:
    world = _world(client, session)
    document = export(session, world.her, datetime.now(UTC))
    json.dumps(document)  # JSON-ready as it is
    assert document["patient"]["last_name"] == "Кузнецова" and document["patient"]["birth_date"] == "1985-04-02"
    assert {p["e164"] for p in document["phones"]} == {OWN, FAMILY, LATER}
    calls = {c["id"]: c for c in document["calls"]}
    # Hers, the one from her later number, and the family line's calls (the number is hers too).
    assert set(calls) == {world.own_call, world.family_call_hers, world.family_call_his,
                          world.later_call, world.outbound_call}
    assert all(c["events"] for c in calls.values())
    assert calls[world.own_call]["recording_url"].endswith("own.mp3")
    raw_ids = {e["raw_webhook_id"] for c in calls.values() for e in c["events"]}
    assert {r["id"] for r in document["raw_webhooks"]} == raw_ids
    assert not any({"body", "headers", "query"} & set(r) for r in document["raw_webhooks"])  # PBX keys
    assert document["appointments"][0]["price"] == "12000.00"
    assert document["treatments"][0]["type"] == "filling"
    assert document["dial_tasks"][0]["attempts"][0]["phone"] == OWN
    assert document["opt_outs"][0]["scope"] == "marketing"
    assert {a["action"] for a in document["audit"]} >= {"view_patient"}


def test_erasure_removes_her_and_keeps_the_statistics(client, session: Session) -> None:
    world = _world(client, session)
    before = session.execute(select(Call.id, Call.status, Call.caller_kind, Call.channel_id,
                                    Call.duration, Call.patient_id).order_by(Call.id)).all()
    # The reports were read once: the analytics gave each number that called an id.
    clinic_id = session.get(Patient, world.her).clinic_id  # type: ignore[union-attr]
    refresh(session.connection(), clinic_id)
    session.commit()
    assert {OWN, LATER, FAMILY} <= set(session.scalars(select(CallerNumber.e164)))
    removed = erase(session, world.her, None, datetime.now(UTC))
    session.commit()
    session.expire_all()
    assert removed["calls"] == 4 and removed["dial_tasks_cancelled"] == 1 and removed["raw_webhooks"] >= 4

    her = session.get(Patient, world.her)
    assert her is not None and her.erased_at is not None and her.phones == []
    assert (her.last_name, her.first_name, her.patronymic, her.notes, her.birth_date, her.sex) == (
        "", "", "", "", None, Sex.UNKNOWN)
    after = session.execute(select(Call.id, Call.status, Call.caller_kind, Call.channel_id,
                                   Call.duration, Call.patient_id).order_by(Call.id)).all()
    assert after == before  # the same calls, statuses, channels, links: the reports add up as before
    own = session.get(Call, world.own_call)
    assert own is not None and (own.caller, own.caller_raw, own.recording_url, own.notes) == (None, "", None, "")
    assert session.get(Call, world.outbound_call).dialed is None  # type: ignore[union-attr]
    assert session.get(Call, world.later_call).caller is None  # type: ignore[union-attr]
    assert session.get(Call, world.family_call_his).caller == FAMILY  # type: ignore[union-attr]
    assert session.scalar(select(func.count(Appointment.id))) == 1
    task = session.get(DialTask, world.task)
    assert task is not None and task.state == TaskState.CANCELLED and task.phone is None

    dump = _everything(session)
    for name in HER_NAMES:
        assert not [t for t, rows in dump.items() if name in rows], name
    # Only the suppression list keeps the number she opted out with, so it is never called again.
    assert [t for t, rows in dump.items() if OWN[2:] in rows] == ["opt_outs"]
    assert [t for t, rows in dump.items() if LATER[2:] in rows] == []
    assert set(session.scalars(select(CallerNumber.e164))) == {FAMILY}  # his calls keep it
    refresh(session.connection(), clinic_id)  # the days of her calls, rebuilt without her numbers
    session.commit()
    assert [t for t, rows in _everything(session).items() if OWN[2:] in rows] == ["opt_outs"]
    assert FAMILY[2:] in dump["patient_phones"]  # still her husband's
    scrubbed = session.scalars(select(RawWebhook)).all()
    assert sum(SCRUBBED_HEADER in r.headers for r in scrubbed) == removed["raw_webhooks"]
    assert session.scalar(select(AuditLog.details).where(AuditLog.action == "erase"))["calls"] == 4


def test_masking_finds_a_number_however_the_pbx_wrote_it() -> None:
    body = b"caller_id=79001234567&alt=8+(900)+123-45-67&e=%2B79001234567&other=79161112233"
    masked = mask_numbers(body, {OWN})
    assert b"9001234567" not in masked.replace(b"+", b"").replace(b"(", b"").replace(b")", b"").replace(b"-", b"")
    assert masked.count(b"********67") == 3 and b"79161112233" in masked


# --- API ---------------------------------------------------------------------------------------

def test_export_and_erase_are_admin_only_and_audited(client, session: Session) -> None:
    world = _world(client, session)
    f.signed_in(client, session, role="receptionist")
    assert client.get(f"/api/patients/{world.her}/export").status_code == 403
    assert client.post(f"/api/patients/{world.her}/erase", json={"confirm": True}).status_code == 403
    admin = f.signed_in(client, session, role="admin", extension=None)
    response = client.get(f"/api/patients/{world.her}/export")
    assert response.status_code == 200 and response.json["patient"]["first_name"] == "Мария"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/patients/999999/export").status_code == 404
    refused = client.post(f"/api/patients/{world.her}/erase", json={})
    assert refused.status_code == 400 and refused.json["field"] == "confirm"
    done = client.post(f"/api/patients/{world.her}/erase", json={"confirm": True})
    assert done.status_code == 200 and done.json["removed"]["phones"] == 3
    assert client.post(f"/api/patients/{world.her}/erase", json={"confirm": True}).status_code == 409
    actions = session.execute(select(AuditLog.action, AuditLog.staff_id).where(
        AuditLog.object_type == "patient", AuditLog.object_id == str(world.her))).all()
    assert ("export", admin.id) in actions and ("erase", admin.id) in actions
    after = client.get(f"/api/patients/{world.her}/export").json
    assert after["patient"]["last_name"] == "" and after["phones"] == []


def test_erase_needs_the_csrf_token(client, session: Session) -> None:
    world = _world(client, session)
    f.signed_in(client, session, role="admin", extension=None)
    del client.environ_base["HTTP_X_CSRF_TOKEN"]
    assert client.post(f"/api/patients/{world.her}/erase", json={"confirm": True}).status_code == 400
    assert session.get(Patient, world.her).erased_at is None  # type: ignore[union-attr]


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_exports_and_erases(client, session: Session, database_url: str, tmp_path) -> None:
    world = _world(client, session)
    env = {"DATABASE_URL": database_url, "CALLCENTER_INSTANCE_DIR": str(tmp_path)}
    runner = CliRunner()
    exported = runner.invoke(cli, ["patient", "export", str(world.her)], env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["patient"]["last_name"] == "Кузнецова"
    unconfirmed = runner.invoke(cli, ["patient", "erase", str(world.her)], env=env)
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.output
    missing = runner.invoke(cli, ["patient", "erase", "999999", "--yes"], env=env)
    assert missing.exit_code == 1 and "no patient 999999" in missing.output
    erased = runner.invoke(cli, ["patient", "erase", str(world.her), "--yes"], env=env)
    assert erased.exit_code == 0 and f"patient {world.her} erased" in erased.output
    session.expire_all()
    assert session.get(Patient, world.her).erased_at is not None  # type: ignore[union-attr]
    vias = session.scalars(select(AuditLog.details).where(AuditLog.object_id == str(world.her),
                                                          AuditLog.action.in_(["export", "erase"])))
    assert sorted(d["via"] for d in vias) == ["cli", "cli"]
    assert session.execute(text("SELECT 1")).scalar() == 1
