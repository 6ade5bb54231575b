"""Peak memory of each process of `callcenter serve`, the way `./run start` runs it, under a mix.

    python -m bench memory [--seconds 60] [--rate 10] [--patients 5000]

Starts `callcenter serve` (web, worker, the worker's dialer and RQ forks, embedded Redis,
SQLite, the demo clinic) in a fresh instance folder, then for `--seconds` drives what a clinic's
day does: signed generic webhooks (ringing, answered, ended of calls from the demo's patients to
its tracking numbers) at `--rate` calls/s, desk and admin pages of signed-in staff, the day's
call lists (the plan job every 5 s, lists due at once) and an import of `--patients` patients
uploaded through /admin/import. Every 0.2 s it reads each process's RSS; the table gives each
role's peak, beside the load average. Targets (issue 18): web ≤ 150 MB, each worker ≤ 150 MB.

It runs twice, one after the other: first with CALLCENTER_RETURN_MEMORY=0 (glibc's own malloc
defaults: the baseline), then as shipped (callcenter.core.heap.return_freed_memory);
`--only shipped` skips the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import psutil
import requests
from sqlalchemy import create_engine, select

from bench.import_speed import generate
from bench.table import print_table
from callcenter.core.heap import ALLOCATOR
from callcenter.core.models import PatientPhone, TrackingNumber
from tests.services import free_port
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
DESK_PAGES = ("/desk", "/desk/outbound", "/desk/visits")
ADMIN_PAGES = ("/admin/campaigns", "/admin/import", "/marketing")
MB = 2**20


def role(process: psutil.Process, root: psutil.Process, root_name: str) -> str | None:
    args = process.cmdline()
    if process.pid == root.pid:
        return root_name
    if not args:
        return None  # a fork that has just ended
    if "redis-server" in args[0]:
        return "redis-server"
    if args[-2:] == ["callcenter.cli", "dialer"]:
        return "dialer"
    if _runs_worker(args):
        forked = _runs_worker(psutil.Process(process.ppid()).cmdline())
        return "worker's forks (job, scheduler)" if forked else "worker"
    return " ".join(args)[:40]


def _runs_worker(args: list[str]) -> bool:
    return any(Path(arg).name == "worker.py" for arg in args)


def tree_rss(root_pid: int, root_name: str) -> dict[str, float]:
    """Each role's largest RSS (MB) in the process tree under `root_pid` right now."""
    found: dict[str, float] = {}
    try:
        root = psutil.Process(root_pid)
        for process in [root, *root.children(recursive=True)]:
            with suppress(psutil.Error):  # a fork ended while being read
                name = role(process, root, root_name)
                if name is not None:
                    found[name] = max(found.get(name, 0.0), process.memory_info().rss / MB)
    except psutil.Error:
        pass
    return found


class Sampler(threading.Thread):
    """Every 0.2 s, the RSS of each process under `root`; keeps each role's first reading and
    its peak."""

    def __init__(self, root: int, root_name: str) -> None:
        super().__init__(daemon=True)
        self.root, self.root_name = root, root_name
        self.first: dict[str, float] = {}
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for name, rss in tree_rss(self.root, self.root_name).items():
                self.first.setdefault(name, rss)
                self.peaks[name] = max(self.peaks.get(name, 0.0), rss)
            self.stop.wait(0.2)


def form_token(http: requests.Session, url: str) -> str:
    return http.get(url, timeout=30).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def login(base: str, name: str) -> requests.Session:
    """A demo login's session (the demo's passwords are the logins)."""
    http = requests.Session()
    form = {"login": name, "password": name, "csrf_token": form_token(http, f"{base}/login")}
    if http.post(f"{base}/login", data=form, timeout=30, allow_redirects=False).status_code != 302:
        raise RuntimeError(f"login {name} failed")
    return http


def webhooks(base: str, url: str, rate: float, until: float, sent: list[int]) -> None:
    engine = create_engine(url)
    with engine.connect() as db:
        callers = list(db.scalars(select(PatientPhone.e164)))
        numbers = list(db.scalars(select(TrackingNumber.e164)))
    engine.dispose()
    rng, http, call = random.Random(5), requests.Session(), 0
    while time.monotonic() < until:
        started, call = time.monotonic(), call + 1
        caller, dialed = rng.choice(callers), rng.choice(numbers)
        for step, event in enumerate(("ringing", "answered", "ended")):
            now = int(time.time())
            body = json.dumps({"call_id": f"mem-{call}", "event": event, "direction": "inbound",
                               "from": caller, "to": dialed, "extension": "101",
                               "timestamp": now + step, "duration": 30}).encode()
            http.post(f"{base}/webhooks/generic", data=body, timeout=30, headers={
                "Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                SIGNATURE_HEADER: sign(SECRET, now, body)})
            sent[0] += 1
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))


def pages(base: str, name: str, paths: tuple[str, ...], until: float, seen: list[int]) -> None:
    http = login(base, name)
    while time.monotonic() < until:
        for path in paths:
            http.get(base + path, timeout=60)
            seen[0] += 1
        time.sleep(0.5)


def import_patients(base: str, folder: Path, patients: int) -> str:
    generate(folder, patients, visits=1, treatments=1)
    http = login(base, "admin")
    token = form_token(http, f"{base}/admin/import")
    with open(folder / "patients.csv", "rb") as handle:
        answer = http.post(f"{base}/admin/import", data={"kind": "patients", "csrf_token": token},
                           files={"file": ("patients.csv", handle)}, timeout=120, allow_redirects=False)
    job = re.search(r"/admin/import/(\d+)$", answer.headers.get("Location", ""))
    if job is None:
        return f"upload refused ({answer.status_code})"
    http.post(f"{base}/admin/import/{job.group(1)}/run", timeout=120,
              data={"keep_mapping": "1", "csrf_token": token})
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = http.get(f"{base}/admin/import/{job.group(1)}/status", timeout=30).json()
        if status.get("state") not in ("queued", "running"):
            return f"import of {patients:,} patients: {status.get('state')}"
        time.sleep(1)
    return "import still running"


def run(seconds: float, rate: float, patients: int, folder: Path,
        return_memory: bool) -> tuple[Sampler, list[str]]:
    port, instance = free_port(), folder / "instance"
    url = f"sqlite:///{instance / 'callcenter.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")
           and k not in ("REDIS_URL", "DATABASE_URL")}
    env.update({"CALLCENTER_INSTANCE_DIR": str(instance), "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
                "CALLCENTER_GENERIC_SECRET": SECRET, "CALLCENTER_PLAN_SECONDS": "5",
                "CALLCENTER_LISTS_AT": "00:00", "CALLCENTER_LOG_LEVEL": "WARNING",
                "CALLCENTER_RETURN_MEMORY": "1" if return_memory else "0"})
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "--port", str(port)],
                            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    base, notes = f"http://127.0.0.1:{port}", []
    sampler = Sampler(proc.pid, "web (serve)")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=5).json().get("workers", 0) >= 1:
                    break
            except (requests.RequestException, ValueError):
                pass
            if proc.poll() is not None:
                raise SystemExit((folder / "serve.log").read_text()[-3000:])
            time.sleep(1)
        sampler.start()
        until = time.monotonic() + seconds
        sent, seen = [0], [0]
        work: list[tuple[Callable[..., object], tuple[object, ...]]] = [
            (webhooks, (base, url, rate, until, sent)),
            (pages, (base, "anna", DESK_PAGES, until, seen)), (pages, (base, "john", DESK_PAGES, until, seen)),
            (pages, (base, "admin", ADMIN_PAGES, until, seen))]
        threads = [threading.Thread(target=target, args=args, daemon=True) for target, args in work]
        for thread in threads:
            thread.start()
        notes.append(import_patients(base, folder, patients))
        for thread in threads:
            thread.join(seconds + 120)
        notes.append(f"{sent[0]:,} webhooks, {seen[0]:,} pages in {seconds:.0f} s")
    finally:
        sampler.stop.set()
        proc.terminate()
        proc.wait(60)
        log.close()
    return sampler, notes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench memory")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10, help="calls per second (3 webhooks each)")
    parser.add_argument("--patients", type=int, default=5000, help="patients in the uploaded import")
    parser.add_argument("--only", choices=["shipped"], help="skip the glibc-defaults baseline")
    args = parser.parse_args(argv)
    # The malloc variables are the product's to set: inherited ones would blur the comparison.
    for name in ALLOCATOR:
        os.environ.pop(name, None)
    rows = []
    for label, return_memory in [("glibc defaults", False), ("shipped", True)]:
        if args.only and label != args.only:
            continue
        load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
        with tempfile.TemporaryDirectory(prefix="cc-bench-memory-") as folder:
            sampler, notes = run(args.seconds, args.rate, args.patients, Path(folder), return_memory)
        load = f"{load_before} → {'/'.join(f'{x:.1f}' for x in os.getloadavg())}"
        print(f"{label}: " + "; ".join(notes))
        rows += [[label, name, round(sampler.first[name], 1), round(peak, 1), load]
                 for name, peak in sorted(sampler.peaks.items())]
    print_table(["malloc", "process", "RSS MB when up", "peak RSS MB", "load average"], rows,
                title="callcenter serve under a mix of webhooks, pages, call lists and an import "
                      "(target: web ≤ 150 MB, each worker ≤ 150 MB)")
    return 0
