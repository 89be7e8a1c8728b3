"""A small closed-loop load generator: a few threads, each with its own keep-alive httpx client."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import httpx

__all__ = ["Figures", "measure"]


@dataclass(frozen=True)
class Figures:
    """What one measurement found. Latencies are per request, as the client saw them."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    body_bytes: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


class _Tickets:
    """Hands out request slots until the count or the deadline runs out, whichever comes first."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()
        self.deadline = float("inf")

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0 or time.perf_counter() >= self.deadline:
                return False
            self._left -= 1
            return True


def _worker(
    client: httpx.Client,
    path: str,
    tickets: _Tickets,
    warmup: int,
    ready: threading.Barrier,
    latencies: list[float],
    failures: list[str],
    sizes: list[int],
) -> None:
    try:
        for _ in range(warmup):  # opens the connection and warms caches before the clock starts
            client.get(path).raise_for_status()
    except httpx.HTTPError as exc:
        failures.append(f"warm-up: {exc!r}")
    ready.wait()
    while tickets.take():
        started = time.perf_counter()
        try:
            response = client.get(path)
        except httpx.HTTPError as exc:
            failures.append(repr(exc))
            continue
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            failures.append(f"HTTP {response.status_code}")
        sizes.append(len(response.content))


def measure(
    base_url: str,
    path: str,
    *,
    requests: int = 2000,
    workers: int = 4,
    time_limit: float = 4.0,
    warmup: int = 25,
) -> Figures:
    """GET ``path`` ``requests`` times from ``workers`` concurrent clients, stopping after ``time_limit``."""
    tickets = _Tickets(requests)
    ready = threading.Barrier(workers + 1)
    latencies: list[list[float]] = [[] for _ in range(workers)]
    failures: list[str] = []
    sizes: list[int] = []
    clients = [httpx.Client(base_url=base_url, timeout=10.0) for _ in range(workers)]
    try:
        threads = [
            threading.Thread(
                target=_worker,
                args=(client, path, tickets, warmup, ready, latencies[i], failures, sizes),
                name=f"load-{i}",
            )
            for i, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.perf_counter()
        tickets.deadline = started + time_limit
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests to {base_url}{path}, first: {failures[0]}")
    done = [latency for per_worker in latencies for latency in per_worker]
    cuts = statistics.quantiles(done, n=100, method="inclusive")
    return Figures(
        requests=len(done),
        seconds=seconds,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        body_bytes=max(sizes),
    )
