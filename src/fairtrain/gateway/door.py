"""The door: who is asking for a work, and what they get.

For every request for a work (its page, preview, full-size file or original) the door

1. **classifies** the client (``classes.py``): a licence token (RSL CAP) first, then a Web Bot Auth
   signature, the crawler registry with prefix lists and reverse DNS (``identity.py``), the session, and the
   scraper heuristics (``scrapers.py``);
2. **decides** from the work's access level, its effective policy for the crawler's purpose and the client's
   class: serve, refuse (403), ask for a licence (401/402 with ``WWW-Authenticate: License`` and
   ``Link: rel="license"``), quote a price (402 ``crawler-price``), or charge (200 ``crawler-charged``);
3. **meters**: licensed uses and charges are committed (group commits, ``meter.py``) before the response is
   sent; every request is counted for the crawler analytics.

Only a verified crawler can be charged, and only with the organisation that registered it; a crawler that
cannot be verified is refused, never billed to the operator it names. Nothing about a paywalled file leaks
before the decision: ETag, Range and HEAD are answered only for clients allowed the bytes.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers

from fairtrain.accounts.models import Role, User
from fairtrain.config import Settings
from fairtrain.gateway.analytics import Hit, RobotsRules, site_robots_rules
from fairtrain.gateway.botauth import BotAuthReason, KeyDirectory, NonceCache, verify_request
from fairtrain.gateway.classes import ClientClass, Outcome, crawler_class
from fairtrain.gateway.identity import Identity, identify, match_crawler
from fairtrain.gateway.meter import ChargeDraft, Meter, MeterUnavailable
from fairtrain.gateway.prefixes import PREFIX_DIR, PrefixDirectory, PrefixLists
from fairtrain.gateway.pricing import PriceError, format_price, parse_offer
from fairtrain.gateway.rdns import FCrDNS, SystemResolver
from fairtrain.gateway.scrapers import ScraperWatch, library_agent
from fairtrain.gateway.subscriptions import Entitlement, entitlements
from fairtrain.gateway.works import ServedFile, TTLCache, Work, WorkFiles, load_work
from fairtrain.licensing.billing import UsageEventDraft
from fairtrain.licensing.crawlers import account_for, request_agents
from fairtrain.licensing.keys import SigningKeyring, VerificationKeys
from fairtrain.licensing.olp import check_token_live, deal_asset_ids, signing_keyring
from fairtrain.licensing.tokens import InvalidLicenseToken, LicenseToken, cap_challenge, verify_license_token
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.signals import PURPOSE_USAGE, RSL_MEDIA_TYPE
from fairtrain.stamp.service import ProtectionContext

__all__ = ["PERSONAL_HEADERS", "Asking", "Door", "Variant", "Verdict", "build_door"]


log = logging.getLogger(__name__)
T = TypeVar("T")
V = TypeVar("V")

# Request ids for metered records: unique per process (random prefix) and cheap (no system call each).
_REQUEST_PREFIX = secrets.token_hex(8)
_REQUEST_COUNTER = itertools.count()

Variant = Literal["page", "preview", "full", "original"]

_TRANSIENT_BOTAUTH = {BotAuthReason.DIRECTORY_UNAVAILABLE}
_NOT_A_CRAWLER = Identity("not-a-crawler", reason="the user agent names no registered crawler")
_NO_STORE = {"Cache-Control": "no-store"}
# Headers that make a request's answer its own: credentials, signatures, price offers, sessions.
PERSONAL_HEADERS = (
    "authorization",
    "signature",
    "signature-input",
    "signature-agent",
    "crawler-exact-price",
    "crawler-max-price",
    "cookie",
)
_REUSABLE_STATUS = frozenset({401, 402, 403, 404})


@dataclass(frozen=True, slots=True)
class Asking:
    """The facts of one request the door needs."""

    method: str
    path: str
    url: Callable[[], str]  # the full request URL, made only when a signature needs it
    headers: Headers
    ip: str
    session_user: tuple[str, int] | None  # (user id, session version) from the session cookie
    variant: Variant


@dataclass(frozen=True, slots=True)
class Viewer:
    id: str
    is_operator: bool
    creator_id: str | None


@dataclass
class Verdict:
    """The door's answer. ``status`` 200 means serve ``file`` (or render the page)."""

    status: int
    client_class: ClientClass
    outcome: Outcome
    message: str = ""
    code: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    file: ServedFile | None = None
    viewer: Viewer | None = None
    identity: Identity | None = None
    token: LicenseToken | None = None
    price: tuple[int, str] | None = None  # what was charged
    agent: str | None = None  # the host a valid Web Bot Auth signature proved
    conditional: bool = True  # may answer 304 to If-None-Match (not for metered responses)
    # The same request (work, variant, method, user agent, address, none of ``PERSONAL_HEADERS``) gets the
    # same answer until the door's crawler verdicts expire: a caller may keep the answer and, when it gives
    # it again, count it with ``Door.count_again(hit)``.
    reusable: bool = False
    basis: tuple[object, ...] = ()  # what the crawler's identity was checked against (``Door.basis``)
    hit: Hit | None = None  # how the request was counted for the analytics

    @property
    def served(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class _TokenState:
    live: bool
    assets: frozenset[str]


class Door:
    """One per application (shared by its requests; thread-safe caches)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        files: WorkFiles,
        meter: Meter,
        registry: Callable[[], CrawlerRegistry],
        prefixes: PrefixLists | PrefixDirectory,
        resolver: FCrDNS | None,
        directory: KeyDirectory,
        nonces: NonceCache,
        keys: Callable[[], VerificationKeys],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.sessions = sessions
        # The licence checks' own database handle: an outage there is a licence-server outage (503 per CAP).
        self.licence_sessions = sessions
        self.files = files
        self.meter = meter
        self.registry = registry
        self.prefixes = prefixes
        self.resolver = resolver
        self.directory = directory
        self.nonces = nonces
        self.keys = keys
        self.clock = clock
        ttl = settings.gateway_cache_seconds
        self.works: TTLCache[str, Work | None] = TTLCache(ttl)
        self.missing: TTLCache[str, bool] = TTLCache(ttl, max_entries=100_000)  # ids that are not works
        self.viewers: TTLCache[tuple[str, int], Viewer | None] = TTLCache(ttl)
        self.fans: TTLCache[str, dict[str, Entitlement]] = TTLCache(ttl)
        self.tokens: TTLCache[tuple[str, str, int], _TokenState] = TTLCache(ttl)
        self.accounts: TTLCache[tuple[str, ...], tuple[str, str, int | None] | None] = TTLCache(ttl)
        self.identities: TTLCache[tuple[str, str, int, int], Identity] = TTLCache(
            min(ttl, 5.0), max_entries=50_000
        )
        self.scrapers = ScraperWatch(limit=settings.gateway_scraper_fetches_per_minute)
        self._robots_rules: RobotsRules | None = None
        self._robots_until = float("-inf")
        self._robots_building = threading.Lock()

    # --- lookups (cached) --------------------------------------------------------------------------

    @staticmethod
    def _cached(cache: TTLCache[Any, V], key: Any, load: Callable[[], V | None]) -> V | None:
        """The cached value (a stale one refreshed in the background), else loaded now and remembered."""
        found = cache.get(key, reload=load)
        if found is None:
            found = load()
            if found is not None:
                cache.put(key, found)
        return found

    def work(self, asset_id: str) -> Work | None:
        if self.missing.get(asset_id):
            return None  # asked again for an id that is not there: no query until the entry expires
        found = self._cached(self.works, asset_id, lambda: self._load_work(asset_id))
        if found is None:
            self.missing.put(asset_id, True)
        return found

    def cached_work(self, asset_id: str) -> Work | None:
        """The work if known (never waits for the database: a stale one is refreshed in the background)."""
        return self.works.get(asset_id, reload=lambda: self._load_work(asset_id))

    def _load_work(self, asset_id: str) -> Work | None:
        with self.sessions() as session:
            return load_work(session, asset_id, base_url=self.base_url)

    def viewer(self, claims: tuple[str, int] | None) -> Viewer | None:
        if claims is None:
            return None
        return self._cached(self.viewers, claims, lambda: self._load_viewer(claims))

    def _load_viewer(self, claims: tuple[str, int]) -> Viewer | None:
        with self.sessions() as session:
            user = session.get(User, claims[0])
            if user is None or user.session_version != claims[1]:
                return None
            return Viewer(user.id, user.has_role(Role.OPERATOR), user.creator.id if user.creator else None)

    def entitlements(self, user_id: str) -> dict[str, Entitlement]:
        found = self._cached(self.fans, user_id, lambda: self._load_entitlements(user_id))
        return found if found is not None else {}

    def _load_entitlements(self, user_id: str) -> dict[str, Entitlement]:
        with self.sessions() as session:
            return entitlements(session, user_id, now=self.clock())

    def sees_full(self, work: Work, viewer: Viewer | None) -> bool:
        """Whether a person (None: anonymous) may see ``work`` in full: public works, the owner and
        operators, and fans whose subscription unlocks it (all the creator's works, or one of its
        collections). May read the database (cached)."""
        if work.access == "public":
            return True
        if viewer is None:
            return False
        if viewer.is_operator or viewer.creator_id == work.creator_id:
            return True
        if work.access != "subscribers":
            return False
        entitlement = self.entitlements(viewer.id).get(work.creator_id)
        return entitlement is not None and entitlement.covers(work.collection_ids)

    @staticmethod
    def _token_key(token: LicenseToken) -> tuple[str, str, int]:
        return (token.client_id, token.deal_id, token.generation)

    def _token_state(self, token: LicenseToken) -> _TokenState:
        found = self._cached(self.tokens, self._token_key(token), lambda: self._load_token_state(token))
        assert found is not None
        return found

    def _load_token_state(self, token: LicenseToken) -> _TokenState:
        with self.licence_sessions() as session:
            live = check_token_live(session, token, now=self.clock())
            assets = deal_asset_ids(session, token.deal_id) if live else frozenset()
        return _TokenState(live, assets)

    @staticmethod
    def _agents(identity: Identity, agent: str | None) -> tuple[str, ...]:
        return tuple(request_agents(signature_agent=agent, crawler=identity.crawler))

    def _account(self, identity: Identity, agent: str | None) -> tuple[str, str, int | None] | None:
        """(account id, org id, max price) of the organisation paying for this verified crawler: the one
        that registered its signature agent, else the one that registered its registry name."""
        agents = self._agents(identity, agent)
        return self._cached(self.accounts, agents, lambda: self._load_account(agents))

    def _load_account(self, agents: tuple[str, ...]) -> tuple[str, str, int | None] | None:
        with self.sessions() as session:
            account = account_for(session, agents)
            return (account.id, account.org_id, account.max_price_micros) if account else None

    def violates(self, crawler: str, path: str) -> bool:
        """Whether this site's robots.txt disallows ``path`` to ``crawler``.

        The rules are rebuilt every few seconds, so a policy change is seen; the rebuild (a query, rendering
        robots.txt, parsing it) runs on a thread of its own while requests go on with the previous rules,
        never on the event loop."""
        rules, stale = self._robots_rules, time.monotonic() >= self._robots_until
        if stale and not self._robots_building.locked():
            if rules is None:
                self._rebuild_robots()  # the very first time only
                rules = self._robots_rules
            else:
                threading.Thread(target=self._rebuild_robots, name="fairtrain-robots", daemon=True).start()
        return rules.disallows(crawler, path) if rules is not None else False

    def _rebuild_robots(self) -> None:
        if not self._robots_building.acquire(blocking=False):
            return
        try:
            with self.sessions() as session:
                self._robots_rules = site_robots_rules(
                    session, base_url=self.base_url, registry=self.registry()
                )
        except Exception:  # analytics must never fail a request
            log.exception("robots.txt rules could not be built")
        finally:
            self._robots_until = time.monotonic() + max(self.works.ttl, 1.0)
            self._robots_building.release()

    async def _prefetch(self, fetch: Callable[[], object]) -> None:
        """Run a lookup that may query the database on a worker thread, so the decision that follows finds
        it cached and never blocks the event loop."""
        await anyio.to_thread.run_sync(fetch)

    # --- the decision ------------------------------------------------------------------------------

    async def admit(self, asking: Asking, work: Work) -> Verdict:
        """Classify the request and decide; a served verdict carries the file (pages: none)."""
        verdict = await self._decide(asking, work)
        if verdict.served and asking.variant != "page" and verdict.file is None:
            verdict.file = self.files.cached(work.id, asking.variant)
            if verdict.file is None:
                verdict.file = await anyio.to_thread.run_sync(self._file, work, asking.variant)
            if verdict.file is None:
                verdict = Verdict(
                    404,
                    verdict.client_class,
                    "refused",
                    f"{work.title!r} has no {asking.variant} file",
                    "not_found",
                )
        if verdict.served and (verdict.token is not None or verdict.price is not None):
            committed = await self._meter(asking, work, verdict)
            if not committed:
                verdict = Verdict(
                    503,
                    verdict.client_class,
                    "refused",
                    "metering is unavailable; nothing was charged, try again shortly",
                    "meter_unavailable",
                    {"Retry-After": "5", **_NO_STORE},
                    identity=verdict.identity,
                )
        verdict.hit = self._count(asking, work, verdict)
        return verdict

    def count_again(self, hit: Hit) -> None:
        """Count a request answered with a kept ``reusable`` verdict, as the first one was counted."""
        self.meter.count(hit, at=self.clock())

    def _file(self, work: Work, variant: str) -> ServedFile | None:
        if variant == "preview":
            return self.files.preview(work)
        if variant == "original":
            return self.files.original(work)
        return self.files.full(work)

    async def _decide(self, asking: Asking, work: Work) -> Verdict:
        headers = asking.headers
        authorizations = headers.getlist("authorization")
        licence = [a for a in authorizations if a[:8].lower() == "license "]
        if len(authorizations) > 1:
            return self._bad("send one Authorization header", "invalid_request")
        if licence:
            return await self._licensed(asking, work, licence[0][8:].strip())

        basis = self.basis()
        identity, agent, signature_problem = await self._identify(asking, basis)
        cls = crawler_class(identity)
        viewer = None
        if cls is None and asking.session_user is not None:
            claims = asking.session_user
            viewer = self.viewers.get(claims, reload=lambda: self._load_viewer(claims))
            if viewer is None:
                viewer = await anyio.to_thread.run_sync(self.viewer, asking.session_user)
            wants_paywalled = asking.variant == "full" and work.access == "subscribers"
            if viewer is not None and wants_paywalled:
                fan = viewer.id
                if self.fans.get(fan, reload=lambda: self._load_entitlements(fan)) is None:
                    await self._prefetch(lambda: self.entitlements(fan))
        if signature_problem is not None:
            if signature_problem in _TRANSIENT_BOTAUTH:
                return self._unavailable(work, identity, "the crawler's key directory could not be reached")
            return Verdict(
                400,
                cls or "suspected-scraper",
                "refused",
                f"the Web Bot Auth signature was not accepted: {signature_problem.value}",
                "InvalidSignature",
                {"crawler-error": "InvalidSignature", **_NO_STORE},
                identity=identity,
            )
        if cls is None:
            if viewer is not None:
                cls = "signed-in"
            elif (
                self.scrapers.suspected(asking.ip)
                or (asking.variant != "page" and library_agent(headers.get("user-agent", "")))
                or (asking.variant == "full" and self.scrapers.full_fetch(asking.ip))
            ):
                cls = "suspected-scraper"
            else:
                cls = "anonymous"

        owner = viewer is not None and (viewer.is_operator or viewer.creator_id == work.creator_id)
        if asking.variant == "original" or work.access == "private":
            if owner:
                return Verdict(200, cls, "served", viewer=viewer, identity=identity)
            return self._not_found(work, cls, identity)

        if cls in ("verified-crawler", "claimed-crawler", "unverified-crawler", "suspected-scraper"):
            if cls == "verified-crawler" and (
                "crawler-exact-price" in headers or "crawler-max-price" in headers
            ):
                agents = self._agents(identity, agent)
                if self.accounts.get(agents, reload=lambda: self._load_account(agents)) is None:
                    await self._prefetch(lambda: self._account(identity, agent))
            verdict = self._crawler(asking, work, cls, identity, agent)
            verdict.reusable = (
                verdict.status in _REUSABLE_STATUS
                and not identity.transient
                and not any(name in headers for name in PERSONAL_HEADERS)
            )
            verdict.basis = basis
            return verdict
        return self._human(asking, work, cls, viewer, identity)

    def basis(self) -> tuple[CrawlerRegistry, PrefixLists]:
        """What crawlers are recognised by: the registry and the operators' prefix lists in force. A kept
        ``reusable`` verdict holds only while the basis is the same objects (a new list is a new object)."""
        prefixes = self.prefixes.current() if isinstance(self.prefixes, PrefixDirectory) else self.prefixes
        return self.registry(), prefixes

    async def _identify(
        self, asking: Asking, basis: tuple[CrawlerRegistry, PrefixLists]
    ) -> tuple[Identity, str | None, BotAuthReason | None]:
        headers = asking.headers
        agent: str | None = None
        problem: BotAuthReason | None = None
        if "signature-input" in headers or "signature" in headers:
            result = await verify_request(
                asking.method, asking.url(), headers, directory=self.directory, nonces=self.nonces
            )
            if result.verified:
                agent = result.agent  # as sent: its origin is what pays (licensing.crawlers.signature_origin)
            elif result.reason is not None and result.reason != BotAuthReason.MISSING:
                problem = result.reason
        user_agent = headers.get("user-agent", "")
        registry, prefixes = basis
        resolver = self.resolver

        def check() -> Identity:
            host = _host(agent) if agent else None
            return identify(
                user_agent, asking.ip, registry=registry, prefixes=prefixes, resolver=resolver, botauth=host
            )

        if agent is not None:
            return check(), agent, problem
        claimed = match_crawler(registry, user_agent)
        if claimed is None:
            return _NOT_A_CRAWLER, None, problem
        # A crawler comes back again and again from the same address: its verdict is kept a few seconds.
        key = (user_agent, asking.ip, id(registry), id(prefixes))
        identity = self.identities.get(key)
        if identity is None:
            if claimed.rdns_suffixes and resolver is not None:
                # Reverse DNS may need a lookup (cached, but not always): off the event loop.
                identity = await anyio.to_thread.run_sync(check)
            else:
                identity = check()
            if not identity.transient:
                self.identities.put(key, identity)
        return identity, None, problem

    async def _licensed(self, asking: Asking, work: Work, raw: str) -> Verdict:
        cls: ClientClass = "licensed-client"
        if asking.variant == "original":
            return self._not_found(work, cls, None)
        try:
            token = verify_license_token(raw, keys=self.keys(), audience=self.base_url, now=self.clock())
        except InvalidLicenseToken as exc:
            return self._cap(401, work, cls, "invalid_token", str(exc))
        try:
            state = self.tokens.get(self._token_key(token), reload=lambda: self._load_token_state(token))
            if state is None:
                state = await anyio.to_thread.run_sync(self._token_state, token)
        except Exception as exc:  # the licence database is down: RSL CAP says 503, try again
            log.warning("licence check failed: %s", exc)
            return Verdict(
                503,
                cls,
                "refused",
                "the licence server cannot be reached; try again shortly",
                "server_error",
                {"Retry-After": "30", **_NO_STORE},
            )
        if not state.live:
            return self._cap(
                401, work, cls, "invalid_token", "the licence token's client or deal is no longer valid"
            )
        if work.access == "private" or not (token.covers(work.path) or token.covers(asking.path)):
            return self._refuse(work, cls, None, "the licence does not cover this work", "CrawlerForbidden")
        if work.id not in state.assets:
            return self._refuse(work, cls, None, "the licence does not cover this work", "CrawlerForbidden")
        return Verdict(200, cls, "licensed", token=token, conditional=False)

    def _crawler(
        self, asking: Asking, work: Work, cls: ClientClass, identity: Identity, agent: str | None
    ) -> Verdict:
        # A crawler caught lying about its name is a disguised bot: held to the strictest use, not the
        # (search) purpose of the crawler it pretends to be. One that cannot be checked keeps its claim.
        purpose = identity.purpose if cls in ("verified-crawler", "unverified-crawler") else "unknown"
        usage = PURPOSE_USAGE.get(purpose or "unknown", "ai-train")
        decision = work.policy[usage]
        headers = asking.headers
        try:
            offer = parse_offer(headers.getlist("crawler-exact-price"), headers.getlist("crawler-max-price"))
        except PriceError as exc:
            return Verdict(
                exc.status,
                cls,
                "refused",
                str(exc),
                exc.code,
                {"crawler-error": exc.code, **_NO_STORE},
                identity=identity,
            )
        if decision.action == "allow":
            if work.access == "subscribers" and asking.variant == "full":
                return self._refuse(work, cls, identity, "this work is for subscribers", "CrawlerForbidden")
            return Verdict(200, cls, "served", identity=identity)
        if decision.action == "deny":
            return self._refuse(
                work,
                cls,
                identity,
                f"@{work.handle} does not permit {usage} of this work",
                "CrawlerForbidden",
            )
        # A licence is needed.
        if cls != "verified-crawler":
            if identity.transient:
                return self._unavailable(work, identity, identity.reason)
            if offer is not None:
                return Verdict(
                    400,
                    cls,
                    "refused",
                    "only a crawler verified by Web Bot Auth (or its operator's published addresses) can pay",
                    "StrongAuthRequired",
                    {"crawler-error": "StrongAuthRequired", **_NO_STORE},
                    identity=identity,
                )
            why = identity.reason or "the client looks automated"
            return self._refuse(
                work,
                cls,
                identity,
                f"unverified automated access ({why}); licence this work at {work.license_url}",
                "CrawlerForbidden",
            )
        rule = decision.rule
        if rule.payment != "crawl" or rule.amount_micros is None or rule.currency is None:
            return self._cap(
                402, work, cls, "license_required", f"{usage} of this work needs a licence", identity=identity
            )
        price = (rule.amount_micros, rule.currency)
        quote = {"crawler-price": format_price(*price)}
        if offer is None:
            verdict = self._cap(
                402,
                work,
                cls,
                "payment_required",
                f"this work costs {quote['crawler-price']} a crawl",
                identity,
            )
            verdict.headers.update(quote)
            return verdict
        if not offer.accepts(*price):
            verdict = self._cap(
                402, work, cls, "payment_required", "the offered price does not match", identity
            )
            verdict.headers.update({**quote, "crawler-error": offer.error})
            verdict.code = offer.error
            return verdict
        account = self._account(identity, agent)
        if account is None or (account[2] is not None and account[2] < price[0]):
            return Verdict(
                403,
                cls,
                "refused",
                f"no licensee organisation pays for {identity.crawler}; "
                f"register it at {self.base_url}/licensing",
                "PaymentFailed",
                {"crawler-error": "PaymentFailed", **_NO_STORE},
                identity=identity,
            )
        return Verdict(
            200,
            cls,
            "charged",
            identity=identity,
            price=price,
            headers={"crawler-charged": format_price(*price), "_account": account[0], "_org": account[1]},
            conditional=False,
        )

    def _human(
        self,
        asking: Asking,
        work: Work,
        cls: ClientClass,
        viewer: Viewer | None,
        identity: Identity,
    ) -> Verdict:
        if asking.variant != "full" or self.sees_full(work, viewer):
            return Verdict(200, cls, "served", viewer=viewer, identity=identity)
        return Verdict(
            403,
            cls,
            "refused",
            f"the full-size work is for @{work.handle}'s subscribers",
            "subscribers_only",
            {
                # How to pay as a fan, and (every refusal carries a way to buy) how to license it.
                "Link": f'<{work.license_url}>; rel="license"; type="{RSL_MEDIA_TYPE}", '
                f'<{self.base_url}/@{work.handle}>; rel="payment"',
                **_NO_STORE,
            },
            viewer=viewer,
            identity=identity,
        )

    # --- answers -----------------------------------------------------------------------------------

    def _cap(
        self,
        status: int,
        work: Work,
        cls: ClientClass,
        error: str,
        description: str,
        identity: Identity | None = None,
    ) -> Verdict:
        return Verdict(
            status,
            cls,
            "quoted",
            description,
            error,
            {**cap_challenge(error, description, work.license_url), **_NO_STORE},
            identity=identity,
        )

    def _refuse(
        self, work: Work, cls: ClientClass, identity: Identity | None, message: str, code: str
    ) -> Verdict:
        return Verdict(
            403,
            cls,
            "refused",
            message,
            code,
            {
                "crawler-error": code,
                "Link": f'<{work.license_url}>; rel="license"; type="{RSL_MEDIA_TYPE}"',
                **_NO_STORE,
            },
            identity=identity,
        )

    def _unavailable(self, work: Work, identity: Identity, why: str) -> Verdict:
        return Verdict(
            503,
            crawler_class(identity) or "unverified-crawler",
            "refused",
            f"the crawler could not be verified just now ({why}); try again shortly",
            "server_error",
            {
                "Retry-After": "60",
                "Link": f'<{work.license_url}>; rel="license"; type="{RSL_MEDIA_TYPE}"',
                **_NO_STORE,
            },
            identity=identity,
        )

    def _not_found(self, work: Work, cls: ClientClass, identity: Identity | None) -> Verdict:
        # The same answer as for a work that does not exist: a private work's existence is not revealed.
        return Verdict(404, cls, "refused", "no such work", "not_found", dict(_NO_STORE), identity=identity)

    def _bad(self, message: str, code: str) -> Verdict:
        return Verdict(400, "anonymous", "refused", message, code, dict(_NO_STORE))

    # --- metering ----------------------------------------------------------------------------------

    async def _meter(self, asking: Asking, work: Work, verdict: Verdict) -> bool:
        now = self.clock()
        size = verdict.file.size if verdict.file is not None else 0
        request_id = f"{_REQUEST_PREFIX}{next(_REQUEST_COUNTER):x}"
        record: UsageEventDraft | ChargeDraft
        if verdict.token is not None:
            token = verdict.token
            record = UsageEventDraft(
                deal_id=token.deal_id,
                asset_id=work.id,
                kind="crawl",
                occurred_at=now,
                bytes=size,
                client_id=token.client_id,
                request_id=request_id,
            )
        else:
            assert verdict.price is not None
            assert verdict.identity is not None
            record = ChargeDraft(
                request_id=request_id,
                org_id=verdict.headers.pop("_org"),
                crawler_account_id=verdict.headers.pop("_account"),
                crawler=verdict.identity.crawler or "",
                creator_id=work.creator_id,
                asset_id=work.id,
                path=asking.path[:1000],
                price_micros=verdict.price[0],
                currency=verdict.price[1],
                bytes=size,
                occurred_at=now,
            )
        try:
            await self.meter.record(record)
        except MeterUnavailable:
            return False
        return True

    def _count(self, asking: Asking, work: Work | None, verdict: Verdict) -> Hit:
        identity = verdict.identity
        crawler = identity.crawler or "" if identity is not None else ""
        if verdict.token is not None:
            crawler = crawler or f"client:{verdict.token.client_id}"
        violation = False
        if identity is not None and identity.crawler and verdict.client_class != "licensed-client":
            violation = self.violates(identity.crawler, asking.path)
        revenue, currency = verdict.price if verdict.price is not None and verdict.served else (0, "")
        hit = Hit(
            at=self.clock(),
            creator_id=work.creator_id if work is not None else "",
            crawler=crawler,
            operator=(identity.operator or "") if identity is not None else "",
            purpose=(identity.purpose or "") if identity is not None else "",
            client_class=verdict.client_class,
            outcome=verdict.outcome,
            path=asking.path,
            bytes=verdict.file.size if verdict.served and verdict.file is not None else 0,
            revenue_micros=revenue,
            currency=currency,
            violation=violation,
        )
        self.meter.count(hit)
        return hit


class Rechecked(Generic[T]):
    """A provider whose answer is reused for ``interval`` seconds: the keyring and the crawler registry
    look at their files on every call, which is a system call on the event loop per request otherwise.
    A rotated key or a new crawler list is seen within the interval."""

    def __init__(self, provider: Callable[[], T], *, interval: float = 1.0) -> None:
        self._provider = provider
        self.interval = interval
        self._value: T | None = None
        self._until = float("-inf")

    def __call__(self) -> T:
        now = time.monotonic()
        value = self._value
        if value is None or now >= self._until:
            value = self._value = self._provider()
            self._until = now + self.interval
        return value


def _host(agent: str) -> str | None:
    try:
        return urlsplit(agent if "://" in agent else f"https://{agent}").hostname
    except ValueError:
        return None


def build_door(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Door:
    """The application's door, with its meter (a writer thread, started on first use; ``meter.close()`` at
    shutdown), the crawler registry and prefix lists from the data directory, and the licence keys."""
    keyring: list[SigningKeyring] = []
    recheck = min(1.0, settings.gateway_cache_seconds)

    def keys() -> VerificationKeys:
        # Loaded on first use (a fresh installation makes its first key then), then reused.
        if not keyring:
            keyring.append(signing_keyring(settings))
        return keyring[0].verification_keys()

    stamp = ProtectionContext.from_settings(settings)
    files = WorkFiles(
        sessions,
        context=stamp,
        previews_dir=settings.data_dir / "previews",
        preview_size=settings.gateway_preview_size,
        ttl=settings.gateway_cache_seconds,
        memory_bytes=settings.gateway_memory_cache_mb << 20,
    )
    return Door(
        settings=settings,
        sessions=sessions,
        files=files,
        meter=Meter(engine, flush_seconds=settings.meter_flush_seconds),
        registry=Rechecked(lambda: CrawlerRegistry.current(settings.data_dir), interval=recheck),
        prefixes=PrefixDirectory(settings.data_dir / PREFIX_DIR),
        resolver=FCrDNS(SystemResolver()) if settings.gateway_reverse_dns else None,
        directory=KeyDirectory(),
        nonces=NonceCache(),
        keys=Rechecked(keys, interval=recheck),
    )
