"""Clinic isolation: a member of clinic B never reads or changes clinic A's records.

ONE table maps every endpoint to how its isolation is checked. The walk takes every rule of the
URL map (every method) and every operation of /api/openapi.json, fills clinic A's ids into the
path (and into the query or body where the endpoint takes an id there), and sends it as each
staff role of clinic B: a role the route admits gets 404, exactly like a missing id; any other
role 403. The same request by clinic A's member of that role is not 404 (the ids are real).
No answer to clinic B, of any endpoint, contains a text only clinic A's records hold.
An endpoint missing from the table fails the walk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog, Call, RawState, RawWebhook, StaffClinic, StaffSession
from callcenter.core.openapi_routes import document
from callcenter.inbound import screenpop
from tests import clinic_pair as cp
from tests import desk_world as w
from tests.conftest import app_settings, every_route

BY_ID = "by id"  # clinic A's ids go into the request: 404 (admitted role) or 403
LISTING = "listing"  # no id to give: the answer is clinic B's own (200 or 403)
FORM_POST = "form post"  # no id to give: a form that writes clinic B's own row (303 or 403)
SIGNED = "signature-checked"  # a PBX's or 3CX's route: unsigned, 403 to every staff member
STREAM = "stream"  # the SSE feed: test_a_desk_hears_only_its_own_clinic
NO_DATA = "no clinic data"  # login, health, static files, the desk's lock

THREE_CX_KEY = "isolation-3cx-key"


@dataclass(frozen=True)
class Check:
    kind: str
    roles: frozenset[str] = frozenset()  # roles the route admits
    json: dict[str, Any] | None = None  # "@name" = clinic A's id of that kind
    form: dict[str, Any] | None = None  # "@name" as in json
    query: dict[str, Any] = field(default_factory=dict)
    a_sees: bool = False  # LISTING: clinic A's member finds A's records in the same answer


DESK = frozenset({"receptionist", "admin"})
ADMIN = frozenset({"admin"})
MARKETING = frozenset({"marketing", "admin"})

CHECKS: dict[str, Check] = {
    "auth.home": Check(NO_DATA),
    "auth.login": Check(NO_DATA),
    "auth.logout": Check(NO_DATA),
    "auth.change_password": Check(NO_DATA),
    "static": Check(NO_DATA),
    "health.healthz": Check(NO_DATA),
    "openapi.openapi": Check(NO_DATA),
    "desk.lock": Check(NO_DATA, DESK),
    "desk.unlock": Check(NO_DATA, DESK),
    "desk.stream": Check(STREAM, DESK),
    "webhooks.receive": Check(SIGNED),
    "webhooks.receive_for_account": Check(SIGNED),
    "outbound.twiml": Check(SIGNED),
    "outbound.gather": Check(SIGNED),
    "outbound.rating": Check(SIGNED),
    "outbound.status": Check(SIGNED),
    "threecx.lookup": Check(SIGNED),
    "threecx.lookup_for_account": Check(SIGNED),
    "sms_webhooks.receive": Check(SIGNED),
    "messaging.patient_thread": Check(BY_ID, DESK),
    "messaging.send_reply": Check(BY_ID, DESK, json={"body": "isolation"}),
    "messaging.unread": Check(LISTING, DESK),
    "admin.page": Check(LISTING, ADMIN),
    "admin.assign": Check(BY_ID, ADMIN, form={"channel_id": 1}),
    "admin.reprocess_one": Check(BY_ID, ADMIN),
    "pbx_admin.page": Check(LISTING, ADMIN),
    "pbx_admin.send_test": Check(LISTING, ADMIN),
    "pbx_admin.save_account": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id",
                                                        "GENERIC_SECRET": "isolation"}),
    "pbx_admin.remove_account": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id"}),
    "sip_admin.page": Check(NO_DATA, ADMIN),
    "sip_admin.test": Check(NO_DATA, ADMIN),
    "dnc_admin.page": Check(LISTING, ADMIN, a_sees=True),
    "dnc_admin.add": Check(FORM_POST, ADMIN, form={"number": "+79990001122", "scope": "all",
                                                    "reason": "isolation"}),
    "dnc_admin.remove": Check(BY_ID, ADMIN, form={"reason": "isolation"}),
    "audit_admin.page": Check(LISTING, ADMIN),
    "audit_admin.export": Check(LISTING, ADMIN),
    "clinic_admin.settings_page": Check(BY_ID, ADMIN, query={"clinic": "@clinic_id"}),
    "clinic_admin.save_settings": Check(BY_ID, ADMIN, query={"clinic": "@clinic_id"}),
    "clinic_admin.add_day_off": Check(BY_ID, ADMIN, query={"clinic": "@clinic_id"}),
    "clinic_admin.remove_day_off": Check(BY_ID, ADMIN, query={"clinic": "@clinic_id"}),
    "clinic_admin.import_holidays": Check(BY_ID, ADMIN, query={"clinic": "@clinic_id"}),
    "clinic_admin.clinics_page": Check(LISTING, ADMIN),
    # Empty, the form is refused (400) before anything is created; the page lists B's own clinics.
    "clinic_admin.create_clinic": Check(NO_DATA, ADMIN),
    "staff_admin.staff_list": Check(LISTING, ADMIN, a_sees=True),
    "staff_admin.staff_new": Check(LISTING, ADMIN),
    "staff_admin.staff_create": Check(BY_ID, ADMIN, form={"clinic_ids": "@clinic_id", "role": "marketing",
                                                       "login": "isolated", "last_name": "Isolated",
                                                       "first_name": "Ivy", "locale": "en",
                                                       "password": "isolation-pass-1"}),
    "staff_admin.staff_edit": Check(BY_ID, ADMIN),
    "staff_admin.staff_active": Check(BY_ID, ADMIN, form={"active": "1"}),
    "staff_admin.staff_password": Check(BY_ID, ADMIN, form={"password": "isolation-pass-1"}),
    "staff_admin.staff_softphone": Check(BY_ID, ADMIN, form={"softphone_kind": "off"}),
    "doctor_admin.doctor_list": Check(LISTING, ADMIN, a_sees=True),
    "doctor_admin.doctor_page": Check(BY_ID, ADMIN),
    "doctor_admin.doctor_schedule": Check(BY_ID, ADMIN, form={"slot_minutes": "0"}),
    "doctor_admin.absence_add": Check(BY_ID, ADMIN, form={"starts_on": "2099-01-01",
                                                          "ends_on": "2099-01-02", "kind": "other"}),
    "doctor_admin.absence_remove": Check(BY_ID, ADMIN),
    "services_admin.page": Check(LISTING, ADMIN),
    "import_admin.page": Check(LISTING, ADMIN, a_sees=True),
    "sync_api.upsert_one": Check(SIGNED),
    "sync_api.upsert_batch": Check(SIGNED),
    "sync_api.changes": Check(SIGNED),
    "events_admin.page": Check(BY_ID, ADMIN, query={"clinic_id": "@clinic_id"}),
    "events_admin.save": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id", "url": "http://127.0.0.1:9/",
                                                   "secret": "isolation-signing-secret"}),
    "events_admin.replay_event": Check(BY_ID, ADMIN),
    "fhir_admin.page": Check(BY_ID, ADMIN, query={"clinic_id": "@clinic_id"}),
    "fhir_admin.save": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id", "base_url": "http://127.0.0.1:9/fhir",
                                                 "token": "a-token", "pull_minutes": "0"}),
    "fhir_admin.pull_now": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id"}),
    "import_admin.upload": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id", "kind": "patients"}),
    "import_admin.job_page": Check(BY_ID, ADMIN),
    "import_admin.run": Check(BY_ID, ADMIN, form={"keep_mapping": "1", "dry_run": "1"}),
    "import_admin.cancel": Check(BY_ID, ADMIN),
    "import_admin.status": Check(BY_ID, ADMIN),
    "import_admin.refused": Check(BY_ID, ADMIN),
    "services_admin.create": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id", "name_en": "Crown",
                                                       "duration_minutes": "60"}),
    "services_admin.edit": Check(BY_ID, ADMIN),
    "services_admin.save": Check(BY_ID, ADMIN, form={"name_en": "Crown", "duration_minutes": "60"}),
    "services_admin.set_active": Check(BY_ID, ADMIN, form={"active": "1"}),
    "services_admin.set_currency": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id",
                                                             "currency": "EUR"}),
    "numbers_admin.page": Check(LISTING, ADMIN, a_sees=True),
    "webtracking_admin.page": Check(LISTING, ADMIN),
    "webtracking_admin.create": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id", "name": "Site"}),
    "webtracking_admin.edit": Check(BY_ID, ADMIN),
    "webtracking_admin.save": Check(BY_ID, ADMIN, form={"name": "Renamed"}),
    "webtracking_admin.save_ads": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id",
                                                            "metrica_counter": "1"}),
    "webtracking_report.page": Check(BY_ID, MARKETING, query={"clinic_id": "@clinic_id"}),
    "webtracking_report.download": Check(BY_ID, MARKETING, query={"clinic_id": "@clinic_id"}),
    "webtracking_report.funnel_csv": Check(BY_ID, MARKETING, query={"clinic_id": "@clinic_id"}),
    # Channels are the installation's: anyone administering a clinic may add one.
    "numbers_admin.create_channel": Check(NO_DATA, ADMIN),
    "numbers_admin.edit_channel": Check(BY_ID, ADMIN),
    "numbers_admin.rename_channel": Check(BY_ID, ADMIN, form={"name": "Renamed"}),
    "numbers_admin.channel_active": Check(BY_ID, ADMIN, form={"active": "1"}),
    "numbers_admin.create": Check(BY_ID, ADMIN, form={"clinic_id": "@clinic_id",
                                                      "e164": "+74951239999"}),
    "numbers_admin.edit": Check(BY_ID, ADMIN),
    "numbers_admin.save": Check(BY_ID, ADMIN, form={"label": "relabelled",
                                                    "channel_id": "@channel_id"}),
    "numbers_admin.number_active": Check(BY_ID, ADMIN, form={"active": "1"}),
    "desk.page": Check(LISTING, DESK, a_sees=True),
    "desk.patient_page": Check(BY_ID, DESK),
    "desk.active": Check(LISTING, DESK),
    "desk.card": Check(BY_ID, DESK),
    "desk.pick_patient": Check(BY_ID, DESK, json={"patient_id": "@patient_id"}),
    "desk_card.new_patient": Check(BY_ID, DESK, json={"first_name": "Newcomer"}),
    "desk_card.save_draft": Check(BY_ID, DESK, json={"notes": "typed"}),
    "desk_card.recording": Check(BY_ID, DESK),  # clinic A's call has a recording (clinic_pair)
    "desk_card.patient_calls": Check(BY_ID, DESK),
    "desk_card.edit_patient": Check(BY_ID, DESK, form={"last_name": "Edited", "first_name": "X"}),
    "desk.wrap_up": Check(BY_ID, DESK, json={"notes": "wrapped"}),
    "desk.book": Check(BY_ID, DESK, json={}),
    "desk.cancel": Check(BY_ID, DESK, json={}),
    "desk.mark": Check(BY_ID, DESK, json={"mark": "confirmed"}),
    "desk.lists": Check(LISTING, DESK, a_sees=True),
    "desk_schedule.page": Check(LISTING, DESK),
    "desk_schedule.book": Check(BY_ID, DESK, json={"patient_id": "@patient_id"}),
    "desk_schedule.move": Check(BY_ID, DESK, json={}),
    "desk_schedule.undo": Check(BY_ID, DESK, json={}),
    "desk_schedule.patient_search": Check(LISTING, DESK, query={"q": "Соколова"}, a_sees=True),
    "visits.page": Check(LISTING, DESK, a_sees=True),
    "visits.listing": Check(LISTING, DESK, a_sees=True),
    "visits.arrived": Check(BY_ID, DESK, json={}),
    "visits.completed": Check(BY_ID, DESK, json={"treatments": ["filling"]}),
    "visits.no_show": Check(BY_ID, DESK, json={}),
    "visits.waiting_list": Check(BY_ID, DESK, json={"wants_earlier": True}),
    "visits.notice_seen": Check(BY_ID, DESK),
    "desk.dial": Check(BY_ID, DESK, json={"number": "+79990001122", "task_id": "@task_id"}),
    "softphone.settings": Check(NO_DATA, DESK),  # the signed-in member's own phone
    "softphone.dial": Check(BY_ID, DESK, json={"number": "+79990001122", "task_id": "@task_id"}),
    "softphone.events": Check(BY_ID, DESK, json={"kind": "ended", "sip_call_id": "isolation@desk",
                                                 "direction": "inbound", "call_id": "@call_id"}),
    "softphone.twilio_token": Check(NO_DATA, DESK),  # for the member's own identity
    "softphone.twilio_voice": Check(SIGNED),
    "api_calls.list_calls": Check(BY_ID, DESK, query={"patient": "@patient_id"}),
    "api_calls.get_call": Check(BY_ID, DESK),
    "api_calls.update_call": Check(BY_ID, DESK, json={"notes": "edited"}),
    "scripts_api.call_script": Check(BY_ID, DESK),
    "scripts_api.preview": Check(BY_ID, ADMIN, json={"scenario": "recall", "clinic_id": "@clinic_id"}),
    "campaigns_admin.desk": Check(LISTING, DESK),
    "campaigns_admin.desk_page": Check(LISTING, DESK),
    "campaigns_admin.outcome": Check(BY_ID, DESK, json={"outcome": "confirmed"}),
    "campaigns_admin.task_script": Check(BY_ID, DESK),
    "api_calls.list_numbers": Check(LISTING, ADMIN, a_sees=True),
    # Clinic A's number keeps its channel, which stays A's for the channel checks below.
    "api_calls.update_number": Check(BY_ID, ADMIN, json={"channel": "maps_listing"}),
    "api_calls.list_raw": Check(LISTING, ADMIN),
    "api_calls.reprocess_raw": Check(BY_ID, ADMIN),
    "api_calls.reprocess_failed": Check(LISTING, ADMIN),
    "campaigns_admin.page": Check(LISTING, ADMIN, a_sees=True),
    "campaigns_admin.page_action": Check(BY_ID, ADMIN),
    "campaigns_admin.list_campaigns": Check(LISTING, ADMIN, a_sees=True),
    "campaigns_admin.act": Check(BY_ID, ADMIN),
    "campaigns_admin.change": Check(BY_ID, ADMIN, json={"mode": "preview"}),
    "privacy.export_patient": Check(BY_ID, ADMIN),
    "privacy.erase_patient": Check(BY_ID, ADMIN, json={}),
    "marketing.dashboard": Check(LISTING, MARKETING),
    "marketing.export_csv": Check(LISTING, MARKETING),
    "marketing.api_index": Check(LISTING, MARKETING),
    "marketing.api_report": Check(LISTING, MARKETING),
    "setup.setup": Check(NO_DATA),
    "measures.page": Check(LISTING, MARKETING),
    "measures.rows": Check(BY_ID, MARKETING, query={"measure": "complaint_share", "clinic": "@clinic_id"}),
    "complaints.desk_panel": Check(LISTING, DESK),
    "complaints.call_context": Check(BY_ID, DESK),
    "complaints.record_complaint": Check(BY_ID, DESK, json={"call_id": "@call_id", "subject": "staff",
                                                            "severity": "low", "words": "isolation"}),
    "complaints.mark_non_patient": Check(BY_ID, DESK, json={"purpose": "vendor"}),
    "complaints.non_patient_transferred": Check(BY_ID, DESK),
    "complaints.non_patient_message": Check(BY_ID, DESK, json={"email": "iso@example.org"}),
    "complaints.list_page": Check(LISTING, DESK),
    "complaints.answer": Check(BY_ID, DESK, form={"answer": "isolation"}),
    "complaints.close": Check(BY_ID, DESK),
    "complaints.settings_page": Check(LISTING, ADMIN),
    "complaints.save_rule": Check(BY_ID, ADMIN, form={"subject": "billing", "owner_id": "@staff_id",
                                                      "due_days": "1"}),
    "complaints.delete_rule": Check(BY_ID, ADMIN),
    "complaints.save_route": Check(FORM_POST, ADMIN, form={"purpose": "vendor", "kind": "message"}),
    "setup.checklist_page": Check(LISTING, ADMIN),
}
# Path values that are not record ids.
FIXED = {"action": "pause", "name": "summary", "provider": "generic", "subpath": "events",
         "filename": "desk.js", "attempt_id": 1, "token": "no-such-account", "sms_provider": "twilio",
         "kind": "patients", "external_id": "P-1", "key": "no-such-pool", "platform": "google"}
OPENAPI_PARAM = re.compile(r"{([a-z_]+)}")


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET,
                        CLICK_TO_CALL="off", TWILIO_AUTH_TOKEN="isolation-twilio-token",
                        **{"3CX_SECRET": THREE_CX_KEY})


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return ids[value[1:]] if isinstance(value, str) and value.startswith("@") else value


def _requests(app: Any, values: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(method, url) -> endpoint: every rule of the URL map and every documented operation."""
    found: dict[tuple[str, str], str] = {}
    for rule in every_route(app):
        url = rule.build(values, append_unknown=False)[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(method, url)] = rule.endpoint
    adapter = app.url_map.bind("localhost")
    for path, item in document()["paths"].items():
        url = OPENAPI_PARAM.sub(lambda m: str(values[m.group(1)]), path)
        for method in item.keys() & {"get", "post", "patch", "put", "delete"}:
            endpoint, _args = adapter.match(url, method=method.upper())
            found[(method.upper(), url)] = endpoint
    return found


def _send(client: Any, method: str, url: str, check: Check, ids: dict[str, int]) -> Any:
    # The walk passes /desk/lock too: the desk locks server-side, so unlock every session again.
    with client.application.extensions["callcenter"].sessions() as db:
        db.execute(update(StaffSession).values(locked_at=None))
        db.commit()
    body = _fill(check.json, ids) if check.json is not None else (
        {} if method in ("POST", "PATCH") and check.form is None else None)
    return client.open(url, method=method, json=body, data=_fill(check.form, ids),
                       query_string=_fill(check.query, ids))


def _text(response: Any) -> str:
    text = response.get_data(as_text=True)
    if response.mimetype == "application/json":
        text += json.dumps(response.get_json(), ensure_ascii=False)
    return text


def _problems(endpoint: str, method: str, url: str, role: str, check: Check, b: Any, a: Any,
              markers: list[str]) -> list[str]:
    where = f"{method} {url} ({endpoint}) as clinic B's {role}"
    problems = [f"{where}: shows clinic A's {m!r}" for m in markers if m in _text(b)]
    admitted = role in check.roles
    if check.kind == SIGNED:
        expected = {403}
    elif check.kind == BY_ID:
        expected = {404} if admitted else {403}
    elif check.kind == LISTING:
        expected = {200} if admitted else {403}
    elif check.kind == FORM_POST:
        expected = {303} if admitted else {403}
    else:
        expected = {b.status_code}
    if b.status_code not in expected:
        problems.append(f"{where}: answered {b.status_code}, expected {sorted(expected)}")
    if a is not None and check.kind == BY_ID and a.status_code == 404:
        problems.append(f"{where}: clinic A's own {role} got 404 too, so the ids prove nothing")
    if a is not None and check.a_sees and not any(m in _text(a) for m in markers):
        problems.append(f"{where}: clinic A's own {role} sees none of A's records either")
    return problems


def test_every_endpoint_is_in_the_table(app: Any) -> None:
    endpoints = {rule.endpoint for rule in every_route(app)}
    assert sorted(endpoints - set(CHECKS)) == [], "add these endpoints to CHECKS"
    assert sorted(set(CHECKS) - endpoints) == [], "CHECKS lists endpoints that no longer exist"


def test_clinic_b_gets_404_for_every_id_of_clinic_a(app: Any, session: Session) -> None:
    pair = cp.build(app, session)
    ids = {**pair.a_ids, "clinic_id": pair.a.clinic.id}
    values = {**FIXED, **ids}
    markers = cp.a_markers(pair.a)
    problems, sent = [], 0
    # POST /logout ends the session: last.
    for (method, url), endpoint in sorted(_requests(app, values).items(),
                                          key=lambda item: (item[1] == "auth.logout", item[0])):
        check = CHECKS.get(endpoint)
        if check is None:
            problems.append(f"{method} {url}: endpoint {endpoint} has no entry in CHECKS")
            continue
        if check.kind == STREAM or endpoint == "auth.logout":
            continue
        for role in cp.ROLES:
            b = _send(pair.clients_b[role], method, url, check, ids)
            a = (_send(pair.clients_a[role], method, url, check, ids)
                 if role in check.roles and (check.kind == BY_ID or check.a_sees) else None)
            sent += 1
            problems += _problems(endpoint, method, url, role, check, b, a, markers)
    assert problems == [], "\n".join(problems)
    assert sent > 4 * 50


def test_relinking_a_call_to_another_clinics_patient_is_refused(app: Any, session: Session) -> None:
    pair = cp.build(app, session)
    client = pair.clients_b["receptionist"]
    answer = client.patch(f"/api/calls/{pair.b_call}", json={"patient_id": pair.a.maria.id})
    assert answer.status_code == 404 and answer.get_json()["field"] == "patient_id"
    assert client.get(f"/api/calls/{pair.b_call}").get_json()["patient_id"] == pair.b_patient.id
    assert client.get(f"/desk/patients/{pair.a.maria.id}").status_code == 404
    picked = client.post(f"/api/desk/calls/{pair.b_call}/patient", json={"patient_id": pair.a.maria.id})
    assert picked.status_code == 404 and picked.get_json()["field"] == "patient_id"
    own = client.patch(f"/api/calls/{pair.b_call}", json={"patient_id": None})
    assert own.status_code == 200 and own.get_json()["patient_id"] is None


def test_a_shared_number_shows_only_this_clinics_history(app: Any, session: Session) -> None:
    """Maria (clinic A) calls clinic B: B's card, script and list know nothing of her."""
    pair = cp.build(app, session)
    cp.post(app.test_client(), "b-maria", "ringing", caller=w.MARIA_PHONE, to=cp.B_TRACKED,
            extension="201")
    call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "b-maria"))
    client = pair.clients_b["receptionist"]
    card = client.get(f"/api/desk/calls/{call_id}/card").get_json()
    assert card["patients"] == [] and card["previous_calls"] == []
    script = client.get(f"/api/calls/{call_id}/script").get_json()
    assert "Мария" not in json.dumps(script, ensure_ascii=False)
    listed = client.get("/api/calls").get_json()
    assert {c["id"] for c in listed["calls"]} == {pair.b_call, call_id}


def test_a_desk_hears_only_its_own_clinic(app: Any, session: Session) -> None:
    """Clinic A's pop and close events never reach clinic B's stream, which still gets its own."""
    pair = cp.build(app, session)
    runtime = app.extensions["callcenter"]
    start = screenpop.read(runtime, "0-0", block_ms=10)
    last = max((event_id for event_id, _ in start), default="0-0", key=_stream_order)
    hook = app.test_client()
    cp.post(hook, "a-ring", "ringing", extension=None)  # ring-all in clinic A
    cp.post(hook, "a-ring", "answered", extension="101")  # every other desk of A closes
    cp.post(hook, "a-ring", "ended", extension="101")
    cp.post(hook, "b-ring", "ringing", caller=cp.B_PHONE, to=cp.B_TRACKED, extension=None)
    a_call = session.scalar(select(Call.id).where(Call.provider_call_id == "a-ring"))
    b_call = session.scalar(select(Call.id).where(Call.provider_call_id == "b-ring"))
    published = [p for _, p in screenpop.read(runtime, last, block_ms=10)]
    assert {p["clinic_id"] for p in published if p["call_id"] == a_call} == {pair.a.clinic.id}
    messages = _read_stream(pair.clients_b["receptionist"], last, until_call=b_call)
    assert [m["call_id"] for m in messages] == [b_call]
    assert messages[0]["sse"] == "pop" and messages[0]["card"]["call"]["id"] == b_call
    a_desk = _read_stream(pair.clients_a["receptionist"], last, until_call=a_call)
    assert a_desk[0]["call_id"] == a_call  # the same stream does deliver clinic A's own


def _stream_order(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


def _read_stream(client: Any, last_id: str, until_call: int) -> list[dict[str, Any]]:
    """SSE messages after last_id, up to the first one about `until_call` (the stream is ordered:
    everything published before it has been decided on by then)."""
    response = client.get("/desk/stream", headers={"Last-Event-ID": last_id}, buffered=False)
    assert response.status_code == 200
    messages, text = [], ""
    try:
        for chunk in response.response:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in text:
                block, text = text.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines()
                              if ": " in line and not line.startswith(":"))
                if "data" in fields:
                    messages.append({**json.loads(fields["data"]), "sse": fields["event"]})
            if any(m["call_id"] == until_call for m in messages):
                break
    finally:
        response.close()
    return messages


def test_raw_webhooks_belong_to_their_calls_clinic(app: Any, session: Session) -> None:
    """Applied: the call's clinic. Never applied (here: a bad signature): only an admin of every
    clinic sees it, and may re-process it."""
    pair = cp.build(app, session)
    rejected = app.test_client().post("/webhooks/generic", data=b'{"from": "+79161112233"}',
                                      headers={"Content-Type": "application/json"})
    assert rejected.status_code == 403
    orphan = session.scalar(select(RawWebhook.id).where(RawWebhook.state == RawState.REJECTED))
    b_raw = session.scalar(select(RawWebhook).where(RawWebhook.clinic_id == pair.b.id))
    assert b_raw is not None and orphan is not None

    def listed(client: Any) -> set[int]:
        return {r["id"] for r in client.get("/api/webhooks/raw").get_json()}

    b_admin, a_admin = pair.clients_b["admin"], pair.clients_a["admin"]
    assert b_raw.id in listed(b_admin) and orphan not in listed(b_admin)
    assert b_raw.id not in listed(a_admin) and orphan not in listed(a_admin)
    assert b_admin.post(f"/api/webhooks/raw/{orphan}/reprocess").status_code == 404
    session.add(StaffClinic(staff_id=pair.staff_b["admin"].id, clinic_id=pair.a.clinic.id))
    session.commit()
    network = listed(b_admin)  # now an admin of both clinics: of the whole installation
    assert {orphan, b_raw.id, pair.a_ids["raw_id"]} <= network
    assert b_admin.post(f"/api/webhooks/raw/{orphan}/reprocess").status_code == 200
    assert b_admin.get(f"/api/calls/{pair.a_ids['call_id']}").status_code == 200
    session.add(StaffClinic(staff_id=pair.staff_b["receptionist"].id, clinic_id=pair.a.clinic.id))
    session.commit()
    both = pair.clients_b["receptionist"].get("/api/calls").get_json()["calls"]
    assert {c["id"] for c in both} >= {pair.b_call, pair.a_ids["call_id"]}


def test_reads_of_patient_data_are_audited(app: Any, session: Session) -> None:
    pair = cp.build(app, session)
    desk, admin = pair.clients_a["receptionist"], pair.clients_a["admin"]
    call_id, patient_id = pair.a_ids["call_id"], pair.a.maria.id
    for url in ("/api/calls", f"/api/calls/{call_id}", f"/api/calls/{call_id}/script",
                f"/api/desk/calls/{call_id}/card", f"/desk/patients/{patient_id}", "/api/desk/lists",
                "/api/campaigns/desk"):
        assert desk.get(url).status_code == 200, url
    assert admin.get(f"/api/patients/{patient_id}/export").status_code == 200
    rows = session.execute(select(AuditLog.action, AuditLog.object_id, AuditLog.details)
                           .where(AuditLog.action != "login")).all()
    actions = {action for action, _, _ in rows}
    assert {"list_calls", "view_call", "view_script", "view_patient", "view_lists",
            "view_task_list", "export"} <= actions
    assert (("view_call", str(call_id)) in {(a, o) for a, o, _ in rows})
    listed = next(d for a, _, d in rows if a == "list_calls")
    assert call_id in listed["call_ids"] and patient_id in listed["patient_ids"]
    # A refused read is no read: clinic B's 404 leaves no view row behind.
    before = len(rows)
    assert pair.clients_b["receptionist"].get(f"/api/calls/{call_id}").status_code == 404
    assert len(session.execute(select(AuditLog.id).where(AuditLog.action != "login")).all()) == before


def test_the_3cx_key_names_only_its_clinics_patients(app: Any, session: Session) -> None:
    pair = cp.build(app, session)
    client = app.test_client()
    key = {"X-Api-Key": THREE_CX_KEY}
    found = client.get(f"/3cx/lookup?number={w.MARIA_PHONE}", headers=key).get_json()
    assert found["id"] == str(pair.a.maria.id)  # 3CX_CLINIC unset: the first clinic
    app.config["3CX_CLINIC"] = pair.b.id
    assert client.get(f"/3cx/lookup?number={w.MARIA_PHONE}", headers=key).get_json() == {"matches": 0}
    own = client.get(f"/3cx/lookup?number={cp.B_PHONE}", headers=key).get_json()
    assert own["id"] == str(pair.b_patient.id)


def test_script_preview_is_for_admins_of_that_clinic(app: Any, session: Session) -> None:
    pair = cp.build(app, session)
    body = {"scenario": "recall", "clinic_id": pair.b.id}
    assert pair.clients_b["receptionist"].post("/api/scripts/preview", json=body).status_code == 403
    assert pair.clients_b["admin"].post("/api/scripts/preview", json=body).status_code == 200
    other = pair.clients_a["admin"].post("/api/scripts/preview", json=body)
    assert other.status_code == 404 and other.get_json()["field"] == "clinic_id"
