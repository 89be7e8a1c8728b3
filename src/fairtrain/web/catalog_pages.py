"""The creator's catalogue pages: upload, browse with filters, bulk edit, one asset's page."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.responses import RedirectResponse, Response

from fairtrain.catalog import service as catalog
from fairtrain.catalog.dupes import near_duplicates
from fairtrain.catalog.exports import (
    export_rows,
    human_bytes,
    human_duration,
    portfolio,
    write_csv,
    write_json,
)
from fairtrain.catalog.schemas import percent_to_bp
from fairtrain.catalog.service import AssetFilter
from fairtrain.catalog.thumbnails import thumbnail
from fairtrain.errors import FairtrainError, InvalidInput, NotFound
from fairtrain.stamp.service import current_protection
from fairtrain.web.catalog_api import import_uploaded, owned_asset, owned_creator
from fairtrain.web.deps import DbDep, SettingsDep, UserDep
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["UPLOAD_PATH", "router"]

router = APIRouter(prefix="/catalog", dependencies=[Depends(check_csrf)], include_in_schema=False)

UPLOAD_PATH = "/catalog/upload"
PAGE_SIZE = 60
KINDS = ("image", "text", "audio", "video")


def _filter_from(request: Request) -> AssetFilter:
    params = request.query_params
    year = params.get("year", "")
    licensed = {"yes": True, "no": False}.get(params.get("licensed", ""))
    return AssetFilter(
        kind=params.get("kind") if params.get("kind") in KINDS else None,
        year=int(year) if year.isdigit() else None,
        collection=params.get("collection") or None,
        tag=params.get("tag") or None,
        licensed=licensed,
        search=params.get("q") or None,
    )


def _catalog_page(
    request: Request, db: DbDep, user: UserDep, *, status_code: int = 200, **extra: object
) -> Response:
    creator = owned_creator(db, user, request.query_params.get("creator"))
    flt = _filter_from(request)
    page = max(1, int(p) if (p := request.query_params.get("page", "1")).isdigit() else 1)
    assets = catalog.list_assets(db, creator=creator, flt=flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    total = catalog.count_assets(db, creator=creator, flt=flt)
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return render(
        request,
        "catalog.html",
        {
            "creator": creator,
            "assets": assets,
            "total": total,
            "flt": flt,
            "kinds": KINDS,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "query": urlencode(query),
            "licensed": request.query_params.get("licensed", ""),
            **extra,
        },
        status_code=status_code,
    )


@router.get("")
def catalog_page(request: Request, db: DbDep, user: UserDep) -> Response:
    return _catalog_page(request, db, user, notice=request.query_params.get("notice"))


@router.get("/portfolio")
def portfolio_page(request: Request, db: DbDep, user: UserDep) -> Response:
    """The licensing portfolio: the summary a creator attaches when pitching an AI company."""
    creator = owned_creator(db, user, request.query_params.get("creator"))
    summary = portfolio(db, creator=creator)
    kinds = sorted(summary.by_kind)
    return render(
        request,
        "portfolio.html",
        {
            "creator": creator,
            "p": summary,
            "kinds": kinds,
            "size": human_bytes(summary.total_bytes),
            "duration": human_duration(summary.total_duration_ms),
        },
    )


@router.get("/export.{fmt}")
def export(request: Request, db: DbDep, user: UserDep, fmt: Literal["csv", "json"]) -> Response:
    """Everything the catalogue records, as a download."""
    creator = owned_creator(db, user, request.query_params.get("creator"))
    rows = export_rows(db, creator=creator)
    out = io.StringIO()
    (write_csv if fmt == "csv" else write_json)(rows, out)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    disposition = f'attachment; filename="catalog-{creator.handle}.{fmt}"'
    return Response(out.getvalue(), media_type=media, headers={"Content-Disposition": disposition})


@router.post("/upload")
def upload(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: UserDep,
    files: Annotated[list[UploadFile], File()],
) -> Response:
    creator = owned_creator(db, user, request.query_params.get("creator"))
    results: list[tuple[str, str, str | None]] = []  # (file name, outcome or error, asset id)
    status = 200
    for upload_file in files:
        name = upload_file.filename or "upload"
        try:
            with db.begin_nested():  # one file failing leaves the others imported
                asset, outcome = import_uploaded(db, settings, creator, upload_file)
            results.append((name, outcome.value, asset.id))
        except FairtrainError as exc:
            results.append((name, exc.message, None))
            status = exc.status_code if len(files) == 1 else status
    return _catalog_page(request, db, user, results=results, status_code=status)


@router.post("/bulk")
def bulk_edit(
    request: Request,
    db: DbDep,
    user: UserDep,
    asset_ids: Annotated[list[str], Form()],
    published_on: Annotated[str, Form()] = "",
    add_tags: Annotated[str, Form()] = "",
) -> Response:
    day = _parse_date(published_on)
    tags = [t for t in add_tags.split(",") if t.strip()]
    for asset_id in asset_ids:
        asset, _ = owned_asset(db, user, asset_id)
        if day is not None:
            catalog.update_asset(db, asset=asset, published_on=day)
        if tags:
            catalog.update_asset(db, asset=asset, add_tags=tags)
    return RedirectResponse(f"/catalog?notice=updated-{len(asset_ids)}", status_code=303)


def _parse_date(value: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _asset_page(
    request: Request, db: DbDep, user: UserDep, asset_id: str, *, status_code: int = 200, **extra: object
) -> Response:
    asset, creator = owned_asset(db, user, asset_id)
    pairs = near_duplicates(db, creator_id=creator.id, involving={asset.id})
    near = []
    for pair in pairs:
        other_id = pair.other_id if pair.asset_id == asset.id else pair.asset_id
        near.append((catalog.get_asset(db, other_id), pair))
    present = [s for s in asset.sources if s.missing_since is None]
    missing = [s for s in asset.sources if s.missing_since is not None]
    holders = "\n".join(f"{r.name}: {r.share_bp // 100}.{r.share_bp % 100:02d}" for r in asset.rightsholders)
    return render(
        request,
        "asset.html",
        {
            "asset": asset,
            "creator": creator,
            "near": near,
            "present": present,
            "missing": missing,
            "holders_text": holders,
            "all_collections": catalog.list_collections(db, creator=creator),
            "protection": current_protection(db, asset.id),
            "notice": request.query_params.get("notice"),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/assets/{asset_id}")
def asset_page(request: Request, db: DbDep, user: UserDep, asset_id: str) -> Response:
    return _asset_page(request, db, user, asset_id)


def _rights_refused(
    request: Request, db: DbDep, user: UserDep, asset_id: str, exc: FairtrainError
) -> Response:
    """The asset page again, with what was refused; nothing of the refused change is kept."""
    db.rollback()
    return _asset_page(request, db, user, asset_id, rights_error=exc.message, status_code=exc.status_code)


def _saved(asset_id: str) -> RedirectResponse:
    return RedirectResponse(f"/catalog/assets/{asset_id}?notice=saved", status_code=303)


@router.post("/assets/{asset_id}/licences")
def add_licence(
    request: Request,
    db: DbDep,
    user: UserDep,
    asset_id: str,
    licence_type: Annotated[str, Form()],
    licensee: Annotated[str, Form()] = "",
    starts_on: Annotated[str, Form()] = "",
    ends_on: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    asset, _ = owned_asset(db, user, asset_id)
    try:
        catalog.add_licence(
            db,
            asset=asset,
            licence_type=licence_type,
            licensee=licensee,
            starts_on=_parse_date(starts_on),
            ends_on=_parse_date(ends_on),
            notes=notes,
        )
    except FairtrainError as exc:
        return _rights_refused(request, db, user, asset_id, exc)
    return _saved(asset.id)


@router.post("/assets/{asset_id}/rightsholders")
def set_rightsholders(
    request: Request, db: DbDep, user: UserDep, asset_id: str, holders: Annotated[str, Form()] = ""
) -> Response:
    """One rightsholder a line, ``Name: 33.33`` (percent, at most two decimals)."""
    asset, _ = owned_asset(db, user, asset_id)
    try:
        rows: list[tuple[str, int, str | None]] = []
        for line in holders.splitlines():
            if not line.strip():
                continue
            name, sep, share = line.rpartition(":")
            if not sep:
                raise InvalidInput(f"{line.strip()!r}: write 'Name: percent'")
            try:
                rows.append((name, percent_to_bp(share), None))
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        catalog.set_rightsholders(db, asset=asset, holders=rows)
    except FairtrainError as exc:
        return _rights_refused(request, db, user, asset_id, exc)
    return _saved(asset.id)


@router.post("/assets/{asset_id}/collections")
def set_collections(
    request: Request,
    db: DbDep,
    user: UserDep,
    asset_id: str,
    collections: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    new_collection: Annotated[str, Form()] = "",
) -> Response:
    asset, creator = owned_asset(db, user, asset_id)
    try:
        slugs = list(collections)
        if new_collection.strip():
            slug = "-".join("".join(c if c.isalnum() else " " for c in new_collection.lower()).split())[:64]
            created = catalog.create_collection(
                db, creator=creator, slug=slug or "collection", name=new_collection
            )
            slugs.append(created.slug)
        catalog.update_asset(db, asset=asset, collections=slugs)
    except FairtrainError as exc:
        return _rights_refused(request, db, user, asset_id, exc)
    return _saved(asset.id)


@router.post("/assets/{asset_id}")
def edit_asset(
    request: Request,
    db: DbDep,
    user: UserDep,
    asset_id: str,
    title: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    published_on: Annotated[str, Form()] = "",
    publication_urls: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> Response:
    asset, _ = owned_asset(db, user, asset_id)
    catalog.update_asset(
        db,
        asset=asset,
        title=title,
        description=description,
        published_on=_parse_date(published_on),
        publication_urls=publication_urls.split(),
        tags=[t for t in tags.split(",") if t.strip()],
    )
    return _saved(asset.id)


@router.post("/assets/{asset_id}/access")
def change_access(db: DbDep, user: UserDep, asset_id: str, access: Annotated[str, Form()]) -> Response:
    asset, _ = owned_asset(db, user, asset_id)
    catalog.set_access(db, asset=asset, access=access)
    return _saved(asset.id)


@router.post("/assets/{asset_id}/delete")
def delete(db: DbDep, user: UserDep, asset_id: str) -> Response:
    asset, _ = owned_asset(db, user, asset_id)
    catalog.delete_asset(db, asset=asset)
    return RedirectResponse("/catalog?notice=deleted", status_code=303)


@router.get("/assets/{asset_id}/thumb")
def asset_thumbnail(db: DbDep, settings: SettingsDep, user: UserDep, asset_id: str) -> Response:
    asset, _ = owned_asset(db, user, asset_id)
    source = catalog.asset_file(asset, store_root=settings.media_dir)
    thumb = thumbnail(asset, source=source, cache_dir=settings.data_dir / "thumbs") if source else None
    if thumb is None:
        raise NotFound("no thumbnail for this asset")
    return FileResponse(thumb, media_type="image/webp", headers={"Cache-Control": "private, max-age=86400"})
