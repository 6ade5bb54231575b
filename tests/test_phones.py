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


def test_the_e164_shortcut_answers_as_the_full_parse_does_for_every_country() -> None:
    """Numbers already "+<code><number>" skip phonenumbers' parse; wherever the shortcut
    answers, its answer is the full parse's. Every country code, every length up to 17 digits,
    national prefixes and leading zeros included (random digits, fixed seed)."""
    import random

    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

    from callcenter.core.phones import _parsed, _plain_e164

    rng = random.Random(16)
    answered = 0
    for code in COUNTRY_CODE_TO_REGION_CODE:
        for length in range(1, 18):
            for _ in range(6):
                digits = f"+{code}" + "".join(rng.choice("0123456789") for _ in range(length))
                quick = _plain_e164(digits)
                if quick is not None:
                    answered += 1
                    assert quick == _parsed(digits, "RU") == _parsed(digits, "US"), digits
    assert answered > 2000  # the shortcut does take the common numbers
    assert _plain_e164("+79161234567") == "+79161234567"
    assert _plain_e164("+78005553535") is None  # 8 is Russia's national prefix: the full parse
    assert _plain_e164("+390612345678") is None  # Italy keeps its leading zero: the full parse
    assert _plain_e164("+7916123456٧") is None  # not ASCII digits: the full parse normalises them
