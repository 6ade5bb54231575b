"""The SIP text the dialer's client reads and writes: header forms pyVoIP's parser loses, and the
digest answer to a challenge, checked against RFC 2617's own worked example."""

from __future__ import annotations

import pytest

from callcenter.outbound.dial_reasons import DialFailure, Reason
from callcenter.outbound.dialers.sip_message import Challenge, Packet, uri_address

RESPONSE_407 = (
    b"SIP/2.0 407 Proxy Authentication Required\r\n"
    b"v: SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bKa;rport=5070\r\n"
    b"f: <sip:201@pbx.example>;tag=ours\r\n"
    b"t: <sip:+79001234567@pbx.example>;tag=theirs.1\r\n"
    b"i: abc@10.0.0.2\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Record-Route: <sip:10.0.0.1;lr>, <sip:10.0.0.9:5080;lr>\r\n"
    b"Record-Route: <sip:edge.example;lr>\r\n"
    b"proxy-authenticate: Digest realm=\"pbx.example\", nonce=\"n0nce\",\r\n"
    b" opaque=\"op\", qop=\"auth,auth-int\", algorithm=MD5\r\n"
    b"Content-Length: 0\r\n\r\n")


def test_compact_repeated_and_folded_headers_are_read() -> None:
    packet = Packet.parse(RESPONSE_407)
    assert (packet.status, packet.method, packet.cseq) == (407, "", (1, "INVITE"))
    assert packet.get("call-id") == "abc@10.0.0.2" and packet.to_tag() == "theirs.1"
    assert len(packet.all("record-route")) == 2
    challenge = Challenge.of(packet)
    assert challenge is not None and challenge.header == "Proxy-Authorization"
    assert challenge.params == {"realm": "pbx.example", "nonce": "n0nce", "opaque": "op",
                                "qop": "auth,auth-int", "algorithm": "MD5"}
    assert uri_address("sip:10.0.0.9:5080;lr") == ("10.0.0.9", 5080)
    assert uri_address("sip:patient@edge.example;transport=udp") == ("edge.example", 5060)


def test_the_digest_matches_rfc_2617s_example() -> None:
    challenge = Challenge("Authorization", {"realm": "testrealm@host.com", "qop": "auth,auth-int",
                                            "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                            "opaque": "5ccc069c403ebaf9f0171e9517f40e41"})
    line = challenge.answer("GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert line.startswith("Authorization: Digest ")
    assert 'response="6629fae49393a05397450978507c4ef1"' in line
    for part in ('uri="/dir/index.html"', "qop=auth", "nc=00000001", 'cnonce="0a4f113b"',
                 'opaque="5ccc069c403ebaf9f0171e9517f40e41"'):
        assert part in line


def test_without_qop_the_response_is_rfc_2069s() -> None:
    challenge = Challenge("Proxy-Authorization", {"realm": "r", "nonce": "n"})
    line = challenge.answer("INVITE", "sip:+79001234567@pbx.example", "201", "pw")
    # md5(md5("201:r:pw") + ":n:" + md5("INVITE:sip:+79001234567@pbx.example"))
    assert 'response="6c1296b8c932adb1362d07c2dd1f5fc9"' in line
    assert "qop=" not in line and "cnonce" not in line and line.startswith("Proxy-Authorization: Digest ")


def test_an_algorithm_we_cannot_answer_is_a_reason_not_a_crash() -> None:
    with pytest.raises(DialFailure) as failure:
        Challenge("Authorization", {"realm": "r", "nonce": "n", "algorithm": "SHA-512-256"}).answer(
            "REGISTER", "sip:pbx", "201", "pw")
    assert failure.value.reason is Reason.AUTH_FAILED
