"""API shapes of catalogue assets."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fairtrain.catalog.models import Asset

__all__ = [
    "AssetPublic",
    "AssetUpdate",
    "CollectionCreate",
    "CollectionPublic",
    "LicenceCreate",
    "LicencePublic",
    "RightsholderIn",
    "RightsholderPublic",
    "percent_to_bp",
]


def percent_to_bp(value: str) -> int:
    """'33.33' -> 3333 basis points, exactly (no float); at most two decimals."""
    try:
        amount = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{value!r} is not a percentage") from None
    if not amount.is_finite() or not 0 <= amount <= 100:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    bp = amount * 100
    if bp != bp.to_integral_value():
        raise ValueError(f"{value!r}: use at most two decimals")
    return int(bp)


class LicencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    licence_type: str
    licensee: str
    starts_on: date | None
    ends_on: date | None
    notes: str


class RightsholderPublic(BaseModel):
    name: str
    share_percent: str = Field(description="Exact share, e.g. '33.33'.")
    creator_id: str | None


class AssetPublic(BaseModel):
    id: str = Field(examples=["ast_3kf9q2m7x0v5b8nd"])
    creator: str = Field(description="The owner's handle.")
    kind: str
    mime: str
    size: int
    sha256: str
    version: int
    title: str
    description: str
    created_at: datetime | None
    created_source: str | None
    published_on: date | None
    publication_urls: list[str]
    width: int | None
    height: int | None
    duration_ms: int | None
    word_count: int | None
    storage: str
    access: str = Field(description="Who may see it: private, public or subscribers.")
    original_filename: str
    imported_at: datetime
    tags: list[str]
    collections: list[str]
    licences: list[LicencePublic]
    rightsholders: list[RightsholderPublic]
    fingerprints: dict[str, str]
    outcome: str | None = Field(None, description="On import: new, duplicate, ...")

    @classmethod
    def of(cls, asset: Asset, *, handle: str, outcome: str | None = None) -> AssetPublic:
        return cls(
            id=asset.id,
            creator=handle,
            kind=asset.kind,
            mime=asset.mime,
            size=asset.size,
            sha256=asset.sha256,
            version=asset.version,
            title=asset.title,
            description=asset.description,
            created_at=asset.created_at,
            created_source=asset.created_source,
            published_on=asset.published_on,
            publication_urls=list(asset.publication_urls),
            width=asset.width,
            height=asset.height,
            duration_ms=asset.duration_ms,
            word_count=asset.word_count,
            storage=asset.storage,
            access=asset.access,
            original_filename=asset.original_filename,
            imported_at=asset.imported_at,
            tags=asset.tags,
            collections=[c.slug for c in asset.collections],
            licences=[LicencePublic.model_validate(lic) for lic in asset.licences],
            rightsholders=[
                RightsholderPublic(
                    name=r.name,
                    share_percent=f"{r.share_bp // 100}.{r.share_bp % 100:02d}",
                    creator_id=r.creator_id,
                )
                for r in asset.rightsholders
            ],
            fingerprints={f.algorithm: f.value for f in asset.fingerprints},
            outcome=outcome,
        )


class AssetUpdate(BaseModel):
    """Fields to change; omitted ones stay as they are."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=20_000)
    published_on: date | None = Field(None, description="null clears it.")
    publication_urls: list[str] | None = None
    tags: list[str] | None = None
    collections: list[str] | None = Field(
        None, description="Collection slugs; replaces the asset's collections."
    )
    access: Literal["private", "public", "subscribers"] | None = Field(
        None,
        description="private: only you; public: everyone (AI crawlers per your policy); subscribers: a "
        "preview for everyone, the full work for subscribers of a tier that unlocks it.",
    )


class LicenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    licence_type: str = Field(min_length=1, max_length=120, examples=["non-exclusive", "CC-BY-4.0"])
    licensee: str = Field("", max_length=200)
    starts_on: date | None = None
    ends_on: date | None = None
    notes: str = Field("", max_length=5000)


class RightsholderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    share_percent: str = Field(description="Exact decimal string, at most two decimals: '33.34'.")
    creator: str | None = Field(None, description="Handle, when the rightsholder is a creator here.")

    @field_validator("share_percent")
    @classmethod
    def _exact(cls, value: str) -> str:
        percent_to_bp(value)
        return value


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)


class CollectionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    name: str
    description: str
