"""Password hashing with Argon2id at OWASP's lower-memory setting: 19 MiB, 2 passes, 1 lane.

argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes) put a web process over its memory budget for
as long as one sign-in ran (docs/performance.md, Memory); OWASP's password storage guidance
lists 19 MiB with 2 passes as equivalent in strength to its other Argon2id settings, trading
memory for passes. A stored hash carries its own parameters, so hashes made with the old ones
still verify, and a sign-in replaces such a hash with one at these (`needs_rehash`).

Hashes and checks run one at a time per process, so a burst of sign-ins cannot stack up their
memory (four at once took the web process from 105 to 360 MB at 64 MiB each); each takes a
fraction of a second, so sign-ins queue only briefly.
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
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


def needs_rehash(stored_hash: str) -> bool:
    """Whether a verified hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
