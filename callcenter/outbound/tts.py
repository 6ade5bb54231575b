"""Prompt audio for the SIP dialer: espeak-ng speech, converted by sox to pyVoIP's format.

pyVoIP takes raw 8 kHz, unsigned 8-bit, mono PCM and encodes it to G.711 itself. Renders are
cached on disk by voice and text, so a campaign synthesises each distinct message once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

VOICES = {"ru": "ru", "en": "en-us", "zh": "cmn"}
SAMPLE_RATE = 8000


class TTSUnavailable(RuntimeError):
    """espeak-ng or sox is not installed."""


def render(text: str, language: str, cache_dir: Path) -> bytes:
    """The spoken text as pyVoIP audio bytes (160 bytes = 20 ms)."""
    voice = VOICES.get(language, VOICES["en"])
    key = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:32]
    cached = cache_dir / f"{key}.u8"
    if cached.is_file():
        return cached.read_bytes()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise TTSUnavailable(f"{tool} is not installed (apt-get install espeak-ng sox)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as work:
        speech = Path(work) / "speech.wav"
        narrow = Path(work) / "narrow.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdin", "-w", str(speech)],
                       input=text.encode("utf-8"), check=True, capture_output=True, timeout=60)
        subprocess.run(["sox", str(speech), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "8",
                        "-e", "unsigned-integer", str(narrow)], check=True, capture_output=True,
                       timeout=60)
        with wave.open(str(narrow), "rb") as audio:
            frames = audio.readframes(audio.getnframes())
        partial = Path(work) / "audio.u8"
        partial.write_bytes(frames)
        # Atomic, and each worker renders in its own folder: racing workers never clash.
        partial.replace(cached)
    return frames
