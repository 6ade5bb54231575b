"""One sipp process playing a scenario on a loopback port, with its message trace for counting."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

TRACE_HEADER = re.compile(r"^-+ (\d{4}-\d\d-\d\d[ \t]\d\d:\d\d:\d\d\.\d+)", re.M)


def sipp_binary() -> str | None:
    return shutil.which("sipp")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SippPhone:
    def __init__(self, scenario_xml: str, folder: Path, name: str = "phone") -> None:
        self.folder = folder
        self.scenario = folder / f"{name}.xml"
        self.scenario.write_text(scenario_xml)
        self.port = _free_udp_port()
        self.media_port = _free_udp_port()
        self.messages = folder / f"{name}_messages.log"
        self.log = folder / f"{name}.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SippPhone:
        self.proc = subprocess.Popen(
            [sipp_binary() or "sipp", "-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.port),
             "-mp", str(self.media_port), "-nostdin", "-trace_msg", "-message_file", str(self.messages),
             "-trace_err", "-error_file", str(self.folder / "sipp_errors.log"), "-aa"],
            cwd=self.folder, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp exited: {self.log.read_text(errors='replace')[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def received(self, method: str) -> list[tuple[datetime, str]]:
        """(time sipp received it, request URI) for every `method` request in the trace."""
        return self._requests(method, "message received")

    def sent(self, method: str) -> list[tuple[datetime, str]]:
        return self._requests(method, "message sent")

    def _requests(self, method: str, direction: str) -> list[tuple[datetime, str]]:
        return [(stamp, uri) for stamp, uri, _ in self.requests_with_call_id(method, direction)]

    def requests_with_call_id(self, method: str, direction: str) -> list[tuple[datetime, str, str]]:
        """(local time, request URI, Call-ID) of every `method` request `direction` ("message
        sent" / "message received") in the trace."""
        if not self.messages.is_file():
            return []
        text = self.messages.read_text(errors="replace")
        found = []
        headers = list(TRACE_HEADER.finditer(text))
        for index, header in enumerate(headers):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            block = text[header.end():end]
            if direction not in block:
                continue
            lines = block.splitlines()
            first = next((line for line in lines if line.startswith(f"{method} ")), None)
            if first is not None:
                stamp = datetime.strptime(header.group(1).replace("\t", " "), "%Y-%m-%d %H:%M:%S.%f")
                call_id = next((line.split(":", 1)[1].strip() for line in lines
                                if line.lower().startswith(("call-id:", "i:"))), "")
                found.append((stamp, first.split()[1], call_id))
        return found
