"""Recorded PBX sequences (tests/payloads/<provider>/*.json), signed the way each provider signs.

Each scenario file holds the requests of one call, in the order the PBX sent them, and the call
row they must produce. Signatures are computed here with the test secrets below, exactly as the
provider computes them (the adapters' own helpers are not used to sign, so a bug there shows).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from nacl.signing import SigningKey

from tests.conftest import PAYLOADS
from webhooks import InboundRequest

# The reference's self-made Ed25519 vector (seed 00..1f), never a real Telnyx key.
TELNYX_SEED = bytes(range(32))
SECRETS: dict[str, Any] = {
    "ZADARMA_SECRET": "test_secret",
    "MANGO_API_KEY": "test-key",
    "MANGO_SALT": "test-salt",
    "YEASTAR_SECRET": "0123456789abcdef0123456789abcdef",
    "TELNYX_PUBLIC_KEY": base64.b64encode(bytes(SigningKey(TELNYX_SEED).verify_key)).decode(),
    "3CX_SECRET": "3cx-test-key",
}
# What the adapters read besides the secrets (as app.config has them).
ADAPTER_SETTINGS: dict[str, Any] = {
    **SECRETS, "REGION": "RU", "TIMEZONE": "Europe/Moscow", "REPLAY_WINDOW": 300,
    "MANGO_CLOCK_SHIFT": 0,
}
ZADARMA_SIGNED = {
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
PROVIDERS = ("zadarma", "mango", "yeastar", "telnyx", "3cx")


@dataclass(frozen=True)
class Signed:
    """One HTTP request as the PBX would send it."""

    provider: str
    subpath: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    def inbound(self) -> InboundRequest:
        return InboundRequest(provider=self.provider, subpath=self.subpath, method=self.method,
                              url=f"https://clinic.example/webhooks/{self.provider}",
                              headers=self.headers, body=self.body)

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}" + (f"/{self.subpath}" if self.subpath else "")


def scenario(provider: str, name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / provider / f"{name}.json").read_text(encoding="utf-8"))


def scenarios(provider: str) -> list[str]:
    return sorted(p.stem for p in (PAYLOADS / provider).glob("*.json"))


def zadarma_signature(form: dict[str, str], secret: str) -> str:
    names = ZADARMA_SIGNED.get(form["event"], ("caller_id", "called_did", "call_start"))
    text = "".join(form.get(n, "") for n in names)
    hex_digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hex_digest.encode()).decode()


def sign(provider: str, step: dict[str, Any], now: datetime) -> Signed:
    """Build the request of one recorded step; `now` stamps Telnyx's signed time."""
    subpath = step.get("subpath", "")
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    if provider == "zadarma":
        form = dict(parse_qsl(step["body"], keep_blank_values=True))
        headers = {**form_type, "Signature": zadarma_signature(form, SECRETS["ZADARMA_SECRET"])}
        return Signed(provider, subpath, headers, step["body"].encode())
    if provider == "mango":
        text = json.dumps(step["json"], ensure_ascii=False, separators=(",", ":"))
        key, salt = SECRETS["MANGO_API_KEY"], SECRETS["MANGO_SALT"]
        digest = hashlib.sha256((key + text + salt).encode()).hexdigest()
        body = urlencode({"vpbx_api_key": key, "sign": digest, "json": text}).encode()
        return Signed(provider, subpath, form_type, body)
    if provider in ("yeastar", "telnyx"):
        body = json.dumps(step["body"], separators=(",", ":")).encode()
        return Signed(provider, subpath, body_signature(provider, body, now), body)
    if provider == "3cx":
        return Signed(provider, subpath, {**form_type, "X-Api-Key": SECRETS["3CX_SECRET"]},
                      step["body"].encode())
    raise ValueError(provider)


def body_signature(provider: str, body: bytes, now: datetime) -> dict[str, str]:
    """Headers proving a raw JSON body, for the providers that sign the body itself."""
    if provider == "yeastar":
        mac = hmac.new(SECRETS["YEASTAR_SECRET"].encode(), body, hashlib.sha256).digest()
        return {"Content-Type": "application/json", "X-Signature": base64.b64encode(mac).decode()}
    stamp = str(int(now.timestamp()))
    signature = SigningKey(TELNYX_SEED).sign(stamp.encode() + b"|" + body).signature
    return {"Content-Type": "application/json", "telnyx-timestamp": stamp,
            "telnyx-signature-ed25519": base64.b64encode(signature).decode()}


def signed_requests(provider: str, name: str, now: datetime) -> list[Signed]:
    return [sign(provider, step, now) for step in scenario(provider, name)["requests"]]

