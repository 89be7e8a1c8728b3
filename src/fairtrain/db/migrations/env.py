"""Alembic environment: runs on the engine handed over by ``fairtrain.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

# Imported to register their tables with Base.metadata, which autogenerate compares against.
import fairtrain.accounts.models
import fairtrain.catalog.models
import fairtrain.gateway.models
import fairtrain.ledger.models
import fairtrain.licensing.billing_models
import fairtrain.licensing.models
import fairtrain.rights.models
import fairtrain.stamp.models  # noqa: F401
from fairtrain.db.base import Base

# Migration scripts describe every layer's tables, so this is the one place db/ looks up at the domain
# packages: each package that owns tables is imported above. Add new ones here.
metadata = Base.metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
