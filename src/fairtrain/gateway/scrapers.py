"""Suspected scrapers: clients that name no crawler but behave like one.

Two signals, both cheap and both per worker process (each worker sees its share of a scraper's requests, so
with N workers the effective limit is up to N times the setting; a load balancer with client affinity keeps
it exact):

- the User-Agent of an HTTP library or headless browser (``python-requests``, ``curl``, ``Scrapy``,
  ``HeadlessChrome``...) with no session: browsers don't send these;
- more than ``limit`` full-size fetches a minute from one address without a session, licence or crawler
  name; the address then stays suspected for ``penalty`` seconds.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["ScraperWatch", "library_agent"]

_LIBRARIES = re.compile(
    r"python-requests|python-urllib|python-httpx|aiohttp|httpx/|go-http-client|\bcurl/|\bwget/|scrapy"
    r"|okhttp|node-fetch|axios/|undici|java/\d|libwww-perl|headlesschrome|phantomjs|puppeteer|playwright"
    r"|httpclient|guzzlehttp|colly|crawler4j|heritrix|nutch",
    re.IGNORECASE,
)


def library_agent(user_agent: str) -> bool:
    """Whether a User-Agent is an HTTP library's or a headless browser's (or missing altogether)."""
    return not user_agent.strip() or _LIBRARIES.search(user_agent) is not None


class ScraperWatch:
    """Counts full-size fetches per address in a sliding minute."""

    def __init__(
        self,
        *,
        limit: int,
        window: float = 60.0,
        penalty: float = 600.0,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.penalty = penalty
        self.max_addresses = max_addresses
        self._clock = clock
        self._fetches: OrderedDict[str, deque[float]] = OrderedDict()
        self._suspected: dict[str, float] = {}
        self._lock = threading.Lock()

    def suspected(self, address: str) -> bool:
        with self._lock:
            until = self._suspected.get(address)
            if until is None:
                return False
            if until <= self._clock():
                del self._suspected[address]
                return False
            return True

    def full_fetch(self, address: str) -> bool:
        """Note one full-size fetch; True when the address is (now) a suspected scraper."""
        now = self._clock()
        with self._lock:
            until = self._suspected.get(address)
            if until is not None and until > now:
                return True
            times = self._fetches.get(address)
            if times is None:
                times = self._fetches[address] = deque()
                while len(self._fetches) > self.max_addresses:
                    self._fetches.popitem(last=False)
            else:
                self._fetches.move_to_end(address)
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) > self.limit:
                self._suspected[address] = now + self.penalty
                if len(self._suspected) > self.max_addresses:
                    self._suspected = {a: t for a, t in self._suspected.items() if t > now}
                del self._fetches[address]
                return True
            return False
