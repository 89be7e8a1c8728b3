"""Web Bot Auth: verify (and make) HTTP Message Signatures of bots (issue 6, STANDARDS §3).

A crawler that signs its requests sends ``Signature-Input``, ``Signature`` and usually ``Signature-Agent``
(RFC 9421 with the profile of draft-meunier-web-bot-auth-architecture). :func:`verify_request` checks the
profile (``tag="web-bot-auth"``, ``@authority`` or ``@target-uri`` covered, ``signature-agent`` covered when
sent, ``created``/``expires`` within a clock skew and a maximum validity, Ed25519 only), looks the key up in
the agent's key directory (``/.well-known/http-message-signatures-directory``, fetched over HTTPS with no
redirects, a size limit and a short timeout, cached per (directory URL, keyid)), verifies the signature and
refuses a replayed ``nonce``. It never raises on bad input: the answer is a :class:`BotAuthResult` whose
``reason`` names what failed; a directory outage is ``directory-unavailable`` (the gateway answers crawlers
503 and never lets it touch humans).

The RFC 9421 signature base is built and checked by ``http-message-signatures`` (the library DESIGN names;
it reproduces RFC 9421 B.2.6 and the Web Bot Auth draft's Ed25519 test vectors); this module adds the
Web Bot Auth profile, the key directory and the replay cache, which the library leaves to its caller.

``verify_request`` is ``async`` because the gateway is ASGI and a directory fetch is network I/O; a cached key
costs no I/O. The URL given to it must be the request's absolute URL as the client addressed it (the scheme
and the ``Host`` header), since ``@authority`` is derived from it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import enum
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import http_sf
import httpx
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)

__all__ = [
    "DIRECTORY_MEDIA_TYPE",
    "DIRECTORY_PATH",
    "TAG",
    "BotAuthPolicy",
    "BotAuthReason",
    "BotAuthResult",
    "DirectoryError",
    "KeyDirectory",
    "NonceCache",
    "jwk_thumbprint",
    "sign_request",
    "verify_request",
]

TAG = "web-bot-auth"
DIRECTORY_PATH = "/.well-known/http-message-signatures-directory"
DIRECTORY_MEDIA_TYPE = "application/http-message-signatures-directory+json"


class BotAuthReason(enum.StrEnum):
    """Why a request is not a verified Web Bot Auth request."""

    MISSING = "missing"  # no signature tagged web-bot-auth
    MALFORMED = "malformed"  # unparseable fields, missing or ill-typed parameters
    INSUFFICIENT_COVERAGE = "insufficient-coverage"  # @authority / signature-agent not signed
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"  # alg present and not ed25519
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    VALIDITY_TOO_LONG = "validity-too-long"  # expires too far after created: a far-future signature
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    REPLAYED_NONCE = "replayed-nonce"
    DIRECTORY_UNAVAILABLE = "directory-unavailable"  # network error, timeout, non-200
    INSECURE_DIRECTORY = "insecure-directory"  # the agent's directory is not https
    REDIRECTED = "redirected"  # the directory answered with a redirect, which is not followed
    BAD_DIRECTORY = "bad-directory"  # wrong media type, oversize, not a JWKS


@dataclass(frozen=True, slots=True)
class BotAuthResult:
    verified: bool
    agent: str | None = None  # the Signature-Agent URL, as sent
    keyid: str | None = None
    reason: BotAuthReason | None = None  # None exactly when verified
    label: str | None = None
    nonce: str | None = None

    @property
    def agent_host(self) -> str | None:
        if not self.agent:
            return None
        try:
            return urlsplit(self.agent if "://" in self.agent else f"https://{self.agent}").hostname
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class BotAuthPolicy:
    """What the verifier accepts; the defaults follow STANDARDS §3."""

    clock_skew: dt.timedelta = dt.timedelta(seconds=60)
    # A signature valid for longer than this is refused: a leaked far-future signature is a bearer token.
    max_validity: dt.timedelta = dt.timedelta(hours=24)


DEFAULT_POLICY = BotAuthPolicy()


class DirectoryError(Exception):
    """A key could not be had from a directory; ``reason`` says why."""

    def __init__(self, reason: BotAuthReason, message: str = "") -> None:
        super().__init__(message or reason.value)
        self.reason = reason


# --- keys -------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def jwk_thumbprint(key: Ed25519PublicKey) -> str:
    """The RFC 7638 / RFC 8037 SHA-256 JWK thumbprint, base64url: the Web Bot Auth ``keyid``."""
    # RFC 7638 §3.2: the required members only, lexicographic order, no whitespace.
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % _b64url(_raw_public(key))  # noqa: UP031
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _jwk_to_key(jwk: object) -> Ed25519PublicKey | None:
    """An Ed25519 public key from a JWK, or None for any other or malformed key (skipped, not fatal)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    x = jwk.get("x")
    if not isinstance(x, str):
        return None
    try:
        raw = _b64url_decode(x)
        return Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
    except (ValueError, binascii.Error):
        return None


# --- replay cache -----------------------------------------------------------------------------------------


class NonceCache:
    """Nonces seen, each kept until its signature can no longer verify; bounded in size.

    When full, the oldest entries are dropped first: a flood of fresh nonces can then reopen a replay window
    for the oldest ones, which is the price of bounded memory. One cache per process; with several gateway
    workers a nonce could be replayed once per worker (acceptable: it only re-admits the same bot).
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, keyid: str, nonce: str, *, until: float, now: float) -> bool:
        """Record the nonce; False if it was already seen (a replay)."""
        self._purge(now)
        entry = (keyid, nonce)
        if entry in self._seen:
            return False
        while len(self._seen) >= self.max_entries:
            self._seen.popitem(last=False)
        self._seen[entry] = until
        return True

    def _purge(self, now: float) -> None:
        # Entries are dropped lazily; an expired one deep in the order stays until the bound reaches it.
        while self._seen:
            entry, until = next(iter(self._seen.items()))
            if until >= now:
                break
            del self._seen[entry]


# --- key directory ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    expires_at: float
    key: Ed25519PublicKey | None = None
    failure: BotAuthReason | None = None


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class KeyDirectory:
    """Ed25519 keys of signature agents, fetched from their key directories and cached.

    Entries are cached per (directory URL, keyid): a found key for the directory's ``Cache-Control: max-age``
    clamped to ``[min_ttl, max_ttl]`` (``default_ttl`` without one); a missing key or a failed fetch for
    ``negative_ttl``, so a bot with a bad keyid or a dead directory cannot make us fetch on every request.
    Fetches use HTTPS only, follow no redirects, read at most ``max_bytes`` and give up after ``timeout``
    seconds. ``transport`` (e.g. ``httpx.MockTransport``) and ``clock`` are injectable for tests.
    ``pinned`` keys (keyid → key) are trusted without a fetch, e.g. shipped with the crawler registry.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 3.0,
        max_bytes: int = 64 * 1024,
        min_ttl: float = 60.0,
        max_ttl: float = 24 * 3600.0,
        default_ttl: float = 3600.0,
        negative_ttl: float = 60.0,
        max_entries: int = 10_000,
        pinned: Mapping[str, Ed25519PublicKey] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.default_ttl = default_ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.pinned = dict(pinned or {})
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.fetch_count = 0
        self._inflight: dict[str, asyncio.Task[tuple[dict[str, Ed25519PublicKey], float]]] = {}

    @staticmethod
    def directory_url(agent: str) -> str:
        """The directory URL at the agent's origin; raises :class:`DirectoryError` if it is not HTTPS."""
        try:
            parts = urlsplit(agent if "://" in agent else f"https://{agent}")
        except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
            raise DirectoryError(BotAuthReason.MALFORMED, f"bad Signature-Agent: {agent}") from exc
        if parts.scheme.lower() != "https":
            raise DirectoryError(BotAuthReason.INSECURE_DIRECTORY, f"not https: {agent}")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise DirectoryError(BotAuthReason.MALFORMED, f"bad Signature-Agent: {agent}")
        try:
            port = parts.port
        except ValueError as exc:
            raise DirectoryError(BotAuthReason.MALFORMED, f"bad Signature-Agent: {agent}") from exc
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = host if port in (None, 443) else f"{host}:{port}"
        return f"https://{netloc}{DIRECTORY_PATH}"

    async def key(self, directory_url: str, keyid: str) -> Ed25519PublicKey:
        """The key ``keyid`` from the directory; raises :class:`DirectoryError`."""
        if keyid in self.pinned:
            return self.pinned[keyid]
        now = self._clock()
        entry = self._cache.get((directory_url, keyid))
        if entry is None or entry.expires_at <= now:
            try:
                keys, ttl = await self._fetch_once(directory_url)
            except DirectoryError as exc:
                self._store(directory_url, keyid, _Entry(now + self.negative_ttl, failure=exc.reason))
                raise
            for thumbprint, found in keys.items():
                self._store(directory_url, thumbprint, _Entry(now + ttl, key=found))
            entry = self._cache.get((directory_url, keyid))
            if entry is None or entry.key is None:
                entry = _Entry(now + self.negative_ttl, failure=BotAuthReason.UNKNOWN_KEY)
                self._store(directory_url, keyid, entry)
        else:
            self._cache.move_to_end((directory_url, keyid))
        if entry.key is None:
            raise DirectoryError(entry.failure or BotAuthReason.UNKNOWN_KEY)
        return entry.key

    async def _fetch_once(self, url: str) -> tuple[dict[str, Ed25519PublicKey], float]:
        """One fetch per URL at a time: a burst of requests from a new bot waits for the same answer."""
        task = self._inflight.get(url)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._fetch(url))
            self._inflight[url] = task

            def _done(finished: asyncio.Task[tuple[dict[str, Ed25519PublicKey], float]]) -> None:
                if self._inflight.get(url) is finished:
                    del self._inflight[url]
                if not finished.cancelled():
                    finished.exception()  # retrieved here, so a waiter that went away leaves no log noise

            task.add_done_callback(_done)
        # Shielded: one waiter being cancelled (its client hung up) must not cancel the others' fetch.
        return await asyncio.shield(task)

    def _store(self, url: str, keyid: str, entry: _Entry) -> None:
        self._cache[(url, keyid)] = entry
        self._cache.move_to_end((url, keyid))
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def _ttl(self, cache_control: str | None) -> float:
        match = _MAX_AGE.search(cache_control or "")
        if match is None:
            return self.default_ttl
        return min(max(float(match.group(1)), self.min_ttl), self.max_ttl)

    async def _fetch(self, url: str) -> tuple[dict[str, Ed25519PublicKey], float]:
        if not url.lower().startswith("https://"):
            raise DirectoryError(BotAuthReason.INSECURE_DIRECTORY, url)
        self.fetch_count += 1
        try:
            async with (
                httpx.AsyncClient(
                    transport=self._transport, follow_redirects=False, timeout=self.timeout, trust_env=False
                ) as client,
                client.stream("GET", url, headers={"Accept": DIRECTORY_MEDIA_TYPE}) as response,
            ):
                if response.is_redirect or 300 <= response.status_code < 400:
                    raise DirectoryError(BotAuthReason.REDIRECTED, f"{url} answered {response.status_code}")
                if response.status_code != 200:
                    raise DirectoryError(
                        BotAuthReason.DIRECTORY_UNAVAILABLE, f"{url} answered {response.status_code}"
                    )
                media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if media_type != DIRECTORY_MEDIA_TYPE:
                    raise DirectoryError(BotAuthReason.BAD_DIRECTORY, f"{url} sent {media_type or 'no type'}")
                body = await self._read_limited(response)
                ttl = self._ttl(response.headers.get("cache-control"))
        except DirectoryError:
            raise
        except httpx.InvalidURL as exc:
            raise DirectoryError(BotAuthReason.MALFORMED, f"bad directory URL {url!r}") from exc
        except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
            raise DirectoryError(BotAuthReason.DIRECTORY_UNAVAILABLE, f"{url}: {exc}") from exc
        return self._parse_jwks(url, body), ttl

    async def _read_limited(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise DirectoryError(BotAuthReason.BAD_DIRECTORY, "directory too large")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise DirectoryError(BotAuthReason.BAD_DIRECTORY, "directory too large")
        return bytes(body)

    @staticmethod
    def _parse_jwks(url: str, body: bytes) -> dict[str, Ed25519PublicKey]:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DirectoryError(BotAuthReason.BAD_DIRECTORY, f"{url}: not JSON") from exc
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise DirectoryError(BotAuthReason.BAD_DIRECTORY, f"{url}: not a JWKS")
        keys: dict[str, Ed25519PublicKey] = {}
        for jwk in document["keys"]:
            key = _jwk_to_key(jwk)
            if key is not None:
                keys[jwk_thumbprint(key)] = key
        return keys


# --- messages ---------------------------------------------------------------------------------------------

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class _FieldLines:
    """Header field lines in order, repeated names kept (what the library reads through ``items()``)."""

    def __init__(self, headers: Headers) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        self._lines = [(str(name), str(value)) for name, value in pairs]

    def items(self) -> list[tuple[str, str]]:
        return self._lines

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._lines)

    def get(self, name: str) -> str | None:
        values = [v.strip(" \t") for n, v in self._lines if n.lower() == name.lower()]
        return ", ".join(values) if values else None


@dataclass(slots=True)
class _Message:
    method: str
    url: str
    headers: Any  # _FieldLines when verifying, a dict when signing


class _Verifier(HTTPMessageVerifier):
    """The library's verifier with its own clock checks off: ours take an injectable ``now``."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


@dataclass(slots=True)
class _Candidate:
    label: str
    components: list[tuple[str, dict[str, Any]]]
    params: dict[str, Any]


def _parse_sf(raw: str, kind: Literal["item", "dictionary"]) -> Any:
    """A structured field (RFC 8941/9651) as http-sf's plain values; raises ValueError."""
    try:
        return http_sf.parse(raw.encode("latin-1"), tltype=kind)
    except UnicodeEncodeError as exc:
        raise ValueError("not Latin-1") from exc


def _find_candidate(headers: _FieldLines) -> _Candidate | BotAuthReason:
    sig_input = headers.get("signature-input")
    signature = headers.get("signature")
    if sig_input is None or signature is None:
        return BotAuthReason.MISSING
    try:
        inputs = _parse_sf(sig_input, "dictionary")
        signatures = _parse_sf(signature, "dictionary")
    except ValueError:
        return BotAuthReason.MALFORMED
    assert isinstance(inputs, dict)
    assert isinstance(signatures, dict)
    for label, (members, params) in inputs.items():
        if not isinstance(params, dict) or params.get("tag") != TAG:
            continue
        if not isinstance(members, list) or label not in signatures:
            return BotAuthReason.MALFORMED
        if not isinstance(signatures[label][0], bytes):
            return BotAuthReason.MALFORMED
        components = [(str(name), dict(p)) for name, p in members]
        return _Candidate(label=label, components=components, params=dict(params))
    return BotAuthReason.MISSING


def _agent(headers: _FieldLines, candidate: _Candidate) -> str | BotAuthReason | None:
    """The Signature-Agent URL for this signature, in either form, or None when not sent."""
    raw = headers.get("signature-agent")
    if raw is None:
        return None
    try:
        item = _parse_sf(raw, "item")
    except ValueError:
        item = None
    if isinstance(item, tuple) and isinstance(item[0], str):
        return item[0]  # legacy form: a quoted string
    try:
        members = _parse_sf(raw, "dictionary")
    except ValueError:
        return BotAuthReason.MALFORMED
    assert isinstance(members, dict)
    # The dictionary member is the one the signature covers (``"signature-agent";key="..."``), else the one
    # named like the signature, else the only one.
    keys = [p["key"] for name, p in candidate.components if name == "signature-agent" and "key" in p]
    chosen = keys[0] if keys else candidate.label if candidate.label in members else None
    if chosen is None and len(members) == 1:
        chosen = next(iter(members))
    if chosen is None or chosen not in members or not isinstance(members[chosen][0], str):
        return BotAuthReason.MALFORMED
    value: str = members[chosen][0]
    return value


def _check_profile(candidate: _Candidate, *, agent_sent: bool) -> BotAuthReason | None:
    params = candidate.params
    names = [name for name, _ in candidate.components]
    if not isinstance(params.get("keyid"), str) or not params["keyid"]:
        return BotAuthReason.MALFORMED
    for name in ("created", "expires"):
        if type(params.get(name)) is not int:
            return BotAuthReason.MALFORMED
    if "nonce" in params and not isinstance(params["nonce"], str):
        return BotAuthReason.MALFORMED
    if "alg" in params and params["alg"] != "ed25519":
        return BotAuthReason.UNSUPPORTED_ALGORITHM
    if "@authority" not in names and "@target-uri" not in names:
        return BotAuthReason.INSUFFICIENT_COVERAGE
    if agent_sent and "signature-agent" not in names:
        return BotAuthReason.INSUFFICIENT_COVERAGE
    return None


def _check_time(params: Mapping[str, Any], now: dt.datetime, policy: BotAuthPolicy) -> BotAuthReason | None:
    created, expires = int(params["created"]), int(params["expires"])
    stamp = now.timestamp()
    skew = policy.clock_skew.total_seconds()
    if expires < created:
        return BotAuthReason.MALFORMED
    if created > stamp + skew:
        return BotAuthReason.NOT_YET_VALID
    if expires < stamp - skew:
        return BotAuthReason.EXPIRED
    if expires - created > policy.max_validity.total_seconds():
        return BotAuthReason.VALIDITY_TOO_LONG
    return None


async def verify_request(
    method: str,
    url: str,
    headers: Headers,
    *,
    directory: KeyDirectory,
    nonces: NonceCache,
    now: dt.datetime | None = None,
    policy: BotAuthPolicy = DEFAULT_POLICY,
) -> BotAuthResult:
    """Verify a request's Web Bot Auth signature; never raises on bad input.

    ``headers`` may be a mapping or (name, value) pairs with repeated names (ASGI headers decoded as
    Latin-1). ``now`` (timezone-aware) defaults to the current time.
    """
    now = now or dt.datetime.now(dt.UTC)
    lines = _FieldLines(headers)
    found = _find_candidate(lines)
    if isinstance(found, BotAuthReason):
        return BotAuthResult(verified=False, reason=found)
    candidate = found
    keyid = candidate.params.get("keyid") if isinstance(candidate.params.get("keyid"), str) else None
    agent = _agent(lines, candidate)
    if isinstance(agent, BotAuthReason):
        return BotAuthResult(verified=False, keyid=keyid, reason=agent, label=candidate.label)

    def fail(reason: BotAuthReason) -> BotAuthResult:
        return BotAuthResult(verified=False, agent=agent, keyid=keyid, reason=reason, label=candidate.label)

    problem = _check_profile(candidate, agent_sent=agent is not None) or _check_time(
        candidate.params, now, policy
    )
    if problem is not None:
        return fail(problem)
    assert keyid is not None
    try:
        if agent is None:
            # No agent to ask: only a pinned key can verify it.
            if keyid not in directory.pinned:
                return fail(BotAuthReason.UNKNOWN_KEY)
            key = directory.pinned[keyid]
        else:
            key = await directory.key(directory.directory_url(agent), keyid)
    except DirectoryError as exc:
        return fail(exc.reason)
    if not _verify_signature(method, url, lines, candidate.label, keyid, key):
        return fail(BotAuthReason.BAD_SIGNATURE)
    nonce = candidate.params.get("nonce")
    if isinstance(nonce, str):
        # Only after the signature verified: forged requests must not fill the cache.
        until = int(candidate.params["expires"]) + policy.clock_skew.total_seconds()
        if not nonces.check_and_add(keyid, nonce, until=until, now=now.timestamp()):
            return fail(BotAuthReason.REPLAYED_NONCE)
    return BotAuthResult(
        verified=True,
        agent=agent,
        keyid=keyid,
        label=candidate.label,
        nonce=nonce if isinstance(nonce, str) else None,
    )


def _verify_signature(
    method: str, url: str, lines: _FieldLines, label: str, keyid: str, key: Ed25519PublicKey
) -> bool:
    verifier = _Verifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={keyid: key}, private_keys={}),
    )
    try:
        verifier.verify(
            _Message(method=method.upper(), url=url, headers=lines),
            max_age=None,
            expect_tag=TAG,
            expect_label=label,
        )
    except (HTTPMessageSignaturesException, _CryptoInvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True


# --- signing ----------------------------------------------------------------------------------------------


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    private_key: Ed25519PrivateKey,
    keyid: str | None = None,
    agent: str | None,
    created: dt.datetime | None = None,
    expires: dt.datetime | None = None,
    nonce: str | None = None,
    label: str = "sig1",
    agent_form: Literal["dictionary", "string"] = "dictionary",
) -> dict[str, str]:
    """The Web Bot Auth headers (``Signature-Agent``, ``Signature-Input``, ``Signature``) to add to a request.

    ``keyid`` defaults to the key's JWK thumbprint; ``created`` to now and ``expires`` to five minutes later.
    ``agent`` is the URL whose origin serves the key directory (None sends no ``Signature-Agent``);
    ``agent_form`` picks the 2026 dictionary form (``sig1="https://..."``, covered as
    ``"signature-agent";key="sig1"``) or the legacy quoted string. Raises ``ValueError`` on bad input.
    """
    created = created or dt.datetime.now(dt.UTC)
    expires = expires or created + dt.timedelta(minutes=5)
    keyid = keyid or jwk_thumbprint(private_key.public_key())
    out: dict[str, str] = {}
    components: list[str] = ["@authority"]
    if agent is not None:
        if agent_form == "dictionary":
            out["Signature-Agent"] = http_sf.ser({label: (agent, {})})
            components.append(f'"signature-agent";key="{label}"')
        else:
            out["Signature-Agent"] = http_sf.ser((agent, {}))
            components.append("signature-agent")
    message = _Message(method=method.upper(), url=url, headers={**dict(headers), **out})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={keyid: private_key}),
    )
    try:
        signer.sign(
            message,
            key_id=keyid,
            created=created,
            expires=expires,
            nonce=nonce,
            label=label,
            tag=TAG,
            covered_component_ids=components,
        )
    except HTTPMessageSignaturesException as exc:
        raise ValueError(str(exc)) from exc
    out["Signature-Input"] = message.headers["Signature-Input"]
    out["Signature"] = message.headers["Signature"]
    return out
