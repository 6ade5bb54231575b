"""A receptionist's browser phone, as an administrator sets it up on the staff page: SIP over
WebSocket (the PBX's WSS address, the SIP user and password) or a Twilio client identity.

The settings are sealed with core/secret_box (they hold a SIP password) and opened only for the
staff member's own desk; the staff page never shows the password again, and an empty password
field keeps the one stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from callcenter.core import secret_box
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError
from callcenter.core.models import Staff

PURPOSE = "softphone"
KINDS = ("off", "sip", "twilio")
# The staff page's fields shown back as typed after a refusal (the password never is).
TYPED = {"wss_url": "wss_url", "sip_user": "sip_user", "sip_domain": "sip_domain", "twilio_identity": "identity"}
SIP_USER = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
DOMAIN = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
IDENTITY = re.compile(r"^[A-Za-z0-9_.-]{1,121}$")


@dataclass(frozen=True)
class Softphone:
    kind: str  # "sip" or "twilio"
    wss_url: str = ""
    sip_user: str = ""
    sip_domain: str = ""
    password: str = ""
    identity: str = ""

    def public(self) -> dict[str, str]:
        """What the staff page may show: everything but the password."""
        return {"kind": self.kind, "wss_url": self.wss_url, "sip_user": self.sip_user,
                "sip_domain": self.sip_domain, "identity": self.identity,
                "password_set": "yes" if self.password else ""}


def read(secret_key: str, staff: Staff) -> Softphone | None:
    """The staff member's browser phone; None when there is none or it cannot be opened (the
    secret key changed: the administrator enters the password again)."""
    if not staff.softphone_sealed:
        return None
    try:
        values = secret_box.unseal(secret_key, PURPOSE, staff.softphone_sealed)
    except secret_box.Unreadable:
        return None
    if values.get("kind") not in ("sip", "twilio"):
        return None
    return Softphone(**{k: str(values.get(k, "")) for k in Softphone.__dataclass_fields__})


def unreadable(secret_key: str, staff: Staff) -> bool:
    return bool(staff.softphone_sealed) and read(secret_key, staff) is None


def check(form: Mapping[str, Any], kept: Softphone | None) -> Softphone | None:
    """The settings from the staff page's fields, or FieldErrors naming each bad one."""
    kind = str(form.get("softphone_kind", "off"))
    if kind not in KINDS:
        raise FieldError("softphone_kind", N_("Unknown choice"))
    if kind == "off":
        return None
    if kind == "twilio":
        identity = str(form.get("twilio_identity", "")).strip()
        if not IDENTITY.match(identity):
            raise FieldError("twilio_identity", N_("Letters, digits, dot, dash or underscore, up to 121"))
        return Softphone("twilio", identity=identity)
    url = str(form.get("wss_url", "")).strip()
    try:
        # urlsplit and .port raise on a broken "[v6" host or a port out of range.
        parts = urlsplit(url)
        usable = parts.scheme in ("wss", "ws") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        usable = False
    if not usable or len(url) > 300:
        raise FieldError("wss_url", N_("The PBX's WebSocket address, like wss://pbx.example.org:8089/ws"))
    user = str(form.get("sip_user", "")).strip()
    if not SIP_USER.match(user):
        raise FieldError("sip_user", N_("The SIP user name: letters, digits and . _ + -"))
    domain = str(form.get("sip_domain", "")).strip() or parts.hostname
    if not DOMAIN.match(domain):
        raise FieldError("sip_domain", N_("A host name, like pbx.example.org"))
    password = str(form.get("sip_password", ""))
    if not password and kept is not None and kept.kind == "sip":
        password = kept.password
    if not password or len(password) > 128:
        raise FieldError("sip_password", N_("The SIP password (up to 128 characters)"))
    return Softphone("sip", wss_url=url, sip_user=user, sip_domain=domain, password=password)


def store(secret_key: str, staff: Staff, phone: Softphone | None) -> None:
    staff.softphone_sealed = (None if phone is None else secret_box.seal(
        secret_key, PURPOSE, {k: getattr(phone, k) for k in Softphone.__dataclass_fields__}))
