"""What fairtrain's web shell costs per request, next to a plain Starlette app measured in the same run.

Both apps run in their own uvicorn process on 127.0.0.1, one at a time under load, pair by pair, so the
two figures of a row saw the same machine in the same state. See ``bench/README.md`` for how to read them.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bench.load import Figures, measure
from bench.servers import running_server
from fairtrain.accounts.demo import seed_demo
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.db.migrate import upgrade

__all__ = ["CASES", "Case", "main"]

REQUESTS = 2000  # per measurement, split over the workers
WORKERS = 4
TIME_LIMIT = 3.0  # seconds per measurement: 7 measurements stay near 20 s even when a route is slow


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    baseline_path: str | None  # None: no plain-Starlette equivalent worth comparing


CASES = (
    Case("/healthz (SELECT 1)", "/healthz", "/healthz"),
    Case("static htmx.min.js", "/static/vendor/htmx/htmx.min.js", "/static/vendor/htmx/htmx.min.js"),
    Case("creator page /@mira", "/@mira", "/@mira"),
    Case("/api/v1/creators", "/api/v1/creators", None),
)


def _prepare_stores(store: Path) -> None:
    """fairtrain.db: migrated and seeded with the demo; baseline.db: an empty SQLite file, also in WAL."""
    engine = make_engine(f"sqlite:///{store / 'fairtrain.db'}")
    try:
        upgrade(engine)
        with transaction(make_sessionmaker(engine)) as session:
            seed_demo(session, min_password_length=10)
    finally:
        engine.dispose()
    with closing(sqlite3.connect(store / "baseline.db")) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def _measure(base_url: str, path: str) -> Figures:
    return measure(base_url, path, requests=REQUESTS, workers=WORKERS, time_limit=TIME_LIMIT)


def _cells(figures: Figures | None) -> str:
    if figures is None:
        return f"{'—':>8} {'':>7} {'':>7} {'':>8}"
    return (
        f"{figures.per_second:>8,.0f} {figures.p50_ms:>7.2f} {figures.p99_ms:>7.2f} "
        f"{_size(figures.body_bytes):>8}"
    )


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _ratio(ours: Figures, baseline: Figures | None) -> str:
    if baseline is None:
        return f"{'—':>9} {'—':>9}"
    return f"{ours.per_second / baseline.per_second:>8.2f}× {ours.p50_ms / baseline.p50_ms:>8.2f}×"


def main() -> None:
    print(
        f"http_shell: {REQUESTS:,} GETs per measurement (or {TIME_LIMIT:g} s), {WORKERS} keep-alive clients"
    )
    rows: list[tuple[Case, Figures, Figures | None]] = []
    with tempfile.TemporaryDirectory(prefix="fairtrain-bench-") as tmp:
        store = Path(tmp)
        _prepare_stores(store)
        with running_server("fairtrain", store) as ours, running_server("baseline", store) as plain:
            for case in CASES:
                figures = _measure(ours, case.path)
                baseline = _measure(plain, case.baseline_path) if case.baseline_path else None
                rows.append((case, figures, baseline))

    columns = f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'body':>8}"
    print()
    print(f"{'':<22} {'fairtrain':^33} {'plain Starlette':^33}  {'fairtrain ÷ baseline':^19}")
    print(f"{'':<22} {columns} {columns}  {'req/s':>9} {'p50':>9}")
    for case, figures, baseline in rows:
        print(f"{case.name:<22} {_cells(figures)} {_cells(baseline)}  {_ratio(figures, baseline)}")
    short = [
        f"{case.name} ({who}: {figures.requests:,})"
        for case, *pair in rows
        for who, figures in zip(("fairtrain", "baseline"), pair, strict=True)
        if figures is not None and figures.requests < REQUESTS
    ]
    if short:
        print(f"\nstopped at the {TIME_LIMIT:g} s limit before {REQUESTS:,} requests: {', '.join(short)}")
