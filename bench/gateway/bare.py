"""The baselines: a bare Starlette app that serves the gateway's file with ``FileResponse``, or says 403.

No middleware, no session, no database: ``uvicorn --factory bench.gateway.bare:create_bare_app`` with the file
named by ``FAIRTRAIN_BENCH_GATEWAY_FILE``. It runs under the same uvicorn settings and worker count as
fairtrain, so the difference in a row is what the door and fairtrain's web shell cost.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["FILE_ENV", "create_bare_app"]

FILE_ENV = "FAIRTRAIN_BENCH_GATEWAY_FILE"


def create_bare_app() -> Starlette:
    """``/file`` serves the file as ``image/jpeg``; ``/forbidden`` answers 403 with a one-line JSON body;
    ``/healthz`` says the server is up."""
    path = Path(os.environ[FILE_ENV])

    async def file(_request: Request) -> Response:
        return FileResponse(path, media_type="image/jpeg")

    async def forbidden(_request: Request) -> Response:
        return JSONResponse({"detail": "forbidden", "code": "CrawlerForbidden"}, status_code=403)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/file", file), Route("/forbidden", forbidden), Route("/healthz", healthz)]
    )
