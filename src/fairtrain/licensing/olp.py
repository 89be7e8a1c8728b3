"""The RSL licence server (OLP, STANDARDS §1): licence tokens for API clients whose organisation holds an
active deal, RFC 7662 introspection, and the checks behind them. The routes are in ``fairtrain.web.rsl``;
everything they decide is decided here.

``POST /rsl/token`` takes a form with ``grant_type=client_credentials``, ``license`` (the RSL ``<license>``
element the client wants: the usages in its ``<permits type="usage">``, and optionally the user types and
territories it will use them as and in), ``license_type`` (``application/rsl+xml``) and ``resource`` (the
content URL or path). A token is issued when one active deal of the client's organisation covers the
resource for every requested usage (and user type and territory); it expires after the configured lifetime,
or at the end of the deal's term if sooner. Errors are OAuth-style: :class:`OlpError`.

Revocation: a revoked client, a rotated client secret, or a deal that is no longer active makes
:func:`check_token_live` (and so introspection) refuse the token at once; a resource server that verifies
offline stops honouring it when it expires, within the token lifetime (plus clock skew).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, Role, User
from fairtrain.accounts.tokens import authenticate_token
from fairtrain.catalog.models import Asset
from fairtrain.config import Settings, load_secret_key
from fairtrain.db.base import utcnow
from fairtrain.errors import FairtrainError, InvalidInput
from fairtrain.licensing.clients import authenticate_client
from fairtrain.licensing.deals import covering_deal, deal_terms, is_active
from fairtrain.licensing.errors import InvalidClient
from fairtrain.licensing.keys import SigningKeyring, VerificationKeys
from fairtrain.licensing.models import ApiClient, Deal, DealAsset
from fairtrain.licensing.rsl import parse_license
from fairtrain.licensing.terms import territories_cover
from fairtrain.licensing.tokens import (
    CLOCK_SKEW,
    InvalidLicenseToken,
    LicenseToken,
    sign_license_token,
    verify_license_token,
)
from fairtrain.rights.signals import RSL_MEDIA_TYPE

__all__ = [
    "MAX_FORM_BYTES",
    "TOKEN_TYPE_NAME",
    "ClientCredentials",
    "IssuedToken",
    "OlpError",
    "Resource",
    "authenticate_introspector",
    "check_token_live",
    "client_credentials",
    "deal_asset_ids",
    "introspect",
    "issue_token",
    "olp_issuer",
    "parse_form",
    "resolve_resource",
    "rotate_signing_key",
    "signing_keyring",
    "token_request",
]

MAX_FORM_BYTES = 64 * 1024  # a form, or a <license> element in it, larger than this is refused
TOKEN_TYPE_NAME = "License"  # noqa: S105 - the token_type of OLP answers, and the CAP Authorization scheme
_MAX_FIELDS = 16
_MAX_AUTHORIZATION_CHARS = 2048
_MAX_RESOURCE_CHARS = 2048
_MAX_COMBINATIONS = 50
_ASSET_ID = re.compile(r"ast_[0-9a-z]{16}")
_TERRITORY = re.compile(r"[A-Z]{2}")
_FORM_TYPE = "application/x-www-form-urlencoded"


class OlpError(FairtrainError):
    """An OAuth-style error of the licence server: ``error`` is the code clients branch on (STANDARDS §1),
    the message is the ``error_description`` and says what to do."""

    def __init__(self, error: str, description: str, *, status_code: int = 400) -> None:
        super().__init__(description)
        self.error = self.code = error
        self.status_code = status_code

    def as_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.message}


def _invalid_request(description: str) -> OlpError:
    return OlpError("invalid_request", description)


def _invalid_client(description: str = "unknown client or wrong secret") -> OlpError:
    return OlpError("invalid_client", description, status_code=401)


def olp_issuer(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/rsl"


# --- the request: form and client credentials ----------------------------------------------------------


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict. Refused (``invalid_request``): another media
    type, more than ``MAX_FORM_BYTES``, bad UTF-8 or percent-encoding, and any parameter given twice
    (RFC 6749 §3.2). A parameter with an empty value counts as absent (RFC 6749 §3.1)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != _FORM_TYPE:
        raise _invalid_request(f"send the parameters as {_FORM_TYPE}")
    if len(body) > MAX_FORM_BYTES:
        raise _invalid_request(f"the request is larger than {MAX_FORM_BYTES // 1024} KiB")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise _invalid_request("the form is not valid URL-encoded UTF-8, or has too many fields") from None
    form: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise _invalid_request(f"the parameter {name!r} is given more than once")
        seen.add(name)
        if value:
            form[name] = value
    return form


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r})"


def _basic(value: str) -> ClientCredentials:
    scheme, _, param = value.strip().partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("authenticate with HTTP Basic: base64(client_id:client_secret)")
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _invalid_client("the Basic credentials are not base64 of client_id:client_secret") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("the Basic credentials have no ':' between client id and secret")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64 (a no-op for fairtrain's own ids).
    return ClientCredentials(unquote_plus(client_id), unquote_plus(secret))


def client_credentials(authorization: Sequence[str], form: Mapping[str, str]) -> ClientCredentials:
    """The client's credentials: ``Authorization: Basic`` (STANDARDS §1), or else the ``client_id`` and
    ``client_secret`` form fields (RFC 6749 §2.3.1 allows them; some OAuth libraries send them so).
    Missing, malformed, duplicated, or given both ways: ``invalid_client``."""
    in_form = "client_id" in form or "client_secret" in form
    if len(authorization) > 1:
        raise _invalid_client("send one Authorization header")
    if authorization:
        if len(authorization[0]) > _MAX_AUTHORIZATION_CHARS:
            raise _invalid_client("the Authorization header is too long")
        if in_form:
            raise _invalid_client("send the client credentials one way: the Authorization header or the form")
        return _basic(authorization[0])
    if in_form:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            raise _invalid_client("send both client_id and client_secret")
        return ClientCredentials(client_id, secret)
    raise _invalid_client("authenticate with HTTP Basic: base64(client_id:client_secret)")


def _authenticate(session: Session, credentials: ClientCredentials, now: datetime) -> ApiClient:
    try:
        return authenticate_client(session, credentials.client_id, credentials.secret, now=now)
    except InvalidClient:
        raise _invalid_client() from None


# --- the resource -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """What a ``resource`` names: the site (``/*``), a creator's works, or one work."""

    scope: str  # the token's scope: /@handle/*, /@handle/<asset id>, or /* for the site
    license_url: str  # where the terms (and the offers) for it are published
    creator: CreatorProfile | None = None
    asset: Asset | None = None


def resolve_resource(session: Session, resource: str, *, base_url: str) -> Resource:
    """The content a ``resource`` names: an absolute URL on this site or a path, ``/*`` (the site),
    ``/@handle/...`` (a creator's works) or a path naming one of their works by id.

    Anything else is ``invalid_resource``."""
    base_url = base_url.rstrip("/")
    value = resource.strip()
    if not value or len(value) > _MAX_RESOURCE_CHARS or not value.isprintable():
        raise OlpError("invalid_resource", "the resource is empty, too long or holds control characters")
    site_license = f"{base_url}/license.xml"
    unknown = f"{value[:200]!r} is not content of this site; {site_license} lists what can be licensed"
    if "://" in value:
        parts, base = urlsplit(value), urlsplit(base_url)
        if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
            raise OlpError("invalid_resource", unknown)
        path = parts.path or "/"
        if not path.startswith(base.path + "/") and path != base.path:
            raise OlpError("invalid_resource", unknown)
        path = path[len(base.path) :] or "/"
    elif value.startswith("/") and not value.startswith("//"):  # //host/... names another host
        path = urlsplit(value).path
    else:
        raise OlpError("invalid_resource", f"{unknown} (give a URL or a path starting with /)")
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise OlpError("invalid_resource", unknown)
    if not segments or segments == ["*"] or segments == ["*$"]:
        return Resource(scope="/*", license_url=site_license)
    if not segments[0].startswith("@"):
        raise OlpError("invalid_resource", unknown)
    handle = segments[0][1:].rstrip("*$").lower()
    creator = (
        session.scalar(select(CreatorProfile).where(CreatorProfile.handle == handle)) if handle else None
    )
    if creator is None:
        raise OlpError("invalid_resource", f"there is no creator @{handle[:40]} on this site; {site_license}")
    license_url = f"{base_url}/@{creator.handle}/license.xml"
    asset_id = next((s.split(".")[0] for s in segments[1:] if _ASSET_ID.fullmatch(s.split(".")[0])), None)
    if asset_id is None:
        return Resource(scope=f"/@{creator.handle}/*", license_url=license_url, creator=creator)
    asset = session.get(Asset, asset_id)
    if asset is None or asset.creator_id != creator.id or asset.deleted_at is not None:
        raise OlpError("invalid_resource", f"@{creator.handle} has no work {asset_id}; see {license_url}")
    return Resource(
        scope=f"/@{creator.handle}/{asset.id}", license_url=license_url, creator=creator, asset=asset
    )


# --- issuing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token: LicenseToken

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": TOKEN_TYPE_NAME,
            "expires_in": self.expires_in,
        }


@dataclass(frozen=True)
class _Wanted:
    usages: tuple[str, ...]
    user_types: tuple[str, ...]
    territories: tuple[str, ...]

    def describe(self) -> str:
        text = " ".join(self.usages)
        if self.user_types:
            text += f" for {' '.join(self.user_types)} users"
        if self.territories:
            text += f" in {' '.join(self.territories)}"
        return text


def _wanted(license_text: str | None, license_type: str | None) -> _Wanted:
    if license_type is not None and license_type.split(";")[0].strip().lower() != RSL_MEDIA_TYPE:
        raise OlpError("invalid_license", f"license_type must be {RSL_MEDIA_TYPE}")
    if license_text is None:
        raise _invalid_request('the "license" parameter is missing: send the RSL <license> element you want')
    try:
        requested = parse_license(license_text)
    except InvalidInput as exc:
        raise OlpError("invalid_license", exc.message) from None
    usages = tuple(u for u in requested.usages if u not in requested.prohibited)
    if not usages:
        raise OlpError(
            "invalid_license",
            'the license permits no usage: list the usages you want in <permits type="usage">',
        )
    bad = [t for t in requested.territories if t != "EU" and not _TERRITORY.fullmatch(t)]
    if bad:
        raise OlpError("invalid_license", f"unknown territory {bad[0][:20]!r}: use ISO 3166-1 codes or EU")
    wanted = _Wanted(usages, requested.user_types, requested.territories)
    combinations = len(usages) * max(1, len(wanted.user_types)) * max(1, len(wanted.territories))
    if combinations > _MAX_COMBINATIONS:
        raise OlpError("invalid_license", "the license lists too many user types and territories")
    return wanted


def _covers(deal: Deal, wanted: _Wanted) -> bool:
    terms = deal_terms(deal)
    return (
        set(wanted.usages) <= set(terms.usages)
        and (not terms.user_types or set(wanted.user_types) <= set(terms.user_types))
        and all(territories_cover(terms.territories, t) for t in wanted.territories)
    )


def _deal_for(
    session: Session, client: ApiClient, resource: Resource, wanted: _Wanted, now: datetime
) -> Deal:
    """One active deal of the client's organisation that covers every requested combination."""
    buy = (
        f"{client.org.name} holds no active deal covering {wanted.describe()} of {resource.scope}; "
        f"the offers are in {resource.license_url}: request a deal on one, then ask for a token again"
    )
    if resource.creator is None:  # deals are with creators and collectives, never for the whole site
        raise OlpError(
            "unauthorized_client",
            "licences are sold per creator: ask for a token for /@handle/* or a work's URL; "
            f"the terms are in {resource.license_url}",
            status_code=403,
        )
    target: str | Asset = resource.asset if resource.asset is not None else resource.scope
    found: list[Deal] = []
    for usage in wanted.usages:
        for user_type in wanted.user_types or (None,):
            for territory in wanted.territories or (None,):
                deal = covering_deal(
                    session,
                    org_id=client.org_id,
                    resource_url_or_asset=target,
                    usage=usage,
                    user_type=user_type,
                    territory=territory,
                    now=now,
                )
                if deal is None:
                    raise OlpError("unauthorized_client", buy, status_code=403)
                if deal not in found:
                    found.append(deal)
    for deal in found:
        if _covers(deal, wanted):
            return deal
    raise OlpError(
        "unauthorized_client",
        f"no single deal of {client.org.name} covers all of {wanted.describe()} of {resource.scope}; "
        "ask for a token for each usage separately",
        status_code=403,
    )


def issue_token(
    session: Session,
    *,
    client: ApiClient,
    form: Mapping[str, str],
    base_url: str,
    keyring: SigningKeyring,
    lifetime: timedelta,
    now: datetime | None = None,
) -> IssuedToken:
    """Check an authenticated client's token request (grant type, licence, resource, deal) and sign the
    token. It expires after ``lifetime``, or when the deal's term ends if that is sooner."""
    now = (now or utcnow()).replace(microsecond=0)
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise _invalid_request('the "grant_type" parameter is missing: send grant_type=client_credentials')
    if grant_type != "client_credentials":
        raise OlpError(
            "unsupported_grant_type", "the licence server issues tokens for client_credentials only"
        )
    wanted = _wanted(form.get("license"), form.get("license_type"))
    if "resource" not in form:
        raise _invalid_request('the "resource" parameter is missing: send the content URL you want to use')
    resource = resolve_resource(session, form["resource"], base_url=base_url)
    deal = _deal_for(session, client, resource, wanted, now)
    expires_at = now + lifetime
    if deal.ends_at is not None and deal.ends_at < expires_at:
        expires_at = deal.ends_at
    access_token, token = sign_license_token(
        keyring.signing_key(),
        issuer=olp_issuer(base_url),
        audience=base_url.rstrip("/"),
        client_id=client.id,
        org_id=client.org_id,
        deal_id=deal.id,
        scope=resource.scope,
        usages=wanted.usages,
        generation=client.generation,
        now=now,
        expires_at=expires_at,
    )
    expires_in = max(1, int((token.expires_at - now).total_seconds()))
    return IssuedToken(access_token, expires_in, token)


def token_request(
    session: Session,
    *,
    authorization: Sequence[str],
    form: Mapping[str, str],
    base_url: str,
    keyring: SigningKeyring,
    lifetime: timedelta,
    now: datetime | None = None,
) -> IssuedToken:
    """``POST /rsl/token``: authenticate the client, then :func:`issue_token`."""
    now = now or utcnow()
    client = _authenticate(session, client_credentials(authorization, form), now)
    return issue_token(
        session, client=client, form=form, base_url=base_url, keyring=keyring, lifetime=lifetime, now=now
    )


# --- live checks and introspection -------------------------------------------------------------------


def check_token_live(session: Session, token: LicenseToken, *, now: datetime | None = None) -> bool:
    """The database side of a verified token: its client exists, is not revoked and has not rotated its
    secret since; its deal belongs to the client's organisation and is active now. Immediate, unlike the
    offline check."""
    now = now or utcnow()
    client = session.get(ApiClient, token.client_id)
    if client is None or client.revoked_at is not None or client.generation != token.generation:
        return False
    if client.org_id != token.org_id:
        return False
    deal = session.get(Deal, token.deal_id)
    return deal is not None and deal.org_id == token.org_id and is_active(deal, now)


def deal_asset_ids(session: Session, deal_id: str) -> frozenset[str]:
    """The works a deal licenses: its frozen list, which never changes once accepted (cache it by deal id).
    A token scoped to ``/@handle/*`` covers those of the creator's works that are on this list."""
    return frozenset(session.scalars(select(DealAsset.asset_id).where(DealAsset.deal_id == deal_id)))


def authenticate_introspector(
    session: Session, *, authorization: Sequence[str], form: Mapping[str, str], now: datetime | None = None
) -> ApiClient | User:
    """Who may introspect: an API client (its own tokens only), by the same credentials as the token
    endpoint, or an operator with a personal API token (``Authorization: Bearer ftp_...``; any token)."""
    if len(authorization) == 1 and authorization[0].strip().lower().startswith("bearer "):
        user = authenticate_token(session, authorization[0].strip()[7:].strip(), now=now)
        if user is None:
            raise _invalid_client("the API token is unknown, malformed or revoked")
        if not user.has_role(Role.OPERATOR):
            raise OlpError(
                "unauthorized_client",
                "only operators introspect with a personal API token; clients use their credentials",
                status_code=403,
            )
        return user
    return _authenticate(session, client_credentials(authorization, form), now or utcnow())


def introspect(
    session: Session,
    *,
    caller: ApiClient | User,
    form: Mapping[str, str],
    keys: VerificationKeys,
    base_url: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """RFC 7662: ``{"active": true, ...claims}`` for a token that verifies, belongs to the caller (unless
    an operator asks) and is live in the database now; ``{"active": false}`` for anything else."""
    now = now or utcnow()
    text = form.get("token")
    if text is None:
        raise _invalid_request('the "token" parameter is missing')
    hint = form.get("token_type_hint")
    if hint is not None and hint not in ("access_token", TOKEN_TYPE_NAME, TOKEN_TYPE_NAME.lower()):
        return {"active": False}  # RFC 7662 §2.1: a hint we do not issue; we hold no such token
    try:
        token = verify_license_token(text, keys=keys, audience=base_url, now=now, leeway=timedelta(0))
    except InvalidLicenseToken:
        return {"active": False}
    if isinstance(caller, ApiClient) and token.client_id != caller.id:
        return {"active": False}
    if not check_token_live(session, token, now=now):
        return {"active": False}
    return {
        "active": True,
        **token.claims(),
        "client_id": token.client_id,
        "token_type": TOKEN_TYPE_NAME,
    }


# --- keys ---------------------------------------------------------------------------------------------------


def signing_keyring(settings: Settings) -> SigningKeyring:
    """The installation's licence-token keyring, under ``<data_dir>/keys/olp``."""
    return SigningKeyring(settings.data_dir / "keys" / "olp", secret_key=load_secret_key(settings))


def rotate_signing_key(settings: Settings, *, now: datetime | None = None) -> str:
    """Make a new signing key (returns its kid). The previous public key stays in the JWKS for one token
    lifetime plus clock skew, so tokens it signed keep verifying until they expire."""
    publish_for = timedelta(seconds=settings.rsl_token_lifetime) + CLOCK_SKEW
    return signing_keyring(settings).rotate(publish_for=publish_for, now=now)
