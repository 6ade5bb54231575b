"""The doctor specialties the product knows: ONE list, for doctors' profiles and for services.

Codes are stored (`Staff.specialties`, `Service.specialties`); labels are shown, translated.
"""

from __future__ import annotations

from callcenter.core.i18n import N_

SPECIALTIES: dict[str, str] = {
    "therapist": N_("Therapist (fillings, root canals)"),
    "hygienist": N_("Hygienist"),
    "surgeon": N_("Oral surgeon"),
    "implantologist": N_("Implantologist"),
    "prosthodontist": N_("Prosthodontist"),
    "orthodontist": N_("Orthodontist"),
}
