"""Forward-confirmed reverse DNS (FCrDNS): does this IP address belong to the crawler's operator?

The check search engines document (Google, Bing, Apple, Yandex...): look up the PTR name of the client
address, require it to end in one of the operator's domains on a label boundary (``googlebot.com`` matches
``crawl-66-249-66-1.googlebot.com`` and ``googlebot.com`` itself, never ``evilgooglebot.com``), then resolve
that name forward and require the client address among the answers — anyone can set a PTR record for their own
addresses, only the operator controls its forward zone.

Lookups go through a ``Resolver`` (``SystemResolver`` uses the operating system's resolver via ``socket`` in
a small thread pool with a timeout; tests inject a fake). Results are cached per (address, suffixes) in a
bounded LRU: a confirmed name for ``positive_ttl``, a mismatch for ``negative_ttl``, a DNS failure for
``failure_ttl``.
A DNS failure or timeout is ``unknown``, never ``mismatch``: the caller must not treat an outage as a spoof.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

__all__ = [
    "DNSFailure",
    "DNSNotFound",
    "FCrDNS",
    "RdnsResult",
    "RdnsStatus",
    "Resolver",
    "SystemResolver",
    "host_in_domains",
]

T = TypeVar("T")
RdnsStatus = Literal["verified", "mismatch", "unknown"]


class DNSNotFound(Exception):
    """The name or address has no record (NXDOMAIN, no PTR): a definite answer."""


class DNSFailure(Exception):
    """The lookup could not be answered (timeout, SERVFAIL, no resolver): no answer at all."""


class Resolver(Protocol):
    """What FCrDNS needs from DNS. Both methods raise ``DNSNotFound`` or ``DNSFailure``."""

    def reverse(self, address: str) -> list[str]:
        """The PTR host names of an address."""
        ...

    def forward(self, host: str) -> list[str]:
        """The IPv4 and IPv6 addresses a host name resolves to."""
        ...


# h_errno values of socket.herror (netdb.h): HOST_NOT_FOUND and NO_DATA are answers, TRY_AGAIN is not.
_HERROR_NOT_FOUND = frozenset({1, 4})
_GAI_NOT_FOUND = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code
)


class SystemResolver:
    """The system resolver (``gethostbyaddr`` / ``getaddrinfo``), each call bounded by ``timeout`` seconds.

    The socket calls cannot be cancelled, so they run in a fixed pool of ``max_workers`` threads; when all of
    them are busy (a DNS outage), a new lookup fails at once instead of queueing behind them.
    """

    def __init__(self, *, timeout: float = 2.0, max_workers: int = 8) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fairtrain-dns")
        self._slots = threading.BoundedSemaphore(max_workers)

    def _run(self, call: Callable[[], T]) -> T:
        if not self._slots.acquire(blocking=False):
            raise DNSFailure("every DNS worker is busy")

        def job() -> T:
            try:
                return call()
            finally:
                self._slots.release()

        future = self._pool.submit(job)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            raise DNSFailure(f"no answer within {self.timeout:g} s") from None

    def reverse(self, address: str) -> list[str]:
        def call() -> list[str]:
            try:
                host, aliases, _ = socket.gethostbyaddr(address)
            except socket.herror as exc:
                if exc.errno in _HERROR_NOT_FOUND:
                    raise DNSNotFound(f"no PTR record for {address}") from None
                raise DNSFailure(f"PTR lookup of {address} failed: {exc}") from None
            except socket.gaierror as exc:
                if exc.errno in _GAI_NOT_FOUND:
                    raise DNSNotFound(f"no PTR record for {address}") from None
                raise DNSFailure(f"PTR lookup of {address} failed: {exc}") from None
            except OSError as exc:
                raise DNSFailure(f"PTR lookup of {address} failed: {exc}") from None
            return [host, *aliases]

        return self._run(call)

    def forward(self, host: str) -> list[str]:
        def call() -> list[str]:
            try:
                answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except socket.gaierror as exc:
                if exc.errno in _GAI_NOT_FOUND:
                    raise DNSNotFound(f"{host} does not resolve") from None
                raise DNSFailure(f"lookup of {host} failed: {exc}") from None
            except OSError as exc:
                raise DNSFailure(f"lookup of {host} failed: {exc}") from None
            return [str(info[4][0]) for info in answers]

        return self._run(call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def host_in_domains(host: str, suffixes: Iterable[str]) -> bool:
    """Whether ``host`` is one of the domains or a name under one, matched on a dot boundary."""
    name = _normal_host(host)
    for suffix in suffixes:
        domain = _normal_host(suffix)
        if domain and (name == domain or name.endswith("." + domain)):
            return True
    return False


def _same_address(a: str, b: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        parsed = ipaddress.ip_address(a.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed == b


@dataclass(frozen=True)
class RdnsResult:
    status: RdnsStatus
    host: str | None = None
    """The forward-confirmed host name (when verified) or the PTR name that failed (when known)."""
    reason: str = ""


class FCrDNS:
    """Forward-confirmed reverse DNS with a bounded, time-limited cache. Thread-safe."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        positive_ttl: float = 3600.0,
        negative_ttl: float = 300.0,
        failure_ttl: float = 60.0,
        max_entries: int = 10_000,
        max_names: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resolver = resolver
        self.positive_ttl = positive_ttl
        self.negative_ttl = negative_ttl
        self.failure_ttl = failure_ttl
        self.max_entries = max_entries
        self.max_names = max_names
        self._clock = clock
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], tuple[float, RdnsResult]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cache)

    def verify(self, address: str, suffixes: Iterable[str]) -> RdnsResult:
        """``verified`` when a PTR name of ``address`` is under ``suffixes`` and resolves back to it."""
        domains = tuple(sorted({_normal_host(s) for s in suffixes if _normal_host(s)}))
        try:
            ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
        except ValueError:
            return RdnsResult("mismatch", reason=f"{address!r} is not an IP address")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not domains:
            return RdnsResult("mismatch", reason="no reverse-DNS domains to check against")
        key = (str(ip), domains)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(key)
                return cached[1]
        # Lookups run outside the lock: a slow answer for one address must not hold up the others. Two
        # requests racing on one new address may both look it up; the cache keeps the later answer.
        result = self._lookup(ip, domains)
        ttl = {"verified": self.positive_ttl, "mismatch": self.negative_ttl, "unknown": self.failure_ttl}
        with self._lock:
            self._cache[key] = (now + ttl[result.status], result)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return result

    def _lookup(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domains: tuple[str, ...]
    ) -> RdnsResult:
        try:
            names = self.resolver.reverse(str(ip))
        except DNSNotFound as exc:
            return RdnsResult("mismatch", reason=str(exc) or f"no PTR record for {ip}")
        except DNSFailure as exc:
            return RdnsResult("unknown", reason=f"reverse DNS failed: {exc}")
        candidates = [n for n in dict.fromkeys(_normal_host(n) for n in names) if host_in_domains(n, domains)]
        if not candidates:
            shown = ", ".join(names[:3]) or "none"
            return RdnsResult(
                "mismatch",
                host=_normal_host(names[0]) if names else None,
                reason=f"PTR name ({shown}) is not under {', '.join(domains)}",
            )
        failure: str | None = None
        for host in candidates[: self.max_names]:
            try:
                answers = self.resolver.forward(host)
            except DNSNotFound:
                continue
            except DNSFailure as exc:
                failure = f"forward lookup of {host} failed: {exc}"
                continue
            if any(_same_address(answer, ip) for answer in answers):
                return RdnsResult("verified", host=host, reason=f"{ip} is {host}, confirmed forward")
        if failure is not None:
            return RdnsResult("unknown", host=candidates[0], reason=failure)
        return RdnsResult(
            "mismatch", host=candidates[0], reason=f"{candidates[0]} does not resolve back to {ip}"
        )
