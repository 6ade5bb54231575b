"""`callcenter scripts check`: every problem of the library and the clinic's folder, as file:line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from callcenter.callscripts.library import PACKAGED_DIR, REQUIRED_SCENARIOS, Problem, load_library
from callcenter.core.config import LOCALES


def check_scripts(packaged: Path = PACKAGED_DIR, overrides: Path | None = None,
                  locales: Iterable[str] = ()) -> tuple[list[Problem], int]:
    """(problems, number of usable scripts). A required scenario must exist in every locale
    configured: the ones given, plus every locale folder present."""
    library = load_library(packaged, overrides)
    problems = list(library.problems)
    present: dict[str, set[str]] = {}
    for script in library.scripts.values():
        present.setdefault(script.locale, set()).add(script.scenario)
    folders = {p.name for base in (packaged, overrides) if base is not None and base.is_dir()
               for p in base.iterdir() if p.is_dir()}
    wanted = (set(locales) | folders) & set(LOCALES)
    broken = {(p.path.parent.name, p.path.name.split(".")[0]) for p in problems}
    for locale in sorted(wanted):
        for scenario in REQUIRED_SCENARIOS:
            if scenario not in present.get(locale, set()) and (locale, scenario) not in broken:
                problems.append(Problem(packaged / locale / f"{scenario}.md", 0,
                                        f"required scenario {scenario!r} has no {locale} script"))
    return problems, len(library.scripts)
