"""Child processes that end with their parent: what `callcenter serve` starts, and RQ's forks.

Stopping is in order and bounded: SIGTERM to the child, a grace period, then SIGKILL to its whole
process group (a worker's group also holds RQ's work horse and scheduler). If the parent itself
dies without cleaning up (SIGKILL, OOM killer), Linux's parent-death signal (prctl
PR_SET_PDEATHSIG) sends each child SIGTERM, so nothing lingers; other systems lack it and rely
on the orderly stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None
# The pid that was forking, read in the child: getppid() alone cannot tell whether the parent
# died between fork() and prctl() (the child would then already belong to init or a subreaper).
_forking_pid = 0


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """In a freshly forked child: receive `sig` when the parent ends; exit now if it already has.

    Linux sends the signal when the parent *thread* that forked ends, so fork from the main thread.
    """
    if _libc is None:
        return
    if _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return  # not permitted here (a seccomp profile): the orderly stop still applies
    if os.getppid() != parent_pid:
        os._exit(1)


def _remember_forking_pid() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def forks_die_with_this_process() -> None:
    """Every later os.fork() of this process (RQ's work horse and scheduler) ends with it."""
    os.register_at_fork(before=_remember_forking_pid,
                        after_in_child=lambda: die_with_parent(_forking_pid))


@dataclass
class Children:
    """What one parent started, stopped in reverse order of starting."""

    grace_seconds: float = 10.0
    started: list[tuple[str, subprocess.Popen[bytes], Callable[[], None] | None]] = field(
        default_factory=list)

    def spawn(self, name: str, argv: Sequence[str], cleanup: Callable[[], None] | None = None,
              **popen: Any) -> subprocess.Popen[bytes]:
        """Start `argv`; `cleanup` runs once it has stopped."""
        # Its own process group keeps Ctrl+C (sent to the terminal's foreground group) away from
        # the child: the parent stops children in order, Redis last, so workers never see it go.
        proc = subprocess.Popen(list(argv), process_group=0,
                                preexec_fn=partial(die_with_parent, os.getpid()), **popen)
        self.started.append((name, proc, cleanup))
        log.info("started %s (pid %d)", name, proc.pid)
        return proc

    def stop_all(self) -> None:
        while self.started:
            name, proc, cleanup = self.started.pop()
            _stop(name, proc, self.grace_seconds)
            if cleanup is not None:
                cleanup()


def _stop(name: str, proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            log.warning("%s (pid %d) did not stop within %g s: killing it", name, proc.pid, grace)
    # Also whatever the child forked and left behind. Its group id is its pid, which cannot be
    # reused by another process until wait() reaps it, so this never hits an unrelated group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def supervised(grace_seconds: float = 10.0) -> Iterator[Children]:
    """Children that are stopped however the block ends: Ctrl+C, an error, or SIGTERM (a service
    manager) and SIGHUP (the terminal closed), which raise KeyboardInterrupt here like Ctrl+C.
    While stopping, further signals are ignored so a second Ctrl+C cannot cut the cleanup short."""
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in stops}
    for sig in stops:
        signal.signal(sig, signal.default_int_handler)
    children = Children(grace_seconds)
    try:
        yield children
    finally:
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)
        children.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
