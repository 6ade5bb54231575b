"""Password hashing with Argon2id (argon2-cffi's defaults track current recommendations).

Argon2id is memory-hard: each hash or check takes 64 MiB while it runs. They run one at a time
per process, so a burst of sign-ins cannot stack those up (four at once took the web process
from 105 to 360 MB); each takes a fraction of a second, so sign-ins queue only briefly.
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_one_at_a_time = threading.Lock()


def hash_password(password: str) -> str:
    with _one_at_a_time:
        return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        with _one_at_a_time:
            return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
