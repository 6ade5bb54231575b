"""The script library: every scenario in every locale, selection order, overrides, `scripts check`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.callscripts.library import (
    PACKAGED_DIR,
    PLACEHOLDERS,
    REQUIRED_SCENARIOS,
    load_library,
)
from callcenter.callscripts.selection import ScriptNotFound, Situation, render, select_script
from callcenter.core.config import LOCALES

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "fixtures" / "scripts_broken"
FULL_VALUES = {name: f"<{name}>" for name in PLACEHOLDERS}


def _check(*args: str, locale: str = "ru") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_LOCALE"] = locale
    return subprocess.run([sys.executable, "-m", "callcenter.cli", "scripts", "check", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _texts(rendered: dict) -> list[str]:
    texts = [rendered["title"]]
    for section in rendered["sections"]:
        for item in section["items"]:
            texts += [item["text"], item.get("answer", "")]
    return texts


def _write(folder: Path, relpath: str, applies: str, opening: str, priority: int = 50) -> None:
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    locale, name = relpath.split("/")
    path.write_text(
        f"---\nscenario: {name.split('.')[0]}\nlocale: {locale}\ntitle: T\n"
        f"applies:\n{applies}\npriority: {priority}\n---\n## Opening\n- {opening}\n",
        encoding="utf-8",
    )


def test_packaged_library_is_valid_and_complete() -> None:
    library = load_library()
    assert library.problems == []
    have = {(s.locale, s.scenario) for s in library.scripts.values()}
    assert {(loc, sc) for loc in LOCALES for sc in REQUIRED_SCENARIOS} <= have


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("scenario", REQUIRED_SCENARIOS)
def test_every_scenario_renders_with_no_placeholder_left(scenario: str, locale: str) -> None:
    library = load_library()
    selection = select_script(library, Situation(scenario, locale), locale)
    assert selection.script.locale == locale and selection.fallbacks == ()
    rendered = render(selection, FULL_VALUES).to_json()
    texts = _texts(rendered)
    assert not any("{" in t or "}" in t for t in texts)
    assert rendered["missing"] == []
    kinds = [s["kind"] for s in rendered["sections"]]
    assert kinds[0] == "opening" and "objections" in kinds
    for section in rendered["sections"]:
        if section["kind"] == "objections":
            assert all(item.get("answer") for item in section["items"])


def test_unknown_values_become_labels_and_are_listed() -> None:
    selection = select_script(load_library(), Situation("confirmation", "ru", "outbound"), "ru")
    rendered = render(selection, {"greeting": "Добрый день", "clinic": "Улыбка"})
    opening = rendered.sections[0]["items"][0]["text"]
    assert opening.startswith("Добрый день, [имя пациента]! Это [ваше имя], администратор клиники «Улыбка»")
    assert rendered.missing[:3] == ["patient", "agent", "appointment_time"]


def test_locale_falls_back_to_clinic_default_then_english(tmp_path: Path) -> None:
    library_dir = tmp_path / "lib"
    any_call = "  direction: any"
    _write(library_dir, "en/complaint.md", any_call, "english")
    _write(library_dir, "ru/complaint.md", any_call, "russian")
    library = load_library(library_dir)
    chosen = select_script(library, Situation("complaint", "zh"), "ru")
    assert chosen.script.relpath == "ru/complaint.md"
    assert chosen.fallbacks == ("no zh script for complaint matches this call",)
    chosen = select_script(library, Situation("complaint", "zh"), "zh")
    assert chosen.script.relpath == "en/complaint.md"
    with pytest.raises(ScriptNotFound, match="no script for scenario 'recall'"):
        select_script(library, Situation("recall", "ru"), "ru")


def test_most_specific_script_wins(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _write(lib, "en/first_time.md", "  direction: inbound", "base", priority=90)
    _write(lib, "en/first_time.kinds.md", "  direction: inbound\n  caller_kind: [new, hidden]", "new")
    _write(lib, "en/first_time.maps.md",
           "  direction: inbound\n  caller_kind: any\n  channel: [maps]", "maps")
    _write(lib, "en/first_time.outbound.md", "  direction: outbound", "never for inbound", priority=99)
    library = load_library(lib)

    def pick(**kw: str | None) -> str:
        selection = select_script(library, Situation("first_time", "en", "inbound", **kw), "en")
        return selection.script.relpath

    assert pick(caller_kind="new", channel="maps") == "en/first_time.maps.md"
    assert pick(caller_kind="new", channel="radio") == "en/first_time.kinds.md"
    assert pick(caller_kind="repeat", channel=None) == "en/first_time.md"
    reason = select_script(library, Situation("first_time", "en", "inbound", "new", "maps"), "en").reason
    assert reason.startswith("en/first_time.maps.md (packaged): the most specific of 3 matching en")
    assert "matched channel=maps, direction=inbound" in reason


def test_clinic_folder_overrides_and_adds(tmp_path: Path) -> None:
    clinic = tmp_path / "clinic"
    _write(clinic, "ru/complaint.md", "  direction: inbound", "своя жалоба")
    _write(clinic, "ru/first_time.vk.md", "  direction: inbound\n  channel: [vk]", "из ВК")
    broken = clinic / "ru" / "recall.md"
    broken.write_text("no front matter\n", encoding="utf-8")
    before = (PACKAGED_DIR / "ru" / "complaint.md").read_bytes()
    library = load_library(PACKAGED_DIR, clinic)
    complaint = select_script(library, Situation("complaint", "ru", "inbound"), "ru").script
    assert (complaint.source, complaint.sections[0].items[0].text) == ("clinic", "своя жалоба")
    vk = select_script(library, Situation("first_time", "ru", "inbound", "new", "vk"), "ru").script
    assert vk.relpath == "ru/first_time.vk.md"
    plain = select_script(library, Situation("first_time", "ru", "inbound", "new", None), "ru").script
    assert plain.source == "packaged"
    # The broken clinic file is reported and the packaged recall stays in use.
    assert [str(p) for p in library.problems] == [
        f"{broken}:1: missing front matter: the file must start with a '---' line"]
    assert library.scripts["ru/recall.md"].source == "packaged"
    assert (PACKAGED_DIR / "ru" / "complaint.md").read_bytes() == before


def test_check_passes_on_the_packaged_library() -> None:
    result = _check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"scripts ok: {len(LOCALES) * len(REQUIRED_SCENARIOS)} scripts"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_yaml", ["en/first_time.md:6: bad YAML in front matter: expected ',' or '}', but got ':' "
                      "(while parsing a flow mapping opened on line 5)"]),
        ("no_front_matter", ["en/first_time.md:1: missing front matter: the file must start with a '---' line"]),
        ("bad_schema", [
            "en/first_time.md:3: locale 'ru' but the file is in en/",
            "en/first_time.md:6: applies.direction: unknown value 'sideways' (one of: inbound, outbound, internal)",
            "en/first_time.md:7: applies.caller_kind: unknown value 'stranger' "
            "(one of: new, repeat, family, hidden, non_patient)",
            "en/first_time.md:8: unknown front matter key 'priorty'",
            "en/first_time.md:9: priority must be an integer, got 'high'",
            "en/first_time.md:10: offer must be one of none, two, acute, got 'three'",
        ]),
        ("unknown_placeholder", [
            "en/first_time.md:11: unknown placeholder {patient_name} (known: " + ", ".join(PLACEHOLDERS) + ")",
            "en/first_time.md:12: unbalanced '{' or '}'",
            "en/first_time.md:15: a slot placeholder is used but offer is 'none' (set offer: two or acute)",
        ]),
        ("bad_body", [
            "en/first_time.md:10: text before the first '## ' section heading",
            "en/first_time.md:10: no opening section (Opening / Начало разговора / 开场)",
            "en/first_time.md:12: unknown section heading 'Small talk' (known: Opening / Начало разговора / 开场; "
            "Steps / Ход разговора / 步骤; Questions to ask / Вопросы / 要问的问题; "
            "Objections / Возражения / 异议与回答; Closing / Завершение / 结束)",
            "en/first_time.md:16: objection '\"Too expensive.\"' has no indented answer",
            "en/first_time.md:21: a slot placeholder is used but offer is 'none' (set offer: two or acute)",
        ]),
        ("misplaced", [
            "en/extra/first_time.md:1: scripts live in <locale>/<scenario>.md",
            "fr/first_time.md:1: unknown locale folder 'fr' (one of: ru, en, zh)",
            "en/recall.md:2: scenario 'first_time' does not match the file name 'recall.md'",
        ]),
    ],
)
def test_check_reports_each_kind_of_error(case: str, expected: list[str]) -> None:
    result = _check("--overrides", str(BROKEN / case))
    assert result.returncode == 1
    prefix = f"tests/fixtures/scripts_broken/{case}/"
    assert result.stdout.splitlines() == [prefix + line for line in expected]
    assert result.stderr.strip() == f"scripts check: {len(expected)} problem(s)"


def test_check_reports_a_missing_required_scenario_for_a_configured_locale(tmp_path: Path) -> None:
    result = _check("--library", str(BROKEN / "missing_scenario"), locale="en")
    assert result.returncode == 1
    prefix = "tests/fixtures/scripts_broken/missing_scenario/en/"
    assert result.stdout.splitlines() == [
        f"{prefix}{name}.md:0: required scenario {name!r} has no en script"
        for name in REQUIRED_SCENARIOS if name != "first_time"
    ]
    # The configured locale (CALLCENTER_LOCALE) must be complete even with no folder for it.
    library = tmp_path / "lib"
    shutil.copytree(PACKAGED_DIR / "en", library / "en")
    result = _check("--library", str(library), locale="zh")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == len(REQUIRED_SCENARIOS)
    assert all("has no zh script" in line for line in result.stdout.splitlines())
