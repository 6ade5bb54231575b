"""Where a clinic's conversions go: its Yandex Metrica counter and its Google Ads account.

Tokens are sealed in the database (core/secret_box.py) and never shown again: the form says
only whether each is set, and an empty field keeps the one saved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import secret_box
from callcenter.core.inputs import InputError, text
from callcenter.core.models import Channel, WebAdAccount

PURPOSE = "web-ad-accounts"
IDS = ("metrica_counter", "google_customer", "google_action", "google_call_action")
# Google's OAuth client and refresh token get a fresh access token for each upload.
TOKENS = ("metrica_token", "google_developer_token", "google_client_id", "google_client_secret",
          "google_refresh_token", "google_login_customer")


def tokens(account: WebAdAccount | None, secret_key: str) -> dict[str, str]:
    """The account's tokens; {} when none are saved (or they were sealed under another key)."""
    if account is None or not account.sealed_tokens:
        return {}
    try:
        return {k: str(v) for k, v in secret_box.unseal(secret_key, PURPOSE,
                                                        account.sealed_tokens).items()}
    except secret_box.Unreadable:
        return {}


def form_of(session: Session, clinic_id: int) -> dict[str, Any]:
    account = session.get(WebAdAccount, clinic_id)
    values: dict[str, Any] = {name: getattr(account, name) if account else ""
                              for name in (*IDS, "google_call_channel")}
    values["set"] = set()
    if account is not None and account.sealed_tokens:
        values["set"] = {"sealed"}  # which ones is not told: sealed is sealed
    return values


def _digits(form: Any, name: str) -> str:
    value = text(WebAdAccount.metrica_counter, str(form.get(name, "")), name)
    value = value.replace("-", "").strip()
    if value and not (value.isascii() and value.isdigit()):
        raise InputError(name, "digits only")
    return value


def save(session: Session, clinic_id: int, form: Any, secret_key: str) -> dict[str, InputError]:
    """Store the form; its problems by field (nothing stored) when there are any."""
    problems: dict[str, InputError] = {}
    ids: dict[str, str] = {}
    for name in IDS:
        try:
            ids[name] = _digits(form, name)
        except InputError as exc:
            problems[name] = exc
    try:
        channel = text(WebAdAccount.google_call_channel, str(form.get("google_call_channel", "")),
                       "google_call_channel").strip()
        # A code no channel has (a typo, the channel's name) would match no call, silently.
        if channel and session.scalar(select(Channel.id).where(Channel.code == channel)) is None:
            raise InputError("google_call_channel", "no channel has this code (see Numbers and channels)")
    except InputError as exc:
        problems["google_call_channel"] = exc
    given: dict[str, str] = {}
    for name in TOKENS:
        value = str(form.get(name, "")).strip()
        if len(value) > 2000 or "\x00" in value:
            problems[name] = InputError(name, "longer than {most} characters", most=2000)
        elif value:
            given[name] = value
    if problems:
        return problems
    account = session.get(WebAdAccount, clinic_id)
    if account is None:
        account = WebAdAccount(clinic_id=clinic_id)
        session.add(account)
    for name, value in ids.items():
        setattr(account, name, value)
    account.google_call_channel = channel
    merged = {**tokens(account, secret_key), **given}
    account.sealed_tokens = secret_box.seal(secret_key, PURPOSE, merged) if merged else ""
    session.flush()
    return {}
