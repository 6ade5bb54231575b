"""Start and stop the processes a benchmark measures (gunicorn on a free loopback port)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent


class Gunicorn:
    def __init__(self, app: str, env: dict[str, str], workers: int = 2, threads: int = 4) -> None:
        self.port = free_port()
        self.app = app
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.workers = workers
        self.threads = threads
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-k", "gthread",
             "--threads", str(self.threads), "-b", f"127.0.0.1:{self.port}", "--log-level",
             "warning", self.app],
            env=self.env, cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2)
                return self
            except OSError as exc:
                if getattr(exc, "code", None):  # an HTTP error status: the server is up
                    return self
                time.sleep(0.2)
        raise TimeoutError(f"gunicorn {self.app} did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
