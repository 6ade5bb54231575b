"""Our own webhook signature: hex HMAC-SHA256 over "<unix timestamp>.<raw body>", with a replay window.

Used by every source we define the format for (the generic JSON webhook, Asterisk HTTP posts).
The timestamp is part of the signed text, so an old request cannot be replayed with a fresh stamp.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from webhooks.events import InboundRequest, SignatureError

TIMESTAMP_HEADER = "X-Callcenter-Timestamp"
SIGNATURE_HEADER = "X-Callcenter-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex signature a sender puts in X-Callcenter-Signature."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_signed(request: InboundRequest, secret: str, window: int, now: datetime) -> None:
    """Raise SignatureError unless the request is signed with `secret` within `window` seconds."""
    if not secret:
        raise SignatureError("no secret configured for this provider; unsigned requests are refused")
    stamp = (request.header(TIMESTAMP_HEADER) or "").strip()
    signature = (request.header(SIGNATURE_HEADER) or "").strip().lower()
    if not stamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not stamp.isascii() or not stamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds")
    timestamp = int(stamp)
    skew = abs(now.timestamp() - timestamp)
    if skew > window:
        raise SignatureError(f"timestamp outside the {window} s replay window ({int(skew)} s off)")
    expected = sign(secret, timestamp, request.body)
    given = signature.removeprefix("sha256=").encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode("ascii"), given):
        raise SignatureError("signature does not match")
