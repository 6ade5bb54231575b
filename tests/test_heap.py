"""glibc hands the memory of a large freed block back to the system (callcenter.core.heap).

Each case runs in a Python process of its own: malloc's settings and the environment are per
process, and these must not leak into the other tests.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from callcenter.core.heap import ALLOCATOR

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

# A sign-in's shape: Argon2 takes a 19 MiB buffer and frees it, twice; the second time a small
# allocation made meanwhile lies above it. What the process keeps afterwards is the question.
PROBE = """
import json, os, sys
from callcenter.core.heap import ALLOCATOR, return_freed_memory

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

tuned = return_freed_memory(sys.argv[1] == "1")
first = bytearray(19 * 2**20)
del first
again = bytearray(19 * 2**20)
again[::4096] = b"x" * len(again[::4096])  # touched: resident
pinned = [bytearray(200) for _ in range(50)]
before = rss_mb()
del again
kept = rss_mb() - (before - 19)
print(json.dumps({"tuned": tuned, "kept_mb": kept,
                  "env": {k: os.environ.get(k) for k in ALLOCATOR}}))
"""


def _probe(enabled: bool, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ALLOCATOR}
    done = subprocess.run([sys.executable, "-c", PROBE, "1" if enabled else "0"], env={**clean, **env},
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def test_a_freed_large_block_goes_back_to_the_system() -> None:
    shipped = _probe(True)
    assert shipped["tuned"] is True
    assert shipped["kept_mb"] < 2, shipped
    # The worker and the dialer that serve starts read the same settings at their start.
    assert shipped["env"] == {name: str(value) for name, (_, value) in ALLOCATOR.items()}
    # The premise, on the same machine: with glibc's defaults the second buffer came from the
    # heap (the threshold rose to 19 MiB on the first free) and stays with the process.
    default = _probe(False)
    assert default["tuned"] is False
    assert default["kept_mb"] > 15, default
    assert default["env"] == {name: None for name in ALLOCATOR}


def test_an_operators_own_malloc_settings_win() -> None:
    found = _probe(True, MALLOC_ARENA_MAX="4", MALLOC_MMAP_THRESHOLD_="1048576")
    assert found["env"] == {"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "1048576"}
