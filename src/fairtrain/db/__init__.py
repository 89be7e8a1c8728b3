"""Layer 0: engine, sessions, declarative base and migrations."""

from fairtrain.db.base import Base, UTCDateTime, new_id, utcnow
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.db.migrate import DatabaseNotReady, current_revision, head_revision, require_current, upgrade

__all__ = [
    "Base",
    "DatabaseNotReady",
    "UTCDateTime",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "new_id",
    "require_current",
    "transaction",
    "upgrade",
    "utcnow",
]
