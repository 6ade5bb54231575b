"""SIP text for the dialer's client: the parts of a message pyVoIP 1.6's parser loses (header
case, repeated and compact headers, Proxy-Authenticate, unknown status codes), the digest answer
to a 401 or 407 challenge (RFC 2617 / 7616), and the few request lines we build by copying.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from callcenter.outbound.dial_reasons import DialFailure, Reason

COMPACT = {"i": "call-id", "v": "via", "f": "from", "t": "to", "m": "contact", "l": "content-length",
           "c": "content-type"}
CANONICAL = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID"}
_PARAM = re.compile(r'([\w-]+)\s*=\s*("([^"]*)"|[^\s,]+)')
_URI_HOST = re.compile(r"sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>]+)(?::(\d+))?")
DIGESTS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True)
class Packet:
    """The parts of a SIP message pyVoIP's parser loses: header case, repeats, compact names."""

    first: str
    headers: list[tuple[str, str]]
    raw: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Packet:
        head = raw.split(b"\r\n\r\n", 1)[0].decode("utf8", "replace").split("\r\n")
        headers: list[tuple[str, str]] = []
        for line in head[1:]:
            if line[:1] in (" ", "\t") and headers:  # a folded line continues the last header
                headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
            elif ":" in line:
                name, value = line.split(":", 1)
                name = name.strip().lower()
                headers.append((COMPACT.get(name, name), value.strip()))
        return cls(head[0], headers, raw)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def get(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    @property
    def status(self) -> int | None:
        parts = self.first.split(" ", 2)
        return int(parts[1]) if self.first.startswith("SIP/2.0 ") and parts[1].isdigit() else None

    @property
    def method(self) -> str:
        return "" if self.status is not None else self.first.split(" ", 1)[0]

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.get("cseq").partition(" ")
        return int(number or 0), method.strip()

    def to_tag(self) -> str:
        value = self.get("to")
        match = re.search(r";\s*tag=([^;\s]+)", value.rsplit(">", 1)[-1])
        return match.group(1) if match else ""


@dataclass(frozen=True)
class Challenge:
    header: str  # the header the answer goes in: Authorization or Proxy-Authorization
    params: dict[str, str]

    @classmethod
    def of(cls, packet: Packet) -> Challenge | None:
        name = {401: "www-authenticate", 407: "proxy-authenticate"}.get(packet.status or 0)
        value = packet.get(name) if name else ""
        if not value.lower().startswith("digest"):
            return None
        params = {m.group(1).lower(): m.group(3) if m.group(3) is not None else m.group(2)
                  for m in _PARAM.finditer(value[6:])}
        return cls("Authorization" if packet.status == 401 else "Proxy-Authorization", params)

    def answer(self, method: str, uri: str, username: str, password: str, body: bytes = b"",
               cnonce: str | None = None, nc: int = 1) -> str:
        """The header line answering this challenge (RFC 2617 / 7616 digest)."""
        algorithm = self.params.get("algorithm", "MD5")
        hash_of = DIGESTS.get(algorithm.upper().removesuffix("-SESS"))
        if hash_of is None:
            raise DialFailure(Reason.AUTH_FAILED, detail=f"unsupported digest algorithm {algorithm}")

        def h(text: str | bytes) -> str:
            return hash_of(text if isinstance(text, bytes) else text.encode("utf8")).hexdigest()

        realm, nonce = self.params.get("realm", ""), self.params.get("nonce", "")
        cnonce = cnonce or secrets.token_hex(8)
        ha1 = h(f"{username}:{realm}:{password}")
        if algorithm.upper().endswith("-SESS"):
            ha1 = h(f"{ha1}:{nonce}:{cnonce}")
        offered = [q.strip() for q in self.params.get("qop", "").split(",") if q.strip()]
        qop = "auth" if "auth" in offered or not offered else "auth-int" if "auth-int" in offered else ""
        if offered and not qop:
            raise DialFailure(Reason.AUTH_FAILED, detail=f"unsupported qop {self.params['qop']}")
        ha2 = h(f"{method}:{uri}:{h(body)}" if qop == "auth-int" else f"{method}:{uri}")
        fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if offered:
            count = f"{nc:08x}"
            response = h(f"{ha1}:{nonce}:{count}:{cnonce}:{qop}:{ha2}")
            fields += [f'response="{response}"', f"algorithm={algorithm}", f"qop={qop}",
                       f"nc={count}", f'cnonce="{cnonce}"']
        else:
            fields += [f'response="{h(f"{ha1}:{nonce}:{ha2}")}"', f"algorithm={algorithm}"]
        if "opaque" in self.params:
            fields.append(f'opaque="{self.params["opaque"]}"')
        return f"{self.header}: Digest {','.join(fields)}"


def uri_address(uri: str, default_port: int = 5060) -> tuple[str, int]:
    match = _URI_HOST.search(uri)
    if match is None:
        raise ValueError(f"not a SIP URI: {uri}")
    return match.group(1).strip("[]"), int(match.group(2) or default_port)


def message(lines: list[str], body: str = "") -> str:
    return "\r\n".join([*lines, f"Content-Length: {len(body.encode('utf8'))}", "", body])


def replace_method(request: str, method: str) -> str:
    """The request line of `request` (an INVITE we sent) for another method, same Request-URI."""
    return method + " " + request.split("\r\n", 1)[0].split(" ", 1)[1]


def copy_headers(request: str, *names: str) -> list[str]:
    """Header lines of a request we sent, in its order (CANCEL and failure ACKs repeat them)."""
    packet = Packet.parse(request.encode("utf8"))
    return [f"{CANONICAL[name]}: {value}" for name, value in packet.headers if name in names]
