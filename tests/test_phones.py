"""Phone normalisation in the clinic's region."""

from __future__ import annotations

import pytest

from callcenter.core.phones import display, mask, normalize


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+79001234567", "RU", "+79001234567"),
        ("89001234567", "RU", "+79001234567"),
        ("79001234567", "RU", "+79001234567"),
        ("8 (900) 123-45-67", "RU", "+79001234567"),
        ("9001234567", "RU", "+79001234567"),
        ("sip:+79001234567@pbx.local", "RU", "+79001234567"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("13800138000", "CN", "+8613800138000"),
        ("8613800138000", "CN", "+8613800138000"),
        ("anonymous", "RU", None),
        ("Restricted", "US", None),
        ("", "RU", None),
        (None, "RU", None),
        ("101", "RU", None),
    ],
)
def test_normalize(raw: str | None, region: str, expected: str | None) -> None:
    assert normalize(raw, region) == expected


def test_mask_keeps_no_full_number() -> None:
    assert mask("+79001234567") == "+7********67"
    assert mask(None) == "hidden"


def test_display_national_at_home_international_abroad() -> None:
    assert display("+79001234567", "RU") == "8 (900) 123-45-67"
    assert display("+14155550100", "RU").startswith("+1 415")
