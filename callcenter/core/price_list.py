"""Money on the price list: the clinic's currency, amounts typed by staff, prices said aloud.

Amounts are integers of the currency's minor unit (Babel knows how many digits each has), so a
price is never a float; Babel parses and formats them in the staff member's or the script's
language.
"""

from __future__ import annotations

from decimal import Decimal

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_currency_precision,
    get_territory_currencies,
    list_currencies,
    parse_decimal,
)

from callcenter.core.config import LOCALES
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, Service

FALLBACK_CURRENCY = "USD"
MAX_MINOR = 10**15  # far above any price, far below what BIGINT holds
SPACES = (" ", "\xa0", "\u202f")  # how people and Babel group thousands


def known_currencies() -> list[str]:
    return sorted(list_currencies())


def currency_of(clinic: Clinic) -> str:
    """The clinic's own currency, else the one in use in its region today."""
    if clinic.currency:
        return clinic.currency
    found = get_territory_currencies(clinic.region or "", tender=True)
    return found[0] if found else FALLBACK_CURRENCY


def parse_amount(raw: str, currency: str, locale: str, field: str) -> int | None:
    """A typed amount ("6 500", "6500,50", "1,500.50") in minor units; None when left empty."""
    text = raw.strip()
    for space in SPACES:
        text = text.replace(space, "")
    if not text:
        return None
    try:
        amount = parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        raise InputError(field, "not an amount: {value}", value=raw.strip()[:40]) from None
    digits = get_currency_precision(currency)
    minor = amount.scaleb(digits)
    if amount < 0 or minor != minor.to_integral_value() or minor >= MAX_MINOR:
        raise InputError(field, "not a price in {currency}: {value}", currency=currency,
                         value=raw.strip()[:40])
    return int(minor)


def format_amount(minor: int, currency: str, locale: str) -> str:
    """"6 500 ₽", "CN¥6,500.50": whole amounts without the zero decimals nobody says aloud."""
    amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    if amount == amount.to_integral_value():
        pattern = pattern.replace(".00", "")
        amount = amount.quantize(Decimal(1))
    return format_currency(amount, currency, format=pattern, locale=locale, currency_digits=False)


def amount_input(minor: int | None, currency: str) -> str:
    """An amount as the edit form shows it back: plain digits, a point before any fraction."""
    if minor is None:
        return ""
    amount = Decimal(minor).scaleb(-get_currency_precision(currency))
    return str(amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount)


def service_price(service: Service, currency: str, locale: str) -> str | None:
    """The list price as said aloud: one amount or a range; None when the list has none."""
    low, high = service.price_min, service.price_max
    if low is None:
        return None
    if high is None or high == low:
        return format_amount(low, currency, locale)
    return t(N_("from {low} to {high}"), locale).format(
        low=format_amount(low, currency, locale), high=format_amount(high, currency, locale))


def service_name(service: Service, locale: str, fallback: str = "en") -> str:
    """The name in the locale, else in the fallback language, else in any language it has."""
    for code in (locale, fallback, *LOCALES):
        name = (service.names or {}).get(code, "").strip()
        if name:
            return name
    return ""
