"""A real FHIR R4 server for the connector's tests: Medplum's FHIR router and in-memory
repository (npm, versions pinned in tests/fhir_server/package-lock.json) behind the small HTTP
shim tests/fhir_server/server.cjs.

The npm packages are installed once with `npm ci` into a cache outside the repository
($XDG_CACHE_HOME or ~/.cache, under callcenter-tests/, keyed by the lock file's hash), so a test
run after the first needs no network. Without node and npm the tests skip (CI installs them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.services import free_port

HERE = Path(__file__).parent / "fhir_server"
TOKEN = "test-fhir-token-1"


def _cache() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    lock = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()[:16]
    return root / "callcenter-tests" / f"fhir-server-{lock}"


def node_modules() -> Path | None:
    """The installed packages, installing them on first use; None without node and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    cache = _cache()
    if (cache / "node_modules" / "@medplum" / "fhir-router" / "package.json").is_file():
        return cache / "node_modules"
    cache.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".installing-", dir=cache.parent))
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, work / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                   cwd=work, check=True, timeout=900, stdout=subprocess.DEVNULL)
    try:
        work.rename(cache)  # atomic: a parallel run that got there first keeps its copy
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return cache / "node_modules"


def _node_major() -> int:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


class FhirServer:
    def __init__(self, modules: Path) -> None:
        self.modules = modules
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="cc-fhir-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {TOKEN}",
                                  "Content-Type": "application/fhir+json"})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/R4"

    def start(self) -> None:
        # Medplum's core wants a global WebSocket: node 22 has one, node 20 (Debian's) behind a flag.
        flags = ["--experimental-websocket"] if _node_major() < 22 else []
        with self.log.open("wb") as log:  # a fresh log: "listening" is this start's
            self.proc = subprocess.Popen(["node", *flags, str(HERE / "server.cjs"), str(self.modules),
                                          str(self.port), TOKEN], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # indexing the R4 definitions takes seconds
        while "listening" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the FHIR server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def reset(self) -> None:
        self.http.post(f"http://127.0.0.1:{self.port}/__reset", timeout=10).raise_for_status()

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"{self.base}/{resource['resourceType']}", json=resource, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def read(self, kind: str, resource_id: str) -> dict[str, Any]:
        answer = self.http.get(f"{self.base}/{kind}/{resource_id}", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.put(f"{self.base}/{resource['resourceType']}/{resource['id']}",
                               json=resource, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def history(self, kind: str, resource_id: str) -> list[dict[str, Any]]:
        answer = self.http.get(f"{self.base}/{kind}/{resource_id}/_history", timeout=10)
        assert answer.status_code == 200, answer.text
        return [entry["resource"] for entry in answer.json().get("entry", [])]
