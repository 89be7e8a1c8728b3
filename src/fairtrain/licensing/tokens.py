"""Licence tokens (RSL OLP/CAP, STANDARDS §1): what the licence server issues and a resource server checks.

A licence token is a compact JWS signed ES256 by the installation's current signing key
(:mod:`fairtrain.licensing.keys`), header ``{"alg": "ES256", "kid": ..., "typ": "rsl-license+jwt"}``, with
the claims:

==========  ======================================================================================
``iss``     the licence server, ``{base_url}/rsl``
``aud``     the site the token is good for, ``{base_url}``
``sub``     the API client it was issued to (``ftc_...``)
``org``     the client's licensee organisation
``deal``    the active deal that covers the request
``scope``   the resource pattern it covers, robots.txt syntax as in RSL ``<content url>``: a creator's
            works (``/@mira/*``) or one work (``/@mira/ast_...``)
``usage``   the RSL usages granted, e.g. ``["ai-train"]``
``gen``     the client secret's generation it was issued under (rotating the secret ends it)
``iat``     issued at; ``nbf`` not before; ``exp`` expiry (seconds since the epoch)
``jti``     a random token id
==========  ======================================================================================

:func:`verify_license_token` checks a token offline (signature, audience, issuer, time), fast and without
the database: that is what a gateway does on every request. Revocation reaches the offline path only
through the short lifetime; :func:`fairtrain.licensing.olp.check_token_live` is the database check.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from fairtrain.errors import FairtrainError
from fairtrain.licensing.keys import ALGORITHM, SigningKey, VerificationKeys
from fairtrain.rights.signals import RSL_MEDIA_TYPE

__all__ = [
    "CLOCK_SKEW",
    "TOKEN_TYPE",
    "InvalidLicenseToken",
    "LicenseToken",
    "Problem",
    "cap_challenge",
    "scope_matches",
    "sign_license_token",
    "verify_license_token",
]

TOKEN_TYPE = "rsl-license+jwt"  # noqa: S105 - explicit typing (RFC 8725 §3.11): never mistaken for another JWT
CLOCK_SKEW = timedelta(seconds=30)  # tolerated between the licence server's clock and a resource server's
MAX_TOKEN_CHARS = 4096
_MAX_REMEMBERED = 4096  # verified tokens kept per key set
_REGISTRY = JWSRegistry(algorithms=[ALGORITHM])

Problem = Literal["malformed", "bad_signature", "unknown_kid", "expired", "not_yet_valid", "wrong_audience"]


class InvalidLicenseToken(FairtrainError):
    """A licence token that must not be honoured; ``reason`` says why (for logs, not for the client)."""

    status_code = 401
    code = "invalid_token"

    def __init__(self, reason: Problem, message: str) -> None:
        super().__init__(message)
        self.reason: Problem = reason


@dataclass(frozen=True)
class LicenseToken:
    """The verified claims of a licence token."""

    issuer: str
    audience: str
    client_id: str
    org_id: str
    deal_id: str
    scope: str
    usages: tuple[str, ...]
    generation: int
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    token_id: str
    kid: str

    def claims(self) -> dict[str, Any]:
        """The claims as in the token (and in an RFC 7662 introspection answer)."""
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": self.client_id,
            "org": self.org_id,
            "deal": self.deal_id,
            "scope": self.scope,
            "usage": list(self.usages),
            "gen": self.generation,
            "iat": _epoch(self.issued_at),
            "nbf": _epoch(self.not_before),
            "exp": _epoch(self.expires_at),
            "jti": self.token_id,
        }

    def covers(self, path: str, usage: str | None = None) -> bool:
        """Whether a request path falls in the token's scope (and, when given, the usage is granted).

        The deal may hold only some of a creator's works: a gateway also checks that the work served is
        one of the deal's (its frozen asset list, :func:`fairtrain.licensing.olp.deal_asset_ids`)."""
        return scope_matches(self.scope, path) and (usage is None or usage in self.usages)


def scope_matches(pattern: str, path: str) -> bool:
    """robots.txt path matching (RFC 9309), as RSL uses for ``<content url>``: a prefix match where ``*``
    stands for any characters and a final ``$`` anchors the end."""
    return _scope_regex(pattern).match(path) is not None


@functools.lru_cache(maxsize=1024)
def _scope_regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = ".*".join(re.escape(part) for part in (pattern[:-1] if anchored else pattern).split("*"))
    return re.compile(body + (r"\Z" if anchored else ""), re.DOTALL)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def sign_license_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    client_id: str,
    org_id: str,
    deal_id: str,
    scope: str,
    usages: tuple[str, ...],
    generation: int,
    now: datetime,
    expires_at: datetime,
) -> tuple[str, LicenseToken]:
    """Sign a token; returns the compact JWS and its claims."""
    now = now.replace(microsecond=0)
    token = LicenseToken(
        issuer=issuer,
        audience=audience,
        client_id=client_id,
        org_id=org_id,
        deal_id=deal_id,
        scope=scope,
        usages=usages,
        generation=generation,
        issued_at=now,
        not_before=now,
        expires_at=expires_at.replace(microsecond=0),
        token_id=secrets.token_urlsafe(16),
        kid=key.kid,
    )
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TOKEN_TYPE}
    payload = json.dumps(token.claims(), separators=(",", ":"), sort_keys=True)
    return jws.serialize_compact(header, payload, key.key, registry=_REGISTRY), token


def _b64_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        return None


def _malformed(what: str) -> InvalidLicenseToken:
    return InvalidLicenseToken("malformed", f"the licence token is malformed: {what}")


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise _malformed(f"claim {name!r} missing or not text")
    return value


def _time(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 253402300800:
        raise _malformed(f"claim {name!r} missing or not a time")
    return datetime.fromtimestamp(value, UTC)


def verify_license_token(
    token: str,
    *,
    keys: VerificationKeys,
    audience: str,
    issuer: str | None = None,
    now: datetime | None = None,
    leeway: timedelta = CLOCK_SKEW,
) -> LicenseToken:
    """Check a licence token offline and return its claims, or raise :class:`InvalidLicenseToken`.

    ``keys``: the licence server's public keys (``SigningKeyring.verification_keys()`` in the same
    installation, or ``VerificationKeys.from_jwks(...)`` of ``/rsl/jwks.json``; refetch it on an
    ``unknown_kid`` after a rotation). ``audience``: this site's base URL; ``issuer`` defaults to
    ``{audience}/rsl``. No database, no network: a signature check (remembered per token for the same
    ``keys``) and a few comparisons.
    """
    verified = keys.verified.get(token) if isinstance(token, str) else None
    if not isinstance(verified, LicenseToken):
        verified = _check_signature(token, keys)
        if len(keys.verified) >= _MAX_REMEMBERED:
            keys.verified.clear()
        keys.verified[token] = verified
    audience = audience.rstrip("/")
    if verified.audience != audience:
        raise InvalidLicenseToken("wrong_audience", f"the licence token is for {verified.audience}")
    if verified.issuer != (issuer or f"{audience}/rsl"):
        raise InvalidLicenseToken("wrong_audience", f"the licence token was issued by {verified.issuer}")
    now = now or datetime.now(UTC)
    if now >= verified.expires_at + leeway:
        raise InvalidLicenseToken("expired", "the licence token has expired; request a new one")
    if now + leeway < verified.not_before:
        raise InvalidLicenseToken("not_yet_valid", "the licence token is not valid yet")
    return verified


def _check_signature(token: str, keys: VerificationKeys) -> LicenseToken:
    """The claims of a well-formed token whose signature verifies with one of ``keys``."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise _malformed("empty, too long or not ASCII")
    segments = token.split(".")
    if len(segments) != 3 or not all(segments):
        raise _malformed("not a compact JWS (three dot-separated parts)")
    header = _b64_json(segments[0])
    if not isinstance(header, dict):
        raise _malformed("the header is not a JSON object")
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
        raise _malformed(f"not an {ALGORITHM} licence token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _malformed("no key id")
    key = keys.get(kid)
    if key is None:
        raise InvalidLicenseToken(
            "unknown_kid", f"the licence token was signed by an unknown key ({kid[:64]})"
        )
    try:
        signed = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
        valid = jws.validate_compact(signed, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError):
        raise _malformed("it does not parse as a JWS") from None
    if not valid:
        raise InvalidLicenseToken("bad_signature", "the licence token's signature does not verify")
    try:
        claims = json.loads(signed.payload)
    except (ValueError, UnicodeError):
        claims = None
    if not isinstance(claims, dict):
        raise _malformed("the payload is not a JSON object")
    usage = claims.get("usage")
    if not isinstance(usage, list) or not usage or not all(isinstance(u, str) and u for u in usage):
        raise _malformed("claim 'usage' is not a list of usages")
    generation = claims.get("gen")
    if isinstance(generation, bool) or not isinstance(generation, int):
        raise _malformed("claim 'gen' is not a number")
    return LicenseToken(
        issuer=_text(claims, "iss"),
        audience=_text(claims, "aud"),
        client_id=_text(claims, "sub"),
        org_id=_text(claims, "org"),
        deal_id=_text(claims, "deal"),
        scope=_text(claims, "scope"),
        usages=tuple(usage),
        generation=generation,
        issued_at=_time(claims, "iat"),
        not_before=_time(claims, "nbf"),
        expires_at=_time(claims, "exp"),
        token_id=_text(claims, "jti"),
        kid=kid,
    )


# --- CAP: presenting a licence -------------------------------------------------------------------------

_ERROR_CODE = frozenset("abcdefghijklmnopqrstuvwxyz_")


def _quoted(text: str) -> str:
    """An RFC 9110 quoted-string: printable ASCII only, ``"`` and ``\\`` escaped."""
    cleaned = "".join(c if " " <= c <= "~" else " " for c in text)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cap_challenge(error: str, description: str, license_url: str) -> dict[str, str]:
    """The headers of a CAP 401/402 (STANDARDS §1): ``WWW-Authenticate: License error="...",
    error_description="..."`` and ``Link: <license_url>; rel="license"; type="application/rsl+xml"``.

    ``error`` is a code such as ``invalid_token``; ``description`` free text (made header-safe here)."""
    if not error or not set(error) <= _ERROR_CODE:
        raise ValueError(f"not an error code: {error!r}")
    url = quote(license_url.strip(), safe=":/?#[]@!$&'()*+,;=%~-._")
    if not url.startswith(("https://", "http://", "/")):
        raise ValueError(f"not a licence URL: {license_url!r}")
    return {
        "WWW-Authenticate": f"License error={_quoted(error)}, error_description={_quoted(description[:500])}",
        "Link": f'<{url}>; rel="license"; type="{RSL_MEDIA_TYPE}"',
    }
