"""Alembic: upgrade creates the schema, a second upgrade is a no-op, models match migrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Index, PrimaryKeyConstraint, UniqueConstraint, inspect

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


# One-column indexes kept although a longer one starts with the same column, and why.
COVERED_KEPT = {
    # (clinic_id, id) on SQLite, where every index ends in the rowid: a clinic's patients in id
    # order (lists, matches) without sorting them all.
    "ix_patients_clinic_id",
}


def _whole(index: Index) -> bool:
    """Not a partial index (one over some rows only)."""
    return all(index.dialect_options[name].get("where") is None for name in ("postgresql", "sqlite"))


def test_no_index_is_covered_by_a_longer_one() -> None:
    """Every row written updates every index of its table: a one-column index whose lookups a
    longer index starting with that column answers as well is only a cost (migration 0039)."""
    covered = []
    for table in Base.metadata.sorted_tables:
        keys = [tuple(c.name for c in index.columns) for index in table.indexes
                if _whole(index)]
        keys += [tuple(c.name for c in constraint.columns) for constraint in table.constraints
                 if isinstance(constraint, (UniqueConstraint, PrimaryKeyConstraint))]
        for index in table.indexes:
            columns = tuple(c.name for c in index.columns)
            if index.unique or not _whole(index):
                continue
            if any(len(key) > len(columns) and key[:len(columns)] == columns for key in keys):
                covered.append(index.name)
    assert sorted(set(covered) - COVERED_KEPT) == []
