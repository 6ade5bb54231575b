"""Alembic: upgrade creates the schema, a second upgrade is a no-op, models match migrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from callcenter.core import migrate
from callcenter.core.db import make_engine
from callcenter.core.models import Base
from tests.services import PostgresServer


def _schema(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    inspector = inspect(engine)
    schema = {t: sorted(c["name"] for c in inspector.get_columns(t)) for t in inspector.get_table_names()}
    engine.dispose()
    return schema


def _assert_upgrade_is_idempotent(url: str) -> None:
    migrate.upgrade(url)
    first = _schema(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    migrate.upgrade(url)
    assert _schema(url) == first
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {"calls", "patients", "raw_webhooks", "dial_tasks", "audit_log"} <= set(first)


def test_sqlite_empty_file(tmp_path: Path) -> None:
    _assert_upgrade_is_idempotent(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_postgresql_empty_database(postgres_server: PostgresServer) -> None:
    _assert_upgrade_is_idempotent(postgres_server.create_database("migrate_check"))


def test_cli_db_upgrade_twice(tmp_path: Path) -> None:
    env = {"CALLCENTER_INSTANCE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "callcenter.cli", "db", "upgrade"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "database at revision" in result.stdout
    assert (tmp_path / "callcenter.core.db").is_file()
