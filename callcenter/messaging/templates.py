"""Text templates are data: scripts_library/messages/<locale>/<purpose>[.<variant>].txt.

One file is one message, with the call scripts' placeholders ({patient}, {appointment_time},
{doctor}, {clinic}, {treatment}, {slot_1}, {slot_2}) plus {address}, the clinic's address. A
variant is a treatment type for after-care (after_care.extraction.txt); without one the plain
file is used. A clinic's own folder (CALLCENTER_SCRIPTS_DIR/messages/…) replaces a packaged file
of the same name. `callcenter scripts check` reports every problem as file:line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from callcenter.callscripts.library import BRACES, PACKAGED_DIR, PLACEHOLDERS, Problem
from callcenter.core.config import LOCALES
from callcenter.core.models import MessagePurpose, TreatmentType
from callcenter.messaging import segments

FOLDER = "messages"
KNOWN = frozenset(PLACEHOLDERS) | {"address"}
REQUIRED = (MessagePurpose.CONFIRMATION, MessagePurpose.TEXT_BACK, MessagePurpose.AFTER_CARE,
            MessagePurpose.RECALL, MessagePurpose.RATING)
VARIANTS = {MessagePurpose.AFTER_CARE: frozenset(t.value for t in TreatmentType)}
# Above this many segments a template is refused: a reminder that costs like a letter is a typo.
MAX_SEGMENTS = 4
# Punctuation left hanging where an unknown value was dropped ("Здравствуйте, !" → "Здравствуйте!").
_HANGING = re.compile(r"\s*,\s*(?=[,.!?:;，。！？])|^\s*[,，]\s*|\(\s*\)|（\s*）")


@dataclass(frozen=True)
class Template:
    purpose: str
    locale: str
    variant: str
    text: str
    path: Path


def _folders(packaged: Path, overrides: Path | None) -> list[Path]:
    return [base / FOLDER for base in (packaged, overrides) if base is not None]


def load(packaged: Path = PACKAGED_DIR, overrides: Path | None = None) -> dict[tuple[str, str, str], Template]:
    """(purpose, locale, variant) → template; a clinic's file replaces the packaged one."""
    found: dict[tuple[str, str, str], Template] = {}
    for folder in _folders(packaged, overrides):
        for path in sorted(folder.glob("*/*.txt")):
            purpose, _, variant = path.stem.partition(".")
            locale = path.parent.name
            found[(purpose, locale, variant)] = Template(
                purpose, locale, variant, path.read_text(encoding="utf-8").strip(), path)
    return found


def check(packaged: Path = PACKAGED_DIR, overrides: Path | None = None) -> list[Problem]:
    problems: list[Problem] = []
    library = load(packaged, overrides)
    for template in library.values():
        problems.extend(_problems(template))
    for locale in LOCALES:
        for purpose in REQUIRED:
            if (purpose.value, locale, "") not in library:
                problems.append(Problem(packaged / FOLDER / locale / f"{purpose.value}.txt", 0,
                                        f"required text {purpose.value!r} has no {locale} template"))
    return problems


def _problems(template: Template) -> list[Problem]:
    found: list[Problem] = []

    def add(message: str, line: int = 1) -> None:
        found.append(Problem(template.path, line, message))

    if template.locale not in LOCALES:
        add(f"unknown locale folder {template.locale!r} (one of: {', '.join(LOCALES)})")
    purposes = {p.value for p in REQUIRED}
    if template.purpose not in purposes:
        add(f"unknown text {template.purpose!r} (known: {', '.join(sorted(purposes))})")
    elif template.variant and template.variant not in VARIANTS.get(MessagePurpose(template.purpose), ()):
        add(f"unknown variant {template.variant!r} of {template.purpose!r}")
    if not template.text:
        add("empty template")
    for number, line in enumerate(template.text.splitlines(), 1):
        for name in BRACES.findall(line):
            if name not in KNOWN:
                add(f"unknown placeholder {{{name}}} (known: {', '.join(sorted(KNOWN))})", number)
        if BRACES.sub("", line).count("{") or BRACES.sub("", line).count("}"):
            add("unbalanced '{' or '}'", number)
    sample = render(template, {name: "x" * 12 for name in KNOWN})
    if segments.count(sample).count > MAX_SEGMENTS:
        add(f"longer than {MAX_SEGMENTS} segments with typical values")
    return found


def pick(library: Mapping[tuple[str, str, str], Template], purpose: MessagePurpose, locale: str,
         fallback_locale: str, variant: str = "") -> Template | None:
    """The most specific template: the variant, then the plain text; the patient's language,
    then the clinic's, then English."""
    for lang in dict.fromkeys((locale, fallback_locale, "en")):
        for var in dict.fromkeys((variant, "")):
            template = library.get((purpose.value, lang, var))
            if template is not None:
                return template
    return None


def render(template: Template, values: Mapping[str, str | None]) -> str:
    """The text with each placeholder filled; an unknown value is left out with its comma."""
    filled = BRACES.sub(lambda m: values.get(m.group(1)) or "", template.text)
    text = re.sub(r" {2,}", " ", _HANGING.sub("", filled)).strip()
    return text[:1].upper() + text[1:]
