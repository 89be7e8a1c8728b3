"""Alembic, driven from code: migrations are the only source of the schema."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = [
    "DatabaseNotReady",
    "alembic_config",
    "current_revision",
    "head_revision",
    "require_current",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseNotReady(RuntimeError):
    """The database has no schema yet, or an older one."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (all by default)."""
    command.upgrade(alembic_config(engine), revision)


@cache  # the scripts ship with the package and do not change while it runs
def head_revision() -> str | None:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current(engine: Engine) -> None:
    """Raise ``DatabaseNotReady`` unless the schema is at the latest migration."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise DatabaseNotReady("the database has no schema yet; run `fairtrain init`")
    if current != head:
        raise DatabaseNotReady(
            f"the database schema is at {current}, this version needs {head}; run `fairtrain db upgrade`"
        )
