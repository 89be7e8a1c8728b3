"""Errors become pages for browsers and JSON for API clients; domain errors keep their status code."""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from fairtrain.accounts.errors import LoginThrottled
from fairtrain.errors import FairtrainError
from fairtrain.web.deps import ApiAuthFailed, LoginRequired
from fairtrain.web.templating import render

__all__ = ["install_error_handlers", "too_large_app", "wants_json"]

log = logging.getLogger("fairtrain.web")

_TITLES = {
    400: "Bad request",
    401: "Log in needed",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported file type",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Unavailable",
}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/healthz")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    details: list[dict[str, object]] | None = None,
) -> Response:
    code = code or HTTPStatus(status).phrase.lower().replace(" ", "_")
    if wants_json(request):
        body: dict[str, object] = {"detail": message, "code": code}
        if details:
            body["errors"] = details
        return JSONResponse(body, status_code=status, headers=headers)
    title = _TITLES.get(status, HTTPStatus(status).phrase)
    response = render(
        request, "error.html", {"status": status, "title": title, "message": message}, status_code=status
    )
    if headers:
        response.headers.update(headers)
    return response


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FairtrainError)
    if isinstance(exc, LoginRequired):
        if wants_json(request):
            message = "authentication required: send a personal API token as 'Authorization: Bearer ftp_...'"
            return error_response(
                request, 401, message, code=exc.code, headers={"WWW-Authenticate": "Bearer"}
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    headers = None
    if isinstance(exc, LoginThrottled):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, ApiAuthFailed):
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}  # RFC 6750 §3
    return error_response(request, exc.status_code, exc.message, code=exc.code, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: f"Nothing here at {request.url.path}.", 405: f"{request.method} is not allowed here."}
    message = messages.get(exc.status_code) or str(exc.detail)
    return error_response(request, exc.status_code, message, headers=dict(exc.headers or {}))


def _describe(error: dict[str, object]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")  # type: ignore[attr-defined]
    return f"{location}: {error.get('msg')}" if location else str(error.get("msg"))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [dict(e) for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in errors):
        message = "the request body is not valid JSON"
    else:
        message = "; ".join(_describe(e) for e in errors[:5]) or "invalid request"
    details: list[dict[str, object]] = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))} for e in errors
    ]
    return error_response(request, 422, message, code="validation_error", details=details)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, 500, "The server hit an unexpected error. It has been logged.", code="server_error"
    )


async def too_large_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The 413 reply the body-size middleware sends."""
    request = Request(scope, receive)
    message = scope.get("state", {}).get("body_error", "request body too large")
    await error_response(request, 413, message, code="body_too_large")(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FairtrainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
