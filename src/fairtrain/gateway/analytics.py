"""Crawler analytics: who came, what they took, what it earned, and who ignored robots.txt.

The gateway (live requests) and ``fairtrain logs import`` (access logs of sites hosted elsewhere) describe
each request as a ``Hit``; ``record_hits`` folds a batch of them into the daily counters of
``TrafficDaily`` (per day, source, creator, crawler, client class and currency) and ``PathDaily`` (per day,
source, creator, crawler and path). The queries below read those tables for a creator or the whole site.

Every outcome has its own counter, so ``requests == served + licensed + charged + quoted + refused``.
Revenue is integer micros per currency, never a float. A robots.txt violation is a fetch of a path that the
crawler's own robots.txt group disallows (``RobotsRules``); it is counted per path.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

from protego import Protego
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fairtrain.errors import InvalidInput
from fairtrain.gateway.classes import ClientClass, Outcome
from fairtrain.gateway.models import PathDaily, TrafficDaily
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.service import SignalCache
from fairtrain.rights.signals import robots_txt

__all__ = [
    "GROUPINGS",
    "MAX_DAYS",
    "MAX_PATH_LENGTH",
    "Counters",
    "DailyRow",
    "GroupRow",
    "Grouping",
    "Hit",
    "PathRow",
    "RobotsRules",
    "Tally",
    "ViolationRow",
    "daily",
    "groups",
    "normalize_path",
    "record_hits",
    "record_tally",
    "robots_rules_for",
    "rows_csv",
    "site_robots_rules",
    "top_paths",
    "totals",
    "violations",
]

MAX_PATH_LENGTH = 500  # PathDaily.path
MAX_DAYS = 400
"""Longest period a query may span (a year and a bit): bounds the work one request can ask for."""

Grouping = Literal["crawler", "operator", "purpose", "client_class"]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)

_OUTCOME_COUNTER: dict[str, str] = {
    "served": "served",
    "licensed": "licensed",
    "charged": "charged",
    "quoted": "quoted",
    "refused": "refused",
}
_TRAFFIC_KEY = ("day", "source", "creator_id", "crawler", "client_class", "currency")
_TRAFFIC_COUNTERS = (
    "requests",
    "bytes",
    "served",
    "refused",
    "quoted",
    "charged",
    "licensed",
    "revenue_micros",
)
_PATH_KEY = ("day", "source", "creator_id", "crawler", "path")
_PATH_COUNTERS = ("requests", "bytes", "violations")


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """One request, as the gateway or a log import saw it."""

    at: datetime
    """When it arrived; timezone-aware (its UTC day is the day it is counted on)."""
    source: str = "gateway"
    creator_id: str = ""
    crawler: str = ""
    operator: str = ""
    purpose: str = ""
    client_class: ClientClass
    outcome: Outcome
    path: str
    bytes: int = 0
    revenue_micros: int = 0
    currency: str = ""
    violation: bool = False


def normalize_path(path: str) -> str:
    """The path as stored: no query string or fragment, at most ``MAX_PATH_LENGTH`` characters."""
    if path and len(path) <= MAX_PATH_LENGTH and "?" not in path and "#" not in path:
        return path  # the gateway's paths (the server split off the query): every request comes here
    for mark in ("?", "#"):
        path = path.split(mark, 1)[0]
    return (path or "/")[:MAX_PATH_LENGTH]


def _day(at: datetime) -> date:
    if at.tzinfo is UTC:
        return at.date()
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"hit time {at!r} has no time zone")
    return at.astimezone(UTC).date()


class Tally:
    """Hits added up as they come, keyed like the two tables: what a flush writes is one row per key, not
    one per request (the gateway's meter keeps one per worker and adds every request to it).

    ``max_paths`` bounds the distinct paths kept between flushes (a scraper walking random URLs must not
    grow it without end); beyond it, hits still count in the traffic table, and ``paths_dropped`` says how
    many were left out of the per-path counts."""

    __slots__ = ("hits", "max_paths", "paths", "paths_dropped", "traffic")

    def __init__(self, *, max_paths: int = 50_000) -> None:
        self.traffic: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.paths: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.max_paths = max_paths
        self.paths_dropped = 0
        self.hits = 0

    def __len__(self) -> int:
        return self.hits

    def add(self, hit: Hit, at: datetime | None = None) -> None:
        """Count ``hit`` (as if it came at ``at``, when given: a request answered like an earlier one)."""
        self.hits += 1
        day = _day(hit.at if at is None else at)
        currency = hit.currency if hit.revenue_micros else ""
        key = (day, hit.source, hit.creator_id, hit.crawler, hit.client_class, currency)
        row = self.traffic.get(key)
        if row is None:
            row = self.traffic[key] = dict.fromkeys(_TRAFFIC_COUNTERS, 0)
            row.update(zip(_TRAFFIC_KEY, key, strict=True), operator=hit.operator, purpose=hit.purpose)
        row["requests"] += 1
        row["bytes"] += hit.bytes
        row[_OUTCOME_COUNTER[hit.outcome]] += 1
        row["revenue_micros"] += hit.revenue_micros
        if hit.operator:
            row["operator"] = hit.operator
        if hit.purpose:
            row["purpose"] = hit.purpose

        path_key = (day, hit.source, hit.creator_id, hit.crawler, normalize_path(hit.path))
        path_row = self.paths.get(path_key)
        if path_row is None:
            if len(self.paths) >= self.max_paths:
                self.paths_dropped += 1
                return
            path_row = self.paths[path_key] = dict.fromkeys(_PATH_COUNTERS, 0)
            path_row.update(zip(_PATH_KEY, path_key, strict=True))
        path_row["requests"] += 1
        path_row["bytes"] += hit.bytes
        path_row["violations"] += int(hit.violation)


def _upsert(
    session: Session,
    model: type[TrafficDaily] | type[PathDaily],
    key: Sequence[str],
    counters: Sequence[str],
    rows: Mapping[tuple[Any, ...], dict[str, Any]],
    keep_nonempty: Sequence[str] = (),
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"crawler analytics need SQLite or PostgreSQL, not {dialect}")
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model)
    table = statement.table
    excluded = statement.excluded
    update: dict[str, ColumnElement[Any]] = {name: table.c[name] + excluded[name] for name in counters}
    for name in keep_nonempty:  # a later hit with no operator named leaves the known one
        update[name] = func.coalesce(func.nullif(excluded[name], ""), table.c[name])
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=update)
    # Sorted keys: two workers flushing overlapping batches take the row locks in the same order, so on
    # PostgreSQL they wait for each other instead of deadlocking.
    session.execute(statement, [rows[k] for k in sorted(rows)])


def record_hits(session: Session, hits: Sequence[Hit]) -> None:
    """Add a batch of hits to the daily counters (one executemany upsert per table, in key order).

    Runs in the caller's transaction; the caller commits. Safe to run from several workers at once: each
    upsert adds to the row another worker may have just written.
    """
    tally = Tally(max_paths=len(hits) + 1)
    for hit in hits:
        tally.add(hit)
    record_tally(session, tally)


def record_tally(session: Session, tally: Tally) -> None:
    """Write what a :class:`Tally` added up (in the caller's transaction), like ``record_hits``."""
    _upsert(session, TrafficDaily, _TRAFFIC_KEY, _TRAFFIC_COUNTERS, tally.traffic, ("operator", "purpose"))
    _upsert(session, PathDaily, _PATH_KEY, _PATH_COUNTERS, tally.paths)


# --- robots.txt ------------------------------------------------------------------------------------------


class RobotsRules:
    """A robots.txt, parsed once (with protego, Google's matching rules: longest match, ``*`` and ``$``).

    ``disallows`` answers are remembered per (token, path) in a bounded LRU, so the gateway can ask for
    every request. An instance describes one robots.txt text: when the policy changes, build another (the
    ``robots_rules_for`` and ``site_robots_rules`` helpers do, keyed on the text).
    """

    def __init__(self, text: str, *, cache_size: int = 65_536) -> None:
        self.text = text
        self.digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._parser = Protego.parse(text)
        self._check: Callable[[str, str], bool] = functools.lru_cache(maxsize=cache_size)(self._disallows)

    def _disallows(self, token: str, path: str) -> bool:
        return not self._parser.can_fetch(path or "/", token)

    def disallows(self, crawler_token: str, path: str) -> bool:
        """Whether the robots.txt group that applies to ``crawler_token`` (a robots.txt user-agent token,
        e.g. the registry's crawler name) disallows ``path`` (with its query string, if any)."""
        if not crawler_token:
            return False
        if not path.startswith("/"):
            path = "/" + path
        return self._check(crawler_token, path)


@functools.lru_cache(maxsize=8)
def robots_rules_for(text: str) -> RobotsRules:
    """The rules of a robots.txt text, parsed once per distinct text (a changed policy is a new text)."""
    return RobotsRules(text)


def site_robots_rules(
    session: Session, *, base_url: str, registry: CrawlerRegistry, cache: SignalCache | None = None
) -> RobotsRules:
    """The rules of the robots.txt this site serves now (the same text as ``/robots.txt``).

    Pass the application's ``SignalCache`` (``web.signals.signal_cache``): the text then costs one small
    version query and is rendered again only when the policy or the crawler registry changed; the rules
    are parsed again only when the text changed. Call it per batch (or per request) rather than keeping
    the result, so a new policy is seen at once.
    """
    cache = cache if cache is not None else SignalCache()
    text = cache.body(
        session,
        base_url=base_url,
        name="robots.txt",
        render=lambda site: robots_txt(site, registry.crawlers),
        extra=registry,
    )
    return robots_rules_for(text)


# --- queries ---------------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Counters:
    """Requests and what became of them; revenue in micros per currency."""

    requests: int = 0
    bytes: int = 0
    served: int = 0
    refused: int = 0
    quoted: int = 0
    charged: int = 0
    licensed: int = 0
    violations: int = 0
    revenue: dict[str, int] = field(default_factory=dict)

    def add_row(self, row: Any) -> None:
        for name in ("requests", "bytes", "served", "refused", "quoted", "charged", "licensed"):
            setattr(self, name, getattr(self, name) + int(getattr(row, name) or 0))
        micros = int(row.revenue_micros or 0)
        if micros and row.currency:
            self.revenue[row.currency] = self.revenue.get(row.currency, 0) + micros

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["revenue"] = dict(sorted(self.revenue.items()))
        return out


@dataclass(slots=True, kw_only=True)
class DailyRow(Counters):
    day: date
    group: str


@dataclass(slots=True, kw_only=True)
class GroupRow(Counters):
    group: str


@dataclass(frozen=True, slots=True)
class PathRow:
    path: str
    requests: int
    bytes: int
    violations: int


@dataclass(frozen=True, slots=True)
class ViolationRow:
    crawler: str
    path: str
    count: int


def _check_period(since: date, until: date) -> None:
    if since > until:
        raise InvalidInput(f"the period starts ({since}) after it ends ({until})")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a period may span at most {MAX_DAYS} days")


def _filters(
    model: type[TrafficDaily] | type[PathDaily],
    *,
    creator_id: str | None,
    since: date,
    until: date,
    source: str | None,
) -> list[ColumnElement[bool]]:
    _check_period(since, until)
    where = [model.day >= since, model.day <= until]
    if creator_id is not None:
        where.append(model.creator_id == creator_id)
    if source is not None:
        where.append(model.source == source)
    return where


def _check_grouping(by: str) -> Grouping:
    if by not in GROUPINGS:
        raise InvalidInput(f"cannot group by {by!r}; choose one of {', '.join(GROUPINGS)}")
    return by


def _traffic_rows(
    session: Session, *, creator_id: str | None, since: date, until: date, source: str | None
) -> list[Any]:
    """Counters per day, crawler, operator, purpose, client class and currency: every grouping folds
    these few rows (days x crawlers x classes) in memory."""
    t = TrafficDaily
    keys = (t.day, t.crawler, t.operator, t.purpose, t.client_class, t.currency)
    sums = [func.sum(getattr(t, name)).label(name) for name in _TRAFFIC_COUNTERS]
    where = _filters(t, creator_id=creator_id, since=since, until=until, source=source)
    return list(session.execute(select(*keys, *sums).where(*where).group_by(*keys)))


def _violations_by_day(
    session: Session, *, creator_id: str | None, since: date, until: date, source: str | None
) -> dict[tuple[date, str], int]:
    p = PathDaily
    where = _filters(p, creator_id=creator_id, since=since, until=until, source=source)
    query = (
        select(p.day, p.crawler, func.sum(p.violations))
        .where(*where, p.violations > 0)
        .group_by(p.day, p.crawler)
    )
    return {(day, crawler): int(count) for day, crawler, count in session.execute(query)}


def _fold(
    session: Session,
    *,
    creator_id: str | None,
    since: date,
    until: date,
    by: Grouping,
    source: str | None,
) -> dict[tuple[date, str], Counters]:
    rows = _traffic_rows(session, creator_id=creator_id, since=since, until=until, source=source)
    out: dict[tuple[date, str], Counters] = defaultdict(Counters)
    # Violations are counted per crawler and path; a crawler's belong to the group that made most of its
    # requests that day (its operator and purpose are the same for all of them; its class almost always).
    busiest: dict[tuple[date, str], tuple[int, str]] = {}
    for row in rows:
        group = str(getattr(row, by))
        out[(row.day, group)].add_row(row)
        requests = int(row.requests or 0)
        seen = busiest.get((row.day, row.crawler))
        if seen is None or requests > seen[0] or (requests == seen[0] and group < seen[1]):
            busiest[(row.day, row.crawler)] = (requests, group)
    for (day, crawler), count in _violations_by_day(
        session, creator_id=creator_id, since=since, until=until, source=source
    ).items():
        fallback = crawler if by == "crawler" else ""
        group = busiest.get((day, crawler), (0, fallback))[1]
        out[(day, group)].violations += count
    return out


def daily(
    session: Session,
    *,
    creator_id: str | None,
    since: date,
    until: date,
    by: Grouping = "crawler",
    source: str | None = None,
) -> list[DailyRow]:
    """Counters per day and group (crawler, operator, purpose or client class), by day then group.

    ``creator_id`` None: the whole site; '' only requests that belong to no creator. The group '' means
    none (no crawler named, no operator known).
    """
    by = _check_grouping(by)
    folded = _fold(session, creator_id=creator_id, since=since, until=until, by=by, source=source)
    return [
        DailyRow(day=day, group=group, **counters.as_dict())
        for (day, group), counters in sorted(folded.items())
    ]


def groups(
    session: Session,
    *,
    creator_id: str | None,
    since: date,
    until: date,
    by: Grouping = "crawler",
    source: str | None = None,
) -> list[GroupRow]:
    """Counters per group over the whole period, busiest first."""
    by = _check_grouping(by)
    folded = _fold(session, creator_id=creator_id, since=since, until=until, by=by, source=source)
    merged: dict[str, Counters] = defaultdict(Counters)
    for (_, group), counters in folded.items():
        _merge(merged[group], counters)
    rows = [GroupRow(group=group, **counters.as_dict()) for group, counters in merged.items()]
    return sorted(rows, key=lambda r: (-r.requests, r.group))


def _merge(into: Counters, other: Counters) -> None:
    for name in ("requests", "bytes", "served", "refused", "quoted", "charged", "licensed", "violations"):
        setattr(into, name, getattr(into, name) + getattr(other, name))
    for currency, micros in other.revenue.items():
        into.revenue[currency] = into.revenue.get(currency, 0) + micros


def totals(
    session: Session, *, creator_id: str | None, since: date, until: date, source: str | None = None
) -> Counters:
    """Everything in the period, summed."""
    total = Counters()
    for row in _traffic_rows(session, creator_id=creator_id, since=since, until=until, source=source):
        total.add_row(row)
    total.violations = sum(
        _violations_by_day(session, creator_id=creator_id, since=since, until=until, source=source).values()
    )
    return total


def top_paths(
    session: Session,
    *,
    creator_id: str | None,
    since: date,
    until: date,
    limit: int = 20,
    source: str | None = None,
    crawlers_only: bool = False,
) -> list[PathRow]:
    """The most requested paths (by every client, or only by named crawlers), busiest first."""
    p = PathDaily
    where = _filters(p, creator_id=creator_id, since=since, until=until, source=source)
    if crawlers_only:
        where.append(p.crawler != "")
    requests = func.sum(p.requests)
    query = (
        select(p.path, requests, func.sum(p.bytes), func.sum(p.violations))
        .where(*where)
        .group_by(p.path)
        .order_by(requests.desc(), p.path)
        .limit(max(1, min(limit, 1000)))
    )
    return [PathRow(path, int(r), int(b), int(v)) for path, r, b, v in session.execute(query)]


def violations(
    session: Session,
    *,
    creator_id: str | None,
    since: date,
    until: date,
    limit: int = 100,
    source: str | None = None,
) -> list[ViolationRow]:
    """Fetches of paths a crawler's robots.txt group disallows, per crawler and path, most first."""
    p = PathDaily
    where = _filters(p, creator_id=creator_id, since=since, until=until, source=source)
    count = func.sum(p.violations)
    query = (
        select(p.crawler, p.path, count)
        .where(*where, p.violations > 0)
        .group_by(p.crawler, p.path)
        .order_by(count.desc(), p.crawler, p.path)
        .limit(max(1, min(limit, 1000)))
    )
    return [ViolationRow(crawler, path, int(n)) for crawler, path, n in session.execute(query)]


_CSV_COUNTERS = ("requests", "bytes", "served", "refused", "quoted", "charged", "licensed", "violations")


def _csv_safe(text: str) -> str:
    """Crawler names and paths come from clients: keep a spreadsheet from running one as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def rows_csv(
    session: Session,
    *,
    creator_id: str | None,
    since: date,
    until: date,
    by: Grouping = "crawler",
    source: str | None = None,
) -> str:
    """The daily rows as CSV: one line per day and group; revenue as integer micros, one column per
    currency (``revenue_micros_USD``)."""
    rows = daily(session, creator_id=creator_id, since=since, until=until, by=by, source=source)
    currencies = sorted({code for row in rows for code in row.revenue})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["day", by, *_CSV_COUNTERS, *(f"revenue_micros_{code}" for code in currencies)])
    for row in rows:
        writer.writerow(
            [
                row.day.isoformat(),
                _csv_safe(row.group),
                *(getattr(row, name) for name in _CSV_COUNTERS),
                *(row.revenue.get(code, 0) for code in currencies),
            ]
        )
    return buffer.getvalue()
