"""How long the demo clinic takes to load into a fresh SQLite file.

python -m bench demo_load [PATIENTS ...]   (default: 5000 100000)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory, session_scope
from callcenter.demo.builder import load_demo

CONFIG = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench demo_load")
    parser.add_argument("patients", type=int, nargs="*", default=[5000, 100_000],
                        help="clinic sizes to load, in patients")
    sizes = parser.parse_args(argv).patients
    rows = []
    for patients in sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'demo.db'}"
            migrate.upgrade(url)
            engine = make_engine(url)
            started = time.perf_counter()
            with session_scope(make_session_factory(engine)) as session:
                summary = load_demo(session, seed=20261122, patients=patients, config=CONFIG,
                                    today=date(2026, 11, 22))
            rows.append((patients, time.perf_counter() - started, summary.split(": ", 1)[1]))
            engine.dispose()
    print_table(("patients", "seconds", "loaded"), rows, "demo clinic load (SQLite, commit included)")
    return 0
