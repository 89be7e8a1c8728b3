"""A creator's whole catalogue as CSV or JSON, and the portfolio summary of it."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.models import Asset, AssetLicence

__all__ = [
    "EXPORT_FIELDS",
    "Portfolio",
    "export_rows",
    "human_bytes",
    "human_duration",
    "live_assets",
    "percent_1dp",
    "portfolio",
    "render_portfolio_text",
    "share_percent",
    "write_csv",
    "write_json",
]

# Every column of an export, in order. Lists are JSON arrays (CSV: joined with " | ").
EXPORT_FIELDS = (
    "id",
    "kind",
    "mime",
    "size",
    "sha256",
    "version",
    "title",
    "title_source",
    "description",
    "created_at",
    "created_source",
    "published_on",
    "publication_urls",
    "width",
    "height",
    "duration_ms",
    "word_count",
    "storage",
    "original_filename",
    "paths",
    "tags",
    "collections",
    "licences",
    "rightsholders",
    "fingerprints",
)
_JOIN = " | "
_UNDATED = "undated"


def live_assets(session: Session, *, creator: CreatorProfile) -> Sequence[Asset]:
    """The creator's assets that are not deleted, oldest import first, with their source rows loaded."""
    query = (
        select(Asset)
        .where(Asset.creator_id == creator.id, Asset.deleted_at.is_(None))
        .options(selectinload(Asset.sources))
        .order_by(Asset.imported_at, Asset.id)
    )
    return session.scalars(query).all()


def share_percent(basis_points: int) -> str:
    """Basis points as a percent string with two decimals: 5000 -> "50.00" (exact, no float)."""
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def percent_1dp(part: int, whole: int) -> str:
    """``part / whole`` as a percent with one decimal, rounded half up in integers: (1, 3) -> "33.3"."""
    if whole <= 0:
        return "0.0"
    tenths = (part * 2000 + whole) // (2 * whole)  # round(part / whole * 1000), half up
    return f"{tenths // 10}.{tenths % 10}"


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def _licence(licence: AssetLicence) -> dict[str, object]:
    return {
        "type": licence.licence_type,
        "licensee": licence.licensee,
        "starts_on": _iso(licence.starts_on),
        "ends_on": _iso(licence.ends_on),
        "notes": licence.notes,
    }


def _row(asset: Asset) -> dict[str, object]:
    return {
        "id": asset.id,
        "kind": asset.kind,
        "mime": asset.mime,
        "size": asset.size,
        "sha256": asset.sha256,
        "version": asset.version,
        "title": asset.title,
        "title_source": asset.title_source,
        "description": asset.description,
        "created_at": _iso(asset.created_at),
        "created_source": asset.created_source,
        "published_on": _iso(asset.published_on),
        "publication_urls": list(asset.publication_urls or []),
        "width": asset.width,
        "height": asset.height,
        "duration_ms": asset.duration_ms,
        "word_count": asset.word_count,
        "storage": asset.storage,
        "original_filename": asset.original_filename,
        "paths": sorted(s.path for s in asset.sources if s.missing_since is None),
        "tags": asset.tags,
        "collections": [c.slug for c in asset.collections],
        "licences": [_licence(licence) for licence in asset.licences],
        "rightsholders": [{"name": r.name, "share": share_percent(r.share_bp)} for r in asset.rightsholders],
        "fingerprints": {f.algorithm: f.value for f in sorted(asset.fingerprints, key=lambda f: f.algorithm)},
    }


def export_rows(session: Session, *, creator: CreatorProfile) -> list[dict[str, object]]:
    """Every live asset with everything the catalogue records about it, as JSON-ready values.

    Times are ISO 8601 in UTC, dates ISO 8601, shares percent strings ("50.00"): the rows go through
    ``json.dumps`` and back unchanged.
    """
    return [_row(asset) for asset in live_assets(session, creator=creator)]


def _licence_text(licence: dict[str, object]) -> str:
    text = str(licence["type"])
    if licence["licensee"]:
        text += f" to {licence['licensee']}"
    text += f" ({licence['starts_on'] or 'no start'} to {licence['ends_on'] or 'open-ended'})"
    if licence["notes"]:
        text += f": {licence['notes']}"
    return text


def _item(field: str, item: object) -> str:
    if isinstance(item, dict):
        if field == "licences":
            return _licence_text(item)
        if field == "rightsholders":
            return f"{item['name']} {item['share']} %"
    return str(item)


def _cell(field: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # fingerprints
        return _JOIN.join(f"{key}: {item}" for key, item in value.items())
    if isinstance(value, list):
        return _JOIN.join(_item(field, item) for item in value)
    return str(value)


def write_csv(rows: Sequence[dict[str, object]], out: TextIO) -> None:
    """One header line and one line per asset; nested values flattened into readable text.

    Open ``out`` with ``newline=""`` when it is a file, as the csv module asks.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    for row in rows:
        writer.writerow([_cell(field, row.get(field)) for field in EXPORT_FIELDS])


def write_json(rows: Sequence[dict[str, object]], out: TextIO) -> None:
    json.dump(list(rows), out, indent=2, sort_keys=True, ensure_ascii=False)
    out.write("\n")


# --- portfolio -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Portfolio:
    """What a catalogue holds, in numbers. ``by_year`` keys are years of ``created_at`` or "undated"."""

    creator: str
    as_of: date
    assets: int
    by_kind: dict[str, int]
    by_year: dict[str, dict[str, int]]
    total_bytes: int
    total_duration_ms: int
    total_words: int
    earliest: datetime | None
    latest: datetime | None
    licensed: int  # assets with at least one recorded licence in force on ``as_of``
    licensed_percent: str  # one decimal, e.g. "33.3"
    co_owned: int  # assets with more than one rightsholder

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["as_of"] = _iso(self.as_of)
        data["earliest"], data["latest"] = _iso(self.earliest), _iso(self.latest)
        return data


def _in_force(licence: AssetLicence, today: date) -> bool:
    # A licence that starts later does not cover today either, though the end date is what usually decides.
    started = licence.starts_on is None or licence.starts_on <= today
    return started and (licence.ends_on is None or licence.ends_on >= today)


def portfolio(session: Session, *, creator: CreatorProfile, today: date | None = None) -> Portfolio:
    today = today or datetime.now(UTC).date()
    assets = live_assets(session, creator=creator)
    by_kind: Counter[str] = Counter()
    by_year: defaultdict[str, Counter[str]] = defaultdict(Counter)
    dates = [a.created_at for a in assets if a.created_at is not None]
    for asset in assets:
        by_kind[asset.kind] += 1
        year = str(asset.created_at.year) if asset.created_at is not None else _UNDATED
        by_year[year][asset.kind] += 1
    licensed = sum(1 for a in assets if any(_in_force(lic, today) for lic in a.licences))
    years = sorted(by_year, key=lambda y: (y == _UNDATED, y))
    return Portfolio(
        creator=creator.handle,
        as_of=today,
        assets=len(assets),
        by_kind=dict(sorted(by_kind.items())),
        by_year={y: dict(sorted(by_year[y].items())) for y in years},
        total_bytes=sum(a.size for a in assets),
        total_duration_ms=sum(a.duration_ms or 0 for a in assets),
        total_words=sum(a.word_count or 0 for a in assets),
        earliest=min(dates, default=None),
        latest=max(dates, default=None),
        licensed=licensed,
        licensed_percent=percent_1dp(licensed, len(assets)),
        co_owned=sum(1 for a in assets if len(a.rightsholders) > 1),
    )


def human_bytes(size: int) -> str:
    """A human-readable size; display only, so a float is fine here."""
    if size < 1024:
        return f"{size:,} B"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "TiB":
            break
    return f"{scaled:,.1f} {unit}"


def human_duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def render_portfolio_text(p: Portfolio) -> str:
    """A plain-text summary for the terminal."""
    lines = [f"@{p.creator}: {p.assets:,} works (as of {p.as_of.isoformat()})"]
    if p.by_kind:
        lines.append("by kind: " + ", ".join(f"{kind} {n:,}" for kind, n in p.by_kind.items()))
    if p.by_year:
        lines.append("by year:")
        for year, kinds in p.by_year.items():
            lines.append(f"  {year}: " + ", ".join(f"{kind} {n:,}" for kind, n in kinds.items()))
    lines.append(f"total size: {human_bytes(p.total_bytes)} ({p.total_bytes:,} bytes)")
    if p.total_duration_ms:
        lines.append(f"total duration: {human_duration(p.total_duration_ms)}")
    if p.total_words:
        lines.append(f"total words: {p.total_words:,}")
    if p.earliest is not None and p.latest is not None:
        lines.append(f"made between: {p.earliest:%Y-%m-%d} and {p.latest:%Y-%m-%d}")
    lines.append(f"licensed now: {p.licensed:,} ({p.licensed_percent} %)")
    lines.append(f"with co-rightsholders: {p.co_owned:,}")
    return "\n".join(lines) + "\n"
