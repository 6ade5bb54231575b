"""Interface texts through gettext catalogs: the English text is the msgid, ru and zh live in
`callcenter/translations/<locale>/LC_MESSAGES/messages.po` (CONTRIBUTING.md: the translator
workflow). The `.po` files are read directly, once per locale, so a fresh clone needs no compile
step. Every call names its locale because many texts are rendered for someone other than the
request's user (a patient's language for prompts, a staff member's for a page)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
# pybabel extract's -k list (CONTRIBUTING.md; tests/test_translations.py extracts with it): the
# functions above, and the staff-facing errors whose second argument is an English message.
EXTRACT_KEYWORDS = ("t", "pt:1c,2", "N_", "NP_:1c,2",
                    "DeskError:2", "DialError:2", "BookingError:2", "InputError:2", "ComplaintError:2")


class Text(NamedTuple):
    """A message whose English needs a context to translate well ("Booked" as a call outcome)."""

    context: str
    msgid: str


def N_(msgid: str) -> str:
    """Marks a text for extraction where it is defined; translate it where it is shown."""
    return msgid


def NP_(context: str, msgid: str) -> Text:
    """N_ with a context."""
    return Text(context, msgid)


_catalogs: dict[str, dict[tuple[str | None, str], str]] = {}
_reading = threading.Lock()


def catalog(locale: str) -> dict[tuple[str | None, str], str]:
    """(context, msgid) → translation for the locale; empty for English or an unknown locale.
    Fuzzy and untranslated entries are left out, so they show in English. Read once per
    process: threads that ask while it is being read wait for it (twenty dialer threads each
    parsing the same catalog took seconds of CPU)."""
    found = _catalogs.get(locale)
    if found is None:
        with _reading:
            found = _catalogs.get(locale)
            if found is None:
                found = _catalogs[locale] = _read(locale)
    return found


def _read(locale: str) -> dict[tuple[str | None, str], str]:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == "en" or not path.is_file():
        return {}
    with path.open("rb") as fileobj:
        po = read_po(fileobj, locale=locale)
    return {(message.context, message.id): message.string for message in po
            if message.id and isinstance(message.id, str) and isinstance(message.string, str)
            and message.string and not message.fuzzy}


def t(message: str | Text, locale: str) -> str:
    """The text in the locale, the English msgid when the catalog has none."""
    context, msgid = message if isinstance(message, Text) else (None, message)
    return catalog(locale).get((context, msgid), msgid)


def pt(context: str, msgid: str, locale: str) -> str:
    return t(Text(context, msgid), locale)
