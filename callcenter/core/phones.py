"""Phone numbers to E.164 in the clinic's region, with hidden numbers told apart."""

from __future__ import annotations

import phonenumbers

# What PBXs put in the caller field when the number is withheld.
HIDDEN_MARKERS = frozenset(
    {"", "anonymous", "unknown", "private", "restricted", "unavailable", "withheld", "0", "00"}
)


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
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        if not digits.startswith("+"):
            return normalize("+" + digits, region) if len(digits) > 7 else None
        return None
    if not phonenumbers.is_possible_number(number):
        if not digits.startswith("+") and len(digits) > 7:
            return normalize("+" + digits, region)
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
