"""The connectors' sync API: integration tokens (scoped, revocable, not sessions), idempotent
upserts by external id one at a time and in batches of up to 1,000, Idempotency-Key, the rate
limit (SQLite and PostgreSQL, real Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import Appointment, AuditLog, Patient, utcnow
from callcenter.exchange.tokens import create_token, revoke_token
from tests import factories as f


@pytest.fixture
def token(session: Session) -> str:
    clinic = f.clinic(session)
    f.set_up(session, clinic)  # past the first run: before it, every API answers 503
    _, secret = create_token(session, clinic.id, "IDENT sync")
    session.commit()
    return secret


def _auth(secret: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", **headers}


def _patient(number: int, **fields: Any) -> dict[str, Any]:
    return {"external_id": f"P-{number}", "last_name": f"Пациент{number}", "first_name": "Тест",
            "phones": [{"number": f"+7 916 {number:07d}", "label": "mobile"}], **fields}


def test_one_record_is_created_then_unchanged_then_updated(client: Any, session: Session,
                                                           token: str) -> None:
    body = {"last_name": "Иванова", "first_name": "Мария", "birth_date": "1982-04-03",
            "sex": "female", "phones": [{"number": "8 916 123-45-67", "label": "mobile"}]}
    first = client.put("/api/sync/patients/P-1001", json=body, headers=_auth(token))
    assert first.status_code == 200, first.get_json()
    [result] = first.get_json()["results"]
    assert result["outcome"] == "created"
    patient = session.get(Patient, result["id"])
    assert patient is not None and [p.e164 for p in patient.phones] == ["+79161234567"]

    again = client.put("/api/sync/patients/P-1001", json=body, headers=_auth(token))
    assert again.get_json()["results"][0]["outcome"] == "unchanged"
    changed = client.put("/api/sync/patients/P-1001", json={**body, "notes": "allergy"},
                         headers=_auth(token))
    assert changed.get_json()["results"][0] == {"external_id": "P-1001", "outcome": "updated",
                                                "id": result["id"]}
    session.expire_all()
    assert session.scalar(select(func.count(Patient.id))) == 1
    assert session.get(Patient, result["id"]).notes == "allergy"  # type: ignore[union-attr]
    assert session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "sync")) == 2


def test_ten_thousand_patients_in_batches_then_visits(client: Any, session: Session,
                                                      token: str) -> None:
    for start in range(0, 10_000, 1000):
        batch = [_patient(n) for n in range(start, start + 1000)]
        answer = client.post("/api/sync/patients", json={"records": batch}, headers=_auth(token))
        assert answer.status_code == 200
        assert answer.get_json()["counts"]["created"] == 1000
    assert session.scalar(select(func.count(Patient.id))) == 10_000
    again = client.post("/api/sync/patients", json={"records": [_patient(n) for n in range(1000)]},
                        headers=_auth(token))
    assert again.get_json()["counts"]["unchanged"] == 1000

    doctors = client.post("/api/sync/doctors", json={"records": [
        {"external_id": "D-1", "full_name": "Смирнова Ольга", "specialties": "therapist"}]},
        headers=_auth(token))
    assert doctors.get_json()["counts"]["created"] == 1
    visits = client.post("/api/sync/appointments", json={"records": [
        {"external_id": "V-1", "patient_id": "P-7", "doctor_id": "D-1",
         "start": "2026-03-11T10:00:00+03:00", "duration": "45", "status": "confirmed"},
        {"external_id": "V-2", "patient_id": "P-nobody", "doctor_id": "D-1",
         "start": "2026-03-11T11:00:00+03:00"}]}, headers=_auth(token))
    body = visits.get_json()
    assert body["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "refused": 1}
    assert body["results"][1]["field"] == "patient_id"
    assert "no patient with id 'P-nobody'" in body["results"][1]["message"]
    visit = session.scalars(select(Appointment)).one()
    assert (visit.ends_at - visit.starts_at).total_seconds() == 45 * 60
    assert str(visit.status) == "confirmed"


def test_idempotency_key_replays_the_first_answer(client: Any, session: Session, token: str) -> None:
    batch = {"records": [_patient(1), _patient(2)]}
    headers = _auth(token, **{"Idempotency-Key": "batch-001"})
    first = client.post("/api/sync/patients", json=batch, headers=headers)
    assert first.get_json()["counts"]["created"] == 2
    # Changed since by another request: the retry of the first must not undo it.
    client.put("/api/sync/patients/P-1", json=_patient(1, notes="changed later"),
               headers=_auth(token))
    retry = client.post("/api/sync/patients", json=batch, headers=headers)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    session.expire_all()
    assert session.scalar(select(Patient.notes).where(Patient.last_name == "Пациент1")) == "changed later"
    other = client.post("/api/sync/patients", json={"records": [_patient(3)]}, headers=headers)
    assert other.status_code == 422 and other.get_json()["field"] == "Idempotency-Key"


def test_tokens_are_scoped_revocable_and_not_sessions(client: Any, session: Session, token: str) -> None:
    body = {"records": [_patient(1)]}
    assert client.post("/api/sync/patients", json=body).status_code == 403
    assert client.post("/api/sync/patients", json=body,
                       headers=_auth("cct_not-a-token")).status_code == 403
    assert client.post("/api/sync/pets", json=body, headers=_auth(token)).status_code == 404
    row, doctors_only = create_token(session, f.clinic(session, name="Other").id, "doctors",
                                     ["doctors:write"])
    session.commit()
    refused = client.post("/api/sync/patients", json=body, headers=_auth(doctors_only))
    assert refused.status_code == 403 and "may not write patients" in refused.get_json()["message"]
    revoke_token(session, row.id, utcnow())
    session.commit()
    assert client.post("/api/sync/doctors", json={"records": [{"external_id": "D", "last_name": "X"}]},
                       headers=_auth(doctors_only)).status_code == 403
    # A token opens no page and no staff API.
    assert client.get("/api/calls", headers=_auth(token)).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"records": []}, "records"),
    ({"records": [{"external_id": "x"}] * 1001}, "records"),
    ({"rows": []}, "records"),
])
def test_a_bad_batch_is_refused_naming_the_field(client: Any, session: Session, token: str,
                                                 body: dict[str, Any], field: str) -> None:
    answer = client.post("/api/sync/patients", json=body, headers=_auth(token))
    assert answer.status_code == 400 and answer.get_json()["field"] == field
    assert session.scalar(select(func.count(Patient.id))) == 0


def test_bad_records_are_refused_one_by_one(client: Any, session: Session, token: str) -> None:
    answer = client.post("/api/sync/patients", json={"records": [
        _patient(1), {"external_id": "P-2", "last_name": "X", "shoe_size": 42},
        {"external_id": "P-3", "last_name": "Y", "birth_date": {"y": 1990}}, "not a record",
        _patient(4, phones="8-916-12")]}, headers=_auth(token))
    results = answer.get_json()["results"]
    assert [r["outcome"] for r in results] == ["created", "refused", "refused", "refused", "refused"]
    assert [r.get("field") for r in results[1:]] == ["records[1].shoe_size", "records[2].birth_date",
                                                     "records[3]", "phones"]
    mismatch = client.put("/api/sync/patients/P-9", json={"external_id": "P-8", "last_name": "Z"},
                          headers=_auth(token))
    assert mismatch.status_code == 400 and mismatch.get_json()["field"] == "external_id"
    # One record refused is an error of the request: 422 naming the field, and a retry with the
    # same Idempotency-Key answers the same.
    for _ in range(2):
        bad = client.put("/api/sync/patients/P-10", json={"last_name": "Z", "birth_date": "1990-13-01"},
                         headers={**_auth(token), "Idempotency-Key": "bad-date"})
        assert bad.status_code == 422, bad.get_json()
        answer = bad.get_json()
        assert (answer["error"], answer["field"]) == ("invalid_record", "birth_date")
        assert answer["results"][0]["outcome"] == "refused"
    assert session.scalar(select(func.count(Patient.id)).where(Patient.last_name == "Z")) == 0


def test_the_rate_limit_answers_429_with_retry_after(client: Any, session: Session, token: str) -> None:
    # A fixed window: a run that straddles its boundary gets up to twice the limit through.
    for _ in range(2 * 120 + 1):
        answer = client.post("/api/sync/patients", json={"rows": []}, headers=_auth(token))
        if answer.status_code == 429:
            break
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1 and answer.get_json()["error"] == "rate_limited"


def test_the_token_command_makes_lists_and_revokes(session: Session, database_url: str,
                                                   tmp_path: Any, client: Any) -> None:
    from click.testing import CliRunner

    from callcenter.cli import cli

    clinic = f.clinic(session)
    f.set_up(session, clinic)
    env = {"CALLCENTER_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": database_url}
    made = CliRunner().invoke(cli, ["integration-token", "create", "--name", "IDENT sync",
                                    "--scope", "patients:write"], env=env)
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("cct_")
    ok = client.post("/api/sync/patients", json={"records": [_patient(1)]}, headers=_auth(secret))
    assert ok.status_code == 200
    listed = CliRunner().invoke(cli, ["integration-token", "list"], env=env)
    assert "IDENT sync" in listed.output and secret not in listed.output
    token_id = listed.output.split("\t")[0]
    assert CliRunner().invoke(cli, ["integration-token", "revoke", token_id], env=env).exit_code == 0
    refused = client.post("/api/sync/patients", json={"records": [_patient(1)]}, headers=_auth(secret))
    assert refused.status_code == 403
    missing = CliRunner().invoke(cli, ["integration-token", "revoke", "999"], env=env)
    assert missing.exit_code == 1 and "no integration token 999" in missing.output


def test_fuzzed_sync_requests_answer_as_documented(app: Any, client: Any, token: str,
                                                   subtests: Any) -> None:
    """Schemathesis on the sync operations with a real token: never a 5xx, every answer as the
    OpenAPI document says (the staff-session fuzz in test_api_fuzz.py skips token operations)."""
    import schemathesis
    from hypothesis import given

    from tests.test_api_fuzz import CHECKS, FUZZ, _ascii_json

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False)
    fuzzed = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/sync/"):
            continue

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.headers.pop("Idempotency-Key", None)  # a fuzzed key would meet its own replays
            case.validate_response(case.call(session=client, **_ascii_json(case)), checks=CHECKS)

        with subtests.test(msg=operation.label):
            run()
        fuzzed.append(operation.label)
    assert sorted(fuzzed) == ["GET /api/sync/changes", "POST /api/sync/{kind}",
                              "PUT /api/sync/{kind}/{external_id}"]
