"""What the automatic call says, per purpose and language (our own wording)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from callcenter.core.i18n import N_, t
from callcenter.core.models import TaskPurpose

KEYS_APPOINTMENT = N_("Press 1 to keep the visit, 2 to move it, 3 if you cannot come, or 9 to stop these calls.")
KEYS_CARE = N_("Press 1 if all is well, 2 and we will call you back to book a time, or 9 to stop these calls.")
OPENING = {
    TaskPurpose.CONFIRMATION: N_("Hello, this is {clinic}. We look forward to seeing you {when}."),
    TaskPurpose.FOLLOW_UP: N_("Hello, this is {clinic}. We are calling to ask how you feel after your treatment."),
    TaskPurpose.RECALL: N_("Hello, this is {clinic}. It is time for your preventive check-up."),
    TaskPurpose.NO_SHOW: N_("Hello, this is {clinic}. We missed you today and would like to find you a new time."),
    TaskPurpose.MISSED_CALL: N_("Hello, this is {clinic}. You called us and we could not answer in time."),
}
MACHINE = N_("Hello, this is {clinic}. Please call us back when it suits you.")
THANKS = N_("Thank you, we have noted your answer. Goodbye.")
# Key 3 cancels nothing by itself: the visit stays until a new time is agreed with a person.
CALL_YOU_BACK = N_("Thank you. We will call you to agree a new time. Goodbye.")
# The satisfaction question after the answer (issue 22); the goodbye then comes after the rating.
THANKS_NOTED = N_("Thank you, we have noted your answer.")
CALL_YOU_BACK_NOTED = N_("Thank you. We will call you to agree a new time.")
RATE = N_("How satisfied are you with our clinic? Press a key from 1, not satisfied, to 5, very satisfied.")
RATED = N_("Thank you for your rating. Goodbye.")
GOODBYE = N_("Goodbye.")
LANGUAGES = ("ru", "en", "zh")
BABEL_LOCALE = {"ru": "ru", "en": "en", "zh": "zh_Hans"}


def language(preferred: str | None, clinic_locale: str) -> str:
    for candidate in (preferred, clinic_locale):
        if candidate and candidate[:2] in LANGUAGES:
            return candidate[:2]
    return "en"


def message(purpose: TaskPurpose, lang: str, clinic: str, visit_at: datetime | None,
            tz: ZoneInfo) -> str:
    """The whole prompt: who calls, why, and which key does what. No patient name: machines listen too."""
    when = ""
    if visit_at is not None:
        when = format_datetime(visit_at.astimezone(tz), "d MMMM, HH:mm", locale=BABEL_LOCALE[lang])
    opening = t(OPENING.get(purpose, OPENING[TaskPurpose.FOLLOW_UP]), lang).format(clinic=clinic, when=when)
    keys = KEYS_APPOINTMENT if purpose is TaskPurpose.CONFIRMATION else KEYS_CARE
    return f"{opening} {t(keys, lang)}"


def machine_message(lang: str, clinic: str) -> str:
    return t(MACHINE, lang).format(clinic=clinic)


def thanks(lang: str, *, call_back: bool = False, rate: bool = False) -> str:
    """The answer noted; with `rate`, the rating question follows instead of the goodbye."""
    if rate:
        return f"{t(CALL_YOU_BACK_NOTED if call_back else THANKS_NOTED, lang)} {t(RATE, lang)}"
    return t(CALL_YOU_BACK if call_back else THANKS, lang)


def rate_again(lang: str) -> str:
    return t(RATE, lang)


def after_rating(lang: str, *, rated: bool) -> str:
    return t(RATED if rated else GOODBYE, lang)
