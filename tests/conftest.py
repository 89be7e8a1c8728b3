"""Shared fixtures. Every database test runs on SQLite and, when it answers, on PostgreSQL.

PostgreSQL is used when FAIRTRAIN_TEST_POSTGRES_URL is set (an admin URL, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) or when 127.0.0.1:5432 accepts connections.
Each test run creates its own database there, migrates it once, empties it before every test, and drops it
at the end. SQLite tests copy a migrated template file, so each test starts from the real schema.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

# Every table must be in Base.metadata, which the PostgreSQL clean-up empties.
import fairtrain.catalog.models
import fairtrain.gateway.models
import fairtrain.ledger.models
import fairtrain.licensing.billing_models
import fairtrain.licensing.models
import fairtrain.rights.models
import fairtrain.stamp.models  # noqa: F401
from fairtrain.app import create_app
from fairtrain.cli import app as cli_app
from fairtrain.config import Settings
from fairtrain.db.base import Base
from fairtrain.db.engine import make_engine, make_sessionmaker
from fairtrain.db.migrate import upgrade

TEST_SECRET_KEY = "test-secret-key-" + "x" * 40
_DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_admin_url() -> str | None:
    if url := os.environ.get("FAIRTRAIN_TEST_POSTGRES_URL"):
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return _DEFAULT_POSTGRES
    except OSError:
        return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "fairtrain.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    # Fold the WAL into the main file so a plain copy carries the whole schema.
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """URL of this run's own migrated PostgreSQL database, or None without a server."""
    admin_url = _postgres_admin_url()
    if admin_url is None:
        yield None
        return
    name = f"fairtrain_test_{secrets.token_hex(6)}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_url: str | None
) -> str:
    if request.param == "sqlite":
        path = tmp_path / "fairtrain.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    if postgres_url is None:
        pytest.skip(
            "PostgreSQL is not reachable (set FAIRTRAIN_TEST_POSTGRES_URL or run it on 127.0.0.1:5432)"
        )
    _empty_postgres(postgres_url)
    return postgres_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,  # type: ignore[arg-type]
        base_url="http://testserver",
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def db(db_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for service tests; committed state is visible to the app under test."""
    with db_factory() as session:
        yield session


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """CLI environment on this test's database, with the creator @mira (legal name Mira Jensen)."""
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAIRTRAIN_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli_app, ["creators", "create", "mira", "--legal-name", "Mira Jensen"])
    assert result.exit_code == 0, result.output
    return tmp_path
