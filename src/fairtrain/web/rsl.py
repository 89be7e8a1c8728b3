"""The RSL licence server's routes (OLP, STANDARDS §1): ``POST /rsl/token``, ``POST /rsl/introspect``,
``GET /rsl/jwks.json`` and the RFC 8414 metadata at ``/.well-known/oauth-authorization-server/rsl``.

The decisions are in :mod:`fairtrain.licensing.olp`. Errors here are OAuth-style JSON
(``{"error": ..., "error_description": ...}``, ``Cache-Control: no-store``), not the app's usual
``{"detail", "code"}``: the route class below turns every :class:`OlpError`, even one raised while reading
the request, into that shape, and any unexpected failure into ``server_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from fairtrain.licensing.keys import SigningKeyring
from fairtrain.licensing.olp import (
    MAX_FORM_BYTES,
    OlpError,
    authenticate_introspector,
    introspect,
    olp_issuer,
    parse_form,
    signing_keyring,
    token_request,
)
from fairtrain.web.deps import DbDep, SettingsDep

__all__ = ["INTROSPECT_PATH", "JWKS_PATH", "METADATA_PATH", "TOKEN_PATH", "olp_keyring", "router"]

log = logging.getLogger("fairtrain.web.rsl")

TOKEN_PATH = "/rsl/token"  # noqa: S105 - a path
INTROSPECT_PATH = "/rsl/introspect"
JWKS_PATH = "/rsl/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server/rsl"  # RFC 8414 §3 for the issuer {base}/rsl

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PUBLIC = {"Cache-Control": "public, max-age=300"}


def _oauth_error(exc: OlpError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="rsl"'
    return JSONResponse(exc.as_json(), status_code=exc.status_code, headers=headers)


class _OAuthRoute(APIRoute):
    """OAuth-style errors for everything that goes wrong in these routes, their dependencies included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OlpError as exc:
                return _oauth_error(exc)
            except Exception:
                log.exception("licence server error on %s %s", request.method, request.url.path)
                return _oauth_error(
                    OlpError("server_error", "the licence server hit an unexpected error", status_code=500)
                )

        return route


router = APIRouter(route_class=_OAuthRoute, tags=["rsl"])


def olp_keyring(request: Request) -> SigningKeyring:
    """This application's keyring (one per app: it caches the loaded keys)."""
    keyring: SigningKeyring | None = getattr(request.app.state, "olp_keyring", None)
    if keyring is None:
        keyring = request.app.state.olp_keyring = signing_keyring(request.app.state.settings)
    return keyring


KeyringDep = Annotated[SigningKeyring, Depends(olp_keyring)]


async def _form(request: Request) -> dict[str, str]:
    """The URL-encoded form, read with its own 64 KiB limit (the app's body limit is far larger)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise OlpError("invalid_request", f"the request is larger than {MAX_FORM_BYTES // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise OlpError("invalid_request", f"the request is larger than {MAX_FORM_BYTES // 1024} KiB")
    return parse_form(bytes(body), request.headers.get("content-type"))


FormDep = Annotated[dict[str, str], Depends(_form)]


def _form_body(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    """An OpenAPI requestBody for a URL-encoded form (the route reads the body itself)."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_TOKEN_FORM = _form_body(
    {
        "grant_type": "client_credentials",
        "license": 'the RSL <license> element wanted; its <permits type="usage"> lists the usages',
        "license_type": "application/rsl+xml (the default)",
        "resource": "the content URL or path, e.g. /@mira/* or a work's URL",
        "client_id": "only when not sent with HTTP Basic",
        "client_secret": "only when not sent with HTTP Basic",
    },
    ["grant_type", "license", "resource"],
)
_INTROSPECT_FORM = _form_body(
    {"token": "a licence token", "token_type_hint": "access_token (optional)"},
    ["token"],
)


@router.post(
    TOKEN_PATH,
    summary="RSL licence server: issue a licence token (client_credentials)",
    openapi_extra=_TOKEN_FORM,
    response_class=JSONResponse,
)
def token(request: Request, form: FormDep, db: DbDep, settings: SettingsDep, keyring: KeyringDep) -> Response:
    """Client authentication: `Authorization: Basic base64(client_id:client_secret)`. Answers
    `{"access_token", "token_type": "License", "expires_in"}`, or an OAuth error (`invalid_request`,
    `invalid_client`, `unauthorized_client`, `invalid_license`, `invalid_resource`,
    `unsupported_grant_type`)."""
    issued = token_request(
        db,
        authorization=request.headers.getlist("authorization"),
        form=form,
        base_url=settings.base_url,
        keyring=keyring,
        lifetime=timedelta(seconds=settings.rsl_token_lifetime),
    )
    return JSONResponse(issued.as_json(), headers=_NO_STORE)


@router.post(
    INTROSPECT_PATH,
    summary="RSL licence server: token introspection (RFC 7662)",
    openapi_extra=_INTROSPECT_FORM,
    response_class=JSONResponse,
)
def introspection(
    request: Request, form: FormDep, db: DbDep, settings: SettingsDep, keyring: KeyringDep
) -> Response:
    """A client authenticates as for `/rsl/token` and may introspect its own tokens; an operator may send a
    personal API token (`Authorization: Bearer ftp_...`) and introspect any. `{"active": false}` for an
    expired, forged, foreign, revoked or no-longer-covered token."""
    caller = authenticate_introspector(db, authorization=request.headers.getlist("authorization"), form=form)
    answer = introspect(
        db, caller=caller, form=form, keys=keyring.verification_keys(), base_url=settings.base_url
    )
    return JSONResponse(answer, headers=_NO_STORE)


@router.get(JWKS_PATH, summary="RSL licence server: public keys that verify licence tokens (JWKS)")
def jwks(keyring: KeyringDep) -> Response:
    return JSONResponse(keyring.jwks(), media_type="application/jwk-set+json", headers=_PUBLIC)


@router.get(METADATA_PATH, summary="RSL licence server metadata (RFC 8414)")
def metadata(settings: SettingsDep) -> Response:
    base = settings.base_url
    return JSONResponse(
        {
            "issuer": olp_issuer(base),
            "token_endpoint": f"{base}{TOKEN_PATH}",
            "introspection_endpoint": f"{base}{INTROSPECT_PATH}",
            "jwks_uri": f"{base}{JWKS_PATH}",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "license_types_supported": ["application/rsl+xml"],
        },
        headers=_PUBLIC,
    )
