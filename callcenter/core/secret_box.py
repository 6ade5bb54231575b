"""Secrets kept in the database (a clinic's PBX signing settings), sealed with a key derived from
CALLCENTER_SECRET_KEY, so a dump or a backup of the database alone does not give them away.

Changing CALLCENTER_SECRET_KEY makes sealed values unreadable: they must be entered again (the
PBX page says which). NaCl's SecretBox authenticates as well as encrypts: a value altered in the
database is refused, never used.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from nacl.encoding import RawEncoder
from nacl.exceptions import CryptoError
from nacl.hash import blake2b
from nacl.secret import SecretBox


class Unreadable(Exception):
    """Sealed under another secret key, or altered."""


def _box(secret_key: str, purpose: str) -> SecretBox:
    # One key per purpose: a value sealed for one use cannot be opened as another's.
    key = blake2b(secret_key.encode(), digest_size=SecretBox.KEY_SIZE, person=purpose.encode()[:16],
                  encoder=RawEncoder)
    return SecretBox(key)


def seal(secret_key: str, purpose: str, value: dict[str, Any]) -> str:
    sealed = _box(secret_key, purpose).encrypt(json.dumps(value, sort_keys=True).encode())
    return base64.urlsafe_b64encode(bytes(sealed)).decode("ascii")


def unseal(secret_key: str, purpose: str, sealed: str) -> dict[str, Any]:
    try:
        plain = _box(secret_key, purpose).decrypt(base64.urlsafe_b64decode(sealed.encode("ascii")))
        value = json.loads(plain)
    except (CryptoError, ValueError) as exc:
        raise Unreadable("sealed under another CALLCENTER_SECRET_KEY, or altered") from exc
    if not isinstance(value, dict):
        raise Unreadable("not a sealed mapping")
    return value
