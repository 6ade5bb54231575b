"""Unique, valid, made-up phone numbers for the demo clinic, in any numbering plan."""

from __future__ import annotations

import random

import phonenumbers

# Prefixes of the national number that look local; other regions fall back to the library's example.
_PREFIXES: dict[tuple[str, str], tuple[str, ...]] = {
    ("RU", "mobile"): ("903", "905", "906", "909", "915", "916", "917", "925", "926", "929",
                       "962", "964", "965", "968", "977", "985", "999"),
    ("RU", "landline"): ("495", "499"),
    ("GB", "mobile"): ("7700", "7711", "7723", "7800", "7911", "7946"),
    ("CN", "mobile"): ("138", "139", "135", "186", "158", "177"),
}
_TYPES = {"mobile": phonenumbers.PhoneNumberType.MOBILE,
          "landline": phonenumbers.PhoneNumberType.FIXED_LINE}
_PROBES = 12


class PhoneFactory:
    """Hands out numbers never given before; each prefix is probed against the metadata first."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self._plans: dict[tuple[str, str], tuple[str, list[str], int]] = {}

    def take(self, region: str, kind: str) -> str:
        country, prefixes, length = self._plan(region, kind)
        while True:
            prefix = self._rng.choice(prefixes)
            rest = "".join(self._rng.choices("0123456789", k=length - len(prefix)))
            number = f"+{country}{prefix}{rest}"
            if number not in self._used:
                self._used.add(number)
                return number

    def _plan(self, region: str, kind: str) -> tuple[str, list[str], int]:
        key = (region, kind)
        if key not in self._plans:
            example = phonenumbers.example_number_for_type(region, _TYPES[kind])
            if example is None:
                raise ValueError(f"REGION: no {kind} numbering known for {region!r}")
            national = str(example.national_number)
            candidates = _PREFIXES.get(key) or (national[: max(len(national) - 6, 1)],)
            country = str(example.country_code)
            # Probing draws on a separate generator so the main sequence does not depend on it.
            probe = random.Random(f"{region}-{kind}")
            valid = [p for p in candidates if self._all_valid(probe, country, p, len(national))]
            if not valid:
                raise ValueError(f"REGION: cannot make valid {kind} numbers for {region!r}")
            self._plans[key] = (country, valid, len(national))
        return self._plans[key]

    @staticmethod
    def _all_valid(probe: random.Random, country: str, prefix: str, length: int) -> bool:
        for _ in range(_PROBES):
            rest = "".join(probe.choices("0123456789", k=length - len(prefix)))
            if not phonenumbers.is_valid_number(phonenumbers.parse(f"+{country}{prefix}{rest}")):
                return False
        return True
