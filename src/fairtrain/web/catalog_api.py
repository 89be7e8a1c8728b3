"""JSON API for a creator's catalogue: upload, list, get, update, delete (soft)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile, Role, User
from fairtrain.accounts.schemas import ApiError, Page
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Asset
from fairtrain.catalog.probe import MediaTooLarge
from fairtrain.catalog.schemas import (
    AssetPublic,
    AssetUpdate,
    CollectionCreate,
    CollectionPublic,
    LicenceCreate,
    RightsholderIn,
    percent_to_bp,
)
from fairtrain.catalog.service import AssetFilter, Outcome
from fairtrain.config import Settings
from fairtrain.errors import Forbidden
from fairtrain.web.deps import ApiUserDep, DbDep, SettingsDep
from fairtrain.web.uploads import saved_upload

__all__ = ["UPLOAD_PATH", "collections_router", "owned_asset", "owned_creator", "router"]

UPLOAD_PATH = "/api/v1/assets"


def _error(description: str) -> dict[str, object]:
    return {"description": description, "model": ApiError}


router = APIRouter(
    prefix="/api/v1/assets",
    tags=["catalog"],
    responses={
        401: _error("No valid API token or session"),
        403: _error("Not this user's catalogue"),
        404: _error("No such asset or creator"),
        422: _error("Invalid request"),
    },
)


def owned_creator(db: DbDep, user: User, handle: str | None) -> CreatorProfile:
    """The catalogue ``user`` may work on: their own, or any creator's for an operator."""
    if handle is None:
        if user.creator is None:
            raise Forbidden("this account has no creator profile; name a creator")
        return user.creator
    creator = accounts.get_creator(db, handle)
    if creator.user_id != user.id and not user.has_role(Role.OPERATOR):
        raise Forbidden(f"only @{creator.handle} or an operator may use this catalogue")
    return creator


def owned_asset(db: DbDep, user: User, asset_id: str) -> tuple[Asset, CreatorProfile]:
    asset = catalog.get_asset(db, asset_id)
    creator = asset.creator
    if creator.user_id != user.id and not user.has_role(Role.OPERATOR):
        raise catalog.UnknownAsset(f"no asset {asset_id}")  # do not reveal other catalogues
    return asset, creator


def import_uploaded(
    db: DbDep, settings: Settings, creator: CreatorProfile, upload: UploadFile
) -> tuple[Asset, Outcome]:
    with saved_upload(upload, tmp_dir=settings.data_dir / "tmp") as (path, filename):
        if path.stat().st_size > settings.max_upload_bytes:
            raise MediaTooLarge(f"the file is larger than {settings.max_upload_bytes:,} bytes")
        return catalog.import_upload(
            db,
            creator=creator,
            path=path,
            filename=filename,
            store_root=settings.media_dir,
            max_pixels=settings.max_image_pixels,
        )


@router.post(
    "",
    summary="Import a file into a catalogue",
    status_code=201,
    responses={
        200: {"description": "Already in the catalogue (outcome: duplicate)", "model": AssetPublic},
        413: _error("File too large"),
        415: _error("Not a supported media type"),
    },
)
def upload_asset(
    db: DbDep,
    settings: SettingsDep,
    user: ApiUserDep,
    file: Annotated[UploadFile, File(description="The work: image, text, audio or video.")],
    creator: Annotated[str | None, Form(description="Handle; default: your own.")] = None,
) -> JSONResponse:
    owner = owned_creator(db, user, creator)
    asset, outcome = import_uploaded(db, settings, owner, file)
    body = AssetPublic.of(asset, handle=owner.handle, outcome=outcome.value)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if outcome == Outcome.NEW else 200)


@router.get("", summary="List a catalogue")
def list_assets(
    db: DbDep,
    user: ApiUserDep,
    creator: Annotated[str | None, Query(description="Handle; default: your own.")] = None,
    kind: Literal["image", "text", "audio", "video"] | None = None,
    year: Annotated[int | None, Query(ge=1000, le=9999, description="Year the work was made.")] = None,
    collection: str | None = None,
    tag: str | None = None,
    licensed: Annotated[
        bool | None, Query(description="Has (true) or lacks (false) a recorded licence.")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search in titles.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[AssetPublic]:
    owner = owned_creator(db, user, creator)
    flt = AssetFilter(kind=kind, year=year, collection=collection, tag=tag, licensed=licensed, search=q)
    items = catalog.list_assets(db, creator=owner, flt=flt, limit=limit, offset=offset)
    return Page[AssetPublic](
        items=[AssetPublic.of(a, handle=owner.handle) for a in items],
        total=catalog.count_assets(db, creator=owner, flt=flt),
        limit=limit,
        offset=offset,
    )


@router.get("/{asset_id}", summary="One asset")
def get_asset(db: DbDep, user: ApiUserDep, asset_id: str) -> AssetPublic:
    asset, owner = owned_asset(db, user, asset_id)
    return AssetPublic.of(asset, handle=owner.handle)


@router.patch("/{asset_id}", summary="Edit an asset: title, publication data, tags, collections, access")
def update_asset(db: DbDep, user: ApiUserDep, asset_id: str, changes: AssetUpdate) -> AssetPublic:
    asset, owner = owned_asset(db, user, asset_id)
    fields = changes.model_dump(exclude_unset=True)
    access = fields.pop("access", None)
    catalog.update_asset(db, asset=asset, **fields)
    if access is not None:
        catalog.set_access(db, asset=asset, access=access)
    return AssetPublic.of(asset, handle=owner.handle)


@router.delete(
    "/{asset_id}", summary="Delete an asset (soft: the file is kept until purged)", status_code=204
)
def delete_asset(db: DbDep, user: ApiUserDep, asset_id: str) -> None:
    asset, _ = owned_asset(db, user, asset_id)
    catalog.delete_asset(db, asset=asset)


@router.post("/{asset_id}/licences", summary="Record an existing licence of an asset", status_code=201)
def add_licence(db: DbDep, user: ApiUserDep, asset_id: str, licence: LicenceCreate) -> AssetPublic:
    asset, owner = owned_asset(db, user, asset_id)
    catalog.add_licence(db, asset=asset, **licence.model_dump())
    return AssetPublic.of(asset, handle=owner.handle)


@router.delete("/{asset_id}/licences/{licence_id}", summary="Remove a recorded licence", status_code=204)
def remove_licence(db: DbDep, user: ApiUserDep, asset_id: str, licence_id: str) -> None:
    asset, _ = owned_asset(db, user, asset_id)
    catalog.remove_licence(db, asset=asset, licence_id=licence_id)


@router.put("/{asset_id}/rightsholders", summary="Set the co-rightsholders (shares must sum to 100 %)")
def set_rightsholders(
    db: DbDep, user: ApiUserDep, asset_id: str, holders: list[RightsholderIn]
) -> AssetPublic:
    asset, owner = owned_asset(db, user, asset_id)
    rows = [
        (
            h.name,
            percent_to_bp(h.share_percent),
            accounts.get_creator(db, h.creator).id if h.creator else None,
        )
        for h in holders
    ]
    catalog.set_rightsholders(db, asset=asset, holders=rows)
    return AssetPublic.of(asset, handle=owner.handle)


collections_router = APIRouter(prefix="/api/v1/collections", tags=["catalog"], responses=router.responses)


@collections_router.get("", summary="A catalogue's collections")
def list_collections(
    db: DbDep,
    user: ApiUserDep,
    creator: Annotated[str | None, Query(description="Handle; default: yours.")] = None,
) -> list[CollectionPublic]:
    owner = owned_creator(db, user, creator)
    return [CollectionPublic.model_validate(c) for c in catalog.list_collections(db, creator=owner)]


@collections_router.post("", summary="Create a collection", status_code=201)
def create_collection(
    db: DbDep,
    user: ApiUserDep,
    collection: CollectionCreate,
    creator: Annotated[str | None, Query(description="Handle; default: yours.")] = None,
) -> CollectionPublic:
    owner = owned_creator(db, user, creator)
    return CollectionPublic.model_validate(
        catalog.create_collection(db, creator=owner, **collection.model_dump())
    )
