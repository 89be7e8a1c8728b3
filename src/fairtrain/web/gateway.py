"""Serving works through the door: ``/media/{id}/{preview|full|original}`` and ``/@{handle}/works/{id}``.

The files are the hot path (a crawler or a fan fetches thousands), so ``MediaFront`` answers them in front of
the application's middleware and router: it reads the request's headers once, the session cookie only when
it is there (``SessionCookie``), asks the door, and writes the answer itself with the security headers the
middleware would have added. Small files come from memory (``gateway.works.FileBodies``); Range requests and
large files are streamed from disk by Starlette's ``FileResponse``. A client that asks for an HTML page (a
person opening a file's URL) is handed to the router, whose ``/media`` route renders refusals as pages.

The door (``gateway.door``) decides; this only turns its verdict into a response. Served files get a strong
ETag (the content's SHA-256), Range and HEAD support, ``Cache-Control: private`` (a shared cache would hand
gated bytes to the next client without asking the door) and the work's signals (Link rel=license, TDMRep,
X-Robots-Tag, Content-Signal). A 304 is given only after the door said yes, so neither an ETag nor a Range
request reveals a byte of a paywalled file.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.datastructures import URL, Headers
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fairtrain.config import Settings
from fairtrain.gateway.analytics import Hit
from fairtrain.gateway.door import PERSONAL_HEADERS, Asking, Door, Variant, Verdict
from fairtrain.gateway.works import ServedFile, TTLCache, Work
from fairtrain.web.security import SessionCookie, session_user_claims
from fairtrain.web.templating import render

__all__ = ["MEDIA_PREFIX", "VARIANTS", "IndexedHeaders", "MediaFront", "router"]

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

VARIANTS: tuple[Variant, ...] = ("preview", "full", "original")
MEDIA_PREFIX = "/media/"
_PRIVATE_CACHE = "private, max-age=300"
_VARY = "Authorization, Cookie, User-Agent, Signature, Signature-Input"
_NOT_FOUND = {"detail": "no such work", "code": "not_found"}
_SERVER_ERROR = {"detail": "The server hit an unexpected error. It has been logged.", "code": "server_error"}
RawHeaders = list[tuple[bytes, bytes]]
_PERSONAL = frozenset(name.encode() for name in PERSONAL_HEADERS)


def door_of(request: Request) -> Door:
    door: Door = request.app.state.door
    return door


async def _work(door: Door, asset_id: str) -> Work | None:
    cached = door.cached_work(asset_id)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(door.work, asset_id)


def _scan(raw: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, bytes, bool]:
    """One pass over a request's headers: its user agent, what it accepts, and whether any header makes the
    request its own (``PERSONAL_HEADERS``)."""
    user_agent = accept = b""
    personal = False
    for name, value in raw:
        name = name.lower()
        if name == b"user-agent":
            user_agent = user_agent or value
        elif name == b"accept":
            accept = accept or value
        elif name in _PERSONAL:
            personal = True
    return user_agent, accept, personal


class IndexedHeaders(Headers):
    """Starlette's request headers, indexed once: the door asks for a dozen of them per request, and each
    lookup in ``Headers`` walks (and decodes) the whole list."""

    def __init__(self, raw: Sequence[tuple[bytes, bytes]]) -> None:
        super().__init__(raw=list(raw))
        index: dict[str, list[str]] = {}
        for name, value in raw:
            index.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        self._index = index

    def getlist(self, key: str) -> list[str]:
        return list(self._index.get(key.lower(), ()))

    def __getitem__(self, key: str) -> str:
        values = self._index.get(key.lower())
        if not values:
            raise KeyError(key)
        return values[0]

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower() in self._index


def _wants_html(accept: str) -> bool:
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _headers(verdict: Verdict, work: Work | None) -> dict[str, str]:
    headers = dict(work.signal_headers) if work is not None else {}
    headers.update({k: v for k, v in verdict.headers.items() if not k.startswith("_")})
    headers["Vary"] = _VARY
    return headers


def _refusal_body(verdict: Verdict, work: Work | None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": verdict.message, "code": verdict.code or "refused"}
    if work is not None and work.license_url:
        body["license"] = work.license_url
    if "crawler-price" in verdict.headers:
        body["price"] = verdict.headers["crawler-price"]
    return body


def _refusal(request: Request, verdict: Verdict, work: Work | None) -> Response:
    headers = _headers(verdict, work)
    if _wants_html(request.headers.get("accept", "")):
        license_url = work.license_url if work is not None else None
        response = render(
            request,
            "refused.html",
            {"verdict": verdict, "work": work, "license_url": license_url},
            status_code=verdict.status,
        )
        response.headers.update(headers)
        return response
    if request.method == "HEAD":
        return Response(status_code=verdict.status, headers=headers)
    return JSONResponse(_refusal_body(verdict, work), status_code=verdict.status, headers=headers)


def _not_modified(headers: Headers, etag: str) -> bool:
    wanted = headers.get("if-none-match")
    if not wanted:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    return "*" in tags or etag in tags


def _asking(request: Request, variant: Variant) -> Asking:
    return Asking(
        method=request.method,
        path=request.scope["path"],
        url=lambda: str(request.url),
        headers=request.headers,
        ip=request.client.host if request.client else "",
        session_user=session_user_claims(request),
        variant=variant,
    )


@router.api_route("/media/{asset_id}/{variant}", methods=["GET", "HEAD"])
async def media_page(request: Request, asset_id: str, variant: str) -> Response:
    """``/media`` for a client that wants HTML (``MediaFront`` answers everyone else): a refusal is a page."""
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
    if verdict.conditional and _not_modified(request.headers, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(served.path, media_type=served.media_type, headers=headers, stat_result=served.stat)


def _encode(headers: dict[str, str]) -> RawHeaders:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items() if k[0] != "_"]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


class _Answer:
    """A response written straight to the server: status, raw headers, body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: RawHeaders, body: bytes = b"") -> None:
        self.status, self.headers, self.body = status, headers, body


class _Kept:
    """An answer the door said may be given again, while the work and the crawler's basis are the same."""

    __slots__ = ("answer", "basis", "hit", "work")

    def __init__(self, work: Work, basis: tuple[object, ...], answer: _Answer, hit: Hit) -> None:
        self.work, self.basis, self.answer, self.hit = work, basis, answer, hit

    def holds(self, work: Work, basis: tuple[object, ...]) -> bool:
        """Whether the answer still stands: decided on this very work and basis (objects, not equal ones)."""
        return (
            work is self.work and len(basis) == len(self.basis) and all(map(operator.is_, basis, self.basis))
        )


class MediaFront:
    """ASGI layer in front of the application (outermost): answers ``GET``/``HEAD /media/{id}/{variant}``
    for every client that does not ask for an HTML page; anything else goes on to ``app``."""

    def __init__(
        self, app: ASGIApp, *, door: Door, session: SessionCookie, security_headers: RawHeaders
    ) -> None:
        self.app = app
        self.door = door
        self.session = session
        self.security = security_headers
        self._vary = (b"vary", _VARY.encode())
        # Answers the door said may be given again (a crawler refused or quoted, asking the same again),
        # by (work, variant, method, user agent, address); kept no longer than the door's crawler verdicts.
        self._kept: TTLCache[tuple[str, str, str, bytes, str], _Kept] = TTLCache(
            door.identities.ttl, max_entries=50_000
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith(MEDIA_PREFIX)
            or scope["method"] not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        user_agent, accept, personal = _scan(scope["headers"])
        if accept and _wants_html(accept.decode("latin-1")):
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(scope, user_agent, personal)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            answer = self._json(500, _SERVER_ERROR, [], scope["method"])
        if isinstance(answer, Response):
            await answer(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _json(self, status: int, body: dict[str, Any], headers: RawHeaders, method: str) -> _Answer:
        content = _json(body)
        raw = [
            *headers,
            *self.security,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
        ]
        return _Answer(status, raw, b"" if method == "HEAD" else content)

    def _raw_headers(self, verdict: Verdict, work: Work) -> RawHeaders:
        """The work's signals, then the verdict's headers (which win over a signal of the same name). A
        refusal says ``no-store``, so no cache keys it and it has no ``Vary``; a served file adds it."""
        own = _encode(verdict.headers) if verdict.headers else []
        names = {name for name, _ in own}
        signals = (
            [h for h in work.raw_signal_headers if h[0] not in names] if names else work.raw_signal_headers
        )
        return [*signals, *own]

    async def _answer(self, scope: Scope, user_agent: bytes, personal: bool) -> _Answer | Response:
        method: str = scope["method"]
        path: str = scope["path"]
        asset_id, _, variant = path[len(MEDIA_PREFIX) :].partition("/")
        if not asset_id or variant not in VARIANTS:  # also any deeper path, e.g. an encoded slash
            return self._json(404, _NOT_FOUND, [], method)
        door = self.door
        work = door.cached_work(asset_id)
        if work is None:
            work = await anyio.to_thread.run_sync(door.work, asset_id)
            if work is None:
                return self._json(404, _NOT_FOUND, [], method)
        client = scope.get("client")
        ip = client[0] if client else ""
        key = None
        if not personal:
            key = (asset_id, variant, method, user_agent, ip)
            kept = self._kept.get(key)
            if kept is not None and kept.holds(work, door.basis()):
                door.count_again(kept.hit)
                return kept.answer
        headers = IndexedHeaders(scope["headers"])
        asking = Asking(
            method=method,
            path=path,
            url=lambda: str(URL(scope=scope)),
            headers=headers,
            ip=ip,
            session_user=self.session.claims(headers.get("cookie")),
            variant=variant,
        )
        verdict = await door.admit(asking, work)
        if not verdict.served or verdict.file is None:
            refusal = _refusal_body(verdict, work)
            answer = self._json(verdict.status, refusal, self._raw_headers(verdict, work), method)
            if key is not None and verdict.reusable and verdict.hit is not None:
                self._kept.put(key, _Kept(work, verdict.basis, answer, verdict.hit))
            return answer
        return await self._file(scope, headers, verdict, verdict.file, work)

    async def _file(
        self, scope: Scope, headers: IndexedHeaders, verdict: Verdict, served: ServedFile, work: Work
    ) -> _Answer | Response:
        etag = f'"{served.etag}"'
        raw = self._raw_headers(verdict, work)
        raw += [self._vary, (b"etag", etag.encode()), (b"cache-control", _PRIVATE_CACHE.encode())]
        if verdict.conditional and _not_modified(headers, etag):
            return _Answer(304, [*raw, *self.security])
        if "range" not in headers and served.stat is not None:
            bodies = self.door.files.bodies
            body = bodies.get(served)
            if body is None and served.size <= bodies.max_file_bytes:
                body = await anyio.to_thread.run_sync(bodies.load, served)
            if body is not None:
                raw += [
                    (b"content-type", served.media_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode()),
                    (b"last-modified", served.last_modified.encode()),
                    (b"accept-ranges", b"bytes"),
                    *self.security,
                ]
                return _Answer(200, raw, b"" if scope["method"] == "HEAD" else body)
        # Range requests and files kept on disk only: Starlette streams them (and parses Range, If-Range).
        streamed = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw + self.security}
        return FileResponse(
            served.path, media_type=served.media_type, headers=streamed, stat_result=served.stat
        )


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
