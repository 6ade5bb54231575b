"""A private Kamailio on loopback: the registrar and proxy a clinic's IP-PBX would be.

It challenges REGISTER with 401 and INVITE with 401 or 407 (with or without qop), checks the
password of one extension, record-routes the call and relays it to a sipp far end. Its log
says which ACKs to its challenges it absorbed (`FILTERED-ACK`, only when the ACK's To-tag is
the challenge's) and which requests it could not place (`STRAY`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

USER, PASSWORD = "201", "desk-201"
MODES = {  # name → how an INVITE is challenged: (authenticate function, challenge function, flags)
    "401-qop": ("pv_www_authenticate", "www_challenge", "1"),
    "407-qop": ("pv_proxy_authenticate", "proxy_challenge", "1"),
    "401-no-qop": ("pv_www_authenticate", "www_challenge", "0"),
}

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "xlog.so"
loadmodule "kex.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "nonce_count", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) t_relay(); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ xlog("L_INFO", "ROUTED $rm $ci\\n"); t_relay(); exit; }}
        if (is_method("ACK") && t_check_trans()) {{ t_relay(); exit; }}
        xlog("L_INFO", "STRAY $rm $ci\\n");
        if (!is_method("ACK")) sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("ACK")) {{ xlog("L_INFO", "STRAY $rm $ci\\n"); exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "{password}", "0") || $au != "{user}") {{
            xlog("L_INFO", "CHALLENGE REGISTER $ci\\n");
            www_challenge("$td", "{register_flags}");
            exit;
        }}
        save("location");
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!{authenticate}("$fd", "{password}", "0") || $au != "{user}") {{
            xlog("L_INFO", "CHALLENGE INVITE $ci\\n");
            {challenge}("$fd", "{flags}");
            exit;
        }}
        consume_credentials();
        record_route();
        $du = "sip:127.0.0.1:{far_port}";
        t_relay();
        exit;
    }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    sl_send_reply("405", "Method Not Allowed");
}}

event_route[sl:filtered-ack] {{
    xlog("L_INFO", "FILTERED-ACK $ci\\n");
}}
"""


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or next(
        (str(p) for p in (Path("/usr/sbin/kamailio"), Path("/usr/local/sbin/kamailio")) if p.is_file()), None)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Kamailio:
    def __init__(self, folder: Path, mode: str, far_port: int) -> None:
        authenticate, challenge, flags = MODES[mode]
        self.folder = folder / "kamailio"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_udp_port()
        self.log = self.folder / "kamailio.log"
        binary = kamailio_binary() or "kamailio"
        modules = Path(binary).resolve().parent.parent / "lib" / "x86_64-linux-gnu" / "kamailio" / "modules"
        if not modules.is_dir():
            modules = next(Path("/usr/lib").glob("*/kamailio/modules"), modules)
        self.config = self.folder / "kamailio.cfg"
        self.config.write_text(CONFIG.format(
            port=self.port, modules=modules, user=USER, password=PASSWORD, far_port=far_port,
            authenticate=authenticate, challenge=challenge, flags=flags,
            register_flags="0" if mode.endswith("no-qop") else "1"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Kamailio:
        self.proc = subprocess.Popen(
            [kamailio_binary() or "kamailio", "-f", str(self.config), "-DD", "-E", "-m", "32", "-M", "4",
             "-Y", str(self.folder), "-w", str(self.folder)],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Kamailio answers OPTIONS once its workers listen."""
        probe = ("OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKprobe{n}\r\n"
                 "From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe{n}\r\n"
                 "CSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n")
        deadline = time.monotonic() + 30
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(0.5)
            for n in range(10_000):
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"kamailio exited: {self.log.read_text(errors='replace')[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kamailio did not answer: {self.log.read_text(errors='replace')[-3000:]}")
                message = probe.format(port=self.port, me=sock.getsockname()[1], n=n)
                sock.sendto(message.encode(), ("127.0.0.1", self.port))
                try:
                    if sock.recv(4096).startswith(b"SIP/2.0 200"):
                        return
                except TimeoutError:
                    continue

    def stop(self) -> None:
        """The whole process group: children can outlive the main process, which waits up to a
        minute for them after SIGTERM."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def logged(self, word: str) -> list[str]:
        """Log lines of our own xlog markers (CHALLENGE, FILTERED-ACK, ROUTED, STRAY)."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return [line for line in text.splitlines() if f" {word} " in line or line.endswith(f" {word}")]

