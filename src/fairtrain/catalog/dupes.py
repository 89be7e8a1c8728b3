"""Duplicates inside one creator's catalogue: exact (same file twice) and near (same work, edited)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.catalog.fingerprints import Fingerprint, NearDuplicateIndex
from fairtrain.catalog.models import Asset, AssetFingerprint, AssetSource

__all__ = ["ExactDuplicate", "NearDuplicate", "exact_duplicates", "near_duplicates"]

# One algorithm per kind decides "near", so a pair is reported once: pHash for images (STANDARDS §10: the
# most crop-tolerant of the measured ones), MinHash for text, Chromaprint for audio.
MATCHING_ALGORITHMS = ("phash64", "minhash128", "chromaprint")


@dataclass(frozen=True)
class ExactDuplicate:
    asset_id: str
    title: str
    paths: list[str]


@dataclass(frozen=True)
class NearDuplicate:
    asset_id: str
    other_id: str
    algorithm: str
    score: float  # bit distance, or estimated Jaccard similarity for MinHash


def exact_duplicates(session: Session, *, creator_id: str) -> list[ExactDuplicate]:
    """Assets present on disk at more than one path."""
    rows = session.execute(
        select(Asset.id, Asset.title, AssetSource.path)
        .join(AssetSource, AssetSource.asset_id == Asset.id)
        .where(
            Asset.creator_id == creator_id, Asset.deleted_at.is_(None), AssetSource.missing_since.is_(None)
        )
        .order_by(Asset.id, AssetSource.path)
    ).all()
    grouped: dict[str, tuple[str, list[str]]] = {}
    for asset_id, title, path in rows:
        grouped.setdefault(asset_id, (title, []))[1].append(path)
    return [ExactDuplicate(a, title, paths) for a, (title, paths) in grouped.items() if len(paths) > 1]


def near_duplicates(
    session: Session, *, creator_id: str, involving: Collection[str] | None = None
) -> list[NearDuplicate]:
    """Pairs of different live assets whose fingerprints are within threshold; with ``involving``, only
    the pairs that include one of those assets (what an import just added)."""
    rows = (
        session.execute(
            select(
                AssetFingerprint.asset_id,
                AssetFingerprint.algorithm,
                AssetFingerprint.value,
                AssetFingerprint.quality,
            )
            .join(Asset, Asset.id == AssetFingerprint.asset_id)
            .where(
                Asset.creator_id == creator_id,
                Asset.deleted_at.is_(None),
                AssetFingerprint.algorithm.in_(MATCHING_ALGORITHMS),
            )
            .order_by(AssetFingerprint.asset_id)
        )
    ).all()
    index = NearDuplicateIndex()
    fingerprints = [
        (asset_id, Fingerprint(algorithm, value, quality)) for asset_id, algorithm, value, quality in rows
    ]
    for asset_id, fingerprint in fingerprints:
        index.add(asset_id, fingerprint)
    found: dict[tuple[str, str], NearDuplicate] = {}
    for asset_id, fingerprint in fingerprints:
        if involving is not None and asset_id not in involving:
            continue
        for other_id, score in index.query(fingerprint):
            if other_id == asset_id:
                continue
            first, second = sorted((asset_id, other_id))
            found.setdefault((first, second), NearDuplicate(first, second, fingerprint.algorithm, score))
    return sorted(found.values(), key=lambda d: (d.asset_id, d.other_id))
