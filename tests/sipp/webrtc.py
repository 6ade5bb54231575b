"""A private WebRTC gateway on loopback: Kamailio (SIP over WebSocket ⇄ UDP, registrar) and
rtpengine in userspace (ICE/DTLS-SRTP ⇄ plain RTP), what a clinic's PBX offers a browser phone.

Browsers register over ws://127.0.0.1; a request for a registered user goes to its WebSocket,
anything else to the sipp far end. rtpengine's flags depend on which side is the browser: the
INVITE is marked when it came from one (flag 1) and when it goes to one (flag 2), so the reply
route applies the mirror flags. `query(call_id)` asks rtpengine how many packets it received on
each leg: the wire's view of "audio flows".
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from tests.services import free_port
from tests.sipp.kamailio import Kamailio, kamailio_binary

TO_BROWSER = "ICE=force DTLS=passive RTP/SAVPF rtcp-mux-offer replace-origin replace-session-connection"
# Answering a browser's own offer: keep its rtcp-mux and let its DTLS role (actpass) decide ours.
ANSWER_TO_BROWSER = "ICE=force RTP/SAVPF rtcp-mux-require replace-origin replace-session-connection"
TO_PLAIN = "ICE=remove RTP/AVP rtcp-mux-demux replace-origin replace-session-connection"
BROWSER_TO_BROWSER = "ICE=force RTP/SAVPF rtcp-mux-require replace-origin replace-session-connection"

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{ws_port}
tcp_accept_no_cl=yes
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
loadmodule "xlog.so"
loadmodule "kex.so"
loadmodule "nathelper.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
loadmodule "rtpengine.so"
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "handle_lost_tcp", 1)
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng_port}")
modparam("rr", "append_fromtag", 1)
# One Record-Route: a browser sends everything over its WebSocket whatever the route says, and a
# double entry (ws + udp) was not recognised as ours on the way back from JsSIP.
modparam("rr", "enable_double_rr", 0)

event_route[xhttp:request] {{
    if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {{
        if (ws_handle_handshake()) exit;
    }}
    xhttp_reply("404", "Not Found", "", "");
}}

# Flag 1: the request comes from a browser; flag 2: it goes to one. Replies apply the mirror.
route[MEDIA_OFFER] {{
    if (!has_body("application/sdp")) return;
    if (isflagset(1) && isflagset(2)) rtpengine_offer("{b2b}");
    else if (isflagset(2)) rtpengine_offer("{to_browser}");
    else rtpengine_offer("{to_plain}");
    t_on_reply("MEDIA_ANSWER");
}}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    # Browsers are always behind a "NAT": their Via and Contact name .invalid hosts.
    if (nat_uac_test(64)) {{
        force_rport();
        if (is_method("REGISTER")) fix_nated_register();
        else add_contact_alias();
        setflag(1);
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ rtpengine_delete(); t_relay(); }} exit; }}
    if (has_totag()) {{
        xlog("L_INFO", "IN-DIALOG $rm $ci ruri=$ru route=$hdr(Route)\n");
        if (loose_route()) {{
            if ($du == "") handle_ruri_alias();
            xlog("L_INFO", "ROUTED $rm $ci ruri=$ru du=$du proto=$proto\\n");
            # Which end this request goes to: the record-route parameters say who is a browser.
            if (is_direction("downstream")) {{ if (check_route_param("cb=1")) setflag(2); }}
            else if (check_route_param("ab=1")) setflag(2);
            if (is_method("BYE")) rtpengine_delete();
            else if (is_method("INVITE|UPDATE")) route(MEDIA_OFFER);
            t_relay();
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{ t_relay(); exit; }}
        xlog("L_INFO", "STRAY $rm $ci\\n");
        if (!is_method("ACK")) sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("ACK")) {{ if (t_check_trans()) t_relay(); exit; }}
    t_check_trans();
    if (is_method("REGISTER")) {{ save("location"); exit; }}
    if (is_method("OPTIONS") && $rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("INVITE|REFER|MESSAGE|OPTIONS|SUBSCRIBE")) {{
        if (lookup("location")) {{
            setflag(2);
        }} else if ($rU =~ "^[0-9]{{5,}}$") {{
            $du = "sip:127.0.0.1:{far_port}";
        }} else {{
            sl_send_reply("404", "Not registered");
            exit;
        }}
        if (isflagset(1)) add_rr_param(";ab=1");
        if (isflagset(2)) add_rr_param(";cb=1");
        record_route();
        if (is_method("INVITE")) {{
            xlog("L_INFO", "INVITE $ci to $rU\\n");
            route(MEDIA_OFFER);
        }}
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}

onreply_route[MEDIA_ANSWER] {{
    if (nat_uac_test(64)) add_contact_alias();
    if (!has_body("application/sdp")) return;
    if (isflagset(1) && isflagset(2)) rtpengine_answer("{b2b}");
    else if (isflagset(1)) rtpengine_answer("{answer_to_browser}");
    else rtpengine_answer("{to_plain}");
}}
"""


def rtpengine_binary() -> str | None:
    return shutil.which("rtpengine") or next(
        (p for p in ("/usr/bin/rtpengine", "/usr/sbin/rtpengine") if os.path.isfile(p)), None)


def websocket_module() -> bool:
    return any(Path("/usr/lib").glob("*/kamailio/modules/websocket.so"))


class Rtpengine:
    """rtpengine in userspace (no kernel table) without the packaged config file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "rtpengine"
        self.folder.mkdir(parents=True, exist_ok=True)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.ng_port = probe.getsockname()[1]
        self.log = self.folder / "rtpengine.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Rtpengine:
        low = random.randrange(20000, 50000, 2)
        self.proc = subprocess.Popen(
            [rtpengine_binary() or "rtpengine", "--table=-1", "--config-file=none", "--foreground",
             "--log-stderr", "--log-level=6", "--interface=127.0.0.1",
             f"--listen-ng=127.0.0.1:{self.ng_port}", f"--port-min={low}", f"--port-max={low + 400}",
             f"--pidfile={self.folder / 'rtpengine.pid'}"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while self.ng({"command": "ping"}).get("result") != "pong":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rtpengine did not start: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        return self

    def ng(self, command: dict[str, Any]) -> dict[str, Any]:
        """One command on rtpengine's control protocol (bencoded over UDP, a cookie in front)."""
        cookie = f"{random.getrandbits(32):08x}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.sendto(cookie.encode() + b" " + bencode(command), ("127.0.0.1", self.ng_port))
            try:
                reply = sock.recv(65536)
            except (TimeoutError, ConnectionRefusedError):
                return {}
        _, _, body = reply.partition(b" ")
        decoded, _ = bdecode(body)
        return decoded

    def packets_by_leg(self, call_id: str) -> dict[str, int]:
        """Packets rtpengine received on each leg of the call, by the leg's SIP tag."""
        found = self.ng({"command": "query", "call-id": call_id})
        counts: dict[str, int] = {}
        for tag, leg in (found.get("tags") or {}).items():
            counts[tag] = sum(int(stream.get("stats", {}).get("packets", 0))
                              for media in leg.get("medias", []) for stream in media.get("streams", []))
        return counts

    def stop(self) -> None:
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


class WebRtcGateway(Kamailio):
    """Kamailio listening on UDP (for sipp) and on ws:// (for browsers), media through rtpengine."""

    def __init__(self, folder: Path, far_port: int, rtpengine: Rtpengine) -> None:
        super().__init__(folder, "401-qop", far_port)
        self.ws_port = free_port()
        modules = Path(next(Path("/usr/lib").glob("*/kamailio/modules/tm.so"))).parent
        self.config.write_text(CONFIG.format(
            port=self.port, ws_port=self.ws_port, modules=modules, far_port=far_port,
            ng_port=rtpengine.ng_port, to_browser=TO_BROWSER, to_plain=TO_PLAIN,
            answer_to_browser=ANSWER_TO_BROWSER, b2b=BROWSER_TO_BROWSER))

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"


def available() -> str | None:
    """Why the WebRTC rig cannot run here (None: it can)."""
    if not kamailio_binary():
        return "no kamailio (apt-get install kamailio)"
    if not websocket_module():
        return "no Kamailio websocket module (apt-get install kamailio-websocket-modules)"
    if not rtpengine_binary():
        return "no rtpengine (apt-get install rtpengine-daemon)"
    return None


def bencode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return str(len(value)).encode() + b":" + value
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(value.items())) + b"e"
    raise TypeError(type(value))


def bdecode(data: bytes, at: int = 0) -> tuple[Any, int]:
    lead = data[at:at + 1]
    if lead == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1:end]), end + 1
    if lead in (b"l", b"d"):
        at += 1
        items: list[Any] = []
        while data[at:at + 1] != b"e":
            item, at = bdecode(data, at)
            items.append(item)
        if lead == b"l":
            return items, at + 1
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}, at + 1
    colon = data.index(b":", at)
    size = int(data[at:colon])
    raw = data[colon + 1:colon + 1 + size]
    return raw.decode("utf-8", "replace"), colon + 1 + size
