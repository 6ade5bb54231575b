"""Write a pcap of RFC 2833 telephone-event RTP packets for one key, for sipp's play_pcap_audio.

sipp replays the UDP payloads of a capture toward the call's media address; this builds that
capture (Ethernet / IPv4 / UDP / RTP, payload type 101) so no recorded file is needed.
"""

from __future__ import annotations

import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PAYLOAD_TYPE = 101


def _rtp(seq: int, timestamp: int, marker: bool, event: int, end: bool, duration: int) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | PAYLOAD_TYPE, seq, timestamp, 0x5EED)
    return header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)


def _frame(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 40000, 40000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    ethernet = b"\x00" * 12 + b"\x08\x00"
    return ethernet + ip


def write(path: Path, key: str) -> Path:
    """Six 20 ms packets of one key press; the first carries the marker, the last three the end bit."""
    event = EVENTS[key]
    packets = []
    for index in range(6):
        end = index >= 3
        duration = min(index + 1, 4) * 160
        packets.append(_rtp(1000 + index, 8000, index == 0, event, end, duration))
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for index, payload in enumerate(packets):
        frame = _frame(payload)
        micros = index * 20000
        data += struct.pack("<IIII", 1_700_000_000 + micros // 1_000_000, micros % 1_000_000,
                            len(frame), len(frame)) + frame
    path.write_bytes(data)
    return path
