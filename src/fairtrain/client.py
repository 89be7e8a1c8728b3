"""The licensee's client: find a fairtrain site's terms, get a licence token, crawl with it, pay per crawl,
report usage. Made so that paying takes fewer lines than scraping.

::

    from fairtrain.client import LicensedClient

    with LicensedClient("https://art.example", client_id="ftc_…", client_secret="…") as client:
        info = client.discover("https://art.example/@mira/works/ast_…")   # robots.txt, Link, license.xml
        client.token(info.resource)                                       # RSL licence server (OLP)
        work = client.fetch("https://art.example/media/ast_…/full")       # Authorization: License …

The wire formats are those of ``STANDARDS.md``: RSL discovery (robots.txt ``License:``, the
``Link: <…>; rel="license"`` header of every work's response, the ``server`` of an RSL ``<content>``), OLP
``/token`` with HTTP Basic client credentials, CAP (``Authorization: License``; 401 ``invalid_token``, 402,
403, 503), pay per crawl (``crawler-price`` / ``crawler-exact-price`` / ``crawler-max-price`` /
``crawler-charged``) and Web Bot Auth (RFC 9421 signatures, Ed25519).

The client needs only httpx, lxml and cryptography (no server, no database). Prices are read exactly, as
:class:`~decimal.Decimal`, never as floats. A refusal is a named exception that carries the licence URL: a
refusal always says where to buy.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from fairtrain import __version__
from fairtrain.gateway.botauth import jwk_thumbprint, sign_request

__all__ = [
    "RSL_NAMESPACE",
    "ClientError",
    "FetchResult",
    "Invoice",
    "LicenceInfo",
    "LicenceRequired",
    "LicensedClient",
    "Money",
    "Price",
    "PriceTooHigh",
    "Refused",
    "ReportRejected",
    "RslContent",
    "RslLicense",
    "RslPayment",
    "Token",
    "TokenRefused",
    "Unavailable",
    "UsageReport",
    "key_directory",
    "license_request",
    "parse_rsl",
    "robots_licenses",
]

RSL_NAMESPACE = "https://rslstandard.org/rsl"
RSL_MEDIA_TYPE = "application/rsl+xml"
DEFAULT_USER_AGENT = f"fairtrain-client/{__version__}"

_NS = f"{{{RSL_NAMESPACE}}}"
_PRICE = re.compile(r"^\s*([A-Za-z]{3})\s+(\d{1,12}(?:\.\d{1,6})?)\s*$")
_AUTH_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, load_dtd=False
)
_MAX_DOCUMENT_BYTES = 2 * 1024 * 1024  # a licence document or robots.txt larger than this is not read
_LEGACY_USAGES = {"train-ai": "ai-train", "ai-use": "ai-input"}


# --- errors ----------------------------------------------------------------------------------------------


class ClientError(Exception):
    """A refusal or failure answered by the site. ``license_url`` says where the terms (and the offers) are;
    ``code`` is the site's machine-readable reason (``crawler-error``, the CAP ``error``, or the body's
    ``code``)."""

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        status: int = 0,
        code: str = "",
        license_url: str | None = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.code = code
        self.license_url = license_url
        self.headers = headers if headers is not None else httpx.Headers()

    def __str__(self) -> str:
        text = f"{self.status} {self.message}" if self.status else self.message
        if self.license_url and self.license_url not in text:
            text += f" (terms: {self.license_url})"
        return text


class LicenceRequired(ClientError):
    """401 or 402: this use needs a licence (a token, a deal, or a per-crawl price you have not offered)."""


class TokenRefused(LicenceRequired):
    """The licence server refused a token (OAuth ``error``: ``unauthorized_client`` when no deal of your
    organisation covers the request, ``invalid_client`` for wrong credentials, ...)."""


class PriceTooHigh(ClientError):
    """402 with a per-crawl price above the client's ``max_price`` (or in another currency): not paid."""

    def __init__(self, message: str, *, price: Price, max_price: Price | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.price = price
        self.max_price = max_price


class Refused(ClientError):
    """400, 403, 404 and other refusals: the site will not serve this to you (``code`` says why, e.g.
    ``CrawlerForbidden``, ``PaymentFailed``, ``StrongAuthRequired``, ``InvalidSignature``, ``not_found``)."""


class Unavailable(ClientError):
    """503 (licence server, metering or a crawler check unavailable) after the retries, or a Retry-After
    longer than the client waits. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ReportRejected(ClientError):
    """The site refused a usage report (``code``: ``already_billed``, ``not_billable``, ``unknown_deal``,
    ``idempotency_key_reused``, ...)."""


# --- money -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    """A per-crawl price as on the wire (``USD 0.01``): an ISO 4217 code and an exact decimal amount."""

    currency: str
    amount: Decimal

    @classmethod
    def parse(cls, text: str) -> Price:
        """``"USD 0.01"`` -> ``Price("USD", Decimal("0.01"))``; ``ValueError`` for anything else."""
        match = _PRICE.match(text)
        if match is None:
            raise ValueError(f"{text[:60]!r} is not a price such as 'USD 0.01'")
        return cls(match.group(1).upper(), Decimal(match.group(2)))

    def covers(self, other: Price) -> bool:
        """Whether paying up to ``self`` allows paying ``other`` (same currency, not more)."""
        return self.currency == other.currency and other.amount <= self.amount

    def __str__(self) -> str:
        return f"{self.currency} {self.amount:f}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of an invoice or report, exact: ``Decimal`` in the currency's unit and its minor units."""

    amount: Decimal
    minor: int
    currency: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Money:
        return cls(Decimal(str(data["amount"])), int(data["minor"]), str(data["currency"]))

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"


# --- what a site publishes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RslPayment:
    type: str  # purchase, subscription, training, crawl, use, contribution, attribution, free
    amount: Price | None = None
    standard: str | None = None  # the URL of a shared licence (a collective's)
    custom: str | None = None  # the URL of the publisher's own process (fairtrain: the offer's page)


@dataclass(frozen=True, slots=True)
class RslLicense:
    """One ``<license>`` of a ``<content>``: what it permits and prohibits, and what it costs."""

    permits: Mapping[str, tuple[str, ...]]  # type ("usage", "user", "geo") -> values
    prohibits: Mapping[str, tuple[str, ...]]
    payments: tuple[RslPayment, ...]
    xml: str  # the element itself, to send back to the licence server as the ``license`` you want

    @property
    def usages(self) -> tuple[str, ...]:
        return self.permits.get("usage", ())

    @property
    def free(self) -> bool:
        """No ``<payment>``, or only ``type="free"`` (RSL: no payment element means free)."""
        return all(p.type == "free" for p in self.payments)

    def permits_usage(self, usage: str) -> bool:
        permitted = self.usages
        wide = {"ai-train", "ai-input", "ai-index"}
        allowed = usage in permitted or "all" in permitted or ("ai-all" in permitted and usage in wide)
        return allowed and usage not in self.prohibits.get("usage", ())


@dataclass(frozen=True, slots=True)
class RslContent:
    """One ``<content>``: the URL pattern it governs, its licence server, its licences."""

    url: str  # robots.txt-style pattern (``/@mira/*``) or an absolute URL
    server: str | None
    licenses: tuple[RslLicense, ...]
    copyright: str | None = None
    terms: str | None = None

    def matches(self, url: str, base: str) -> bool:
        return _pattern_covers(urljoin(base, self.url), url)


@dataclass(frozen=True, slots=True)
class LicenceInfo:
    """What :meth:`LicensedClient.discover` found for a URL."""

    url: str
    license_url: str | None  # the document that governs ``url`` (its Link header's, else robots.txt's)
    robots_licenses: tuple[str, ...]  # every ``License:`` line of the site's robots.txt
    link_license: str | None  # the ``Link: <…>; rel="license"`` of the URL's own response
    status: int | None  # what the URL answered (HEAD, or GET where HEAD is not allowed)
    contents: tuple[RslContent, ...] = ()  # every ``<content>`` of the licence document
    content: RslContent | None = None  # the one governing ``url`` (the narrowest match)
    server: str | None = None  # the licence server (the content's ``server``)
    token_endpoint: str | None = None  # from the server's RFC 8414 metadata, else ``<server>/token``

    @property
    def resource(self) -> str | None:
        """The content's URL pattern made absolute (``https://art.example/@mira/*``): the ``resource`` to ask
        a token for."""
        if self.content is None:
            return None
        return urljoin(self.license_url or self.url, self.content.url)

    @property
    def licenses(self) -> tuple[RslLicense, ...]:
        return self.content.licenses if self.content is not None else ()

    @property
    def needs_token(self) -> bool:
        """RSL: a content with a licence server needs a token even for free terms."""
        return self.server is not None


@dataclass(frozen=True, slots=True)
class Token:
    """A licence token, with what it was asked for (so it can be renewed)."""

    access_token: str
    token_type: str
    expires_at: datetime | None  # None: never expires (``expires_in`` 0)
    resource: str
    license_xml: str
    token_endpoint: str

    def expires_within(self, margin: timedelta, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at - margin <= now

    @property
    def authorization(self) -> str:
        return f"License {self.access_token}"

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"Token(resource={self.resource!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    status: int
    content: bytes
    headers: httpx.Headers
    charged: Price | None = None  # what a pay-per-crawl answer charged (``crawler-charged``)
    licensed: bool = False  # fetched with a licence token
    license_url: str | None = None

    @property
    def media_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";")[0].strip()


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    reference: str
    status: str  # issued, paid or void
    deal_id: str | None
    total: Money
    balance_due: Money
    due_on: date | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Invoice:
        due = data.get("due_on")
        return cls(
            id=data["id"],
            reference=data["reference"],
            status=data["status"],
            deal_id=data.get("deal_id"),
            total=Money.of(data["total"]),
            balance_due=Money.of(data["balance_due"]),
            due_on=date.fromisoformat(due) if due else None,
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class UsageReport:
    id: str
    deal_id: str
    period_start: date
    period_end: date
    quantity: int
    invoice: Invoice | None  # None when nothing was used
    replayed: bool  # the site answered an earlier report sent with the same idempotency key


# --- helpers -------------------------------------------------------------------------------------------


def license_request(usages: Iterable[str] = ("ai-train",), *, user_types: Iterable[str] = ()) -> str:
    """The RSL ``<license>`` element to ask the licence server for: the usages you want (and, optionally,
    the user types you are, e.g. ``commercial``)."""
    root = etree.Element(f"{_NS}license", nsmap={None: RSL_NAMESPACE})
    wanted = " ".join(usages)
    if not wanted:
        raise ValueError("ask for at least one usage, e.g. ai-train")
    etree.SubElement(root, f"{_NS}permits", type="usage").text = wanted
    users = " ".join(user_types)
    if users:
        etree.SubElement(root, f"{_NS}permits", type="user").text = users
    return etree.tostring(root, encoding="unicode")


def key_directory(*keys: Ed25519PublicKey) -> dict[str, list[dict[str, str]]]:
    """The Web Bot Auth key directory to serve at ``<agent>/.well-known/http-message-signatures-directory``
    (``Content-Type: application/http-message-signatures-directory+json``): a JWKS of the public keys."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64.urlsafe_b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
                .rstrip(b"=")
                .decode(),
                "kid": jwk_thumbprint(key),
            }
            for key in keys
        ]
    }


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in body) + ("$" if anchored else ""))


def _pattern_covers(pattern_url: str, url: str) -> bool:
    """robots.txt matching (``*``, a final ``$``) of an absolute pattern against an absolute URL."""
    pattern, target = urlsplit(pattern_url), urlsplit(url)
    if (pattern.scheme.lower(), pattern.netloc.lower()) != (target.scheme.lower(), target.netloc.lower()):
        return False
    path = target.path or "/"
    if target.query:
        path += "?" + target.query
    return _pattern_regex(pattern.path or "/").match(path) is not None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _words(text: str | None) -> tuple[str, ...]:
    values = (text or "").replace(",", " ").split()
    return tuple(_LEGACY_USAGES.get(v, v) for v in values)


def _local(tag: object) -> str:
    return tag.split("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: etree._Element, name: str) -> str | None:
    found = _children(element, name)
    return (found[0].text or "").strip() or None if found else None


def parse_rsl(document: bytes | str) -> tuple[RslContent, ...]:
    """The ``<content>`` elements of an RSL document (RSL 1.0, and the legacy 0.9 words); ``ValueError`` if
    it is not one. Parsed without DTDs, entities or network access."""
    raw = document.encode() if isinstance(document, str) else document
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"the licence document is not well-formed XML: {exc}") from None
    if _local(root.tag) != "rsl":
        raise ValueError(f"the licence document's root is <{_local(root.tag)}>, not <rsl>")
    contents = []
    for content in _children(root, "content"):
        licenses = []
        for element in _children(content, "license"):
            permits: dict[str, tuple[str, ...]] = {}
            prohibits: dict[str, tuple[str, ...]] = {}
            for child in element:
                kind = _local(child.tag)
                if kind in ("permits", "prohibits"):
                    target = permits if kind == "permits" else prohibits
                    key = child.get("type", "usage")
                    target[key] = target.get(key, ()) + _words(child.text)
            payments = []
            for payment in _children(element, "payment"):
                amount = None
                for found in _children(payment, "amount"):
                    currency, value = found.get("currency", ""), (found.text or "").strip()
                    try:
                        amount = Price.parse(f"{currency} {value}")
                    except ValueError:
                        amount = None
                payments.append(
                    RslPayment(
                        type=payment.get("type", "purchase"),
                        amount=amount,
                        standard=_text(payment, "standard"),
                        custom=_text(payment, "custom"),
                    )
                )
            xml = etree.tostring(element, encoding="unicode", with_tail=False)
            licenses.append(RslLicense(permits, prohibits, tuple(payments), xml))
        copyright_ = _children(content, "copyright")
        contents.append(
            RslContent(
                url=content.get("url", "/*"),
                server=content.get("server") or None,
                licenses=tuple(licenses),
                copyright=(copyright_[0].text or "").strip() or None if copyright_ else None,
                terms=_text(content, "terms"),
            )
        )
    return tuple(contents)


def robots_licenses(text: str, base: str) -> tuple[str, ...]:
    """Every ``License:`` line of a robots.txt (global or in any group), made absolute, in order."""
    found: list[str] = []
    for line in text.splitlines():
        name, colon, value = line.split("#", 1)[0].partition(":")
        if colon and name.strip().lower() == "license" and value.strip():
            url = urljoin(base, value.strip())
            if url not in found:
                found.append(url)
    return tuple(found)


def _narrowest(contents: Sequence[RslContent], url: str, base: str) -> RslContent | None:
    matching = [c for c in contents if c.matches(url, base)]
    return max(matching, key=lambda c: len(urlsplit(urljoin(base, c.url)).path), default=None)


def _auth_params(header: str) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate: License error="…", error_description="…"`` challenge."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "license":
        return {}
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _AUTH_PARAM.finditer(rest)
    }


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _body(response: httpx.Response) -> dict[str, Any]:
    if "json" not in response.headers.get("content-type", ""):
        return {}
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- the client -----------------------------------------------------------------------------------------


class LicensedClient:
    """An HTTP client for licensed crawling of fairtrain (or any RSL) sites. Use it as a context manager.

    ``base_url`` resolves relative URLs and is where the JSON API lives (usage reports, invoices).
    ``client_id``/``client_secret``: the organisation's API client, for licence tokens. ``api_token``: a
    member's personal API token (``ftp_…``), for usage reports and invoices. ``private_key`` and ``agent``:
    an Ed25519 key and the origin that serves its key directory
    (``<agent>/.well-known/http-message-signatures-directory``), to sign every request with Web Bot Auth.
    ``max_price``: the most the client pays for one crawl (``None``: never pays); with ``pay_upfront`` it
    sends it as ``crawler-max-price`` on every unlicensed fetch instead of waiting for a 402 quote.
    A 503 is retried ``retries`` times, waiting what Retry-After says, unless that is more than
    ``max_retry_wait`` seconds.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        client_id: str | None = None,
        client_secret: str | None = None,
        api_token: str | None = None,
        private_key: Ed25519PrivateKey | None = None,
        agent: str | None = None,
        max_price: str | Price | None = "USD 0.05",
        pay_upfront: bool = False,
        retries: int = 2,
        max_retry_wait: float = 60.0,
        timeout: float = 30.0,
        renew_before: timedelta = timedelta(seconds=60),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if (client_id is None) != (client_secret is None):
            raise ValueError("give both client_id and client_secret, or neither")
        if agent is not None and private_key is None:
            raise ValueError("an agent needs the private key that signs for it")
        if retries < 0 or max_retry_wait < 0:
            raise ValueError("retries and max_retry_wait cannot be negative")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.user_agent = user_agent
        self.client_id = client_id
        self._client_secret = client_secret
        self._api_token = api_token
        self._private_key = private_key
        self.agent = agent
        self.max_price = Price.parse(max_price) if isinstance(max_price, str) else max_price
        self.pay_upfront = pay_upfront
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.renew_before = renew_before
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # a signature and a licence token are for one URL and one origin
            transport=transport,
            headers={"User-Agent": user_agent},
        )
        self._tokens: dict[tuple[str, str], Token] = {}
        self._contents: dict[str, tuple[RslContent, ...]] = {}  # licence document URL -> its contents
        self._endpoints: dict[str, str] = {}  # licence server -> token endpoint

    # --- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return (
            f"LicensedClient(base_url={self.base_url!r}, client_id={self.client_id!r}, agent={self.agent!r})"
        )

    # --- plumbing --------------------------------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        if "://" in url:
            return url
        if self.base_url is None:
            raise ValueError(f"{url!r} is relative and the client has no base_url")
        return urljoin(self.base_url + "/", url.lstrip("/"))

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """One request, signed afresh on every attempt when the client has a key; a 503 is retried as long
        as Retry-After (1, 2, 4… s without one) is within ``max_retry_wait``."""
        attempt = 0
        while True:
            sent = dict(headers or {})
            if self._private_key is not None:
                sent.update(
                    sign_request(
                        method,
                        url,
                        {},
                        private_key=self._private_key,
                        agent=self.agent,
                        nonce=secrets.token_urlsafe(16),  # a replayed request is refused
                    )
                )
            response = self._http.request(method, url, headers=sent, data=data, json=body)
            if response.status_code != 503 or attempt >= self.retries:
                return response
            wait = _retry_after(response.headers.get("retry-after"), self._clock())
            wait = float(2**attempt) if wait is None else wait
            if wait > self.max_retry_wait:
                return response
            response.close()
            self._sleep(wait)
            attempt += 1

    def _read(self, url: str) -> httpx.Response | None:
        """A GET of a small public document (robots.txt, a licence); None when it is not there."""
        try:
            response = self._send("GET", url)
        except httpx.TransportError:
            return None
        if response.status_code != 200 or len(response.content) > _MAX_DOCUMENT_BYTES:
            return None
        return response

    def _error(self, response: httpx.Response, url: str) -> ClientError:
        body = _body(response)
        headers = response.headers
        link = response.links.get("license", {}).get("url")
        license_url = urljoin(url, link) if link else body.get("license")
        challenge = _auth_params(headers.get("www-authenticate", ""))
        code = headers.get("crawler-error") or challenge.get("error") or str(body.get("code", ""))
        message = str(
            body.get("detail") or challenge.get("error_description") or response.reason_phrase or "refused"
        )
        status = response.status_code
        common: dict[str, Any] = {
            "url": url,
            "status": status,
            "code": code,
            "license_url": license_url,
            "headers": headers,
        }
        if status == 503:
            retry = _retry_after(headers.get("retry-after"), self._clock())
            return Unavailable(message, retry_after=retry, **common)
        if status in (401, 402):
            return LicenceRequired(message, **common)
        return Refused(message, **common)

    # --- discovery ---------------------------------------------------------------------------------------

    def discover(self, url: str) -> LicenceInfo:
        """Find the terms for ``url``: the site's robots.txt ``License:`` lines, the ``Link rel="license"``
        of the URL's own answer (HEAD, or GET where HEAD is not allowed; never paid for), the licence
        document and its ``<content>`` governing the URL, and the licence server's token endpoint."""
        url = self._absolute(url)
        origin = _origin(url)
        robots = self._read(f"{origin}/robots.txt")
        from_robots = robots_licenses(robots.text, origin + "/") if robots is not None else ()
        link_license: str | None = None
        status: int | None = None
        try:
            answer, answered = self._probe(url)
            status = answer.status_code
            link = answer.links.get("license", {}).get("url")
            link_license = urljoin(answered, link) if link else None
        except httpx.TransportError:
            pass
        candidates = [u for u in (link_license, *from_robots) if u]
        for license_url in candidates:
            contents = self._document(license_url)
            if not contents:
                continue
            content = _narrowest(contents, url, license_url)
            if content is None and license_url == link_license and len(contents) == 1:
                # The URL's own answer named this document: its one content governs it, even where the
                # pattern is the creator's pages and the URL is a file (/media/...).
                content = contents[0]
            if content is None:
                continue
            server = urljoin(license_url, content.server) if content.server else None
            return LicenceInfo(
                url=url,
                license_url=license_url,
                robots_licenses=from_robots,
                link_license=link_license,
                status=status,
                contents=contents,
                content=content,
                server=server,
                token_endpoint=self._token_endpoint(server) if server else None,
            )
        return LicenceInfo(
            url=url,
            license_url=candidates[0] if candidates else None,
            robots_licenses=from_robots,
            link_license=link_license,
            status=status,
        )

    def _probe(self, url: str) -> tuple[httpx.Response, str]:
        """HEAD ``url`` (GET where HEAD is not allowed), following up to five redirects within its origin
        (``/@mira/`` -> ``/@mira``); no price header is sent, so nothing is ever paid."""
        for _ in range(5):
            answer = self._send("HEAD", url)
            if answer.status_code in (405, 501):
                answer = self._send("GET", url)
            location = answer.headers.get("location")
            if not answer.is_redirect or not location:
                break
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                break
            url = target
        return answer, url

    def _document(self, license_url: str) -> tuple[RslContent, ...]:
        cached = self._contents.get(license_url)
        if cached is not None:
            return cached
        response = self._read(license_url)
        contents: tuple[RslContent, ...] = ()
        if response is not None:
            try:
                contents = parse_rsl(response.content)
            except ValueError:
                contents = ()
        self._contents[license_url] = contents
        return contents

    def _token_endpoint(self, server: str) -> str:
        """RFC 8414: the metadata of the issuer ``server`` is at ``/.well-known/oauth-authorization-server``
        inserted before its path; without it, OLP's ``<server>/token``."""
        cached = self._endpoints.get(server)
        if cached is not None:
            return cached
        parts = urlsplit(server)
        path = parts.path.rstrip("/")
        metadata = urlunsplit(
            (parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")
        )
        endpoint = f"{server.rstrip('/')}/token"
        response = self._read(metadata)
        if response is not None:
            found = _body(response).get("token_endpoint")
            if isinstance(found, str) and found:
                endpoint = urljoin(metadata, found)
        self._endpoints[server] = endpoint
        return endpoint

    # --- licence tokens ----------------------------------------------------------------------------------

    def token(
        self,
        resource: str,
        license_xml: str | None = None,
        *,
        usages: Sequence[str] = ("ai-train",),
        token_endpoint: str | None = None,
        renew: bool = False,
    ) -> Token:
        """A licence token for ``resource`` (a content URL pattern such as ``https://art.example/@mira/*``, a
        work's URL, or a path on ``base_url``), for the ``<license>`` element ``license_xml`` (default: one
        permitting ``usages``). Cached until ``renew_before`` its expiry; ``renew`` asks for a new one.

        The licence server is the one the site publishes for the resource (found with :meth:`discover`
        unless ``token_endpoint`` is given). Raises :class:`TokenRefused` with the licence URL when no deal
        covers the request."""
        if self.client_id is None or self._client_secret is None:
            raise ValueError("licence tokens need the API client's client_id and client_secret")
        resource = self._absolute(resource)
        license_xml = license_xml if license_xml is not None else license_request(usages)
        key = (resource, license_xml)
        cached = self._tokens.get(key)
        if cached is not None and not renew and not cached.expires_within(self.renew_before, self._clock()):
            return cached
        license_url: str | None = None
        if token_endpoint is None:
            if cached is not None:
                token_endpoint = cached.token_endpoint
            else:
                info = self.discover(resource.replace("*", "").removesuffix("$"))
                license_url = info.license_url
                if info.token_endpoint is None:
                    raise LicenceRequired(
                        f"{resource} publishes no licence server: read its terms and ask the site",
                        url=resource,
                        license_url=info.license_url,
                    )
                token_endpoint = info.token_endpoint
        credentials = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
        form = {
            "grant_type": "client_credentials",
            "license": license_xml,
            "license_type": RSL_MEDIA_TYPE,
            "resource": resource,
        }
        now = self._clock()
        response = self._send(
            "POST",
            token_endpoint,
            headers={"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()},
            data=form,
        )
        body = _body(response)
        if response.status_code != 200 or "access_token" not in body:
            if response.status_code == 503 or response.status_code >= 500:
                raise self._error(response, token_endpoint)
            error = str(body.get("error", "")) or "server_error"
            description = (
                str(body.get("error_description", ""))
                or f"the licence server answered {response.status_code}"
            )
            if license_url is None:
                license_url = self._license_url_for(resource)
            raise TokenRefused(
                description,
                url=token_endpoint,
                status=response.status_code,
                code=error,
                license_url=license_url,
                headers=response.headers,
            )
        expires_in = int(body.get("expires_in", 0) or 0)
        token = Token(
            access_token=str(body["access_token"]),
            token_type=str(body.get("token_type", "License")),
            expires_at=now + timedelta(seconds=expires_in) if expires_in > 0 else None,
            resource=resource,
            license_xml=license_xml,
            token_endpoint=token_endpoint,
        )
        self._tokens[key] = token
        return token

    def _license_url_for(self, resource: str) -> str | None:
        """The licence document already read whose narrowest ``<content>`` covers ``resource``."""
        target = resource.replace("*", "").removesuffix("$")
        best: tuple[int, str] | None = None
        for license_url, contents in self._contents.items():
            content = _narrowest(contents, target, license_url)
            if content is not None:
                width = len(urlsplit(urljoin(license_url, content.url)).path)
                if best is None or width > best[0]:
                    best = (width, license_url)
        return best[1] if best else None

    def tokens(self) -> list[Token]:
        """The tokens held now."""
        return list(self._tokens.values())

    def _token_for(self, url: str) -> Token | None:
        """The held token whose resource covers ``url`` (the narrowest); else, when the URL's origin has
        exactly one, that one: a work's file (``/media/<id>/full``) does not name its creator."""
        mine = [t for t in self._tokens.values() if _origin(t.resource) == _origin(url)]
        covering = [t for t in mine if _pattern_covers(t.resource, url)]
        if covering:
            return max(covering, key=lambda t: len(urlsplit(t.resource).path))
        return mine[0] if len(mine) == 1 else None

    # --- fetching ------------------------------------------------------------------------------------

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        token: Token | None = None,
        licensed: bool = True,
    ) -> FetchResult:
        """Fetch ``url``: with a licence token (``token``, else a held token that covers it; see
        :meth:`token`), renewed once if the site answers 401 ``invalid_token``; without one, a 402 quote
        (``crawler-price``) within ``max_price`` is paid by sending the request once more with
        ``crawler-exact-price``. Never pays above ``max_price``.

        Returns a :class:`FetchResult` for 2xx, 304 and redirects (which are not followed). Raises
        :class:`LicenceRequired` (401, 402), :class:`PriceTooHigh`, :class:`Refused` (400, 403, 404, …) or
        :class:`Unavailable` (503), each with the licence URL."""
        url = self._absolute(url)
        method = method.upper()
        if token is None and licensed:
            token = self._token_for(url)
            if token is not None and token.expires_within(self.renew_before, self._clock()):
                token = self.token(token.resource, token.license_xml, renew=True)
        extra = dict(headers or {})
        renewed = paid = False
        if token is None and self.pay_upfront and self.max_price is not None:
            extra["crawler-max-price"] = str(self.max_price)
        while True:
            sent = dict(extra)
            if token is not None:
                sent["Authorization"] = token.authorization
            response = self._send(method, url, headers=sent)
            status = response.status_code
            if status < 400:
                charged = response.headers.get("crawler-charged")
                link = response.links.get("license", {}).get("url")
                return FetchResult(
                    url=url,
                    status=status,
                    content=response.content,
                    headers=response.headers,
                    charged=Price.parse(charged) if charged else None,
                    licensed=token is not None,
                    license_url=urljoin(url, link) if link else None,
                )
            challenge = _auth_params(response.headers.get("www-authenticate", ""))
            if (
                status == 401
                and token is not None
                and not renewed
                and challenge.get("error") == "invalid_token"
            ):
                token = self.token(token.resource, token.license_xml, renew=True)
                renewed = True
                continue
            quote_ = response.headers.get("crawler-price")
            if status == 402 and token is None and quote_ and not paid:
                price = Price.parse(quote_)
                if self.max_price is None or not self.max_price.covers(price):
                    error = self._error(response, url)
                    limit = "pays nothing" if self.max_price is None else f"pays at most {self.max_price}"
                    raise PriceTooHigh(
                        f"{url} costs {price} a crawl and this client {limit}",
                        price=price,
                        max_price=self.max_price,
                        url=url,
                        status=status,
                        code=error.code,
                        license_url=error.license_url,
                        headers=response.headers,
                    )
                extra.pop("crawler-max-price", None)
                extra["crawler-exact-price"] = quote_.strip()
                paid = True
                continue
            raise self._error(response, url)

    # --- the licensee's API: usage reports and invoices --------------------------------------------------

    def _api(self, path: str) -> str:
        if self.base_url is None:
            raise ValueError("the JSON API needs the client's base_url")
        return f"{self.base_url}/api/v1{path}"

    def _api_headers(self) -> dict[str, str]:
        if self._api_token is None:
            raise ValueError(
                "the JSON API needs api_token: a personal API token (ftp_…) of a licensee member"
            )
        return {"Authorization": f"Bearer {self._api_token}", "Accept": "application/json"}

    def report_usage(
        self,
        deal_id: str,
        *,
        period_start: date,
        period_end: date,
        counts: Mapping[str, int],
        idempotency_key: str | None = None,
    ) -> UsageReport:
        """Report a per-crawl or per-use deal's usage for an ended calendar month: work id -> requests or
        uses. The site invoices it at once. ``idempotency_key`` defaults to one derived from the report, so
        sending the same report again (after a timeout, say) never bills twice."""
        items = [{"asset_id": asset_id, "count": count} for asset_id, count in sorted(counts.items())]
        body = {
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "items": items,
        }
        if idempotency_key is None:
            digest = hashlib.sha256(json.dumps([deal_id, body], sort_keys=True).encode()).hexdigest()
            idempotency_key = f"usage-{deal_id}-{period_start.isoformat()}-{digest[:24]}"
        url = self._api(f"/deals/{quote(deal_id, safe='')}/usage")
        response = self._send(
            "POST", url, headers={**self._api_headers(), "Idempotency-Key": idempotency_key}, body=body
        )
        data = _body(response)
        if response.status_code != 201:
            error = self._error(response, url)
            if isinstance(error, Unavailable):
                raise error
            raise ReportRejected(
                str(data.get("detail") or error.message),
                url=url,
                status=response.status_code,
                code=str(data.get("code", "")),
                headers=response.headers,
            )
        invoice = data.get("invoice")
        return UsageReport(
            id=data["id"],
            deal_id=data["deal_id"],
            period_start=date.fromisoformat(data["period_start"]),
            period_end=date.fromisoformat(data["period_end"]),
            quantity=int(data["quantity"]),
            invoice=Invoice.of(invoice) if invoice else None,
            replayed=response.headers.get("idempotent-replayed") == "true",
        )

    def invoices(self, *, status: str | None = None) -> list[Invoice]:
        """Your organisations' invoices (every page); ``status``: issued, paid or void."""
        found: list[Invoice] = []
        offset = 0
        while True:
            params = f"?limit=500&offset={offset}" + (f"&status={quote(status)}" if status else "")
            url = self._api("/invoices") + params
            response = self._send("GET", url, headers=self._api_headers())
            if response.status_code != 200:
                raise self._error(response, url)
            page = _body(response)
            items = page.get("items", [])
            found += [Invoice.of(item) for item in items]
            offset += len(items)
            if not items or offset >= int(page.get("total", 0)):
                return found
