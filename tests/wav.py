"""A small real WAV file (a sine tone) for recording tests: Chromium decodes it like a call's."""

from __future__ import annotations

import io
import math
import struct
import wave

RATE = 8000  # telephone audio


def tone_wav(seconds: float = 1.0, hertz: float = 440.0) -> bytes:
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hertz * i / RATE)))
                      for i in range(int(RATE * seconds)))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(frames)
    return out.getvalue()
