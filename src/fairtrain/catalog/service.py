"""Catalogue logic: the one import path (scan, upload, API) and the queries on assets."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Select, extract, func, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.analyse import Analysis, analyse_path
from fairtrain.catalog.models import (
    ACCESS_LEVELS,
    Asset,
    AssetCollection,
    AssetFingerprint,
    AssetLicence,
    AssetRightsholder,
    AssetSource,
    AssetTag,
    AssetVersion,
    Collection,
    Scan,
    ScanError,
)
from fairtrain.catalog.store import MediaStore
from fairtrain.db.base import new_id, utcnow
from fairtrain.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "AssetFilter",
    "FileStat",
    "ImportIndex",
    "Outcome",
    "UnknownAsset",
    "add_licence",
    "asset_file",
    "count_assets",
    "create_collection",
    "delete_asset",
    "get_asset",
    "get_collection",
    "import_upload",
    "list_assets",
    "list_collections",
    "path_key",
    "purge_deleted",
    "record_import",
    "record_scan_error",
    "remove_licence",
    "scan_errors",
    "set_rightsholders",
    "update_asset",
]


class UnknownAsset(NotFound):
    code = "unknown_asset"


class Outcome(enum.StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    MOVED = "moved"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class FileStat:
    """Where a scanned file is and the stat data a re-scan compares."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @property
    def mtime(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)


@dataclass
class ImportIndex:
    """What a scan knows before it starts, kept up to date as it records files."""

    source_keys: set[str]  # path keys that have a source row
    live_sha256: set[str]  # contents of the creator's live assets

    @classmethod
    def load(cls, session: Session, creator_id: str) -> ImportIndex:
        keys = session.scalars(select(AssetSource.path_key).where(AssetSource.creator_id == creator_id))
        shas = session.scalars(
            select(Asset.sha256).where(Asset.creator_id == creator_id, Asset.deleted_at.is_(None))
        )
        return cls(set(keys), set(shas))


def path_key(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def _live_asset(session: Session, creator_id: str, sha256: str) -> Asset | None:
    return session.scalar(
        select(Asset).where(
            Asset.creator_id == creator_id, Asset.sha256 == sha256, Asset.deleted_at.is_(None)
        )
    )


def _apply_content(asset: Asset, analysis: Analysis) -> None:
    asset.kind, asset.mime, asset.size, asset.sha256 = (
        analysis.kind,
        analysis.mime,
        analysis.size,
        analysis.sha256,
    )
    asset.width, asset.height = analysis.width, analysis.height
    asset.duration_ms, asset.word_count = analysis.duration_ms, analysis.word_count
    asset.fingerprints = [
        AssetFingerprint(algorithm=f.algorithm, value=f.value, quality=f.quality)
        for f in analysis.fingerprints
    ]


def _new_asset(
    session: Session,
    *,
    creator: CreatorProfile,
    analysis: Analysis,
    filename: str,
    storage: str,
    mtime: datetime | None,
) -> Asset:
    created_at, created_source = analysis.created_at, analysis.created_source
    if created_at is None and mtime is not None:
        created_at, created_source = mtime, "file-mtime"
    asset = Asset(
        id=new_id("ast"),
        creator_id=creator.id,
        title=(analysis.title or Path(filename).stem or filename)[:500],
        title_source="metadata" if analysis.title else "filename",
        description=analysis.description or "",
        created_at=created_at,
        created_source=created_source,
        storage=storage,
        original_filename=filename[:1000],
        publication_urls=[],
        version=1,
    )
    _apply_content(asset, analysis)
    asset.versions.append(AssetVersion(version=1, sha256=analysis.sha256, size=analysis.size))
    session.add(asset)
    return asset


def record_import(
    session: Session,
    *,
    creator: CreatorProfile,
    analysis: Analysis,
    storage: str,
    filename: str,
    stat: FileStat | None = None,
    scan_id: str | None = None,
    index: ImportIndex | None = None,
) -> tuple[Asset, Outcome]:
    """Record one analysed file; ``stat`` for scanned files (they get a source row), None for uploads.

    The caller commits, so a batch of files is whole or absent. With ``index`` (a scan's), a file at a new
    path with new content needs no query, and its rows are flushed with the rest of the batch.
    """
    now = utcnow()
    source = None
    if stat is not None and (index is None or path_key(stat.path) in index.source_keys):
        source = session.scalar(
            select(AssetSource).where(
                AssetSource.creator_id == creator.id, AssetSource.path_key == path_key(stat.path)
            )
        )
    outcome: Outcome
    existing = None
    if index is None or analysis.sha256 in index.live_sha256:
        existing = _live_asset(session, creator.id, analysis.sha256)
    tracked = source.asset if source is not None and source.asset is not None else None
    if tracked is not None and tracked.deleted_at is None and tracked.sha256 == analysis.sha256:
        asset, outcome = tracked, Outcome.UNCHANGED  # touched, not edited
    elif tracked is not None and tracked.deleted_at is None and existing is None:
        asset, outcome = tracked, Outcome.CHANGED
        asset.version += 1
        asset.versions.append(AssetVersion(version=asset.version, sha256=analysis.sha256, size=analysis.size))
        _apply_content(asset, analysis)
    elif existing is not None:
        asset = existing
        others = [s for s in existing.sources if stat is None or s.path_key != path_key(stat.path)]
        gone = [s for s in others if s.missing_since is not None or not Path(s.path).exists()]
        if stat is not None and others and len(gone) == len(others):
            outcome = Outcome.MOVED
            for old in gone:
                old.missing_since = old.missing_since or now
        else:
            outcome = Outcome.DUPLICATE
    else:
        asset = _new_asset(
            session,
            creator=creator,
            analysis=analysis,
            filename=filename,
            storage=storage,
            mtime=stat.mtime if stat else None,
        )
        outcome = Outcome.NEW
    if stat is not None:
        if source is None:
            source = AssetSource(creator_id=creator.id, path=stat.path, path_key=path_key(stat.path))
            session.add(source)
        source.asset = asset
        source.size, source.mtime_ns, source.inode = stat.size, stat.mtime_ns, stat.inode
        source.sha256 = analysis.sha256
        source.last_scan_id = scan_id
        source.missing_since = None
    if index is None:
        session.flush()
    else:
        index.live_sha256.add(analysis.sha256)
        if stat is not None:
            index.source_keys.add(path_key(stat.path))
    return asset, outcome


def record_scan_error(
    session: Session, *, scan_id: str, creator_id: str, path: str, code: str, message: str
) -> None:
    session.add(ScanError(scan_id=scan_id, creator_id=creator_id, path=path, code=code, message=message))
    session.flush()


def get_asset(session: Session, asset_id: str) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or asset.deleted_at is not None:
        raise UnknownAsset(f"no asset {asset_id}")
    return asset


def scan_errors(
    session: Session, *, creator: CreatorProfile, latest_only: bool = True
) -> Sequence[ScanError]:
    query = select(ScanError).where(ScanError.creator_id == creator.id)
    if latest_only:
        latest = session.scalar(
            select(Scan.id).where(Scan.creator_id == creator.id).order_by(Scan.started_at.desc()).limit(1)
        )
        query = query.where(ScanError.scan_id == latest)
    return session.scalars(query.order_by(ScanError.at, ScanError.id)).all()


# --- browsing and editing ------------------------------------------------------------------------------

TOTAL_SHARE_BP = 10_000  # 100 %, in basis points
_TAG_RE = re.compile(r"^[\w][\w .-]{0,62}$")
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class AssetFilter:
    kind: str | None = None
    year: int | None = None  # year the work was made
    collection: str | None = None  # collection slug
    tag: str | None = None
    licensed: bool | None = None  # has a recorded licence (True) or none (False)
    search: str | None = None  # in the title


def _filtered(creator: CreatorProfile, flt: AssetFilter) -> Select[Asset]:
    query = select(Asset).where(Asset.creator_id == creator.id, Asset.deleted_at.is_(None))
    if flt.kind:
        query = query.where(Asset.kind == flt.kind)
    if flt.year:
        query = query.where(extract("year", Asset.created_at) == flt.year)
    if flt.tag:
        query = query.where(Asset.tag_rows.any(AssetTag.tag == flt.tag.strip().lower()))
    if flt.collection:
        query = query.where(
            Asset.id.in_(
                select(AssetCollection.asset_id)
                .join(Collection, Collection.id == AssetCollection.collection_id)
                .where(Collection.creator_id == creator.id, Collection.slug == flt.collection)
            )
        )
    if flt.licensed is not None:
        has = Asset.licences.any()
        query = query.where(has if flt.licensed else ~has)
    if flt.search:
        pattern = "%" + flt.search.strip().lower().replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(func.lower(Asset.title).like(pattern, escape="\\"))
    return query


def list_assets(
    session: Session,
    *,
    creator: CreatorProfile,
    flt: AssetFilter | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Asset]:
    query = _filtered(creator, flt or AssetFilter())
    return session.scalars(query.order_by(Asset.imported_at, Asset.id).limit(limit).offset(offset)).all()


def count_assets(session: Session, *, creator: CreatorProfile, flt: AssetFilter | None = None) -> int:
    query = _filtered(creator, flt or AssetFilter()).with_only_columns(func.count(Asset.id)).order_by(None)
    return int(session.scalar(query) or 0)


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = value.strip().lower()
        if not tag:
            continue
        if not _TAG_RE.match(tag):
            raise InvalidInput(f"tag {value!r}: use up to 63 letters, digits, spaces, dots and hyphens")
        if tag not in tags:
            tags.append(tag)
    return tags


def _urls(values: list[str]) -> list[str]:
    urls = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise InvalidInput(f"publication URL {value!r} is not an absolute http(s) URL")
        urls.append(value)
    return urls


def get_collection(session: Session, *, creator: CreatorProfile, slug: str) -> Collection:
    collection = session.scalar(
        select(Collection).where(Collection.creator_id == creator.id, Collection.slug == slug.strip().lower())
    )
    if collection is None:
        raise NotFound(f"@{creator.handle} has no collection {slug!r}")
    return collection


def create_collection(
    session: Session, *, creator: CreatorProfile, slug: str, name: str, description: str = ""
) -> Collection:
    slug = slug.strip().lower()
    if not _SLUG_RE.match(slug):
        raise InvalidInput("collection slug must be 1–64 lower-case letters, digits and hyphens")
    if not name.strip() or len(name) > 200:
        raise InvalidInput("collection name must be 1–200 characters")
    exists = select(Collection.id).where(Collection.creator_id == creator.id, Collection.slug == slug)
    if session.scalar(exists) is not None:
        raise Conflict(f"@{creator.handle} already has a collection {slug!r}")
    collection = Collection(
        creator_id=creator.id, slug=slug, name=name.strip(), description=description.strip()
    )
    session.add(collection)
    session.flush()
    return collection


_UNSET: object = object()


def update_asset(
    session: Session,
    *,
    asset: Asset,
    title: str | None = None,
    description: str | None = None,
    published_on: date | object | None = _UNSET,
    publication_urls: list[str] | None = None,
    tags: list[str] | None = None,
    add_tags: list[str] | None = None,
    collections: list[str] | None = None,
) -> Asset:
    """Change what a person may edit; ``None`` (or unset ``published_on``) leaves a field as it is."""
    if title is not None:
        if not title.strip() or len(title) > 500:
            raise InvalidInput("title must be 1–500 characters")
        asset.title, asset.title_source = title.strip(), "user"
    if description is not None:
        asset.description = description.strip()
    if published_on is not _UNSET:
        asset.published_on = published_on  # type: ignore[assignment]
    if publication_urls is not None:
        asset.publication_urls = _urls(publication_urls)
    if tags is not None or add_tags is not None:
        wanted = _tags(tags if tags is not None else asset.tags + (add_tags or []))
        asset.tag_rows = [row for row in asset.tag_rows if row.tag in wanted] + [
            AssetTag(tag=tag) for tag in wanted if tag not in asset.tags
        ]
    if collections is not None:
        creator = session.get(CreatorProfile, asset.creator_id)
        assert creator is not None
        asset.collections = [
            get_collection(session, creator=creator, slug=slug) for slug in dict.fromkeys(collections)
        ]
    session.flush()
    return asset


def set_access(session: Session, *, asset: Asset, access: str) -> Asset:
    """Who may see the work through the gateway: ``private``, ``public`` or ``subscribers``."""
    if access not in ACCESS_LEVELS:
        raise InvalidInput(f"unknown access {access!r}; use {', '.join(ACCESS_LEVELS)}")
    if asset.deleted_at is not None:
        raise InvalidInput("a deleted work cannot be published")
    asset.access = access
    session.flush()
    return asset


def published_works(session: Session, *, creator: CreatorProfile, limit: int = 200) -> Sequence[Asset]:
    """The creator's works that visitors can see (public, or previewed for subscribers), newest first."""
    return session.scalars(
        select(Asset)
        .where(
            Asset.creator_id == creator.id,
            Asset.deleted_at.is_(None),
            Asset.access.in_(("public", "subscribers")),
        )
        .order_by(Asset.published_on.desc().nulls_last(), Asset.imported_at.desc(), Asset.id)
        .limit(limit)
    ).all()


def set_rightsholders(session: Session, *, asset: Asset, holders: list[tuple[str, int, str | None]]) -> Asset:
    """Replace the co-rightsholders: (name, share in basis points, creator id or None), summing to 100 %."""
    if holders:
        if any(share <= 0 for _, share, _ in holders):
            raise InvalidInput("every rightsholder's share must be above 0 %")
        total = sum(share for _, share, _ in holders)
        if total != TOTAL_SHARE_BP:
            raise InvalidInput(f"rightsholder shares add up to {total / 100:g} %, not 100 %")
        if any(not name.strip() for name, _, _ in holders):
            raise InvalidInput("every rightsholder needs a name")
    asset.rightsholders = [
        AssetRightsholder(position=i, name=name.strip(), share_bp=share, creator_id=creator_id)
        for i, (name, share, creator_id) in enumerate(holders)
    ]
    session.flush()
    return asset


def add_licence(
    session: Session,
    *,
    asset: Asset,
    licence_type: str,
    licensee: str = "",
    starts_on: date | None = None,
    ends_on: date | None = None,
    notes: str = "",
) -> AssetLicence:
    if not licence_type.strip():
        raise InvalidInput("a licence needs a type, e.g. non-exclusive or CC-BY-4.0")
    if starts_on and ends_on and ends_on < starts_on:
        raise InvalidInput("a licence cannot end before it starts")
    licence = AssetLicence(
        licence_type=licence_type.strip(),
        licensee=licensee.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        notes=notes.strip(),
    )
    asset.licences.append(licence)
    session.flush()
    return licence


def delete_asset(session: Session, *, asset: Asset) -> Asset:
    """Soft delete: the asset leaves every listing; its file stays in the store until a purge."""
    if asset.deleted_at is None:
        asset.deleted_at = utcnow()
        session.flush()
    return asset


def import_upload(
    session: Session,
    *,
    creator: CreatorProfile,
    path: Path,
    filename: str,
    store_root: Path,
    max_pixels: int,
) -> tuple[Asset, Outcome]:
    """Import an uploaded file (already saved to ``path``) through the same path as a scan.

    The file is probed before anything is stored, so a refused upload leaves no trace.
    """
    analysis = analyse_path(path, store_root=store_root, max_pixels=max_pixels)
    return record_import(
        session, creator=creator, analysis=analysis, storage="copy", filename=Path(filename).name or "upload"
    )


def asset_file(asset: Asset, *, store_root: Path) -> Path | None:
    """Where the asset's current content can be read: the store copy, else a present source file."""
    if asset.storage == "copy":
        path = MediaStore(store_root).path_for(asset.sha256)
        if path.is_file():
            return path
    for source in asset.sources:
        if source.missing_since is None and source.sha256 == asset.sha256 and Path(source.path).is_file():
            return Path(source.path)
    return None


def purge_deleted(session: Session, *, creator: CreatorProfile, store_root: Path) -> tuple[int, int]:
    """Remove from the media store the files of deleted assets that no live asset still uses.

    The rows stay (the catalogue keeps its history); returns (files removed, bytes freed).
    """
    store = MediaStore(store_root)
    # Any creator's live asset, in any of its versions, keeps a file: the store is shared by content.
    live = set(
        session.scalars(
            select(AssetVersion.sha256)
            .join(Asset, Asset.id == AssetVersion.asset_id)
            .where(Asset.deleted_at.is_(None))
        )
    )
    deleted = session.scalars(
        select(AssetVersion)
        .join(Asset, Asset.id == AssetVersion.asset_id)
        .where(Asset.creator_id == creator.id, Asset.deleted_at.is_not(None), Asset.storage == "copy")
    ).all()
    removed = freed = 0
    for version in deleted:
        if version.sha256 in live:
            continue
        path = store.path_for(version.sha256)
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
            removed += 1
    return removed, freed


def remove_licence(session: Session, *, asset: Asset, licence_id: str) -> None:
    licence = next((lic for lic in asset.licences if lic.id == licence_id), None)
    if licence is None:
        raise NotFound(f"asset {asset.id} has no licence {licence_id}")
    asset.licences.remove(licence)
    session.flush()


def list_collections(session: Session, *, creator: CreatorProfile) -> Sequence[Collection]:
    return session.scalars(
        select(Collection).where(Collection.creator_id == creator.id).order_by(Collection.name)
    ).all()
