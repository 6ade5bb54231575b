"""Who may open what: ONE table of every route and its roles, checked against the running app.

Every rule × every caller (anonymous and each staff role) gets a real request. A role the table
allows is never refused (no 401, no 403, no redirect to the login page); any other caller is refused
the way its kind of client expects: 401 JSON for an anonymous API call, a redirect to /login for an
anonymous page, 403 for a signed-in member of another role. Webhooks and the 3CX lookup are public
but authenticated by a signature or key: unsigned, they answer 403 to everyone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from tests import api_world
from tests import desk_world as w
from tests.conftest import app_settings, every_route
from tests.factories import signed_in, unlock_all

PUBLIC = "public"
SIGNED = "public, signature-checked"
DESK = frozenset({"receptionist", "admin"})
ADMIN = frozenset({"admin"})
MARKETING = frozenset({"marketing", "admin"})

ROUTE_ROLES: dict[str, str | frozenset[str]] = {
    "auth.home": PUBLIC,
    "measures.page": MARKETING,
    "measures.rows": MARKETING,
    "complaints.desk_panel": DESK,
    "complaints.call_context": DESK,
    "complaints.record_complaint": DESK,
    "complaints.mark_non_patient": DESK,
    "complaints.non_patient_transferred": DESK,
    "complaints.non_patient_message": DESK,
    "complaints.list_page": DESK,
    "complaints.answer": DESK,
    "complaints.close": DESK,
    "complaints.settings_page": ADMIN,
    "complaints.save_rule": ADMIN,
    "complaints.save_route": ADMIN,
    "complaints.delete_rule": ADMIN,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.change_password": frozenset({"receptionist", "marketing", "admin"}),
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "openapi.openapi": PUBLIC,
    "webhooks.receive": SIGNED,
    "webhooks.receive_for_account": SIGNED,
    "outbound.twiml": SIGNED,
    "outbound.gather": SIGNED,
    "outbound.rating": SIGNED,
    "outbound.status": SIGNED,
    "threecx.lookup": SIGNED,
    "threecx.lookup_for_account": SIGNED,
    "sms_webhooks.receive": SIGNED,
    "admin.page": ADMIN,
    "pbx_admin.page": ADMIN,
    "pbx_admin.send_test": ADMIN,
    "pbx_admin.save_account": ADMIN,
    "pbx_admin.remove_account": ADMIN,
    "sip_admin.page": ADMIN,
    "sip_admin.test": ADMIN,
    "dnc_admin.page": ADMIN,
    "dnc_admin.add": ADMIN,
    "dnc_admin.remove": ADMIN,
    "audit_admin.page": ADMIN,
    "audit_admin.export": ADMIN,
    "admin.assign": ADMIN,
    "admin.reprocess_one": ADMIN,
    "clinic_admin.settings_page": ADMIN,
    "clinic_admin.save_settings": ADMIN,
    "clinic_admin.add_day_off": ADMIN,
    "clinic_admin.remove_day_off": ADMIN,
    "clinic_admin.import_holidays": ADMIN,
    "clinic_admin.clinics_page": ADMIN,
    "clinic_admin.create_clinic": ADMIN,
    "staff_admin.staff_list": ADMIN,
    "staff_admin.staff_new": ADMIN,
    "staff_admin.staff_create": ADMIN,
    "staff_admin.staff_edit": ADMIN,
    "staff_admin.staff_active": ADMIN,
    "staff_admin.staff_password": ADMIN,
    "staff_admin.staff_softphone": ADMIN,
    "doctor_admin.doctor_list": ADMIN,
    "doctor_admin.doctor_page": ADMIN,
    "doctor_admin.doctor_schedule": ADMIN,
    "doctor_admin.absence_add": ADMIN,
    "doctor_admin.absence_remove": ADMIN,
    "services_admin.page": ADMIN,
    "import_admin.page": ADMIN,
    "sync_api.upsert_one": SIGNED,
    "sync_api.upsert_batch": SIGNED,
    "sync_api.changes": SIGNED,
    "events_admin.page": ADMIN,
    "events_admin.save": ADMIN,
    "events_admin.replay_event": ADMIN,
    "fhir_admin.page": ADMIN,
    "fhir_admin.save": ADMIN,
    "fhir_admin.pull_now": ADMIN,
    "import_admin.upload": ADMIN,
    "import_admin.job_page": ADMIN,
    "import_admin.run": ADMIN,
    "import_admin.cancel": ADMIN,
    "import_admin.status": ADMIN,
    "import_admin.refused": ADMIN,
    "services_admin.create": ADMIN,
    "services_admin.edit": ADMIN,
    "services_admin.save": ADMIN,
    "services_admin.set_active": ADMIN,
    "services_admin.set_currency": ADMIN,
    "numbers_admin.page": ADMIN,
    "webtracking_admin.page": ADMIN,
    "webtracking_admin.create": ADMIN,
    "webtracking_admin.edit": ADMIN,
    "webtracking_admin.save": ADMIN,
    "webtracking_admin.save_ads": ADMIN,
    "webtracking_report.page": MARKETING,
    "webtracking_report.download": MARKETING,
    "webtracking_report.funnel_csv": MARKETING,
    "numbers_admin.create_channel": ADMIN,
    "numbers_admin.edit_channel": ADMIN,
    "numbers_admin.rename_channel": ADMIN,
    "numbers_admin.channel_active": ADMIN,
    "numbers_admin.create": ADMIN,
    "numbers_admin.edit": ADMIN,
    "numbers_admin.save": ADMIN,
    "numbers_admin.number_active": ADMIN,
    "desk.page": DESK,
    "desk.stream": DESK,
    "desk.patient_page": DESK,
    "desk.active": DESK,
    "desk.card": DESK,
    "desk.pick_patient": DESK,
    "desk_card.new_patient": DESK,
    "desk_card.save_draft": DESK,
    "desk_card.recording": DESK,
    "desk_card.patient_calls": DESK,
    "desk_card.edit_patient": DESK,
    "desk.wrap_up": DESK,
    "desk.book": DESK,
    "desk.cancel": DESK,
    "desk.mark": DESK,
    "visits.page": DESK,
    "visits.listing": DESK,
    "visits.arrived": DESK,
    "visits.completed": DESK,
    "visits.no_show": DESK,
    "visits.waiting_list": DESK,
    "visits.notice_seen": DESK,
    "desk.lists": DESK,
    "desk.dial": DESK,
    "softphone.settings": DESK,
    "softphone.dial": DESK,
    "softphone.events": DESK,
    "softphone.twilio_token": DESK,
    "softphone.twilio_voice": SIGNED,
    "desk.lock": DESK,
    "desk.unlock": DESK,
    "messaging.patient_thread": DESK,
    "messaging.send_reply": DESK,
    "messaging.unread": DESK,
    "desk_schedule.page": DESK,
    "desk_schedule.book": DESK,
    "desk_schedule.move": DESK,
    "desk_schedule.undo": DESK,
    "desk_schedule.patient_search": DESK,
    "api_calls.list_calls": DESK,
    "api_calls.get_call": DESK,
    "api_calls.update_call": DESK,
    "scripts_api.call_script": DESK,
    "scripts_api.preview": ADMIN,
    "campaigns_admin.desk": DESK,
    "campaigns_admin.desk_page": DESK,
    "campaigns_admin.outcome": DESK,
    "campaigns_admin.task_script": DESK,
    "api_calls.list_numbers": ADMIN,
    "api_calls.update_number": ADMIN,
    "api_calls.list_raw": ADMIN,
    "api_calls.reprocess_raw": ADMIN,
    "api_calls.reprocess_failed": ADMIN,
    "campaigns_admin.page": ADMIN,
    "campaigns_admin.page_action": ADMIN,
    "campaigns_admin.list_campaigns": ADMIN,
    "campaigns_admin.act": ADMIN,
    "campaigns_admin.change": ADMIN,
    "privacy.export_patient": ADMIN,
    "privacy.erase_patient": ADMIN,
    "marketing.dashboard": MARKETING,
    "marketing.export_csv": MARKETING,
    "marketing.api_index": MARKETING,
    "marketing.api_report": MARKETING,
    "setup.setup": PUBLIC,
    "setup.checklist_page": ADMIN,
}
STAFF_ROLES = ("receptionist", "doctor", "marketing", "admin")
CALLERS = ("anonymous", *STAFF_ROLES)
PASSWORD = "roles-pass-1"
REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, **{
        "3CX_SECRET": "roles-3cx-key", "TWILIO_AUTH_TOKEN": "roles-twilio-token"})


def _rules(app: Any) -> list[Any]:
    # POST /logout ends the session, so it goes last.
    return sorted(every_route(app),
                  key=lambda r: (r.endpoint == "auth.logout", r.rule, r.endpoint))


def test_every_route_is_in_the_table(app: Any) -> None:
    endpoints = {rule.endpoint for rule in _rules(app)}
    assert sorted(endpoints - set(ROUTE_ROLES)) == [], "add these routes to ROUTE_ROLES"
    assert sorted(set(ROUTE_ROLES) - endpoints) == [], "routes in ROUTE_ROLES that no longer exist"


def test_table_agrees_with_each_views_require_role(app: Any) -> None:
    for endpoint, roles in ROUTE_ROLES.items():
        declared = getattr(app.view_functions.get(endpoint), "allowed_roles", None)
        expected = None if roles in (PUBLIC, SIGNED) else set(roles)
        assert declared == expected, endpoint


def _caller(app: Any, session: Session, role: str) -> Any:
    """A client for the caller; every one holds a CSRF token so refusals come from the role check."""
    client = app.test_client()
    if role == "anonymous":
        with client.session_transaction() as flask_session:
            flask_session["csrf"] = "test-csrf"
        client.environ_base["HTTP_X_CSRF_TOKEN"] = "test-csrf"
        return client
    staff = signed_in(client, session, role=role, extension=None)
    staff.password_hash = hash_password(PASSWORD)
    session.commit()
    return client


def _values(session: Session) -> dict[str, Any]:
    values: dict[str, Any] = {name: ids[0] for name, ids in api_world.existing_ids(session).items()}
    values.update(kind="patients", external_id="P-1")
    values.update(attempt_id=1, action="pause", name="summary", provider="generic", subpath="events",
                  filename="desk.js", token="no-such-account", sms_provider="twilio",
                  key="no-such-pool", platform="google")
    return values


def _send(client: Any, session: Session, method: str, url: str) -> Any:
    unlock_all(session)  # the idle lock is another refusal, not this test's
    if url == "/desk/stream":
        response = client.get(url, buffered=False)
        response.close()  # an endless stream: the status line is all this test needs
        return response
    body = {"password": PASSWORD} if url == "/api/desk/unlock" else {}
    return client.open(url, method=method, json=body if method in ("POST", "PATCH") else None)


def _problem(endpoint: str, url: str, caller: str, response: Any) -> str | None:
    """What is wrong with this caller's answer, or None."""
    roles = ROUTE_ROLES[endpoint]
    status = response.status_code
    to_login = status in REDIRECTS and urlsplit(response.headers.get("Location", "")).path == "/login"
    if roles == SIGNED:
        return None if status == 403 else f"unsigned request answered {status}, not 403"
    if roles == PUBLIC or caller in roles:
        # "/" and POST /logout send a caller with no session to the login page: that is their job.
        sends_to_login = endpoint in ("auth.home", "auth.logout")
        if status in (401, 403) or (to_login and not sends_to_login):
            return f"allowed caller refused with {status}"
        body = response.get_json(silent=True) if response.mimetype == "application/json" else None
        if isinstance(body, dict) and body.get("error") == "csrf_failed":
            return "refused by the CSRF check before the view ran"
        return None
    if caller == "anonymous":
        if url.startswith("/api/"):
            return None if status == 401 else f"anonymous API call answered {status}, not 401"
        return None if to_login else f"anonymous page answered {status}, not a redirect to /login"
    return None if status == 403 else f"wrong role answered {status}, not 403"


def test_every_route_for_every_caller(app: Any, session: Session) -> None:
    api_world.build(app.test_client(), session)
    values = _values(session)
    clients = {caller: _caller(app, session, caller) for caller in CALLERS}
    problems, sent = [], 0
    for rule in _rules(app):
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for caller, client in clients.items():
                response = _send(client, session, method, url)
                sent += 1
                problem = _problem(rule.endpoint, url, caller, response)
                if problem:
                    problems.append(f"{method} {url} as {caller}: {problem}")
    assert problems == [], "\n".join(problems)
    assert sent == 5 * sum(len(r.methods - {"HEAD", "OPTIONS"}) for r in _rules(app))
