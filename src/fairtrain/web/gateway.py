"""Serving works through the door: ``/media/{id}/{preview|full|original}`` (``MediaRoute``, ahead of the
router) and ``/@{handle}/works/{id}``.

The route only translates: the door (``gateway.door``) decides, and this turns its verdict into a response.
Served files get a strong ETag (the content's SHA-256), Range and HEAD support (Starlette's FileResponse),
``Cache-Control: private`` (a shared cache would hand gated bytes to the next client without asking the door)
and the work's signals (Link rel=license, TDMRep, X-Robots-Tag, Content-Signal). A 304 is given only after
the door said yes, so neither an ETag nor a Range request reveals a byte of a paywalled file.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fairtrain.config import Settings
from fairtrain.gateway.door import Asking, Door, Variant, Verdict
from fairtrain.gateway.works import Work
from fairtrain.web.security import session_user_claims
from fairtrain.web.templating import render

__all__ = ["MEDIA_PREFIX", "VARIANTS", "MediaRoute", "router"]

router = APIRouter(include_in_schema=False)

VARIANTS: tuple[Variant, ...] = ("preview", "full", "original")
MEDIA_PREFIX = "/media/"
_PRIVATE_CACHE = "private, max-age=300"
_VARY = "Authorization, Cookie, User-Agent, Signature, Signature-Input"


def door_of(request: Request) -> Door:
    door: Door = request.app.state.door
    return door


async def _work(door: Door, asset_id: str) -> Work | None:
    cached = door.cached_work(asset_id)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(door.work, asset_id)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _asking(request: Request, variant: Variant) -> Asking:
    return Asking(
        method=request.method,
        path=request.scope["path"],
        url=lambda: str(request.url),
        headers=request.headers,
        ip=_client_ip(request),
        session_user=session_user_claims(request),
        variant=variant,
    )


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _headers(verdict: Verdict, work: Work | None) -> dict[str, str]:
    headers = dict(work.signal_headers) if work is not None else {}
    headers.update({k: v for k, v in verdict.headers.items() if not k.startswith("_")})
    headers["Vary"] = _VARY
    return headers


def _refusal(request: Request, verdict: Verdict, work: Work | None) -> Response:
    headers = _headers(verdict, work)
    license_url = work.license_url if work is not None else None
    if _wants_html(request):
        response = render(
            request,
            "refused.html",
            {"verdict": verdict, "work": work, "license_url": license_url},
            status_code=verdict.status,
        )
        response.headers.update(headers)
        return response
    body: dict[str, Any] = {"detail": verdict.message, "code": verdict.code or "refused"}
    if license_url:
        body["license"] = license_url
    if "crawler-price" in verdict.headers:
        body["price"] = verdict.headers["crawler-price"]
    if request.method == "HEAD":
        return Response(status_code=verdict.status, headers=headers)
    return JSONResponse(body, status_code=verdict.status, headers=headers)


def _not_modified(request: Request, etag: str) -> bool:
    wanted = request.headers.get("if-none-match")
    if not wanted:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    return "*" in tags or etag in tags


_NOT_FOUND = {"detail": "no such work", "code": "not_found"}


async def media_response(request: Request, asset_id: str, variant: str) -> Response:
    """The answer to ``GET``/``HEAD /media/{asset_id}/{variant}``."""
    door = door_of(request)
    if variant not in VARIANTS:
        return JSONResponse(_NOT_FOUND, status_code=404)
    work = await _work(door, asset_id)
    if work is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    verdict = await door.admit(_asking(request, variant), work)
    if not verdict.served or verdict.file is None:
        return _refusal(request, verdict, work)
    served = verdict.file
    etag = f'"{served.etag}"'
    headers = _headers(verdict, work)
    headers.update({"ETag": etag, "Cache-Control": _PRIVATE_CACHE})
    if verdict.conditional and _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(served.path, media_type=served.media_type, headers=headers, stat_result=served.stat)


class MediaRoute:
    """ASGI middleware answering ``/media/{id}/{variant}`` before the application's router.

    The files are the hot path (a crawler or a fan fetches thousands); matching them against every route
    of the application and running FastAPI's dependency machinery cost more than the door itself. The
    session, size-limit and security-header middleware still wrap it; anything else passes through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(MEDIA_PREFIX) or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        parts = path[len(MEDIA_PREFIX) :].split("/")
        request = Request(scope, receive)
        if len(parts) != 2 or not all(parts):
            response: Response = JSONResponse(_NOT_FOUND, status_code=404)
        else:
            response = await media_response(request, parts[0], parts[1])
        await response(scope, receive, send)


@router.get("/@{handle}/works/{asset_id}")
async def work_page(request: Request, handle: str, asset_id: str) -> Response:
    door = door_of(request)
    work = await _work(door, asset_id)
    if work is None or work.handle != handle.lower():
        context = {"status": 404, "title": "Not found", "message": "There is no such work."}
        return render(request, "error.html", context, status_code=404)
    verdict = await door.admit(_asking(request, "page"), work)
    if not verdict.served:
        return _refusal(request, verdict, work)
    viewer = verdict.viewer
    licensed = verdict.client_class == "licensed-client"
    can_see_full = licensed or await anyio.to_thread.run_sync(door.sees_full, work, viewer)
    settings: Settings = request.app.state.settings
    response = render(
        request,
        "work.html",
        {
            "work": work,
            "can_see_full": can_see_full,
            "is_owner": viewer is not None and viewer.creator_id == work.creator_id,
            "policy_tags": work.html_tags,
            "base_url": settings.base_url,
        },
    )
    response.headers.update(_headers(verdict, work))
    response.headers["Cache-Control"] = "private, no-cache"
    return response
