"""A clinic's own PBX account: when clinics of a network each have their own account with a
provider (their own Zadarma cabinet, their own Asterisk), each gets its own webhook URL,
/webhooks/<provider>/c/<token>, and its own signing secret.

The URL names the account before a byte of the request is trusted, so the account's secret is
the one that verifies it; nothing is parsed from an unverified body to choose a secret. What the
account lets in belongs to its clinic and to nothing else:
- a new call is the account's clinic's, whatever number it names;
- the provider's call ids are namespaced by the account (two Asterisk servers both number their
  calls "1700000000.12"): one clinic's PBX can never reach, let alone change, another's call;
- the request is re-verified with the same account's secret when an admin re-processes it.
The installation-wide URL (/webhooks/<provider>, secrets from the environment) keeps working
beside them, the clinic then read from the tracking number dialed.
"""

from __future__ import annotations

import secrets
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import clinic_scope, secret_box
from callcenter.core.inputs import InputError, problem
from callcenter.core.models import Clinic, PbxAccount, utcnow
from callcenter.inbound.webhook_secrets import SIGNING_SETTINGS
from webhooks import CallEvent
from webhooks import payload_fields as fields

PURPOSE = "pbx-account"
LONGEST_VALUE = 500


@dataclass(frozen=True)
class Connection:
    """An account as the webhook pipeline uses it: whose requests these are, and how to check them."""

    account_id: int
    clinic_id: int
    provider: str
    token: str
    # The account's signing settings, the clinic's numbering plan and zone: laid over the
    # installation's settings for this request (see `settings`).
    own: Mapping[str, Any]

    def settings(self, config: Mapping[str, Any]) -> Mapping[str, Any]:
        return ChainMap(dict(self.own), config)  # type: ignore[arg-type]

    @property
    def binding_provider(self) -> str:
        """Bindings (what a partly-signed request fixed) are kept apart per account too."""
        return f"{self.provider}@{self.account_id}"

    def namespaced(self, events: Sequence[CallEvent]) -> list[CallEvent]:
        return [replace(event, provider_call_id=f"{self.account_id}:{event.provider_call_id}")
                for event in events]


def path(provider: str, token: str) -> str:
    return f"/webhooks/{provider}/c/{token}"


def _settings(account: PbxAccount, secret_key: str) -> dict[str, Any] | None:
    """The account's signing settings; None when sealed under an older CALLCENTER_SECRET_KEY
    (nothing verifies until they are entered again)."""
    try:
        return secret_box.unseal(secret_key, PURPOSE, account.sealed_settings)
    except secret_box.Unreadable:
        return None


def _connection(account: PbxAccount, clinic: Clinic, secret_key: str) -> Connection:
    stored = _settings(account, secret_key) or {}
    own = {key: value for key, value in stored.items() if key in SIGNING_SETTINGS[account.provider]}
    # An account without its secrets must not fall back on the installation's: blank, it refuses.
    own.update({key: own.get(key, "") for key in SIGNING_SETTINGS[account.provider]})
    own.update(REGION=clinic.region, TIMEZONE=clinic.timezone)
    return Connection(account.id, account.clinic_id, account.provider, account.token, own)


def _one(session: Session, secret_key: str, *where: Any) -> Connection | None:
    row = session.execute(
        select(PbxAccount, Clinic).join(Clinic, Clinic.id == PbxAccount.clinic_id).where(*where)
        .execution_options(**clinic_scope.PAST_SCOPE)).first()
    return None if row is None else _connection(row[0], row[1], secret_key)


def find(session: Session, provider: str, token: str, secret_key: str) -> Connection | None:
    """The account a webhook URL names; None for an unknown token or one of another provider.
    The token is the credential that picks the clinic, so it is looked up past any clinic scope."""
    return _one(session, secret_key, PbxAccount.token == token, PbxAccount.provider == provider)


def by_id(session: Session, account_id: int, secret_key: str) -> Connection | None:
    return _one(session, secret_key, PbxAccount.id == account_id)


def for_clinic(session: Session, clinic_id: int, provider: str, secret_key: str) -> Connection | None:
    """The clinic's own account with the provider (the caller has checked it may see the clinic)."""
    return _one(session, secret_key, PbxAccount.clinic_id == clinic_id,
                PbxAccount.provider == provider)


@dataclass(frozen=True)
class AccountState:
    token: str
    readable: bool  # False: sealed under another CALLCENTER_SECRET_KEY, enter the secret again


def states(session: Session, clinic_id: int, secret_key: str) -> dict[str, AccountState]:
    """Provider → the clinic's own account with it, for the PBX page and check-config."""
    result = {}
    for account in session.scalars(select(PbxAccount).where(PbxAccount.clinic_id == clinic_id)):
        result[account.provider] = AccountState(account.token,
                                                _settings(account, secret_key) is not None)
    return result


def describe(session: Session, clinic_id: int, secret_key: str) -> list[str]:
    """check-config's lines: the clinic's own accounts, by URL path (no secret is ever printed)."""
    return [f"own {provider} account at {path(provider, state.token)}: "
            + ("signed" if state.readable else
               "secret unreadable (CALLCENTER_SECRET_KEY changed): enter it again on /admin/pbx")
            for provider, state in sorted(states(session, clinic_id, secret_key).items())]


def check_values(provider: str, values: Mapping[str, str], keep: Mapping[str, str]) -> dict[str, str]:
    """The signing settings to store: each given value checked, a blank one keeping what is
    stored (password fields are never shown back); every setting must end up set."""
    result = {}
    for key in SIGNING_SETTINGS[provider]:
        value = (values.get(key) or "").strip()
        if not value:
            value = keep.get(key, "")
            if not value:
                raise InputError(key, "required")
        reason = problem(value)
        if reason is not None:
            raise InputError(key, reason)
        if len(value) > LONGEST_VALUE:
            raise InputError(key, "longer than {most} characters", most=LONGEST_VALUE)
        if key == "TELNYX_PUBLIC_KEY" and len(fields.b64decode(value) or b"") != 32:
            raise InputError(key, "not a base64 Ed25519 public key (32 bytes)")
        result[key] = value
    return result


def save(session: Session, clinic_id: int, provider: str, values: Mapping[str, str],
         secret_key: str) -> PbxAccount:
    """Create the clinic's account with the provider, or change its secrets (the URL stays: the
    PBX keeps posting to it). Raises InputError naming the setting; the caller commits."""
    if provider not in SIGNING_SETTINGS:
        raise InputError("provider", "unknown provider")
    account = session.scalar(select(PbxAccount).where(PbxAccount.clinic_id == clinic_id,
                                                      PbxAccount.provider == provider))
    keep = (_settings(account, secret_key) if account is not None else None) or {}
    sealed = secret_box.seal(secret_key, PURPOSE, check_values(provider, values, keep))
    if account is None:
        account = PbxAccount(clinic_id=clinic_id, provider=provider,
                             token=secrets.token_urlsafe(18), sealed_settings=sealed)
        session.add(account)
    else:
        account.sealed_settings, account.updated_at = sealed, utcnow()
    session.flush()
    return account


def remove(session: Session, clinic_id: int, provider: str) -> bool:
    """Forget the clinic's account: its URL answers 404 from now on."""
    account = session.scalar(select(PbxAccount).where(PbxAccount.clinic_id == clinic_id,
                                                      PbxAccount.provider == provider))
    if account is None:
        return False
    session.delete(account)
    session.flush()
    return True
