"""How fast the crawler analytics take hits, next to baselines measured in the same run.

- ``record_hits``: batches of 3,000 hits (the gateway's meter flushes about a second of traffic at a time)
  into a fresh, migrated SQLite store, against a baseline that writes the same hits as raw rows with one
  ``executemany`` and no aggregation or upsert: the floor of "write every hit down".
- ``fairtrain logs import``: a generated combined-format log, parsed, classified (crawler registry, prefix
  lists, robots.txt) and written, against a baseline that only runs the combined-format parser over the lines.

See ``bench/README.md`` for how to read the figures.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.db.migrate import upgrade
from fairtrain.gateway.analytics import Hit, RobotsRules, record_hits
from fairtrain.gateway.logs import Classifier, ImportState, import_log, parse_combined
from fairtrain.gateway.prefixes import PrefixLists
from fairtrain.rights.crawlers import CrawlerRegistry, builtin_crawlers

__all__ = ["main"]

BATCH = 3000
BATCHES = 10
LOG_LINES = 50_000
_AGENTS = (
    ("GPTBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)"),
    ("ClaudeBot", "Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"),
    ("", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
)


def _hits(rng: random.Random, at: datetime) -> list[Hit]:
    out = []
    for _ in range(BATCH):
        crawler = rng.choice(_AGENTS)[0]
        out.append(
            Hit(
                at=at,
                creator_id=f"crt_{rng.randrange(20)}",
                crawler=crawler,
                operator="Op" if crawler else "",
                purpose="training" if crawler else "",
                client_class="verified-crawler" if crawler else "anonymous",
                outcome=rng.choice(("served", "refused", "quoted")),
                path=f"/@c{rng.randrange(20)}/work-{rng.randrange(300)}.jpg",
                bytes=rng.randrange(100_000),
                violation=rng.random() < 0.1,
            )
        )
    return out


def _record(tmp: Path) -> tuple[float, float]:
    engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    upgrade(engine)
    factory = make_sessionmaker(engine)
    rng = random.Random(7)
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)
    batches = [_hits(rng, at + timedelta(minutes=n)) for n in range(BATCHES)]
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE raw_hits (day TEXT, source TEXT, creator_id TEXT, crawler TEXT,"
                " client_class TEXT, outcome TEXT, path TEXT, bytes INTEGER, violation INTEGER)"
            )
        )
    ours: list[float] = []
    base: list[float] = []
    for hits in batches:
        started = time.perf_counter()
        with transaction(factory) as session:
            record_hits(session, hits)
        ours.append(time.perf_counter() - started)

        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO raw_hits VALUES (:d, :s, :c, :k, :cc, :o, :p, :b, :v)"),
                [
                    {
                        "d": h.at.date().isoformat(),
                        "s": h.source,
                        "c": h.creator_id,
                        "k": h.crawler,
                        "cc": h.client_class,
                        "o": h.outcome,
                        "p": h.path,
                        "b": h.bytes,
                        "v": int(h.violation),
                    }
                    for h in hits
                ],
            )
        base.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(ours), statistics.median(base)


def _import(tmp: Path) -> tuple[float, float, int]:
    rng = random.Random(11)
    log = tmp / "access.log"
    start = datetime(2026, 11, 20, tzinfo=UTC)
    with log.open("w", encoding="utf-8") as handle:
        for n in range(LOG_LINES):
            agent = rng.choice(_AGENTS)[1]
            when = (start + timedelta(seconds=n)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            path = f"/@c{rng.randrange(20)}/work-{rng.randrange(300)}.jpg"
            ip, size = f"203.0.113.{rng.randrange(256)}", rng.randrange(99999)
            handle.write(f'{ip} - - [{when}] "GET {path} HTTP/1.1" 200 {size} "-" "{agent}"\n')
    lines = log.read_text(encoding="utf-8").splitlines()
    started = time.perf_counter()
    for line in lines:
        parse_combined(line)
    baseline = time.perf_counter() - started

    engine = make_engine(f"sqlite:///{tmp / 'import.db'}")
    upgrade(engine)
    classifier = Classifier(
        registry=CrawlerRegistry(builtin_crawlers()),
        prefixes=PrefixLists(),
        robots=RobotsRules("User-agent: GPTBot\nDisallow: /@c1/\n"),
    )
    started = time.perf_counter()
    import_log(
        make_sessionmaker(engine),
        path=log,
        log_format="combined",
        classifier=classifier,
        state=ImportState(tmp),
    )
    ours = time.perf_counter() - started
    engine.dispose()
    return ours, baseline, len(lines)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fairtrain-bench-analytics-") as name:
        tmp = Path(name)
        ours, base = _record(tmp)
        print(f"record_hits, {BATCH:,} hits a batch, median of {BATCHES} batches (SQLite file)")
        print(f"{'':28}{'ms/batch':>10}{'hits/s':>12}")
        print(f"{'record_hits (upserts)':28}{ours * 1000:10.1f}{BATCH / ours:12,.0f}")
        print(f"{'baseline: raw executemany':28}{base * 1000:10.1f}{BATCH / base:12,.0f}")
        print(f"record_hits ÷ baseline: {ours / base:.2f}× the time")

        ours, base, lines = _import(tmp)
        print(f"\nlogs import, {lines:,} combined-format lines")
        print(f"{'':28}{'s':>10}{'lines/s':>12}")
        print(f"{'import (parse+classify+write)':28}{ours:10.2f}{lines / ours:12,.0f}")
        print(f"{'baseline: parse only':28}{base:10.2f}{lines / base:12,.0f}")
        print(f"import ÷ baseline: {ours / base:.2f}× the time")
