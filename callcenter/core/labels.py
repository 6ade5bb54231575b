"""Names of core domain values that staff see on several pages (marked for extraction here,
translated where shown with `i18n.t`)."""

from __future__ import annotations

from callcenter.core.i18n import N_

# A follow-up's or an outbound task's purpose, as the desk names it.
PURPOSES: dict[str, str] = {
    "recall": N_("check-up recall"),
    "follow_up": N_("follow-up"),
    "confirmation": N_("confirmation"),
    "no_show": N_("no-show"),
    "call_back": N_("call-back"),
    "reschedule": N_("reschedule"),
    "missed_call": N_("missed call"),
    "gap_fill": N_("free slot offer"),
}

# A patient's or staff member's language, named in itself (whoever reads the page).
LANGUAGE_NAMES: dict[str, str] = {"ru": "Русский", "en": "English", "zh": "中文"}
