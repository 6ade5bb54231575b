"""/admin/pbx/sip: test the SIP account the automatic calls use — register on the PBX, report,
unregister — from the PBX connections page, in the admin's language."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, render_template

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.admin import pages
from callcenter.core.config import DEFAULTS
from callcenter.core.i18n import t
from callcenter.core.web import db
from callcenter.outbound import dial_reasons
from callcenter.outbound.dialers.sip import SipDialer

bp = Blueprint("sip_admin", __name__, template_folder="templates")
ACCOUNT = ("SIP_SERVER", "SIP_PORT", "SIP_USER", "SIP_PASSWORD", "SIP_MY_IP")


@bp.get("/admin/pbx/sip")
@require_role("admin")
def page() -> str:
    return _render(None)


@bp.post("/admin/pbx/sip/test")
@require_role("admin")
def test() -> str:
    config, locale = current_app.config, pages.locale()
    if not config["SIP_SERVER"]:
        return _render((False, t("Nothing was sent: set CALLCENTER_SIP_SERVER and the account first.", locale)))
    started = time.monotonic()
    failure = SipDialer(config).check()
    seconds = f"{time.monotonic() - started:.2f}"
    audit(db(), pages.admin().id, "sip_test", "clinic", pages.home_clinic().id,
          ok=failure is None, reason=failure.reason.value if failure else "",
          status=failure.status if failure else None)
    db().commit()
    if failure is None:
        return _render((True, t("Registered on the PBX and unregistered again in {seconds} s: the account "
                                "works.", locale).format(seconds=seconds)))
    why = dial_reasons.describe(failure.reason, failure.status, locale)
    return _render((False, t("The test failed: {why}.", locale).format(why=why)))


def _render(result: tuple[bool, str] | None) -> str:
    config = current_app.config
    account = [(DEFAULTS[key].env, "" if DEFAULTS[key].secret else str(config[key]), bool(config[key]))
               for key in ACCOUNT]
    return render_template("admin/pbx_sip.html", locale=pages.locale(), account=account, result=result)
