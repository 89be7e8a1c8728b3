"""What every ``fairtrain`` command shares: the consoles, settings, the database, and one error style.

The main CLI and the commands packages define for themselves (licensing, ledger, billing) all use these,
so a refused command looks the same everywhere: one ``error:`` line on standard error and exit code 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fairtrain.config import InsecureSettings, Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.db.migrate import DatabaseNotReady, require_current
from fairtrain.errors import FairtrainError

__all__ = ["SettingsError", "database", "err", "handles_errors", "load_settings", "open_engine", "out"]

P = ParamSpec("P")
R = TypeVar("R")

# Piped output (scripts, `make run` logs) gets room enough that tables are not cut.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


class SettingsError(Exception):
    pass


def load_settings() -> Settings:
    """Settings from the environment; an unsafe or invalid one is one clear line, naming the variable."""
    try:
        return Settings()
    except InsecureSettings as exc:
        raise SettingsError(str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "FAIRTRAIN_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"{name}: {first['msg']}") from None


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Domain and setup errors print one clear line and exit 1; nothing else is swallowed."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (FairtrainError, DatabaseNotReady, SettingsError) as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def open_engine(settings: Settings, *, migrated: bool = True) -> Engine:
    url = make_url(settings.resolved_database_url)
    if migrated and url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Opening would create an empty file; say what to do instead.
        raise DatabaseNotReady(f"no database at {url.database}; run `fairtrain init`")
    engine = make_engine(settings.resolved_database_url)
    if migrated:
        require_current(engine)
    return engine


@contextmanager
def database() -> Iterator[tuple[Settings, Session]]:
    """The settings and a session in one transaction, committed when the block ends without an error."""
    settings = load_settings()
    engine = open_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield settings, session
    finally:
        engine.dispose()
