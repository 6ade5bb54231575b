"""Script files: parse and validate `<locale>/<scenario>[.variant].md`, load the packaged library
with the clinic's override folder on top.

A file is YAML front matter between `---` lines, then `## Heading` sections of `- ` items.
Every problem carries its file and line, for `callcenter scripts check` and for the logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callcenter.core.config import LOCALES, REPO_ROOT
from callcenter.core.i18n import N_
from callcenter.core.models import CallDirection, CallerKind, TaskPurpose

PACKAGED_DIR = REPO_ROOT / "scripts_library"

REQUIRED_SCENARIOS = (
    "first_time", "repeat_patient", "price_question", "acute_pain", "cancel_reschedule",
    "non_patient", "complaint", "confirmation", "recall", "follow_up", "no_show", "missed_call",
)
PLACEHOLDERS = (
    "greeting", "clinic", "agent", "patient", "doctor", "appointment_time",
    "slot_1", "slot_2", "service", "treatment", "service_price",
)
# Shown in place of a value the service does not know, so the receptionist sees what to say.
MISSING_LABELS: dict[str, str] = {
    "patient": N_("[patient's name]"),
    "agent": N_("[your name]"),
    "doctor": N_("[doctor]"),
    "appointment_time": N_("[appointment time]"),
    "slot_1": N_("[time 1]"),
    "slot_2": N_("[time 2]"),
    "service": N_("[service]"),
    "service_price": N_("[price from the list]"),
    "treatment": N_("[treatment]"),
    "clinic": N_("[clinic]"),
    "greeting": N_("Hello"),
}
SLOT_PLACEHOLDERS = ("slot_1", "slot_2")
OFFERS = ("none", "two", "acute")
# Section headings a script may use, in any of the three languages; the kind drives the desk's layout.
HEADINGS: dict[str, tuple[str, ...]] = {
    "opening": ("Opening", "Начало разговора", "开场"),
    "steps": ("Steps", "Ход разговора", "步骤"),
    "questions": ("Questions to ask", "Вопросы", "要问的问题"),
    "objections": ("Objections", "Возражения", "异议与回答"),
    "closing": ("Closing", "Завершение", "结束"),
}
HEADING_KIND = {title.casefold(): kind for kind, titles in HEADINGS.items() for title in titles}
FRONT_KEYS = {"scenario", "locale", "title", "applies", "priority", "offer"}
REQUIRED_FRONT = ("scenario", "locale", "title", "applies", "priority")
APPLIES_VALUES: dict[str, tuple[str, ...] | None] = {
    "direction": tuple(d.value for d in CallDirection),
    "caller_kind": tuple(k.value for k in CallerKind),
    "purpose": tuple(p.value for p in TaskPurpose),
    "channel": None,  # channel codes are the clinic's own
}
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
BRACES = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Item:
    text: str
    answer: str | None = None  # objections: the reply to this objection


@dataclass(frozen=True)
class Section:
    kind: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Applies:
    """When a script applies; None = any value. More conditions set = more specific."""

    direction: frozenset[str] | None = None
    caller_kind: frozenset[str] | None = None
    channel: frozenset[str] | None = None
    purpose: frozenset[str] | None = None


@dataclass(frozen=True)
class Script:
    scenario: str
    locale: str
    title: str
    applies: Applies
    priority: int
    offer: str
    sections: tuple[Section, ...]
    relpath: str  # "ru/first_time.md"
    source: str  # "packaged" or "clinic"
    path: Path


@dataclass
class Library:
    scripts: dict[str, Script] = field(default_factory=dict)  # by relpath
    problems: list[Problem] = field(default_factory=list)


class _FileCheck:
    """Collects one file's problems while it is parsed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))


def _key_line(lines: list[str], key: str, first: int, default: int) -> int:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*:")
    for number, text in enumerate(lines, first):
        if pattern.match(text):
            return number
    return default


def _split_front_matter(text: str, check: _FileCheck) -> tuple[list[str], list[str], int] | None:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        check.add(1, "missing front matter: the file must start with a '---' line")
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return lines[1:index], lines[index + 1:], index + 2
    check.add(1, "front matter is not closed by a '---' line")
    return None


def _condition(value: Any, name: str, line: int, check: _FileCheck) -> frozenset[str] | None:
    if value is None or value == "any":
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        check.add(line, f"applies.{name}: expected 'any', a value or a list of values")
        return None
    allowed = APPLIES_VALUES[name]
    for v in values:
        if allowed is not None and v not in allowed:
            check.add(line, f"applies.{name}: unknown value {v!r} (one of: {', '.join(allowed)})")
    return frozenset(values)


def _front_matter(raw: list[str], path: Path, check: _FileCheck) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load("\n".join(raw))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, where = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and where is not None:
            problem = f"{problem} ({context} opened on line {where.line + 2})"
        check.add(line, f"bad YAML in front matter: {problem}")
        return None
    if not isinstance(data, dict):
        check.add(2, "front matter must be a mapping of keys")
        return None

    def line_of(key: str) -> int:
        return _key_line(raw, key, 2, 1)

    for key in data:
        if key not in FRONT_KEYS:
            check.add(line_of(str(key)), f"unknown front matter key {key!r}")
    for key in REQUIRED_FRONT:
        if key not in data:
            check.add(1, f"front matter lacks required key {key!r}")
    scenario, locale = data.get("scenario"), data.get("locale")
    if "scenario" in data and not (isinstance(scenario, str) and SLUG.match(scenario)):
        check.add(line_of("scenario"), f"scenario must be a lower-case name, got {scenario!r}")
    elif isinstance(scenario, str) and path.name.split(".")[0] != scenario:
        check.add(line_of("scenario"),
                  f"scenario {scenario!r} does not match the file name {path.name!r}")
    if "locale" in data and locale not in LOCALES:
        check.add(line_of("locale"), f"locale must be one of {', '.join(LOCALES)}, got {locale!r}")
    elif "locale" in data and path.parent.name != locale:
        check.add(line_of("locale"), f"locale {locale!r} but the file is in {path.parent.name}/")
    if "title" in data and not (isinstance(data["title"], str) and data["title"].strip()):
        check.add(line_of("title"), "title must be a non-empty text")
    priority = data.get("priority")
    if "priority" in data and (isinstance(priority, bool) or not isinstance(priority, int)):
        check.add(line_of("priority"), f"priority must be an integer, got {priority!r}")
    if data.get("offer", "none") not in OFFERS:
        check.add(line_of("offer"), f"offer must be one of {', '.join(OFFERS)}, got {data['offer']!r}")
    applies = data.get("applies")
    if "applies" in data and not isinstance(applies, dict):
        check.add(line_of("applies"), "applies must be a mapping (direction, caller_kind, channel, purpose)")
    elif isinstance(applies, dict):
        for key in applies:
            if key not in APPLIES_VALUES:
                check.add(line_of(str(key)), f"unknown applies key {key!r}")
        if "direction" not in applies:
            check.add(line_of("applies"), "applies lacks required key 'direction'")
    return data


def _applies(data: dict[str, Any], raw: list[str], check: _FileCheck) -> Applies:
    given = data.get("applies") if isinstance(data.get("applies"), dict) else {}
    conditions = {
        name: _condition(given.get(name), name, _key_line(raw, name, 2, 1), check)
        for name in APPLIES_VALUES
    }
    return Applies(**conditions)


def _placeholders(text: str, line: int, check: _FileCheck) -> dict[str, int]:
    used: dict[str, int] = {}
    for name in BRACES.findall(text):
        if name not in PLACEHOLDERS:
            check.add(line, f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)})")
        used.setdefault(name, line)
    if BRACES.sub("", text).count("{") or BRACES.sub("", text).count("}"):
        check.add(line, "unbalanced '{' or '}'")
    return used


def _body(lines: list[str], first: int, check: _FileCheck) -> tuple[tuple[Section, ...], dict[str, int]]:
    """Sections, and the line where each placeholder is first used."""
    sections: list[Section] = []
    used: dict[str, int] = {}
    kind = title = None
    items: list[Item] = []
    last_line = objection_line = first

    def close() -> None:
        if kind == "objections" and items and items[-1].answer is None:
            check.add(objection_line, f"objection {items[-1].text[:40]!r} has no indented answer")
        if kind is not None:
            if not items:
                check.add(last_line, f"section {title!r} is empty")
            sections.append(Section(kind, title or "", tuple(items)))

    for number, text in enumerate(lines, first):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            close()
            heading = stripped.lstrip("#").strip()
            kind, title, items, last_line = HEADING_KIND.get(heading.casefold()), heading, [], number
            if kind is None:
                known = "; ".join(" / ".join(t) for t in HEADINGS.values())
                check.add(number, f"unknown section heading {heading!r} (known: {known})")
                kind = "unknown"
            continue
        used = _placeholders(stripped, number, check) | used
        if kind is None:
            check.add(number, "text before the first '## ' section heading")
            continue
        nested = text.startswith((" ", "\t"))
        content = re.sub(r"^(?:[-*]|\d+[.)])\s+", "", stripped)
        if kind == "objections" and nested:
            if not items or items[-1].answer is not None:
                check.add(number, "an answer without an objection above it")
            else:
                items[-1] = Item(items[-1].text, content)
        else:
            if kind == "objections" and items and items[-1].answer is None:
                check.add(objection_line, f"objection {items[-1].text[:40]!r} has no indented answer")
            items.append(Item(content))
            objection_line = number
    close()
    if not any(s.kind == "opening" for s in sections):
        check.add(first, "no opening section (" + " / ".join(HEADINGS["opening"]) + ")")
    return tuple(s for s in sections if s.kind != "unknown"), used


def parse_script(path: Path, relpath: str, source: str) -> tuple[Script | None, list[Problem]]:
    """One file → a Script, or None with the problems found (a script with problems is unusable)."""
    check = _FileCheck(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        check.add(1, f"cannot read: {exc}")
        return None, check.problems
    split = _split_front_matter(text, check)
    if split is None:
        return None, check.problems
    raw, body, body_first = split
    data = _front_matter(raw, path, check)
    if data is None:
        return None, sorted(check.problems, key=lambda p: p.line)
    applies = _applies(data, raw, check)
    sections, used = _body(body, body_first, check)
    offer = data.get("offer", "none")
    slot_lines = [line for name, line in used.items() if name in SLOT_PLACEHOLDERS]
    if offer == "none" and slot_lines:
        check.add(min(slot_lines), "a slot placeholder is used but offer is 'none' (set offer: two or acute)")
    if check.problems:
        return None, sorted(check.problems, key=lambda p: p.line)
    script = Script(
        scenario=data["scenario"], locale=data["locale"], title=data["title"].strip(),
        applies=applies, priority=data["priority"], offer=offer, sections=sections,
        relpath=relpath, source=source, path=path,
    )
    return script, []


def _files(folder: Path, check_problems: list[Problem]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.md")):
        rel = path.relative_to(folder)
        if len(rel.parts) != 2:
            check_problems.append(Problem(path, 1, "scripts live in <locale>/<scenario>.md"))
            continue
        if rel.parts[0] not in LOCALES:
            check_problems.append(
                Problem(path, 1, f"unknown locale folder {rel.parts[0]!r} (one of: {', '.join(LOCALES)})"))
            continue
        found[rel.as_posix()] = path
    return found


def load_library(packaged: Path = PACKAGED_DIR, overrides: Path | None = None) -> Library:
    """The packaged scripts with the clinic's folder on top: same relative path replaces, new adds.

    A broken override file leaves the packaged one in use (and is reported in `problems`).
    """
    library = Library()
    layers = [(packaged, "packaged")]
    if overrides is not None:
        if overrides.is_dir():
            layers.append((overrides, "clinic"))
        else:
            library.problems.append(Problem(overrides, 0, "scripts folder does not exist"))
    for folder, source in layers:
        for rel, path in _files(folder, library.problems).items():
            script, problems = parse_script(path, rel, source)
            library.problems.extend(problems)
            if script is not None:
                library.scripts[rel] = script
    return library
