"""Protected files on the web: protect buttons, watermark settings, the public "Check a file" page, the
C2PA trust anchors for verifiers, and ``POST /api/v1/verify``."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import RedirectResponse, Response

from fairtrain.catalog import service as catalog
from fairtrain.config import Settings
from fairtrain.db.engine import transaction
from fairtrain.errors import FairtrainError, InvalidInput, NotFound
from fairtrain.stamp.models import POSITIONS
from fairtrain.stamp.service import (
    ProtectionContext,
    assets_to_protect,
    current_protection,
    get_settings,
    protect_asset,
    update_settings,
)
from fairtrain.stamp.verify import VerifyReport, verify_bytes
from fairtrain.web.catalog_api import owned_asset, owned_creator
from fairtrain.web.deps import DbDep, SettingsDep, UserDep
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["CHECK_PATH", "VERIFY_API_PATH", "api_router", "protect_ids", "protection_context", "router"]

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", tags=["v1"])

CHECK_PATH = "/check"
VERIFY_API_PATH = "/api/v1/verify"
# Protecting is ~1 s an image: more than this many in one click run after the reply, in the background.
INLINE_LIMIT = 5


def protection_context(request: Request) -> ProtectionContext:
    context: ProtectionContext | None = getattr(request.app.state, "protection", None)
    if context is None:
        context = ProtectionContext.from_settings(request.app.state.settings)
        request.app.state.protection = context  # one keyring per app: it caches loaded keys
    return context


def protect_ids(maker: sessionmaker[Session], context: ProtectionContext, ids: list[str]) -> None:
    """Each asset in its own transaction, so a failure or a restart keeps what was done."""
    for asset_id in ids:
        with transaction(maker) as session:
            protect_asset(session, asset=catalog.get_asset(session, asset_id), context=context)


@router.post("/catalog/assets/{asset_id}/protect")
def protect_one(request: Request, db: DbDep, user: UserDep, asset_id: str) -> Response:
    asset, _ = owned_asset(db, user, asset_id)
    outcome = protect_asset(db, asset=asset, context=protection_context(request), force=True)
    notice = "protected" if outcome.status == "protected" else f"protect-{outcome.status}"
    return RedirectResponse(f"/catalog/assets/{asset.id}?notice={notice}", status_code=303)


@router.get("/catalog/assets/{asset_id}/protected")
def protected_file(request: Request, db: DbDep, user: UserDep, asset_id: str) -> Response:
    """The owner's download of the current protected derivative."""
    asset, _ = owned_asset(db, user, asset_id)
    row = current_protection(db, asset.id)
    context = protection_context(request)
    if row is None or not context.store.has(row.sha256):
        raise NotFound("this asset has no protected file yet")
    stem = asset.original_filename.rsplit(".", 1)[0] or asset.id
    extension = {"image/jpeg": "jpg", "image/png": "png"}.get(
        row.mime, asset.original_filename.rsplit(".", 1)[-1]
    )
    return FileResponse(
        context.store.path_for(row.sha256),
        media_type=row.mime,
        filename=f"{stem}-protected.{extension}",
        headers={"Cache-Control": "private, max-age=0"},
    )


@router.post("/catalog/protect")
def protect_catalogue(
    request: Request,
    db: DbDep,
    user: UserDep,
    background: BackgroundTasks,
    collection: Annotated[str, Form()] = "",
) -> Response:
    """Protect a whole catalogue, or one collection: stale derivatives only."""
    creator = owned_creator(db, user, request.query_params.get("creator"))
    group = catalog.get_collection(db, creator=creator, slug=collection) if collection else None
    ids = [a.id for a in assets_to_protect(db, creator=creator, collection=group)]
    context = protection_context(request)
    if len(ids) <= INLINE_LIMIT:
        for asset_id in ids:
            protect_asset(db, asset=catalog.get_asset(db, asset_id), context=context)
        notice = f"protected-{len(ids)}"
    else:
        background.add_task(protect_ids, request.app.state.sessionmaker, context, ids)
        notice = f"protecting-{len(ids)}"
    target = "/catalog" + (f"?collection={collection}&" if collection else "?")
    return RedirectResponse(f"{target}notice={notice}", status_code=303)


def _settings_page(
    request: Request, db: DbDep, user: UserDep, *, status_code: int = 200, **extra: object
) -> Response:
    creator = owned_creator(db, user, request.query_params.get("creator"))
    return render(
        request,
        "protection.html",
        {
            "creator": creator,
            "stamp": get_settings(db, creator),
            "positions": POSITIONS,
            "collections": catalog.list_collections(db, creator=creator),
            "notice": request.query_params.get("notice"),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/catalog/protection")
def protection_settings(request: Request, db: DbDep, user: UserDep) -> Response:
    return _settings_page(request, db, user)


@router.post("/catalog/protection")
def save_protection_settings(
    request: Request,
    db: DbDep,
    user: UserDep,
    position: Annotated[str, Form()],
    opacity: Annotated[int, Form()],
    scale: Annotated[int, Form()],
    enabled: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    remove_logo: Annotated[str, Form()] = "",
    logo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    creator = owned_creator(db, user, request.query_params.get("creator"))
    logo_bytes = logo.file.read(8 * 1024 * 1024 + 1) if logo is not None and logo.filename else None
    try:
        if logo_bytes is not None and len(logo_bytes) > 8 * 1024 * 1024:
            raise InvalidInput("the logo is larger than 8 MiB")
        update_settings(
            db,
            creator=creator,
            context=protection_context(request),
            enabled=bool(enabled),
            text=text,
            logo=logo_bytes,
            remove_logo=bool(remove_logo),
            position=position,
            opacity=opacity,
            scale=scale,
        )
    except FairtrainError as exc:
        db.rollback()
        return _settings_page(request, db, user, error=exc.message, status_code=exc.status_code)
    return RedirectResponse("/catalog/protection?notice=saved", status_code=303)


# --- checking a file: anyone -------------------------------------------------------------------------


def _verify_upload(
    db: Session, settings: Settings, context: ProtectionContext, upload: UploadFile
) -> VerifyReport:
    data = upload.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise InvalidInput(f"the file is larger than {settings.max_upload_bytes:,} bytes")
    return verify_bytes(
        db, data, filename=upload.filename or "upload", context=context, max_pixels=settings.max_image_pixels
    )


@router.get(CHECK_PATH)
def check_form(request: Request) -> Response:
    return render(request, "check.html", {"report": None})


@router.post(CHECK_PATH)
def check_file(
    request: Request, db: DbDep, settings: SettingsDep, file: Annotated[UploadFile, File()]
) -> Response:
    try:
        report = _verify_upload(db, settings, protection_context(request), file)
    except FairtrainError as exc:
        return render(
            request, "check.html", {"report": None, "error": exc.message}, status_code=exc.status_code
        )
    return render(request, "check.html", {"report": report})


@router.get("/c2pa/root.pem")
def c2pa_root(request: Request) -> Response:
    """This installation's current C2PA root certificate: add it to a verifier's trust anchors."""
    return Response(
        protection_context(request).keyring.root_certificate_pem(),
        media_type="application/x-pem-file",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/c2pa/trust-anchors.pem")
def c2pa_trust_anchors(request: Request) -> Response:
    """Every root this installation has signed with (current and rotated), concatenated."""
    return Response(
        protection_context(request).keyring.trust_anchors_pem(),
        media_type="application/x-pem-file",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@api_router.post(
    "/verify",
    summary="Check a file: watermark, C2PA manifest, XMP rights, canaries and nearest catalogue works",
)
def verify_api(
    request: Request, db: DbDep, settings: SettingsDep, file: Annotated[UploadFile, File()]
) -> JSONResponse:
    report = _verify_upload(db, settings, protection_context(request), file)
    body = dataclasses.asdict(report)
    body["asset"] = dataclasses.asdict(report.asset) if report.asset else None
    return JSONResponse(body)
