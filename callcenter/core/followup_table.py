"""When to call after a treatment: the clinic's follow-up table (days after the visit)."""

from __future__ import annotations

from collections.abc import Mapping

from callcenter.core.models import TreatmentType

# Days after the visit, per treatment type (DOMAIN.md, seed 004). Implant without a crown yet is
# called monthly until the crown is fitted; after the crown the implant_crown row applies.
DEFAULT: dict[TreatmentType, tuple[int, ...]] = {
    TreatmentType.EXTRACTION: (1, 90),
    TreatmentType.FILLING: (1, 90, 180, 360),
    TreatmentType.ROOT_CANAL: (1, 15),
    TreatmentType.PROSTHETICS: (1, 7, 30, 90, 180, 360),
    TreatmentType.CLEANING: (1, 180),
    TreatmentType.PERIODONTAL: (1, 30, 90),
    TreatmentType.IMPLANT: (30, 60, 90, 120, 150, 180),
    TreatmentType.IMPLANT_CROWN: (30, 90, 180, 270, 360),
    TreatmentType.ORTHODONTIC_RETAINER: (7, 90, 180, 360),
    TreatmentType.OTHER: (1,),
}

# These calls stop once a later treatment of the second type exists (the crown was fitted).
UNTIL: dict[TreatmentType, TreatmentType] = {TreatmentType.IMPLANT: TreatmentType.IMPLANT_CROWN}


def parse_overrides(text: str) -> dict[TreatmentType, tuple[int, ...]]:
    """`filling=1,90;cleaning=1,180` → {FILLING: (1, 90), CLEANING: (1, 180)}; ValueError names the bad part."""
    table: dict[TreatmentType, tuple[int, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, days = part.partition("=")
        try:
            kind = TreatmentType(name.strip())
        except ValueError:
            known = ", ".join(t.value for t in TreatmentType)
            raise ValueError(f"unknown treatment {name.strip()!r} (one of {known})") from None
        try:
            offsets = tuple(sorted({int(d) for d in days.split(",") if d.strip()}))
        except ValueError:
            raise ValueError(f"{part!r}: days must be whole numbers") from None
        if not sep or any(d <= 0 for d in offsets):
            raise ValueError(f"{part!r}: expected type=positive days")
        table[kind] = offsets
    return table


def schedule(overrides: str | Mapping[TreatmentType, tuple[int, ...]] = "") -> dict[TreatmentType, tuple[int, ...]]:
    """The default table with a clinic's overrides applied."""
    extra = parse_overrides(overrides) if isinstance(overrides, str) else dict(overrides)
    return {**DEFAULT, **extra}
