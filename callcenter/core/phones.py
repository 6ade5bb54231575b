"""Phone numbers to E.164 in the clinic's region, with hidden numbers told apart."""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

CACHED = 32768  # distinct raw numbers remembered: an import or a busy PBX repeats them
# What PBXs put in the caller field when the number is withheld.
HIDDEN_MARKERS = frozenset(
    {"", "anonymous", "unknown", "private", "restricted", "unavailable", "withheld", "0", "00"}
)


@functools.lru_cache(maxsize=CACHED)
def normalize(raw: str | None, region: str) -> str | None:
    """E.164 for a dialable number; None for hidden or unparseable caller IDs."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().removeprefix("+") in HIDDEN_MARKERS:
        return None
    for prefix in ("sip:", "tel:", "client:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):].split("@", 1)[0]
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if not digits.strip("+"):
        return None
    if not digits.startswith("+") and region == "RU" and len(digits) == 11 and digits[0] in "78":
        # Russian PBXs send 7XXXXXXXXXX or 8XXXXXXXXXX without a plus.
        digits = "+7" + digits[1:]
    return _plain_e164(digits) or _parsed(digits, region)


def _parsed(digits: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        if not digits.startswith("+"):
            return normalize("+" + digits, region) if len(digits) > 7 else None
        return None
    if not phonenumbers.is_possible_number(number):
        if not digits.startswith("+"):
            return normalize("+" + digits, region) if len(digits) > 7 else None
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.cache
def _plan(country_code: int) -> tuple[frozenset[int], re.Pattern[str] | None] | None:
    """The lengths a national number may have after this country code, and the national
    prefix phonenumbers would try to strip from it; None for a non-geographic code."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    general = metadata.general_desc
    lengths = frozenset((*general.possible_length, *(general.possible_length_local_only or ())))
    prefix = metadata.national_prefix_for_parsing
    return lengths, (re.compile(prefix) if prefix else None)


def _plain_e164(digits: str) -> str | None:
    """`digits` itself when it is "+", a country code and a national number that phonenumbers
    would take as it stands (no national prefix or leading zero to strip, a possible length):
    what `_parsed` returns for it, without the full parse. None when unsure: then `_parsed`."""
    national = digits[1:]
    if not (digits[0] == "+" and national.isascii() and national.isdigit()) or national[0] == "0":
        return None
    for size in (1, 2, 3):  # country codes are prefix-free: the first one found is the one
        code = int(national[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    plan = _plan(code)
    national = national[size:]
    if plan is None or not national or national[0] == "0" or len(national) not in plan[0]:
        return None
    if plan[1] is not None and plan[1].match(national):
        return None
    return digits


def mask(e164: str | None) -> str:
    """A number safe for logs: country code and the last two digits only."""
    if not e164:
        return "hidden"
    return e164[:2] + "*" * max(len(e164) - 4, 0) + e164[-2:]


def display(e164: str | None, region: str) -> str:
    """How the receptionist sees a number: national format at home, international abroad."""
    if not e164:
        return ""
    number = phonenumbers.parse(e164, None)
    home = phonenumbers.region_code_for_number(number) == region
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, fmt)


def national_digits(e164: str) -> int:
    """How many trailing digits make the national number (the part a site's format keeps)."""
    return len(str(phonenumbers.parse(e164, None).national_number))
