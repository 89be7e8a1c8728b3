"""``create_app(settings)``: the one place the web application is assembled."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp

from fairtrain import __version__
from fairtrain.config import Settings, load_secret_key
from fairtrain.db.engine import make_engine, make_sessionmaker
from fairtrain.db.migrate import DatabaseNotReady, require_current
from fairtrain.gateway.door import build_door
from fairtrain.web import (
    analytics_api,
    analytics_pages,
    api,
    catalog_api,
    catalog_pages,
    fans_api,
    fans_pages,
    gateway,
    ledger_api,
    ledger_pages,
    licensing_api,
    licensing_pages,
    pages,
    policy_pages,
    protect_pages,
    rsl,
    signals,
)
from fairtrain.web.errors import install_error_handlers, too_large_app
from fairtrain.web.headers import SecurityHeadersMiddleware, raw_security_headers
from fairtrain.web.limits import BodySizeLimitMiddleware
from fairtrain.web.security import SessionCookie
from fairtrain.web.templating import make_templates

__all__ = ["create_app", "create_app_from_env"]

STATIC_DIR = Path(__file__).parent / "web" / "static"

DESCRIPTION = """\
fairtrain's JSON API. Public reads need no credentials; endpoints about *you* take a personal API token,
created on your account page, as `Authorization: Bearer ftp_...`.

Errors are JSON objects with a human-readable `detail` and a machine-readable `code`.
"""


class FairtrainApp(FastAPI):
    """FastAPI with one layer in front of all its middleware: ``front`` (the works' files, see
    ``web.gateway.MediaFront``), which hands everything it does not answer to the usual stack."""

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return self.front(stack) if self.front is not None else stack


def create_app(settings: Settings, *, serving: bool = False) -> FastAPI:
    """The application; ``serving``: this process exists to serve it (``fairtrain serve``, uvicorn's
    factory), so tune the process for that."""
    secret_key = load_secret_key(settings)
    engine = make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if serving:
            # Everything loaded so far (modules, metadata, templates, the crawler registry) lives as long as
            # the process: moved out of the collector's sight, a full collection no longer pauses every
            # request for a tenth of a second. (Not for apps made in tests, which come and go.)
            gc.collect()
            gc.freeze()
        yield
        door.meter.close()  # writes the last analytics counts
        engine.dispose()

    app = FairtrainApp(
        title="fairtrain",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        # fairtrain configures no OpenTelemetry provider; asking on every request whether one exists costs
        # the works' hot path ~10 µs a request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.templates = make_templates()
    app.state.door = door = build_door(settings, engine, app.state.sessionmaker)

    # The works' files (the hot path) are answered in front of everything below, which MediaFront stands in
    # for: it adds the security headers itself (those that apply to a file or a JSON answer: it hands
    # requests for HTML pages to the stack) and reads the session cookie (never writes it); bodies of
    # GET/HEAD requests are never read, so the size limit has nothing to guard there.
    app.front = lambda stack: gateway.MediaFront(
        stack,
        door=door,
        session=SessionCookie(
            secret_key=secret_key,
            cookie_name=settings.session_cookie_name,
            max_age=settings.session_max_age,
        ),
        security_headers=raw_security_headers(hsts=settings.cookie_secure, documents=False),
    )
    # Added innermost first: the session wraps the size limit, so a 413 page still knows the session.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        on_too_large=too_large_app,
        upload_paths=(
            catalog_api.UPLOAD_PATH,
            catalog_pages.UPLOAD_PATH,
            protect_pages.CHECK_PATH,
            protect_pages.VERIFY_API_PATH,
        ),
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie=settings.session_cookie_name,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    # Outermost, so error pages and 413 replies carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.cookie_secure)
    install_error_handlers(app)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router, tags=["v1"])
    app.include_router(catalog_api.router)
    app.include_router(catalog_api.collections_router)
    app.include_router(signals.router)
    app.include_router(rsl.router)
    app.include_router(pages.router)
    app.include_router(gateway.router)
    app.include_router(catalog_pages.router)
    app.include_router(policy_pages.router)
    app.include_router(protect_pages.router)
    app.include_router(protect_pages.api_router)
    app.include_router(licensing_api.router)
    app.include_router(licensing_pages.router)
    app.include_router(ledger_api.router)
    app.include_router(ledger_pages.router)
    app.include_router(fans_api.router)
    app.include_router(fans_pages.router)
    app.include_router(analytics_api.router)
    app.include_router(analytics_pages.router)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="fairtrain API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/healthz", tags=["health"], summary="Liveness and database check")
    def healthz(request: Request) -> JSONResponse:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            require_current(engine)
        except DatabaseNotReady as exc:
            return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
        except Exception as exc:  # any driver error means "not healthy", reported, never raised
            return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the environment."""
    return create_app(Settings(), serving=True)
