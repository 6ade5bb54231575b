"""The gettext catalogs cover the source: every text `pybabel extract` finds (babel.cfg, the
keywords in `callcenter.core.i18n`) is translated in ru and zh, not fuzzy, with the same
{placeholders}; nothing stale is left; pages show no raw message keys."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

from callcenter.core.i18n import EXTRACT_KEYWORDS, TRANSLATIONS, catalog, pt, t

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("ru", "zh")


def _extracted() -> dict[tuple[str | None, str], list[str]]:
    """(context, msgid) → where it is used, exactly as `pybabel extract -F babel.cfg` sees it."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(list(EXTRACT_KEYWORDS))}
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((context, msgid), []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str | None, str], list[str]]:
    return _extracted()


def _catalog(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fileobj:
        return read_po(fileobj, locale=locale)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_extraction_finds_the_interface(extracted) -> None:
    """A guard on the guard: the extraction sees templates, tables and error messages alike."""
    assert (None, "Calls to make") in extracted  # a template
    assert ("call outcome", "Booked") in extracted  # a table with a context (desk.js's T)
    assert (None, "no such call") in extracted  # a DeskError
    assert (None, "longer than {most} characters") in extracted  # an InputError
    assert len(extracted) > 250


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_translates_every_extracted_text(extracted, locale: str) -> None:
    po = _catalog(locale)
    problems = []
    for (context, msgid), where in sorted(extracted.items(), key=lambda item: item[1]):
        message = po.get(msgid, context=context)
        label = f"{where[0]}: {msgid!r}" + (f" (context {context!r})" if context else "")
        if message is None:
            problems.append(f"missing {label}")
        elif not message.string:
            problems.append(f"untranslated {label}")
        elif message.fuzzy:
            problems.append(f"fuzzy {label}")
        elif _fields(message.string) != _fields(msgid):
            problems.append(f"placeholders differ {label}: {message.string!r}")
    assert not problems, (f"{locale} catalog (run the update in CONTRIBUTING.md, then translate):\n"
                          + "\n".join(problems))


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_holds_nothing_the_source_no_longer_says(extracted, locale: str) -> None:
    stale = sorted(f"{m.id!r}" + (f" (context {m.context!r})" if m.context else "")
                   for m in _catalog(locale) if m.id and (m.context, m.id) not in extracted)
    assert not stale, f"{locale} catalog has texts no code uses: {', '.join(stale)}"


def test_runtime_reads_the_catalogs() -> None:
    assert t("Calls to make", "ru") == "Кому позвонить" and t("Calls to make", "zh") == "待拨电话"
    assert t("Calls to make", "en") == "Calls to make"
    assert pt("call outcome", "Booked", "ru") == "Записан" and t("Booked", "ru") == "Записан(а)"
    assert t("a text no catalog has", "ru") == "a text no catalog has"  # English, never a key
    assert catalog("fr") == {}


# A raw key is what the old table's lookups showed when a key was missing: "desk.title".
RAW_KEY = re.compile(r">\s*(?:desk|mkt|admin|login|password|nav|outbound|campaigns)\.[a-z_.]+\s*<")


@pytest.mark.parametrize("locale", ["ru", "en", "zh"])
def test_pages_show_no_raw_keys(client, session, locale: str) -> None:
    from tests import desk_world as w
    from tests import factories as f

    world = w.build(session)
    f.signed_in(client, session, role="admin", clinic_row=world.clinic, extension="199",
                locale=locale)
    for path in ("/desk", "/desk/outbound", "/admin", "/admin/campaigns", "/marketing",
                 "/account/password", f"/desk/patients/{world.maria.id}"):
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert not RAW_KEY.search(page), (path, RAW_KEY.search(page))
        assert f'lang="{locale}"' in page, path
