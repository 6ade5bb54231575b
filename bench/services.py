"""A bench's own throw-away services: a private redis-server and a database, gone afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services import PostgresServer, RedisServer, postgres_bindir, redis_binary


@contextmanager
def private_services(bench: str, db: str) -> Iterator[tuple[str, str, Path]]:
    """(database URL, Redis URL, a temporary folder) for `db` "sqlite" or "postgresql"; a missing
    binary ends the bench with a one-line reason."""
    binary, _origin = redis_binary()
    if binary is None:
        raise SystemExit(f"bench {bench}: no redis-server binary")
    bindir = postgres_bindir() if db == "postgresql" else None
    if db == "postgresql" and bindir is None:
        raise SystemExit(f"bench {bench}: PostgreSQL binaries not found")
    redis = RedisServer(binary)
    redis.start()
    postgres = None
    try:
        with tempfile.TemporaryDirectory(prefix=f"cc-{bench}-") as tmp:
            folder = Path(tmp)
            if bindir is not None:
                postgres = PostgresServer(bindir)
                postgres.init()
                postgres.start()
                url = postgres.create_database(bench)
            else:
                url = f"sqlite:///{folder / 'bench.db'}"
            yield url, redis.url, folder
    finally:
        redis.cleanup()
        if postgres is not None:
            postgres.cleanup()
