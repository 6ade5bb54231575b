"""sipp UAS scenarios: the patient's phone behind a PBX that also accepts our REGISTER.

Every scenario starts with an optional REGISTER branch (pyVoIP registers and de-registers on
the same port it calls through), then plays one way a patient answers.
"""

from __future__ import annotations

from pathlib import Path

REPLY_HEADERS = """[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:patient@[local_ip]:[local_port];transport=[transport]>"""


def _reply(status: str, body: str = "", extra: str = "", retrans: bool = False) -> str:
    # Content-Length goes last: sipp garbles a header placed after a computed [len].
    headers = REPLY_HEADERS + (f"\n{extra}" if extra else "") + "\nContent-Length: [len]"
    attrs = ' retrans="500"' if retrans else ""
    # A body-less message ends at the blank line: pyVoIP rejects a second one.
    content = f"{headers}\n\n{body}\n" if body else f"{headers}\n\n"
    return f"""  <send{attrs}><![CDATA[

SIP/2.0 {status}
{content}]]></send>
"""


SDP_HEADER = "Content-Type: application/sdp"
SDP = """v=0
o=patient 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv"""

CAPTURES = {
    "invite_cseq": '<ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>',
    "caller": '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>',
    "callee": '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="callee"/>',
    "caller_contact": '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="caller_contact"/>',
}


def _open(name: str, *captures: str) -> str:
    """Scenario head: the REGISTER branch, the INVITE (keeping what later messages need), 100 Trying."""
    actions = "".join(f"\n      {CAPTURES[c]}" for c in captures)
    invite = (f'<recv request="INVITE" crlf="true">\n    <action>{actions}\n    </action>\n  </recv>'
              if captures else '<recv request="INVITE" crlf="true"/>')
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <recv request="REGISTER" optional="true" next="register"/>
  {invite}
""" + _reply("100 Trying")


CLOSE = """  <nop next="end"/>
  <label id="register"/>
""" + _reply("200 OK", extra="Expires: 120") + """  <label id="end"/>
</scenario>
"""

# pyVoIP reads responses a moment late, so a retransmitted 200 OK can draw a second ACK:
# the scenarios that answer accept one more ACK before going on.
# A proxy in front (Kamailio) record-routes: the 200 OK carries its Record-Route back (sipp drops
# the line when there is none).
ANSWER = _reply("180 Ringing") + _reply("200 OK", SDP, "[last_Record-Route:]\n" + SDP_HEADER, retrans=True) + """  <recv request="ACK"/>
"""

WAIT_FOR_BYE = """  <recv request="BYE"/>
""" + _reply("200 OK")


def answers_and_presses(pcap: Path) -> str:
    """Answers, presses the key recorded in `pcap` half a second later, waits for our BYE."""
    return (_open("answer and press a key") + ANSWER
            + f"""  <recv request="ACK" timeout="500" ontimeout="press"/>
  <label id="press"/>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
""" + WAIT_FOR_BYE + CLOSE)


def busy() -> str:
    return _open("busy") + _reply("486 Busy Here") + """  <recv request="ACK"/>
""" + CLOSE


def no_answer() -> str:
    """Rings until we CANCEL: 200 to the CANCEL, 487 to the INVITE (CSeq kept from the INVITE)."""
    return (_open("no answer", "invite_cseq") + _reply("180 Ringing") + """  <recv request="CANCEL"/>
""" + _reply("200 OK") + _reply("487 Request Terminated").replace(
        "[last_CSeq:]", "CSeq:[$invite_cseq]") + """  <recv request="ACK"/>
""" + CLOSE)


def hangs_up_early() -> str:
    """Answers, then hangs up before pressing anything."""
    return (_open("hang up early", "caller", "callee", "caller_contact") + ANSWER + """  <recv request="ACK" timeout="300" ontimeout="hang_up"/>
  <label id="hang_up"/>
  <send><![CDATA[

BYE [$caller_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$callee];tag=[pid]SIPpTag01[call_number]
To:[$caller]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
""" + CLOSE)


def goes_silent() -> str:
    """Answers, never presses a key, and never answers our BYE."""
    return _open("answer and go silent") + ANSWER + """  <recv request="ACK" timeout="300" ontimeout="silent"/>
  <label id="silent"/>
  <recv request="BYE"/>
""" + CLOSE
