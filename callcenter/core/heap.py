"""The serving processes' heap: how glibc hands memory back, and the start-up objects kept out of
the cyclic garbage collector's way.

Start-up leaves some 150,000 long-lived objects (modules, SQLAlchemy's mappers, catalogs, phone
number metadata). Every full pass of the collector walked them all: 110–230 ms measured per pass,
during which no thread of the process runs — under full call flows a web process made such a pass
every few seconds, and the desk streams' cards waited through it (the tail of the screen pop).
Frozen, they are left out of every pass; what is made later is collected as usual.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform

# The environment variable glibc reads at start-up → (its mallopt parameter in malloc.h, our value).
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": (-3, 128 * 1024), "MALLOC_ARENA_MAX": (-8, 2)}


def return_freed_memory(enabled: bool = True) -> bool:
    """Make glibc give freed blocks back to the system instead of keeping them for good.

    Two defaults grew a web process by some 90 MB under an ordinary mix of sign-ins, reports and
    webhooks (measured: 190 MB peak against 136 MB tuned, docs/performance.md). glibc's mmap
    threshold is dynamic: after the first 19 MiB Argon2 buffer of a sign-in is freed, blocks that
    large come from the heap, where one live block above them pins the whole lot. And every
    request thread can get an arena of its own (up to eight per core), each keeping what it
    freed. Fixing the threshold at its documented 128 KiB default (which also stops it moving)
    and capping arenas at two returns that memory; the cost is a system call per large block.

    Applies to this process and, through the environment, to every process it starts (worker,
    dialer). An operator's own MALLOC_* settings win; `enabled` False (CALLCENTER_RETURN_MEMORY=0)
    leaves glibc as it is. Returns whether anything was set: False too where the C library is
    not glibc.
    """
    if not enabled or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    for name, (parameter, value) in ALLOCATOR.items():
        chosen = os.environ.setdefault(name, str(value))
        if chosen.isdigit():  # an operator's unreadable setting: glibc ignores it, and so do we
            libc.mallopt(parameter, int(chosen))
    return True


def freeze_startup_objects() -> None:
    """Collect once, then leave everything still alive out of later collections.

    Only for a serving process, once its app is built: a process that builds many apps (the
    tests) would keep frozen garbage for good.
    """
    gc.collect()
    gc.freeze()
