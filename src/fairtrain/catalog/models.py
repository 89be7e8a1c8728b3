"""Tables owned by the catalog: assets, versions, sources on disk, fingerprints, scans and scan errors."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairtrain.accounts.models import CreatorProfile
from fairtrain.db.base import Base, IdPrimaryKey, utcnow

ACCESS_LEVELS = ("private", "public", "subscribers")

__all__ = [
    "ACCESS_LEVELS",
    "Asset",
    "AssetCollection",
    "AssetFingerprint",
    "AssetLicence",
    "AssetRightsholder",
    "AssetSource",
    "AssetTag",
    "AssetVersion",
    "Collection",
    "Scan",
    "ScanError",
]


class Asset(Base):
    """One work in a creator's catalogue. Its content is the latest version's file."""

    __tablename__ = "assets"
    __table_args__ = (
        # One live asset per content per creator: a second copy of the same file is a duplicate source.
        Index(
            "uq_assets_creator_sha256_live",
            "creator_id",
            "sha256",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        CheckConstraint("access IN ('private', 'public', 'subscribers')", name="access_known"),
    )

    id: Mapped[str] = IdPrimaryKey("ast")
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(500))
    title_source: Mapped[str] = mapped_column(String(16))  # metadata | filename | user
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime | None]  # when the work was made
    created_source: Mapped[str | None] = mapped_column(String(16))  # exif | xmp | id3 | ... | file-mtime
    published_on: Mapped[date | None] = mapped_column(Date)
    publication_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    word_count: Mapped[int | None]
    storage: Mapped[str] = mapped_column(String(16))  # copy | reference
    original_filename: Mapped[str] = mapped_column(String(1000))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]
    # Who may see the work through the gateway: private (its owner only), public (everyone; AI crawlers
    # per policy), subscribers (a preview for everyone, full size for subscribers of a tier unlocking it).
    access: Mapped[str] = mapped_column(String(16), default="private", server_default="private")

    creator: Mapped[CreatorProfile] = relationship()
    fingerprints: Mapped[list[AssetFingerprint]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", lazy="selectin"
    )
    versions: Mapped[list[AssetVersion]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetVersion.version"
    )
    sources: Mapped[list[AssetSource]] = relationship(back_populates="asset")
    tag_rows: Mapped[list[AssetTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AssetTag.tag"
    )
    collections: Mapped[list[Collection]] = relationship(
        secondary="asset_collections", lazy="selectin", order_by="Collection.name"
    )
    licences: Mapped[list[AssetLicence]] = relationship(
        back_populates="asset",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="AssetLicence.starts_on",
    )
    rightsholders: Mapped[list[AssetRightsholder]] = relationship(
        back_populates="asset",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="AssetRightsholder.position",
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class AssetTag(Base):
    __tablename__ = "asset_tags"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Collection(Base):
    """A creator's named group of assets (a series, a book, a portfolio)."""

    __tablename__ = "collections"
    __table_args__ = (Index("uq_collections_creator_slug", "creator_id", "slug", unique=True),)

    id: Mapped[str] = IdPrimaryKey("cln")
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssetCollection(Base):
    __tablename__ = "asset_collections"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AssetLicence(Base):
    """A licence the creator granted before (or outside) fairtrain, recorded so it is not granted twice."""

    __tablename__ = "asset_licences"

    id: Mapped[str] = IdPrimaryKey("lic")
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    licence_type: Mapped[str] = mapped_column(String(120))  # e.g. exclusive, non-exclusive, CC-BY-4.0
    licensee: Mapped[str] = mapped_column(String(200), default="", server_default="")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")

    asset: Mapped[Asset] = relationship(back_populates="licences")


class AssetRightsholder(Base):
    """A co-owner of an asset's rights. Shares are basis points (1/100 of a percent) and sum to 10,000."""

    __tablename__ = "asset_rightsholders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("creators.id", ondelete="SET NULL"))
    share_bp: Mapped[int] = mapped_column(Integer)

    asset: Mapped[Asset] = relationship(back_populates="rightsholders")


class AssetVersion(Base):
    """Each content an asset has had; a changed file adds a version, the old one is kept."""

    __tablename__ = "asset_versions"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[Asset] = relationship(back_populates="versions")


class AssetSource(Base):
    """A file on disk that a scan saw, with the stat data that lets a re-scan skip it unread."""

    __tablename__ = "asset_sources"
    # Paths can exceed what a B-tree index entry holds, so uniqueness is on their SHA-256.
    __table_args__ = (Index("uq_asset_sources_creator_path", "creator_id", "path_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"))
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(Text)
    path_key: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    last_scan_id: Mapped[str | None] = mapped_column(String(32))
    missing_since: Mapped[datetime | None]

    asset: Mapped[Asset | None] = relationship(back_populates="sources")


class AssetFingerprint(Base):
    __tablename__ = "asset_fingerprints"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    quality: Mapped[int | None]

    asset: Mapped[Asset] = relationship(back_populates="fingerprints")


class Scan(Base):
    """One run of ``fairtrain scan``: what it looked at and what it found."""

    __tablename__ = "scans"

    id: Mapped[str] = IdPrimaryKey("scn")
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    roots: Mapped[list[str]] = mapped_column(JSON)
    storage: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | finished | interrupted
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class ScanError(Base):
    """A file a scan could not import, and why. The scan carries on."""

    __tablename__ = "scan_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("creators.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
