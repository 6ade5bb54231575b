"""Which settings sign each provider's webhooks, and which providers are set up.

Every adapter refuses requests (403) while its settings are empty: there is no unsigned mode.
The one exception is Zadarma's URL check (GET ?zd_echo=...), which Zadarma sends unsigned and
which only echoes the value back, touching no data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SIGNING_SETTINGS: dict[str, tuple[str, ...]] = {
    "zadarma": ("ZADARMA_SECRET",),
    "mango": ("MANGO_API_KEY", "MANGO_SALT"),
    "yeastar": ("YEASTAR_SECRET",),
    "telnyx": ("TELNYX_PUBLIC_KEY",),
    "3cx": ("3CX_SECRET",),
    "twilio": ("TWILIO_AUTH_TOKEN",),
    "asterisk": ("ASTERISK_SECRET",),
    "generic": ("GENERIC_SECRET",),
}


def provider_status(config: Mapping[str, Any]) -> dict[str, bool]:
    """Provider name → whether all its signing settings are set (else it refuses every webhook)."""
    return {name: all(config.get(key) for key in keys) for name, keys in SIGNING_SETTINGS.items()}
