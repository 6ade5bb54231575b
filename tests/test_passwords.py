"""Argon2 password hashes."""

from callcenter.access.passwords import hash_password, verify_password


def test_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert hash_password("correct horse") != stored  # salted


def test_missing_or_broken_hash_never_matches() -> None:
    assert not verify_password(None, "")
    assert not verify_password("", "x")
    assert not verify_password("not-a-hash", "not-a-hash")
