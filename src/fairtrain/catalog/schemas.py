"""API shapes of catalogue assets."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from fairtrain.catalog.models import Asset

__all__ = ["AssetPublic", "AssetUpdate", "LicencePublic", "RightsholderPublic"]


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
