"""The baseline: a plain Starlette app doing what fairtrain's measured routes do, with nothing around it.

No middleware, no sessions, no dependency injection. It shares fairtrain's database driver (SQLAlchemy on
SQLite, connections pooled the same way), its static directory and the shape of its creator page, so the
difference in a benchmark is what fairtrain's web shell costs, not what SQLite or Jinja2 cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from fairtrain.app import STATIC_DIR

__all__ = ["create_baseline_app"]

TEMPLATES_DIR = Path(__file__).with_name("templates")

# The same content the demo gives @mira, held in memory: the baseline page reads no database.
_CREATOR = {
    "handle": "mira",
    "display_name": "Mira Okafor",
    "bio": "Documentary photographer. Coastlines, harbours and the people who work them.",
}
_MEMBERSHIPS = [{"slug": "northern-light", "name": "Northern Light Collective", "since": "November 2026"}]
_NAV = [("Creators", "/creators"), ("Collectives", "/collectives"), ("API", "/api/docs")]


def create_baseline_app(database: Path) -> Starlette:
    """``/healthz`` runs ``SELECT 1`` on ``database``; ``/static`` and ``/@mira`` mirror fairtrain's."""
    engine = create_engine(f"sqlite:///{database}", connect_args={"check_same_thread": False})
    templates = Jinja2Templates(directory=TEMPLATES_DIR)

    # Sync, like fairtrain's /healthz: Starlette runs it in the thread pool.
    def healthz(_request: Request) -> JSONResponse:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "database": "ok"})

    async def creator(request: Request) -> Response:
        context = {"creator": _CREATOR, "memberships": _MEMBERSHIPS, "nav": _NAV, "path": request.url.path}
        return templates.TemplateResponse(request, "creator.html", context)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/@mira", creator),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        lifespan=lifespan,
    )
