from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, inspect, select, text

from fairtrain.accounts.models import LoginFailure
from fairtrain.db.base import Base, new_id
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.db.migrate import (
    DatabaseNotReady,
    alembic_config,
    current_revision,
    head_revision,
    require_current,
    upgrade,
)


def test_migrations_build_every_model_table(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_models_and_migrations_agree(engine: Engine) -> None:
    """A model change without a migration fails here: the schema comes from migrations only."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_round_trip(engine: Engine) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    with pytest.raises(DatabaseNotReady, match="fairtrain init"):
        require_current(engine)
    upgrade(engine)
    require_current(engine)


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'f.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    from fairtrain.accounts.models import ApiToken

    factory = make_sessionmaker(engine)
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(ApiToken(user_id="usr_missing", name="x", token_hash="0" * 64, hint="ftp_"))


def test_datetimes_come_back_as_aware_utc(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    at = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    with transaction(factory) as session:
        session.add(LoginFailure(email="a@example.com", ip="1.2.3.4", at=at))
    with factory() as session:
        stored = session.scalar(select(LoginFailure.at))
    assert stored == at
    assert stored is not None and stored.tzinfo == UTC
    with pytest.raises(Exception, match="naive datetime"), transaction(factory) as session:
        session.add(LoginFailure(email="a@example.com", ip="1.2.3.4", at=datetime(2026, 3, 1)))


def test_ids_are_opaque_and_prefixed() -> None:
    ids = {new_id("usr") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("usr_") and len(i) == 20 and i[4:].isalnum() for i in ids)
