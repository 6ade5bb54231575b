"""Schema migrations (Alembic) driven from code: `callcenter db upgrade`.

Alembic is imported inside each function: with Mako and Pygments it takes a quarter of a second
to load, which every web, worker and CLI process would pay at start, and only the few that
migrate or check the revision use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.core.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema; at head already, it changes nothing."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def make_revision(url: str, message: str) -> None:
    """Autogenerate a migration from the models (developers only)."""
    from alembic import command

    command.revision(alembic_config(url), message=message, autogenerate=True)
