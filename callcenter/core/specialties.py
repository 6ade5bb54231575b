"""The doctor specialties a clinic can choose from: one vocabulary for doctors (who practises
what) and services (which specialty performs them), so an offer for a service finds its doctors.
The codes are stored (`Staff.specialties`); the names are shown through `i18n.t`."""

from __future__ import annotations

from callcenter.core.i18n import N_

SPECIALTIES: dict[str, str] = {
    "therapist": N_("Therapist"),
    "surgeon": N_("Surgeon"),
    "orthodontist": N_("Orthodontist"),
    "hygienist": N_("Hygienist"),
    "prosthodontist": N_("Prosthodontist"),
    "implantologist": N_("Implantologist"),
    "periodontist": N_("Periodontist"),
    "pediatric_dentist": N_("Paediatric dentist"),
}


def unknown(codes: list[str]) -> list[str]:
    """The codes that are not in the vocabulary, in the order given."""
    return [code for code in codes if code not in SPECIALTIES]
