"""Catalogue logic: the one import path (scan, upload, API) and the queries on assets."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.analyse import Analysis
from fairtrain.catalog.models import Asset, AssetFingerprint, AssetSource, AssetVersion, Scan, ScanError
from fairtrain.db.base import utcnow
from fairtrain.errors import NotFound

__all__ = [
    "FileStat",
    "Outcome",
    "UnknownAsset",
    "get_asset",
    "list_assets",
    "path_key",
    "record_import",
    "record_scan_error",
    "scan_errors",
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
) -> tuple[Asset, Outcome]:
    """Record one analysed file; ``stat`` for scanned files (they get a source row), None for uploads.

    The caller commits: one file, one transaction, so an interrupted scan leaves no half-written rows.
    """
    now = utcnow()
    source = None
    if stat is not None:
        source = session.scalar(
            select(AssetSource).where(
                AssetSource.creator_id == creator.id, AssetSource.path_key == path_key(stat.path)
            )
        )
    outcome: Outcome
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
    session.flush()
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


def list_assets(
    session: Session, *, creator: CreatorProfile, limit: int = 100, offset: int = 0
) -> Sequence[Asset]:
    return session.scalars(
        select(Asset)
        .where(Asset.creator_id == creator.id, Asset.deleted_at.is_(None))
        .order_by(Asset.imported_at, Asset.id)
        .limit(limit)
        .offset(offset)
    ).all()


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
