"""/admin/pbx: the PBX connections — the URL to paste, whether the secret is set, the last request
received, and a test call through the whole path to a pop."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin import pages
from callcenter.core.i18n import N_, t
from callcenter.core.models import Clinic, utcnow
from callcenter.core.phones import display
from callcenter.core.web import db
from callcenter.inbound import pbx_connections as pbx
from webhooks import TEST_CALLER

bp = Blueprint("pbx_admin", __name__, template_folder="templates")

VERDICTS = {
    pbx.Verdict.POPPED: N_("Accepted ({status}). A test call from {caller} to {number} is ringing "
                           "at the desks of {clinic}; its card is marked as a test."),
    pbx.Verdict.LOGGED: N_("Accepted ({status}). 3CX reports a call only once it is over and does "
                           "not name the number dialed: the test call is in the call log, no card "
                           "pops."),
    pbx.Verdict.NOT_SET_UP: N_("Nothing was sent: set {settings} to the secret from the PBX, then "
                               "restart the service."),
    pbx.Verdict.NO_NUMBER: N_("Nothing was sent: {clinic} has no tracking number for the test call "
                              "to ring. Add one first."),
    pbx.Verdict.REJECTED: N_("Refused ({status}): {detail}. Check that the secret set here is the "
                             "one in the PBX, and that CALLCENTER_PUBLIC_URL is the address the PBX "
                             "calls."),
    pbx.Verdict.INVALID: N_("Refused as malformed ({status}): {detail}."),
    pbx.Verdict.FAILED: N_("Stored, but applying it failed: {detail}. It waits under "
                           "\"Webhooks needing attention\" to be processed again."),
    pbx.Verdict.ERROR: N_("The webhook route answered {status}: {detail}."),
}
NOTES = {
    "telnyx": N_("Telnyx signs with a private key only Telnyx holds: the test call carries the "
                 "service's own self-test signature instead."),
    "3cx": N_("3CX reports calls when they end: the test logs a call, no card pops."),
    "mango": N_("Mango appends /events/call, /events/summary… to this address by itself."),
}
STATES = {"received": N_("received"), "processed": N_("processed"), "rejected": N_("rejected"),
          "invalid": N_("invalid"), "failed": N_("failed")}


@bp.get("/admin/pbx")
@require_role("admin")
def page() -> str:
    return _render(None, pages.home_clinic())


@bp.post("/admin/pbx/<provider>/test")
@require_role("admin")
def send_test(provider: str) -> str:
    if provider not in pbx.BY_NAME:
        abort(404)
    clinic = pages.chosen_clinic(request.form)
    result = pbx.send_test_call(current_app._get_current_object(),  # type: ignore[attr-defined]
                                db(), provider, clinic.id, utcnow(), request.host_url)
    audit(db(), pages.admin().id, "pbx_test", "clinic", clinic.id, provider=provider,
          verdict=str(result.verdict), status=result.status, call_id=result.call_id)
    db().commit()
    return _render(result, clinic)


def _render(result: pbx.TestResult | None, clinic: Clinic) -> str:
    locale = pages.locale()
    config = current_app.config
    base = pbx.public_base(config, request.host_url)
    last = pbx.last_requests(db())
    zone = pages.home_clinic().timezone
    rows = [{
        "provider": p, "urls": [base + path for path in p.paths],
        "settings": pbx.setting_names(p.name), "missing": pbx.missing_settings(p.name, config),
        "last": last.get(p.name), "last_at": pages.local(last[p.name].received_at, zone)
        if p.name in last else "", "note": t(NOTES[p.name], locale) if p.name in NOTES else "",
    } for p in pbx.PROVIDERS]
    return render_template(
        "admin/pbx.html", locale=locale, rows=rows, states=STATES, clinic=clinic,
        clinics=pages.clinics(), public_url_set=bool(config.get("PUBLIC_URL")),
        result=result, verdict=_verdict_text(result, clinic, locale) if result else "",
    )


def _verdict_text(result: pbx.TestResult, clinic: Clinic, locale: str) -> str:
    values: dict[str, Any] = {
        "status": result.status, "detail": result.detail, "clinic": clinic.name,
        "caller": display(TEST_CALLER, clinic.region),
        "number": display(result.dialed, clinic.region) if result.dialed else "",
        "settings": ", ".join(result.missing),
    }
    return t(VERDICTS[result.verdict], locale).format(**values)
