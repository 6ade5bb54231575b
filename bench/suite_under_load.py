"""Is the test suite flaky? Run it several times in a row while other processes load the CPUs.

    python -m bench suite_under_load [--runs 3] [--burners 2] [-- pytest args]

Each run is the README's test command (`./run test`) with CI=true, so a skip fails too. Burner
processes spin on the CPUs for the whole time, the way a shared CI machine's neighbours do. The
table gives each run's result, wall time and the load average seen at its end; the exit code is
non-zero when any run failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.table import print_table

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error).*?) in [\d.]+s")


def _burn() -> None:
    os.nice(5)  # neighbours, not a denial of service: the suite still gets its share
    while True:
        pass


def _run_suite(extra: list[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    env = {**os.environ, "CI": "true"}
    proc = subprocess.run([sys.executable, str(ROOT / "run"), "test", "-q", "-p", "no:cacheprovider",
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True)
    summary = next((m.group(1) for line in reversed(proc.stdout.splitlines())
                    if (m := SUMMARY.match(line.strip()))), "no summary (see stderr)")
    if proc.returncode != 0:
        failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        print("\n".join(failed) or proc.stdout[-3000:], file=sys.stderr)
    return proc.returncode, summary, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench suite_under_load")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2,
                        help="CPU-bound neighbour processes (default: one per CPU)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    rows = []
    try:
        for run in range(1, args.runs + 1):
            code, summary, seconds = _run_suite(args.pytest_args)
            load = "/".join(f"{x:.1f}" for x in os.getloadavg())
            rows.append((run, "passed" if code == 0 else f"FAILED ({code})", summary,
                         f"{seconds / 60:.1f} min", load))
            print(f"run {run}: {rows[-1][1]}, {summary}, {rows[-1][3]}, load {load}", flush=True)
    finally:
        for burner in burners:
            burner.terminate()
    print_table(("run", "result", "pytest summary", "wall", "load 1/5/15 min"), rows,
                title=f"whole suite {args.runs}x in a row with {args.burners} CPU burners")
    return 0 if all(row[1] == "passed" for row in rows) else 1
