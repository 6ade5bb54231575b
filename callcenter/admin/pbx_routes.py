"""/admin/pbx: the PBX connections — the URL to paste, whether the secret is set, the last request
received, a test call through the whole path to a pop, and per clinic its own account with a
provider (its own URL and secret, inbound/pbx_accounts.py) where it differs from the installation's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin import pages
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, utcnow
from callcenter.core.phones import display
from callcenter.core.web import db
from callcenter.inbound import pbx_accounts
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
# What each provider calls the value, for the form of a clinic's own account.
KEY_LABELS = {"ZADARMA_SECRET": N_("API secret key"), "MANGO_API_KEY": N_("API key (vpbx_api_key)"),
              "MANGO_SALT": N_("Signature salt"), "YEASTAR_SECRET": N_("Webhook secret"),
              "TELNYX_PUBLIC_KEY": N_("Public key (base64)"), "3CX_SECRET": N_("CRM key (X-Api-Key)"),
              "TWILIO_AUTH_TOKEN": N_("Auth token"), "ASTERISK_SECRET": N_("HMAC secret"),
              "GENERIC_SECRET": N_("HMAC secret")}
STATES = {"received": N_("received"), "processed": N_("processed"), "rejected": N_("rejected"),
          "invalid": N_("invalid"), "failed": N_("failed")}


@bp.get("/admin/pbx")
@require_role("admin")
def page() -> str:
    return _render(None, pages.chosen_clinic(request.args))


@bp.post("/admin/pbx/<provider>/test")
@require_role("admin")
def send_test(provider: str) -> str:
    clinic = _provider_and_clinic(provider)
    result = pbx.send_test_call(current_app._get_current_object(),  # type: ignore[attr-defined]
                                db(), provider, clinic.id, utcnow(), request.host_url)
    audit(db(), pages.admin().id, "pbx_test", "clinic", clinic.id, provider=provider,
          verdict=str(result.verdict), status=result.status, call_id=result.call_id)
    db().commit()
    return _render(result, clinic)


@bp.post("/admin/pbx/<provider>/account")
@require_role("admin")
def save_account(provider: str) -> Response | tuple[str, int]:
    clinic = _provider_and_clinic(provider)
    try:
        pbx_accounts.save(db(), clinic.id, provider, request.form, current_app.config["SECRET_KEY"])
    except InputError as exc:
        db().rollback()
        return _render(None, clinic, editing=provider, problem=exc), 400
    # The secrets themselves are never written to the audit log.
    audit(db(), pages.admin().id, "pbx_account_save", "clinic", clinic.id, provider=provider)
    db().commit()
    return redirect(f"/admin/pbx?clinic_id={clinic.id}#pbx-{provider}", 303)


@bp.post("/admin/pbx/<provider>/account/remove")
@require_role("admin")
def remove_account(provider: str) -> Response:
    clinic = _provider_and_clinic(provider)
    if pbx_accounts.remove(db(), clinic.id, provider):
        audit(db(), pages.admin().id, "pbx_account_remove", "clinic", clinic.id, provider=provider)
    db().commit()
    return redirect(f"/admin/pbx?clinic_id={clinic.id}#pbx-{provider}", 303)


def _provider_and_clinic(provider: str) -> Clinic:
    """The form's clinic for a known provider; an unknown provider or another clinic: 404."""
    if provider not in pbx.BY_NAME:
        abort(404)
    return pages.chosen_clinic(request.form)


def _render(result: pbx.TestResult | None, clinic: Clinic, editing: str = "",
            problem: InputError | None = None) -> str:
    locale = pages.locale()
    config = current_app.config
    base = pbx.public_base(config, request.host_url)
    last = pbx.last_requests(db())
    zone = pages.home_clinic().timezone
    own = pbx_accounts.states(db(), clinic.id, config["SECRET_KEY"])
    rows = []
    for p in pbx.PROVIDERS:
        account = own.get(p.name)
        rows.append({
            "provider": p, "account": account,
            "urls": [base + pbx.account_path(path, p.name, account.token) if account else base + path
                     for path in p.paths],
            "settings": pbx.setting_names(p.name), "signing_keys": pbx_accounts.SIGNING_SETTINGS[p.name],
            "missing": [] if account and account.readable else
            pbx.setting_names(p.name) if account else pbx.missing_settings(p.name, config),
            "last": last.get(p.name), "last_at": pages.local(last[p.name].received_at, zone)
            if p.name in last else "", "note": t(NOTES[p.name], locale) if p.name in NOTES else "",
            "open": editing == p.name,
        })
    return render_template(
        "admin/pbx.html", locale=locale, rows=rows, states=STATES, clinic=clinic,
        clinics=pages.clinics(), public_url_set=bool(config.get("PUBLIC_URL")),
        result=result, verdict=_verdict_text(result, clinic, locale) if result else "",
        problem=problem, problem_text=problem.localized(locale) if problem else "",
        key_labels={key: t(label, locale) for key, label in KEY_LABELS.items()},
    )


def _verdict_text(result: pbx.TestResult, clinic: Clinic, locale: str) -> str:
    values: dict[str, Any] = {
        "status": result.status, "detail": result.detail, "clinic": clinic.name,
        "caller": display(TEST_CALLER, clinic.region),
        "number": display(result.dialed, clinic.region) if result.dialed else "",
        "settings": ", ".join(result.missing),
    }
    return t(VERDICTS[result.verdict], locale).format(**values)
