"""The pieces of the browser-phone acceptance tests: sipp callers and answerers that echo the
audio they receive (so what the browser hears back proves both directions), the far-end browser
page, and a speech WAV for Chromium's fake microphone."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.sipp.scenarios import SDP, SDP_HEADER

FAR_PAGE = Path(__file__).parent / "softphone_far"
VENDOR = Path(__file__).resolve().parent.parent / "callcenter" / "static" / "vendor"
SPEECH = "Good morning, this is the dental clinic front desk. Your visit is confirmed for Thursday."

IN_DIALOG = """  <label id="talk"/>
  <recv request="INVITE" optional="true" next="reinvite"/>
  <recv request="INFO" optional="true" next="info"/>
  <recv request="BYE" next="bye"/>
  <label id="reinvite"/>
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
{sdp_header}
Content-Length: [len]

{sdp}
]]></send>
  <recv request="ACK" next="talk"/>
  <label id="info"/>
  <send next="talk"><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="bye"/>
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def caller(user: str, callee: str) -> str:
    """A phone calling `callee` through the proxy, then answering whatever the desk does in the
    dialog (hold and resume re-INVITEs, keypad INFOs) until the desk hangs up."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller">
  <send retrans="500"><![CDATA[

INVITE sip:{callee}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{callee}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
{SDP_HEADER}
Content-Length: [len]

{SDP}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send><![CDATA[

ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{callee}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
[routes]
Max-Forwards: 70
Content-Length: 0

]]></send>
""" + IN_DIALOG.format(user=user, sdp=SDP, sdp_header=SDP_HEADER)


def answerer(user: str) -> str:
    """A patient's phone that answers the desk's call at once."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="answerer">
  <recv request="INVITE"/>
  <send><![CDATA[

SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:{user}@[local_ip]:[local_port]>
{SDP_HEADER}
Content-Length: [len]

{SDP}
]]></send>
  <recv request="ACK"/>
""" + IN_DIALOG.format(user=user, sdp=SDP, sdp_header=SDP_HEADER)


class Sipp:
    """sipp with -rtp_echo: whatever audio reaches it goes straight back."""

    def __init__(self, folder: Path, name: str, scenario: str, port: int, media_port: int,
                 target: str = "", call_id: str = "") -> None:
        self.folder, self.name = folder, name
        (folder / f"{name}.xml").write_text(scenario)
        self.messages = folder / f"{name}_messages.log"
        args = ["sipp", "-sf", f"{name}.xml", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port),
                "-rtp_echo", "-nostdin", "-trace_msg", "-message_file", str(self.messages),
                "-trace_err", "-error_file", str(folder / f"{name}_errors.log"), "-m", "1"]
        if call_id:
            args += ["-cid_str", call_id]
        if target:
            args.append(target)
        self.proc = subprocess.Popen(args, cwd=folder, stdout=(folder / f"{name}.out").open("wb"),
                                     stderr=subprocess.STDOUT)

    def trace(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.is_file() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def speech_wav(folder: Path) -> Path:
    """A spoken sentence (espeak-ng) at 48 kHz mono (sox), for Chromium's fake microphone."""
    raw, wav = folder / "speech_raw.wav", folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), SPEECH], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", str(wav), "pad", "0", "0.5"], check=True)
    return wav


@contextmanager
def far_page_server(folder: Path) -> Iterator[str]:
    """The far-end phone page and JsSIP on a loopback origin of their own (a secure context)."""
    web = folder / "far"
    shutil.copytree(FAR_PAGE, web)
    shutil.copy(VENDOR / "jssip.js", web / "jssip.js")
    handler = functools.partial(_QuietHandler, directory=str(web))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/far.html"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
