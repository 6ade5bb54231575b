"""The FHIR R4 connector against a real FHIR server (Medplum's router and in-memory repository,
tests/fhir_env.py), on SQLite and PostgreSQL: the server is seeded with patients (one with a
patronymic and two phones), practitioners, a schedule with a slot and appointments; a pull
brings them in through the upsert path; a call from the patient's number pops them with their
visit and tomorrow's confirmation list holds it; marks made here (arrived, no-show, confirmed by
the patient) reach the server through a real worker, version-aware; a second pull changes
nothing and an edited Patient updates ours. Then the errors an admin sees."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.cli import cli
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    ExternalRef,
    FhirConnection,
    FhirWriteback,
    Patient,
    Staff,
    utcnow,
)
from callcenter.desk.popcard import build_card
from callcenter.exchange import fhir_client, fhir_pull
from callcenter.exchange.fhir_client import FhirClient, FhirError
from callcenter.exchange.fhir_jobs import run_pull
from callcenter.exchange.fhir_writeback import push
from callcenter.inbound.calls import record_call_event
from callcenter.outbound import lists
from callcenter.outbound.results import Answer, Outcome, apply_answer
from tests import factories as f
from tests.campaign_env import ALL_WEEK, TZ, start_worker, stop_worker, wait_until, worker_env
from tests.conftest import require
from tests.fhir_env import TOKEN, FhirServer, node_modules
from webhooks import CallEventKind

ZONE = ZoneInfo(TZ)
CONFIG: dict[str, Any] = {"TIMEZONE": TZ, "LOCALE": "ru", "REGION": "RU"}


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[FhirServer]:
    modules = node_modules()
    require(modules, "node and npm are needed for the FHIR server (apt install nodejs npm)")
    assert modules is not None
    server = FhirServer(modules)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fhir(fhir_server: FhirServer) -> FhirServer:
    if fhir_server.proc is None or fhir_server.proc.poll() is not None:
        fhir_server.start()  # a test stopped it
    fhir_server.reset()
    return fhir_server


def _ref(resource: dict[str, Any]) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _appointment(patient: dict[str, Any], start: datetime, *actors: dict[str, Any],
                 slot: dict[str, Any] | None = None, service: str = "") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Appointment", "status": "booked",
        "start": _at(start), "end": _at(start + timedelta(minutes=30)),
        # Booked by the clinic; the patient has not confirmed yet.
        "participant": [{"actor": _ref(patient), "status": "needs-action"},
                        *({"actor": _ref(actor), "status": "accepted"} for actor in actors)]}
    if slot is not None:
        resource["slot"] = [_ref(slot)]
    if service:
        resource["serviceType"] = [{"text": service}]
    return resource


def _seed(fhir: FhirServer, now: datetime) -> dict[str, dict[str, Any]]:
    maria = fhir.create({
        "resourceType": "Patient", "gender": "female", "birthDate": "1986-03-14",
        "name": [{"use": "official", "family": "Иванова", "given": ["Мария", "Петровна"],
                  "text": "Иванова Мария Петровна"}],
        "telecom": [{"system": "phone", "value": "+7 916 123-45-67", "use": "mobile", "rank": 1},
                    {"system": "phone", "value": "8 (495) 123-45-67", "use": "home", "rank": 2},
                    {"system": "email", "value": "m.ivanova@example.ru"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "ru"}]},
                           "preferred": True}]})
    john = fhir.create({"resourceType": "Patient", "gender": "male",
                        "name": [{"family": "Smith", "given": ["John"]}],
                        "telecom": [{"system": "phone", "value": "+79035550101", "use": "mobile"}]})
    extra = [fhir.create({"resourceType": "Patient", "name": [{"family": f"Extra{i}", "given": ["A"]}]})
             for i in range(3)]
    smirnov = fhir.create({"resourceType": "Practitioner",
                           "name": [{"family": "Смирнов", "given": ["Алексей", "Игоревич"]}]})
    role = fhir.create({"resourceType": "PractitionerRole", "practitioner": _ref(smirnov),
                        "specialty": [{"coding": [{"system": "http://snomed.info/sct",
                                                   "code": "37504001", "display": "Ортодонт"}]}]})
    lee = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Lee", "given": ["Ann"]}]})
    schedule = fhir.create({"resourceType": "Schedule", "actor": [_ref(lee)], "active": True})
    started = now - timedelta(hours=3)
    slot = fhir.create({"resourceType": "Slot", "schedule": _ref(schedule), "status": "busy",
                        "start": _at(started), "end": _at(started + timedelta(minutes=30))})
    tomorrow = datetime.combine(now.astimezone(ZONE).date() + timedelta(days=1), time(10, 0), ZONE)
    return {
        "maria": maria, "john": john, "extra": extra[0], "smirnov": smirnov, "lee": lee,
        "tomorrow": fhir.create(_appointment(maria, tomorrow, smirnov, service="Консультация ортодонта")),
        "today": fhir.create(_appointment(maria, now - timedelta(hours=2), role)),
        # Booked by slot: the practitioner is the slot's schedule's.
        "missed": fhir.create(_appointment(john, started, slot=slot)),
    }


def _connect(app: Any, session: Session, clinic: Any, base: str, token: str = TOKEN) -> Any:
    """The admin's test client, after saving the server on the admin page."""
    admin = app.test_client()
    f.signed_in(admin, session, role="admin", clinic_row=clinic, extension=None, locale="en")
    saved = admin.post("/admin/fhir", data={"clinic_id": clinic.id, "base_url": base,
                                            "token": token, "pull_minutes": "0", "enabled": "1"})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    return admin


def _local(session: Session, kind: str, external_id: str) -> int:
    return session.scalar(select(ExternalRef.local_id).where(
        ExternalRef.kind == kind, ExternalRef.external_id == external_id))  # type: ignore[return-value]


def _counts(connection: FhirConnection) -> dict[str, tuple[int, int, int, int]]:
    return {kind: (c["created"], c["updated"], c["unchanged"], c["refused"])
            for kind, c in connection.pull_counts.items()}


def test_round_trip(app: Any, session: Session, fhir: FhirServer, database_url: str,
                    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_client, "PAGE_SIZE", 2)  # every search is several pages
    now = utcnow()
    seeded = _seed(fhir, now)
    clinic = f.clinic(session, opening_hours=ALL_WEEK, timezone=TZ)
    f.channel_number(session, clinic, "maps_listing", "+74951230001")
    session.commit()
    _connect(app, session, clinic, fhir.base)

    first = run_pull(session, clinic.id, app.config)
    assert first is not None and first.pull_state == "ok", first.pull_error if first else None
    assert _counts(first) == {"patients": (5, 0, 0, 0), "doctors": (2, 0, 0, 0),
                              "appointments": (3, 0, 0, 0)}, first.pull_refusals

    maria = session.get(Patient, _local(session, "patients", seeded["maria"]["id"]))
    assert maria is not None
    assert (maria.last_name, maria.first_name, maria.patronymic) == ("Иванова", "Мария", "Петровна")
    assert {(p.e164, p.label) for p in maria.phones} == {("+79161234567", "mobile"),
                                                         ("+74951234567", "home")}
    assert maria.preferred_language == "ru" and str(maria.birth_date) == "1986-03-14"
    smirnov = session.get(Staff, _local(session, "doctors", seeded["smirnov"]["id"]))
    assert smirnov is not None and smirnov.specialties == ["orthodontist"]
    missed = session.get(Appointment, _local(session, "appointments", seeded["missed"]["id"]))
    assert missed is not None and missed.doctor_id == _local(session, "doctors", seeded["lee"]["id"])

    # A call from Maria's home number pops her with tomorrow's visit.
    record_call_event(session, f.event(CallEventKind.RINGING, 0, caller="+74951234567"), config=CONFIG)
    session.commit()
    card = build_card(session, session.scalars(select(Call)).one().id, utcnow(), "ru")
    assert card is not None
    [popped] = card["patients"]
    assert popped["id"] == maria.id and popped["name"] == "Иванова Мария Петровна"
    tomorrow_id = _local(session, "appointments", seeded["tomorrow"]["id"])
    assert [a["service"] for a in popped["next_appointments"]] == ["Консультация ортодонта"]
    noon = datetime.combine(now.astimezone(ZONE).date(), time(12, 0), ZONE).astimezone(UTC)
    assert [t.appointment_id for t in lists.build_confirmations(session, clinic, noon)] == [tomorrow_id]

    # Marks here: the desk (arrived, no-show) and the patient's answer (confirmed).
    desk = app.test_client()
    f.signed_in(desk, session, role="receptionist", clinic_row=clinic)
    f.unlock_all(session)
    today_id = _local(session, "appointments", seeded["today"]["id"])
    assert desk.post(f"/api/desk/visits/{today_id}/arrived").status_code == 200
    assert desk.post(f"/api/desk/visits/{missed.id}/no-show").status_code == 200
    apply_answer(session, Answer(clinic.id, maria.id, None, tomorrow_id), Outcome.CONFIRMED, utcnow())
    session.commit()

    versions = {name: fhir.read("Appointment", seeded[name]["id"])["meta"]["versionId"]
                for name in ("tomorrow", "today", "missed")}
    worker = start_worker(worker_env(database_url, redis_url, tmp_path), tmp_path / "worker.log")
    try:
        def written() -> bool:
            state = {name: fhir.read("Appointment", seeded[name]["id"]) for name in versions}
            patient_of = {p["actor"]["reference"]: p["status"] for p in state["tomorrow"]["participant"]}
            return (state["today"]["status"] == "arrived" and state["missed"]["status"] == "noshow"
                    and patient_of[f"Patient/{seeded['maria']['id']}"] == "accepted")
        wait_until(written, 90, "the visits' statuses on the FHIR server")
    finally:
        stop_worker(worker)
    for name, before in versions.items():
        after = fhir.read("Appointment", seeded[name]["id"])
        assert after["meta"]["versionId"] != before
        assert len(fhir.history("Appointment", seeded[name]["id"])) == 2  # one new version each
    assert fhir.read("Appointment", seeded["tomorrow"]["id"])["status"] == "booked"
    session.expire_all()
    assert {row.state for row in session.scalars(select(FhirWriteback))} == {"done"}

    # A second pull (from the terminal) changes nothing, though the server's Appointments are
    # newer: they say what we said.
    runner = CliRunner(env={"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                            "CALLCENTER_SECRET_KEY": app.config["SECRET_KEY"]})
    second = runner.invoke(cli, ["fhir", "pull", "--clinic", str(clinic.id)])
    assert second.exit_code == 0, second.output
    assert "appointments: created 0, updated 0, unchanged 3, refused 0" in second.output
    session.expire_all()
    connection = session.get(FhirConnection, clinic.id)
    assert connection is not None
    assert all(c[:2] == (0, 0) and c[3] == 0 for c in _counts(connection).values())
    statuses = {v.id: v.status for v in session.scalars(select(Appointment))}
    assert statuses[today_id] is AppointmentStatus.ARRIVED
    assert statuses[missed.id] is AppointmentStatus.NO_SHOW
    assert statuses[tomorrow_id] is AppointmentStatus.CONFIRMED

    # An edit on the server reaches ours.
    edited = fhir.read("Patient", seeded["maria"]["id"])
    edited["name"][0]["family"] = "Петрова"
    edited["telecom"] = [{"system": "phone", "value": "+79161234567", "use": "mobile"}]
    fhir.put(edited)
    third = run_pull(session, clinic.id, app.config)
    assert third is not None and third.pull_counts["patients"]["updated"] == 1
    session.expire_all()
    maria = session.get(Patient, maria.id)
    assert maria is not None and maria.last_name == "Петрова"
    assert [p.e164 for p in maria.phones] == ["+79161234567"]


def test_a_conflicting_edit_is_read_again_and_the_status_applied(fhir: FhirServer) -> None:
    """Someone edits the Appointment between our read and our PUT: the server answers 412 to
    the stale If-Match, and the change is applied to the new version."""
    patient = fhir.create({"resourceType": "Patient", "name": [{"family": "Ivanov"}]})
    doctor = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Lee"}]})
    appointment = fhir.create(_appointment(patient, utcnow(), doctor))
    stale = FhirClient(fhir.base, TOKEN).read("Appointment", appointment["id"])
    with pytest.raises(FhirError) as refused:
        fhir.put({**stale.body, "comment": "moved to room 2"})  # the other writer
        FhirClient(fhir.base, TOKEN).update({**stale.body, "status": "arrived"}, stale.etag)
    assert refused.value.status == 412

    class Racing(FhirClient):
        """A client after whose first read another writer changes the Appointment."""

        raced = False

        def read(self, resource_type: str, resource_id: str) -> fhir_client.Answer:
            answer = super().read(resource_type, resource_id)
            if not self.raced:
                self.raced = True
                fhir.put({**answer.body, "comment": "patient is late"})
            return answer

    resource, changed = push(Racing(fhir.base, TOKEN), appointment["id"], AppointmentStatus.ARRIVED)
    assert changed and resource["status"] == "arrived" and resource["comment"] == "patient is late"
    assert len(fhir.history("Appointment", appointment["id"])) == 4


def test_errors_are_named_on_the_admin_page(app: Any, session: Session, fhir: FhirServer) -> None:
    clinic = f.clinic(session, timezone=TZ)
    session.commit()
    fhir.create({"resourceType": "Patient", "name": [{"family": "Short"}],
                 "telecom": [{"system": "phone", "value": "12"}]})
    admin = _connect(app, session, clinic, fhir.base, token="not-the-token")

    def failed_with(text: str) -> None:
        done = run_pull(session, clinic.id, app.config)
        assert done is not None and done.pull_state == "failed" and text in done.pull_error
        page = admin.get(f"/admin/fhir?clinic_id={clinic.id}").get_data(as_text=True)
        assert text in page

    failed_with("401: the FHIR server refused the token (Unauthorized)")

    saved = admin.post("/admin/fhir", data={"clinic_id": clinic.id, "base_url": fhir.base,
                                            "token": TOKEN, "pull_minutes": "0", "enabled": "1"})
    assert saved.status_code == 303
    # The server's own OperationOutcome, word for word.
    connection = session.get(FhirConnection, clinic.id)
    assert connection is not None
    connection.cursors = {"Patient": "yesterday"}
    session.commit()
    failed_with("400: Invalid format for date search parameter: yesterday")

    connection.cursors = {}
    session.commit()
    done = run_pull(session, clinic.id, app.config)
    assert done is not None and done.pull_state == "ok"
    assert done.pull_counts["patients"]["refused"] == 1
    [[kind, _id, field, reason]] = done.pull_refusals
    # In the clinic's language, as the file import's refusals are.
    assert (kind, field, reason) == ("Patient", "phones", "телефон «12» — не номер")
    assert "телефон «12» — не номер" in admin.get(
        f"/admin/fhir?clinic_id={clinic.id}").get_data(as_text=True)

    fhir.stop()
    failed_with("the FHIR server does not answer (ConnectionError)")
    # From the terminal: the error in one line, not the last good pull's counts beside it.
    runner = CliRunner(env={"DATABASE_URL": app.config["DATABASE_URL"], "REDIS_URL": app.config["REDIS_URL"],
                            "CALLCENTER_SECRET_KEY": app.config["SECRET_KEY"]})
    stopped = runner.invoke(cli, ["fhir", "pull", "--clinic", str(clinic.id)])
    assert stopped.exit_code == 2, stopped.output
    assert "does not answer (ConnectionError)" in stopped.output
    assert "created" not in stopped.output and "телефон" not in stopped.output

    refused = admin.post("/admin/fhir", data={"clinic_id": clinic.id, "base_url": "ftp://x",
                                              "token": "", "pull_minutes": "5"})
    assert refused.status_code == 400
    assert "an http:// or https:// address is needed" in refused.get_data(as_text=True)


@pytest.mark.parametrize("base_url", ["https://[::1/fhir", "https://fhir.example:99999/r4",
                                      "https://fhir.example/r\x004", "https://fhir.example:0/r4"])
def test_a_broken_address_is_refused_naming_the_field(app: Any, session: Session, base_url: str) -> None:
    """A broken IPv6 host or port used to be a 500 (urlsplit raises); a NUL was stored, and
    PostgreSQL refuses it. Refused with the field named, nothing saved."""
    clinic = f.clinic(session, timezone=TZ)
    session.commit()
    admin = app.test_client()
    f.signed_in(admin, session, role="admin", clinic_row=clinic, extension=None, locale="en")
    refused = admin.post("/admin/fhir", data={"clinic_id": clinic.id, "base_url": base_url,
                                              "token": TOKEN, "pull_minutes": "5"})
    assert refused.status_code == 400
    assert "an http:// or https:// address is needed" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(FhirConnection, clinic.id) is None


@pytest.mark.parametrize("token", ["токен-клиники", "abc\x7f"])
def test_a_token_that_cannot_travel_in_a_header_is_refused(app: Any, session: Session, token: str) -> None:
    """A Cyrillic token was saved, then every pull died on encoding the Authorization header."""
    clinic = f.clinic(session, timezone=TZ)
    session.commit()
    admin = app.test_client()
    f.signed_in(admin, session, role="admin", clinic_row=clinic, extension=None, locale="ru")
    refused = admin.post("/admin/fhir", data={"clinic_id": clinic.id, "base_url": "https://fhir.example/r4",
                                              "token": token, "pull_minutes": "5"})
    assert refused.status_code == 400
    assert "токен — только латинские буквы, цифры и знаки препинания" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(FhirConnection, clinic.id) is None


@contextmanager
def _answering(bundle: dict[str, Any]) -> Iterator[FhirClient]:
    """A FHIR client of a server answering every search with `bundle`."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Junk(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(bundle).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Junk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FhirClient(f"http://127.0.0.1:{server.server_port}/fhir", TOKEN)
    finally:
        server.shutdown()
        thread.join(10)


def test_malformed_bundle_entries_are_skipped_not_a_traceback() -> None:
    """A server answering a Bundle whose entries are not objects stopped the pull with an
    AttributeError ("internal error" on the admin page, a traceback from `fhir pull`)."""
    good = {"resourceType": "Patient", "id": "p1"}
    with _answering({"resourceType": "Bundle", "type": "searchset",
                     "entry": [1, "x", {"resource": good, "search": "match"}, {"resource": "x"}]}) as client:
        assert list(client.search("Patient", {})) == [good]


def test_a_change_stamp_without_a_zone_or_meta_is_not_a_cursor(session: Session) -> None:
    """meta that is not an object, or lastUpdated without a zone beside one with, stopped the
    pull with an AttributeError or a TypeError (naive against aware)."""
    clinic = f.clinic(session, timezone=TZ)
    session.commit()
    stamped = "2026-03-01T10:00:00+03:00"
    patients = [{"resourceType": "Patient", "id": "a", "meta": {"lastUpdated": stamped}},
                {"resourceType": "Patient", "id": "b", "meta": "x"},
                {"resourceType": "Patient", "id": "c", "meta": {"lastUpdated": "2026-03-02T10:00:00"}}]
    with _answering({"resourceType": "Bundle", "type": "searchset",
                     "entry": [{"resource": p} for p in patients]}) as client:
        done = fhir_pull.pull(session, clinic, client, {}, now=utcnow(), guard=nullcontext, locale="en", via="cli")
    assert done.cursors["Patient"] == stamped


def test_a_resource_without_an_id_is_refused_and_counted(session: Session) -> None:
    """A server's Patient with no id has nothing to upsert by: it was dropped without a word,
    so the counts did not add up to what the server sent."""
    clinic = f.clinic(session, timezone=TZ)
    session.commit()
    patients = [{"resourceType": "Patient", "id": "kept", "name": [{"family": "Орлова", "given": ["Анна"]}]},
                {"resourceType": "Patient", "name": [{"family": "Без", "given": ["Номера"]}]},
                {"resourceType": "Patient", "id": "", "name": [{"family": "Пустой", "given": ["Ид"]}]}]
    with _answering({"resourceType": "Bundle", "type": "searchset",
                     "entry": [{"resource": p} for p in patients]}) as client:
        done = fhir_pull.pull(session, clinic, client, {}, now=utcnow(), guard=nullcontext, locale="ru", via="cli")
    assert done.counts["patients"]["created"] == 1
    assert done.counts["patients"]["refused"] == 2 and done.refused == 2
    assert done.refusals == [["Patient", "", "id", "у ресурса нет id"]] * 2
    assert session.scalar(select(func.count()).select_from(Patient).where(Patient.clinic_id == clinic.id)) == 1
