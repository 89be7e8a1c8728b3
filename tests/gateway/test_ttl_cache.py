"""The gateway's TTLCache: fresh entries, expired ones served once more while one refresh runs, limits."""

from __future__ import annotations

import threading

from fairtrain.gateway.works import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_entry_is_served_while_one_refresh_replaces_it() -> None:
    clock = Clock()
    cache: TTLCache[str, str] = TTLCache(5.0, max_stale=30.0, clock=clock)
    cache.put("work", "old")
    assert cache.get("work") == "old"
    clock.now = 6.0
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def reload() -> str:
        calls.append("reload")
        started.set()
        release.wait(5)
        return "new"

    # Many requests see the expiry at once: each gets the old value, one refresh runs.
    assert [cache.get("work", reload=reload) for _ in range(20)] == ["old"] * 20
    assert started.wait(5)
    release.set()
    for _ in range(100):
        if cache.get("work") == "new":
            break
        threading.Event().wait(0.01)
    assert cache.get("work") == "new" and calls == ["reload"]
    # Without a way to reload, an expired entry is gone.
    clock.now = 20.0
    assert cache.get("work") is None


def test_too_stale_or_gone_entries_are_dropped() -> None:
    clock = Clock()
    cache: TTLCache[str, str] = TTLCache(5.0, max_stale=30.0, clock=clock)
    cache.put("a", "x")
    clock.now = 40.0  # 35 s past expiry: never served, whatever reload would say
    assert cache.get("a", reload=lambda: "y") is None
    cache.put("b", "x")
    clock.now = 46.0
    done = threading.Event()

    def gone() -> str | None:
        done.set()
        return None

    assert cache.get("b", reload=gone) == "x"
    assert done.wait(5)
    for _ in range(100):
        if cache.get("b", reload=gone) is None:
            break
        threading.Event().wait(0.01)
    assert cache.get("b") is None


def test_a_zero_ttl_keeps_nothing_and_size_is_bounded() -> None:
    assert TTLCache[str, int](0).put("k", 1) == 1
    assert TTLCache[str, int](0).get("k") is None
    cache: TTLCache[int, int] = TTLCache(60.0, max_entries=3)
    for key in range(5):
        cache.put(key, key)
    assert [cache.get(key) for key in range(5)] == [None, None, 2, 3, 4]
