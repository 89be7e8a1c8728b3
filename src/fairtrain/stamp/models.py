"""Tables owned by stamp: protected derivatives of assets, and each creator's visible-watermark settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.catalog.models import Asset
from fairtrain.db.base import Base, IdPrimaryKey, utcnow

__all__ = ["POSITIONS", "ProtectedFile", "StampSettings"]

POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left", "center", "tile")


class ProtectedFile(Base):
    """A protected derivative of one version of an asset, kept in the media store by its SHA-256.

    The original is never touched. Re-protecting (after a policy or settings change) writes a new row and
    marks the previous one superseded; old rows stay so that copies of an earlier derivative still verify.
    """

    __tablename__ = "protected_files"
    __table_args__ = (
        Index(
            "uq_protected_files_current",
            "asset_id",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    id: Mapped[str] = IdPrimaryKey("prt")
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    asset_version: Mapped[int] = mapped_column(Integer)
    source_sha256: Mapped[str] = mapped_column(String(64))  # the original this was made from
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(120))
    # What was applied, in order: watermark, visible, xmp, c2pa, canary, meta.
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Hash of everything the derivative depends on (policy, settings, names, licence URL): when it changes
    # the derivative is stale and ``protect`` makes a new one.
    inputs_digest: Mapped[str] = mapped_column(String(64))
    canary: Mapped[str | None] = mapped_column(String(32), index=True)
    signer: Mapped[str | None] = mapped_column(String(200))  # C2PA certificate subject
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]

    asset: Mapped[Asset] = relationship()


class StampSettings(Base):
    """A creator's choices for protected files: the visible watermark (off unless they turn it on)."""

    __tablename__ = "stamp_settings"
    __table_args__ = (
        CheckConstraint("visible_opacity BETWEEN 1 AND 100", name="opacity_percent"),
        CheckConstraint("visible_scale BETWEEN 2 AND 100", name="scale_percent"),
        CheckConstraint(
            "visible_position IN ({})".format(", ".join(repr(p) for p in POSITIONS)), name="position_known"
        ),
    )

    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), primary_key=True)
    visible_enabled: Mapped[bool] = mapped_column(default=False)
    visible_text: Mapped[str | None] = mapped_column(String(200))
    visible_logo_sha256: Mapped[str | None] = mapped_column(String(64))  # a PNG in the media store
    visible_position: Mapped[str] = mapped_column(String(16), default="bottom-right")
    visible_opacity: Mapped[int] = mapped_column(Integer, default=40)
    visible_scale: Mapped[int] = mapped_column(Integer, default=25)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
