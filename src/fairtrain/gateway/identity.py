"""Who is asking: is a request from the crawler its User-Agent names, or a bot wearing its name?

The User-Agent header is only a claim (STANDARDS §3). ``identify`` finds the claimed crawler in the registry
and checks the claim in the order of strength, using only the ways the registry says the crawler supports:

1. a Web Bot Auth signature that the caller already verified (``botauth``: the agent it proved);
2. the operator's published IP prefix list (``Crawler.ip_prefix_list``), an O(log n) lookup;
3. forward-confirmed reverse DNS on the operator's domains (``Crawler.rdns_suffixes``), cached. It is also
   tried when the address is missing from a prefix list, since a list file may be older than the operator's
   newest ranges.

Outcomes (``Identity.kind``):

- ``verified-crawler``: the claim is proven; only these may be billed to the operator.
- ``claimed-crawler``: the claim was checked and is false (address outside the list, PTR name elsewhere, no
  forward confirmation, no signature from an agent whose operator signs): a disguised bot.
- ``unknown-crawler-unverifiable``: the claim cannot be checked — the registry knows no way to verify this
  crawler, its prefix list is not installed, or DNS failed. ``transient`` is true for a DNS failure, where a
  crawler should get 503 (RSL CAP) and try again; DNS failures never change how humans are treated.
- ``not-a-crawler``: the User-Agent names no registered crawler (browsers, and bots the registry does not
  know, which the rate heuristics judge). No DNS lookup is made for these, nor for crawlers without rDNS.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Literal

from fairtrain.gateway.prefixes import PrefixLists
from fairtrain.gateway.rdns import FCrDNS
from fairtrain.rights.crawlers import Crawler, CrawlerRegistry, Purpose

__all__ = ["MATCH_CACHE_SIZE", "Identity", "IdentityKind", "Method", "identify", "match_crawler"]

IdentityKind = Literal["verified-crawler", "claimed-crawler", "unknown-crawler-unverifiable", "not-a-crawler"]
Method = Literal["webbotauth", "ip-prefix", "rdns"]


@dataclass(frozen=True, slots=True)
class Identity:
    """The answer to "who is asking", with the evidence in ``method`` and ``reason``."""

    kind: IdentityKind
    crawler: str | None = None
    """The registry name of the crawler claimed (or proven, for verified ones)."""
    operator: str | None = None
    purpose: Purpose | None = None
    method: Method | None = None
    """How a verified crawler was verified (None otherwise)."""
    reason: str = ""
    transient: bool = False
    """Verification failed for a reason that may pass (DNS outage): answer a crawler 503, not 403."""

    @property
    def verified(self) -> bool:
        return self.kind == "verified-crawler"


MATCH_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=MATCH_CACHE_SIZE)
def _match(registry: CrawlerRegistry, user_agent: str) -> Crawler | None:
    # CrawlerRegistry.match runs one large alternation over the header, about a millisecond per call with the
    # built-in list; real traffic repeats a few thousand User-Agent strings, so remember the answers. The key
    # holds the registry itself (hashed by identity): a reloaded registry starts afresh.
    return registry.match(user_agent)


def match_crawler(registry: CrawlerRegistry, user_agent: str) -> Crawler | None:
    """The registered crawler a User-Agent names (memoised per registry and header value)."""
    return _match(registry, user_agent) if user_agent else None


_NOT_A_CRAWLER = Identity("not-a-crawler", reason="the user agent names no registered crawler")


def _of(
    crawler: Crawler,
    kind: IdentityKind,
    *,
    method: Method | None = None,
    reason: str,
    transient: bool = False,
) -> Identity:
    return Identity(
        kind,
        crawler=crawler.name,
        operator=crawler.operator,
        purpose=crawler.purpose,
        method=method,
        reason=reason,
        transient=transient,
    )


def _by_signature(claimed: Crawler | None, agent: str, registry: CrawlerRegistry) -> Identity:
    signed = registry.get(agent)
    if claimed is not None and signed is None and agent.casefold() == claimed.name.casefold():
        signed = claimed
    if signed is None:
        # A valid signature proves the agent even when the registry does not know it; nothing else is known.
        return Identity(
            "verified-crawler",
            crawler=agent,
            operator="unknown",
            purpose="unknown",
            method="webbotauth",
            reason=f"Web Bot Auth signature of {agent!r}, an agent the registry does not know",
        )
    reason = f"Web Bot Auth signature of {signed.name}"
    if claimed is not None and claimed is not signed:
        reason += f" (the user agent claimed {claimed.name})"
    return _of(signed, "verified-crawler", method="webbotauth", reason=reason)


def identify(
    user_agent: str,
    ip: str,
    *,
    registry: CrawlerRegistry,
    prefixes: PrefixLists,
    resolver: FCrDNS | None,
    botauth: str | None = None,
) -> Identity:
    """Classify a request by its User-Agent header and client address (see the module docstring).

    ``botauth`` is the agent a verified Web Bot Auth signature proved (None: no valid signature). ``resolver``
    None disables reverse DNS. Cheap for everyone but claimed crawlers: one registry match (memoised per
    User-Agent string), then at most a bisect per prefix list and one cached FCrDNS check.
    """
    claimed = _match(registry, user_agent) if user_agent else None
    if botauth:
        return _by_signature(claimed, botauth, registry)
    if claimed is None:
        return _NOT_A_CRAWLER
    try:
        address = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return _of(claimed, "unknown-crawler-unverifiable", reason=f"{ip!r} is not an IP address")

    refuted: list[str] = []  # evidence that the claim is false
    undecided: list[str] = []  # why a check could not be made
    if claimed.ip_prefix_list:
        listed = prefixes.contains(claimed.ip_prefix_list, address)
        if listed:
            return _of(
                claimed,
                "verified-crawler",
                method="ip-prefix",
                reason=f"{address} is in prefix list {claimed.ip_prefix_list}",
            )
        if listed is None:
            undecided.append(f"prefix list {claimed.ip_prefix_list} is not installed")
        else:
            refuted.append(f"{address} is not in prefix list {claimed.ip_prefix_list}")

    transient = False
    if claimed.rdns_suffixes:
        if resolver is None:
            undecided.append("reverse DNS is turned off")
        else:
            result = resolver.verify(str(address), claimed.rdns_suffixes)
            if result.status == "verified":
                return _of(claimed, "verified-crawler", method="rdns", reason=result.reason)
            if result.status == "mismatch":
                refuted.append(result.reason)
            else:
                # rDNS is the last word: a prefix list saying no may only be stale, so an outage here leaves
                # the claim open (503 for the crawler) rather than branding a real crawler a fake.
                transient = True
                refuted.clear()
                undecided.append(result.reason)

    if claimed.web_bot_auth and not claimed.ip_prefix_list and not claimed.rdns_suffixes:
        refuted.append(
            f"{claimed.operator} signs its requests with Web Bot Auth; this one has no valid signature"
        )
    if refuted:
        return _of(claimed, "claimed-crawler", reason="; ".join(refuted))
    if not undecided:
        undecided.append(f"the registry knows no way to verify {claimed.name}")
    return _of(claimed, "unknown-crawler-unverifiable", reason="; ".join(undecided), transient=transient)
