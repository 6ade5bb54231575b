"""Run benchmarks: python -m bench [name ...]; without names, list them."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUPPORT = {"__main__", "table", "population", "bare_app", "services", "analytics_data"}
# `import` is a keyword, so that bench's module has another name.
ALIASES = {"import": "import_speed"}


def available() -> list[str]:
    names = {m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name not in SUPPORT}
    return sorted((names - set(ALIASES.values())) | set(ALIASES))


def main(argv: list[str]) -> int:
    names = available()
    if not argv:
        print("benchmarks:", ", ".join(names))
        print("run: python -m bench NAME [args]   (or: callcenter bench NAME [args])")
        return 0
    name, *rest = argv
    if name not in names:
        print(f"bench: unknown benchmark {name!r}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{ALIASES.get(name, name)}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
