"""A call's recording, fetched from the provider that keeps it and streamed to the desk.

The browser never gets the provider's address or credentials: it asks the service, which checks
the staff member's clinic, audits the play and fetches the file with the provider's own
credentials. A Range request is passed on, so the audio element can seek and start playing before
the whole file has come.

Credentials go only to their own provider's host: a Twilio call's recording is fetched with the
account SID and auth token as basic auth when its URL is on Twilio's API (or the configured
TWILIO_API_BASE); any other http(s) link (Telnyx's and the generic webhook's, which are
pre-signed or public to the PBX's network) is fetched without credentials. Redirects are followed
(Twilio answers with its media host), and `requests` drops the Authorization header when a
redirect leaves the host. Links that are not http(s) (an Asterisk file path, Mango's recording
id) are not playable through the service.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError
from callcenter.core.models import Call

TWILIO_API = "https://api.twilio.com"
CHUNK = 64 * 1024
TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
# What the browser needs of the provider's answer; the rest (cookies, its cache rules) stays behind.
PASSED_HEADERS = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges")
RANGE_MOST = 100


class RecordingUnavailable(FieldError):
    """No recording to play, or the provider would not give it: 404 or 502 naming `recording`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__("recording", message, status)


@dataclass(frozen=True)
class Source:
    url: str
    auth: tuple[str, str] | None


@dataclass
class Playback:
    status: int
    headers: dict[str, str]
    body: Iterator[bytes]
    close: Any


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.netloc or "").lower()


def source(call: Call, config: Mapping[str, Any]) -> Source:
    """Where the call's recording is fetched from, and with which credentials."""
    url = call.recording_url
    if not url:
        raise RecordingUnavailable(N_("this call has no recording"), 404)
    if _origin(url)[0] not in ("http", "https"):
        raise RecordingUnavailable(N_("the PBX keeps this recording itself: play it there"), 404)
    if call.provider == "twilio" and config.get("TWILIO_ACCOUNT_SID") and \
            _origin(url) == _origin(config.get("TWILIO_API_BASE") or TWILIO_API):
        return Source(url, (config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"]))
    return Source(url, None)


def clean_range(value: str | None) -> str | None:
    """The browser's Range header if it is a plain byte range (passed on), else None (whole file)."""
    if not value or len(value) > RANGE_MOST or not value.startswith("bytes="):
        return None
    spec = value[len("bytes="):]
    allowed = set("0123456789-, ")
    return value if spec and set(spec) <= allowed and "-" in spec else None


def open_playback(where: Source, byte_range: str | None) -> Playback:
    """Start fetching: the provider's status and headers, and the body as it arrives."""
    headers = {"Accept": "audio/*", "Accept-Encoding": "identity"}  # Content-Length stays true
    if byte_range:
        headers["Range"] = byte_range
    try:
        answer = requests.get(where.url, auth=where.auth, headers=headers, stream=True,
                              timeout=TIMEOUT, allow_redirects=True)
    except requests.RequestException:
        raise RecordingUnavailable(N_("the recording could not be fetched from the provider"),
                                   502) from None
    if answer.status_code not in (200, 206):
        answer.close()
        if answer.status_code == 416:
            raise RecordingUnavailable(N_("the requested part is past the end of the recording"), 416)
        raise RecordingUnavailable(N_("the provider refused the recording"), 502)
    passed = {name: answer.headers[name] for name in PASSED_HEADERS if name in answer.headers}
    passed.setdefault("Content-Type", "audio/wav")
    return Playback(answer.status_code, passed, answer.iter_content(CHUNK), answer.close)
