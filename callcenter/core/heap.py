"""The web process's heap after start-up, kept out of the cyclic garbage collector's way.

Start-up leaves some 150,000 long-lived objects (modules, SQLAlchemy's mappers, catalogs, phone
number metadata). Every full pass of the collector walked them all: 110–230 ms measured per pass,
during which no thread of the process runs — under full call flows a web process made such a pass
every few seconds, and the desk streams' cards waited through it (the tail of the screen pop).
Frozen, they are left out of every pass; what is made later is collected as usual.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then leave everything still alive out of later collections.

    Only for a serving process, once its app is built: a process that builds many apps (the
    tests) would keep frozen garbage for good.
    """
    gc.collect()
    gc.freeze()
