"""Screen-pop latency: signed webhook sent → card received by the desk (SSE) → card rendered (browser).

    python -m bench pop_latency [--patients 100000] [--rate 20] [--duration 30] [--desks 4]
                                [--db sqlite|postgresql] [--no-browser] [--full-calls] [--beside]

The demo clinic (callcenter.demo.builder.load_demo: doctors, schedules, visits, calls) topped up in bulk
to 100,000 patients; the app under gunicorn
(gthread) with real Redis; `--desks` receptionists signed in, each with an SSE client on
/desk/stream, and one of them also in headless Chromium on /desk. Ringing webhooks (generic,
HMAC-signed) go out at `--rate` calls per second, spread over the desks' extensions, each from a
different patient's number; with --full-calls every call is also answered 2 s later and ended
6 s later (three webhooks per call). Latency of a pop = from the moment its webhook is sent to
the moment the desk has the whole card (SSE client) / has drawn it (browser: the desk page's
own timing after rendering). With --beside, another process meanwhile builds, over and over,
every analytics report for the past year by month and every outbound list (the two heaviest
reads a clinic runs in office hours), against the same database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, insert, select, text

from bench.services import private_services
from bench.table import print_table
from callcenter.access.passwords import hash_password
from callcenter.analytics import REPORTS, Filters, Granularity
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.heap import freeze_startup_objects
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    Patient,
    PatientPhone,
    Staff,
    StaffRole,
    TrackingNumber,
    utcnow,
)
from callcenter.demo.builder import load_demo
from callcenter.outbound import lists
from tests.services import Gunicorn
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "bench-secret"
PASSWORD = "bench-desk"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"]


DEMO_PATIENTS = 5000  # the demo clinic's own (schedules, visits, calls); the rest are added in bulk
CHUNK = 5000


def _prepare(url: str, patients: int, desks: int) -> tuple[list[str], list[str]]:
    """Demo clinic, topped up to `patients` in bulk, + desk logins; returns callers and tracking numbers."""
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    config = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}
    with sessions() as session:
        started = time.monotonic()
        print(load_demo(session, seed=20261122, patients=min(patients, DEMO_PATIENTS), config=config),
              flush=True)
        clinic = session.scalars(select(Clinic).order_by(Clinic.id)).first()
        _top_up(session, clinic.id, patients - min(patients, DEMO_PATIENTS))
        for n in range(desks):
            session.add(Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, login=f"bench{n}",
                              first_name="Desk", last_name=str(n), sip_extension=str(801 + n),
                              locale="ru", password_hash=hash_password(PASSWORD)))
        session.commit()
        session.execute(text("ANALYZE"))  # planner statistics, as a database that has lived a while has
        session.commit()
        print(f"{patients:,} patients ready in {time.monotonic() - started:.0f} s", flush=True)
        numbers = sorted(set(session.scalars(select(PatientPhone.e164))))
        tracking = list(session.scalars(select(TrackingNumber.e164).where(
            TrackingNumber.channel_id.is_not(None))))
    engine.dispose()
    return numbers, tracking


def _top_up(session: Any, clinic_id: int, extra: int) -> None:
    """Bulk patients with a mobile each, and every other one with a past visit to a demo doctor."""
    if extra <= 0:
        return
    rng = random.Random(3)
    doctors = list(session.scalars(select(Staff.id).where(Staff.clinic_id == clinic_id,
                                                          Staff.role == StaffRole.DOCTOR)))
    first_id = (session.scalar(select(func.max(Patient.id))) or 0) + 1
    now = utcnow()
    for offset in range(0, extra, CHUNK):
        count = min(CHUNK, extra - offset)
        ids = range(first_id + offset, first_id + offset + count)
        session.execute(insert(Patient), [
            {"id": pid, "clinic_id": clinic_id, "first_name": rng.choice(("Анна", "Илья", "Вера", "Олег")),
             "last_name": f"Пациент{pid}", "preferred_language": "ru"} for pid in ids])
        session.execute(insert(PatientPhone), [
            {"patient_id": pid, "e164": f"+7985{pid:07d}", "label": "mobile"} for pid in ids])
        visits = []
        for pid in ids[::2]:
            at = now - timedelta(days=rng.randrange(20, 400), hours=rng.randrange(0, 8))
            visits.append({"clinic_id": clinic_id, "patient_id": pid, "doctor_id": rng.choice(doctors),
                           "starts_at": at, "ends_at": at + timedelta(minutes=30), "service": "Осмотр",
                           "status": AppointmentStatus.COMPLETED})
        session.execute(insert(Appointment), visits)


def _beside(url: str, stop: Any, done: Any) -> None:
    """Work beside the pops (a process of its own): a year's analytics, then every outbound list,
    again and again; `done` counts the rounds finished."""
    from zoneinfo import ZoneInfo

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    while not stop.is_set():
        with sessions() as session:
            clinic = session.scalars(select(Clinic).order_by(Clinic.id)).first()
            zone, now = ZoneInfo(clinic.timezone), utcnow()
            today = now.astimezone(zone).date()
            year = Filters(clinic_id=clinic.id, tz=zone, start=today - timedelta(days=365), end=today,
                           granularity=Granularity.MONTH)
            for report in REPORTS.values():
                report.build(session, year)
            for build in lists.BUILDERS.values():
                build(session, clinic, now, lists.DEFAULT_SETTINGS)
        with done.get_lock():
            done.value += 1
    engine.dispose()


def _signed(item: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(item).encode()
    now = int(time.time())
    return body, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                  SIGNATURE_HEADER: sign(SECRET, now, body)}


def _login(base: str, login: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{base}/login", timeout=10).text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = http.post(f"{base}/login", data={"login": login, "password": PASSWORD, "csrf_token": token},
                       timeout=10, allow_redirects=False)
    if answer.status_code != 302:
        raise RuntimeError(f"desk login {login} failed: {answer.status_code}")
    return http


class SseDesk(threading.Thread):
    """A desk's SSE connection, recording when each pop's card arrived (by the caller's number)."""

    def __init__(self, base: str, login: str) -> None:
        super().__init__(daemon=True)
        self.http = _login(base, login)
        self.base = base
        self.arrived: dict[str, float] = {}
        self.call_ids: dict[str, int] = {}
        self.ready = threading.Event()
        self.response: requests.Response | None = None

    def close(self) -> None:
        """Hang up, so the server's stream ends at its next write and gunicorn can stop."""
        if self.response is not None:
            self.response.close()

    def run(self) -> None:
        event = None
        try:
            with self.http.get(f"{self.base}/desk/stream", stream=True, timeout=(5, 60)) as response:
                self.response = response
                self.ready.set()
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "pop":
                        at = time.time()
                        card = json.loads(line[6:])["card"]
                        number = card["call"]["number_e164"]
                        self.arrived.setdefault(number, at)
                        self.call_ids[number] = card["call"]["id"]
        except (requests.RequestException, AttributeError, ValueError, OSError):
            return  # hung up by close()


def _browser_desk(base: str, login: str, stop: threading.Event, result: dict[str, Any]) -> None:
    """Chromium on /desk; collects the page's own (call id → rendered at, epoch ms) timings."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        page.goto(f"{base}/desk")
        page.fill('input[name="login"]', login)
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_selector('#conn[data-state="live"]')
        result["ready"].set()
        while not stop.is_set():
            # Close rendered cards now and then, as a receptionist would: the DOM stays small.
            page.evaluate("for (const b of document.querySelectorAll('article.pop .close')) b.click()")
            stop.wait(1.0)
        result["timings"] = page.evaluate("window.deskTimings.filter(t => t[1] === 'pop')")
        browser.close()


def _stop_now(master: int) -> None:
    """Stop gunicorn without its graceful wait (that would wait for the desks' open streams)."""
    os.kill(master, signal.SIGQUIT)
    children = Path(f"/proc/{master}/task/{master}/children")
    for pid in children.read_text().split() if children.exists() else []:
        os.kill(int(pid), signal.SIGKILL)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _row(name: str, latencies_ms: list[float], sent: int) -> list[object]:
    if not latencies_ms:
        return [name, sent, 0, "-", "-", "-", "-", "-"]
    return [name, sent, len(latencies_ms), round(statistics.median(latencies_ms), 1),
            round(_percentile(latencies_ms, 95), 1), round(_percentile(latencies_ms, 99), 1),
            round(max(latencies_ms), 1), round(statistics.mean(latencies_ms), 1)]


def run(url: str, redis_url: str, args: argparse.Namespace, folder: Path) -> list[list[object]]:
    numbers, tracking = _prepare(url, args.patients, args.desks)
    # This process is the PBX and the desks' clients too: left in its collector's way, the demo
    # load's objects cost ~190 ms per full pass, paused every client thread and showed up in the
    # measured latencies as if the server had been slow.
    freeze_startup_objects()
    rng = random.Random(5)
    callers = rng.sample(numbers, min(len(numbers), int(args.rate * args.duration) + 10))
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "CALLCENTER_GENERIC_SECRET": SECRET,
           "CALLCENTER_INSTANCE_DIR": str(folder), "CALLCENTER_LOG_LEVEL": "WARNING",
           "CALLCENTER_SECRET_KEY": "bench", "CALLCENTER_TIMEZONE": "Europe/Moscow"}
    rows = []
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, not a copy of this one
    beside_stop, beside_done = spawn.Event(), spawn.Value("i", 0)
    beside = (spawn.Process(target=_beside, daemon=True, args=(url, beside_stop, beside_done))
              if args.beside else None)
    load_before = os.getloadavg()
    with Gunicorn("callcenter.wsgi:app", env, workers=args.workers, threads=args.threads) as app:
        desks = [SseDesk(app.base, f"bench{n}") for n in range(args.desks)]
        for desk in desks:
            desk.start()
            desk.ready.wait(10)
        stop_browser = threading.Event()
        browser_result: dict[str, Any] = {"ready": threading.Event()}
        browser_thread = None
        if args.browser:
            browser_thread = threading.Thread(target=_browser_desk, daemon=True,
                                              args=(app.base, "bench0", stop_browser, browser_result))
            browser_thread.start()
            if not browser_result["ready"].wait(60):
                raise RuntimeError("the browser desk did not come up")
        if beside is not None:
            beside.start()
            # Its first round, after the bench's load, builds every day's roll-ups once (what the
            # worker's refresh job does within a minute of a data load, holding SQLite's writer
            # for seconds): the pops are measured beside the steady work that follows.
            deadline = time.monotonic() + 600
            while beside_done.value < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
        time.sleep(1.0)
        sent_at: dict[str, float] = {}
        http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        http.mount("http://", adapter)
        failures = []
        webhook_ms: list[float] = []

        def post(item: dict[str, Any], key: str | None) -> None:
            body, headers = _signed(item)
            sent = time.time()
            if key is not None:
                sent_at[key] = sent
            answer = http.post(f"{app.base}/webhooks/generic", data=body, headers=headers, timeout=30)
            webhook_ms.append((time.time() - sent) * 1000)
            if answer.status_code != 204:
                failures.append(answer.status_code)

        total = int(args.rate * args.duration)
        interval = 1.0 / args.rate
        timers: list[threading.Timer] = []
        with ThreadPoolExecutor(max_workers=64) as pool:
            start = time.monotonic()
            for n in range(total):
                target = start + n * interval
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                caller = callers[n]
                extension = str(801 + n % args.desks)
                base = {"call_id": f"pop-{n}", "direction": "inbound", "from": caller,
                        "to": tracking[n % len(tracking)], "extension": extension}
                pool.submit(post, {**base, "event": "ringing", "timestamp": time.time()}, caller)
                if args.full_calls:
                    for later, event in ((2.0, "answered"), (6.0, "ended")):
                        timer = threading.Timer(later, lambda b=base, e=event: pool.submit(
                            post, {**b, "event": e, "timestamp": time.time()}, None))
                        timer.start()
                        timers.append(timer)
            achieved = total / (time.monotonic() - start)
            for timer in timers:
                timer.join()
        time.sleep(3.0)
        beside_stop.set()
        for desk in desks:
            desk.close()
        stop_browser.set()
        if browser_thread is not None:
            browser_thread.join(60)
        _stop_now(app.proc.pid)
    if beside is not None:
        beside.join(120)
        print(f"beside the pops: {beside_done.value} rounds of a year's analytics and every "
              "outbound list finished", flush=True)
    print("load average (1/5/15 min) before → after: "
          + " → ".join("/".join(f"{v:.1f}" for v in load) for load in (load_before, os.getloadavg())),
          flush=True)
    received: dict[str, float] = {}
    call_to_number: dict[int, str] = {}
    for desk in desks:
        received.update(desk.arrived)
        call_to_number.update({cid: num for num, cid in desk.call_ids.items()})
    sse_ms = [(received[k] - sent_at[k]) * 1000 for k in sent_at if k in received]
    label = (f"{args.db}, {args.patients:,} patients, {achieved:.1f} calls/s"
             + (" x 3 webhooks" if args.full_calls else "") + (", work beside" if args.beside else ""))
    rows.append([f"{label}: webhook answered", *_row("", webhook_ms, len(webhook_ms))[1:]])
    rows.append([f"{label}: card at the desk (SSE)", *_row("", sse_ms, len(sent_at))[1:]])
    if args.browser:
        rendered = [(at_ms / 1000 - sent_at[call_to_number[cid]]) * 1000
                    for cid, _kind, _ms, at_ms in browser_result.get("timings", [])
                    if cid in call_to_number and call_to_number[cid] in sent_at]
        browser_sent = sum(1 for n in range(total) if (801 + n % args.desks) == 801)
        rows.append([f"{label}: card drawn in Chromium", *_row("", rendered, browser_sent)[1:]])
    if failures:
        print(f"webhook failures: {len(failures)} (statuses {sorted(set(failures))})")
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench pop_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of calls")
    parser.add_argument("--desks", type=int, default=4, help="receptionists with an open desk")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: 1 on SQLite, one writer; 2 on PostgreSQL)")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    parser.add_argument("--full-calls", action="store_true", help="also answer and end every call")
    parser.add_argument("--beside", action="store_true",
                        help="a year's analytics and every outbound list built beside, over and over")
    args = parser.parse_args(argv)
    args.workers = args.workers or (1 if args.db == "sqlite" else 2)
    with private_services("pop_latency", args.db) as (url, redis_url, folder):
        rows = run(url, redis_url, args, folder)
    print_table(["measured", "pops sent", "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"],
                rows, title="Screen-pop latency (webhook sent → card at the desk)")
    return 0
