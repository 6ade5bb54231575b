"""What one screen-pop card costs the web process, and what the clinic scope adds to it.

    python -m bench card_cost [--db sqlite|postgresql] [--patients 100000] [--cards 300]

The pop bench's clinic (the demo clinic topped up to `--patients`); the card of each of the
clinic's latest `--cards` calls from known patients is built as a desk's stream builds it
(`card_call` + `build_card`, a fresh session per card, the shared script library and slot offer),
once in a session scoped to the clinic (what a desk runs) and once unscoped (the baseline: the
same card without the clinic criteria), alternating call by call so both meet the same machine.
Prints CPU and wall per card, SQL statements per card, and the statements that take the time;
then the cost of one full pass of Python's cyclic garbage collector over the app's heap, before
and after `core.heap.freeze_startup_objects` (what the served processes run after start-up).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event, select

from bench.pop_latency import _prepare
from bench.services import private_services
from bench.table import print_table
from callcenter import create_app
from callcenter.core import clinic_scope
from callcenter.core.heap import freeze_startup_objects
from callcenter.core.models import Call, Staff, utcnow
from callcenter.desk.feed import scripts_library, slot_offers
from callcenter.desk.popcard import build_card, card_call


class StatementTimes:
    """Time per statement text (lists folded), from the engine's cursor events."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.total = 0

    def before(self, conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        key = re.sub(r"\s+", " ", statement)[:110]
        self.count[key] += 1
        self.seconds[key] += time.perf_counter() - conn.info.pop("bench_started")
        self.total += 1


def _cards(app: Any, cards: int) -> list[list[object]]:
    runtime = app.extensions["callcenter"]
    with runtime.sessions() as session:
        calls = list(session.scalars(select(Call.id).where(Call.patient_id.is_not(None))
                                     .order_by(Call.id.desc()).limit(cards)))
        clinic_id = session.scalar(select(Call.clinic_id).where(Call.id == calls[0]))
        staff_id = session.scalar(select(Staff.id).where(Staff.login == "bench0"))
    times = StatementTimes()
    event.listen(runtime.engine, "before_cursor_execute", times.before)
    event.listen(runtime.engine, "after_cursor_execute", times.after)
    library = scripts_library(runtime)
    measured: dict[bool, dict[str, list[float]]] = {s: {"cpu": [], "wall": [], "sql": []} for s in (True, False)}

    def one(call_id: int, scoped: bool) -> None:
        cpu, wall, sql = time.thread_time(), time.perf_counter(), times.total
        with runtime.sessions() as session:
            if scoped:
                clinic_scope.restrict(session, clinic_scope.Scope(frozenset({clinic_id})))
            call = card_call(session, call_id)
            build_card(session, call_id, utcnow(), "ru", speaker=session.get(Staff, staff_id),
                       library=library, call=call, offers=slot_offers)
        measured[scoped]["cpu"].append((time.thread_time() - cpu) * 1000)
        measured[scoped]["wall"].append((time.perf_counter() - wall) * 1000)
        measured[scoped]["sql"].append(times.total - sql)

    for call_id in calls[:20]:  # warm-up: caches, the first offer, compiled statements
        one(call_id, True)
        one(call_id, False)
    for per_kind in measured.values():
        for values in per_kind.values():
            values.clear()
    times.count.clear()
    times.seconds.clear()
    for call_id in calls:
        one(call_id, True)
        one(call_id, False)
    print("\nStatements by time (both kinds of card together, ms per card):")
    for text, seconds in sorted(times.seconds.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {seconds * 1000 / (2 * len(calls)):6.2f}  x{times.count[text] / (2 * len(calls)):.1f}  {text}")
    rows = []
    for scoped, label in ((False, "unscoped (baseline)"), (True, "scoped to the clinic (a desk)")):
        m = measured[scoped]
        rows.append([label, len(m["cpu"]), f"{statistics.median(m['cpu']):.1f}",
                     f"{statistics.quantiles(m['cpu'], n=20)[18]:.1f}", f"{statistics.median(m['wall']):.1f}",
                     f"{statistics.mean(m['sql']):.1f}"])
    return rows


def _collector(app: Any) -> list[list[object]]:
    del app  # kept alive: its objects are what the passes walk

    def full_pass() -> float:
        started = time.perf_counter()
        gc.collect()
        return (time.perf_counter() - started) * 1000

    before = [full_pass() for _ in range(3)]
    tracked = len(gc.get_objects())
    freeze_startup_objects()
    frozen = gc.get_freeze_count()
    after = [full_pass() for _ in range(3)]
    left = len(gc.get_objects())
    gc.unfreeze()
    return [["before freezing", f"{tracked:,}", f"{statistics.median(before):.1f}"],
            ["after freeze_startup_objects", f"{left:,} ({frozen:,} frozen)", f"{statistics.median(after):.1f}"]]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench card_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=300)
    args = parser.parse_args(argv)
    with private_services("card_cost", args.db) as (url, redis_url, folder):
        _prepare(url, args.patients, 1)
        app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "INSTANCE_DIR": str(folder),
                          "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING", "TIMEZONE": "Europe/Moscow"})
        load_before = os.getloadavg()
        rows = _cards(app, args.cards)
        print_table(["card", "cards", "CPU p50 ms", "CPU p95 ms", "wall p50 ms", "statements"], rows,
                    f"One card, {args.db}, {args.patients:,} patients")
        print_table(["heap", "objects tracked", "pass ms (median of 3)"], _collector(app),
                    "One full pass of the cyclic garbage collector over this process")
        print("load average (1/5/15 min) before → after: " + " → ".join(
            "/".join(f"{v:.1f}" for v in load) for load in (load_before, os.getloadavg())))
        app.extensions["callcenter"].close()
    return 0
