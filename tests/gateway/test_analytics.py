"""Crawler analytics: record_hits' upserts on both databases, the queries, CSV, and robots.txt rules."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.errors import InvalidInput
from fairtrain.gateway.analytics import (
    MAX_PATH_LENGTH,
    Hit,
    RobotsRules,
    daily,
    groups,
    normalize_path,
    record_hits,
    robots_rules_for,
    rows_csv,
    site_robots_rules,
    top_paths,
    totals,
    violations,
)
from fairtrain.gateway.models import PathDaily, TrafficDaily
from fairtrain.rights.crawlers import CrawlerRegistry, builtin_crawlers

DAY = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def gptbot(**values: object) -> Hit:
    base: dict[str, object] = {
        "at": NOON,
        "creator_id": "crt_mira",
        "crawler": "GPTBot",
        "operator": "OpenAI",
        "purpose": "training",
        "client_class": "verified-crawler",
        "outcome": "refused",
        "path": "/@mira/a.jpg",
        "bytes": 100,
    }
    return Hit(**{**base, **values})  # type: ignore[arg-type]


def human(**values: object) -> Hit:
    base: dict[str, object] = {
        "at": NOON,
        "creator_id": "crt_mira",
        "client_class": "anonymous",
        "outcome": "served",
        "path": "/@mira",
        "bytes": 5000,
    }
    return Hit(**{**base, **values})  # type: ignore[arg-type]


def traffic(db: Session) -> list[TrafficDaily]:
    db.expire_all()
    return list(db.scalars(select(TrafficDaily).order_by(TrafficDaily.crawler, TrafficDaily.currency)))


def test_hits_fold_into_one_row_per_key_and_a_second_batch_adds(db: Session) -> None:
    record_hits(
        db,
        [
            gptbot(),
            gptbot(outcome="quoted", path="/@mira/a.jpg?size=full", bytes=0),
            gptbot(outcome="charged", revenue_micros=10_000, currency="USD", bytes=2000),
            human(),
        ],
    )
    db.commit()
    rows = traffic(db)
    assert [(r.crawler, r.client_class, r.currency) for r in rows] == [
        ("", "anonymous", ""),
        ("GPTBot", "verified-crawler", ""),
        ("GPTBot", "verified-crawler", "USD"),
    ]
    free, paid = rows[1], rows[2]
    assert (free.requests, free.bytes, free.refused, free.quoted, free.charged) == (2, 100, 1, 1, 0)
    assert (paid.requests, paid.charged, paid.revenue_micros, paid.bytes) == (1, 1, 10_000, 2000)
    assert (free.operator, free.purpose, free.day, free.source) == ("OpenAI", "training", DAY, "gateway")

    # The same keys again: added to, not duplicated; a hit naming no operator keeps the known one.
    record_hits(
        db, [gptbot(operator="", purpose=""), gptbot(outcome="charged", revenue_micros=5, currency="USD")]
    )
    db.commit()
    rows = traffic(db)
    assert len(rows) == 3
    assert (rows[1].requests, rows[1].refused, rows[1].operator, rows[1].purpose) == (
        3,
        2,
        "OpenAI",
        "training",
    )
    assert (rows[2].requests, rows[2].revenue_micros) == (2, 10_005)

    paths = {(p.crawler, p.path): p for p in db.scalars(select(PathDaily))}
    assert set(paths) == {("GPTBot", "/@mira/a.jpg"), ("", "/@mira")}  # the query string is dropped
    assert (paths[("GPTBot", "/@mira/a.jpg")].requests, paths[("GPTBot", "/@mira/a.jpg")].bytes) == (5, 2300)


def test_a_batch_of_thousands_of_distinct_paths_is_one_upsert_per_table(db: Session) -> None:
    hits = [gptbot(path=f"/@mira/{i}.jpg", violation=i % 3 == 0) for i in range(3000)]
    record_hits(db, hits)
    record_hits(db, hits[:10])
    db.commit()
    [row] = traffic(db)
    assert row.requests == 3010
    assert db.scalar(select(PathDaily.requests).where(PathDaily.path == "/@mira/0.jpg")) == 2
    total = totals(db, creator_id=None, since=DAY, until=DAY)
    assert total.violations == 1000 + 4  # i = 0, 3, 6, 9 twice


def test_days_are_utc_days_and_paths_are_cut(db: Session) -> None:
    late = datetime(2026, 11, 20, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC on the 21st
    long_path = "/" + "x" * 800
    record_hits(db, [human(at=late, path=long_path)])
    db.commit()
    [row] = db.scalars(select(PathDaily)).all()
    assert row.day == date(2026, 11, 21)
    assert len(row.path) == MAX_PATH_LENGTH
    assert normalize_path("") == "/"
    assert normalize_path("/a#frag") == "/a"
    with pytest.raises(ValueError, match="no time zone"):
        record_hits(db, [human(at=datetime(2026, 11, 20, 12, 0))])


def _sample(db: Session) -> None:
    yesterday = NOON - timedelta(days=1)
    record_hits(
        db,
        [
            gptbot(at=yesterday, path="/@mira/a.jpg", violation=True),
            gptbot(path="/@mira/a.jpg", violation=True),
            gptbot(path="/@mira/b.jpg", violation=True),
            gptbot(path="/@mira/b.jpg", client_class="claimed-crawler", violation=True),
            gptbot(outcome="licensed", revenue_micros=2_500_000, currency="EUR", path="/@mira/c.jpg"),
            gptbot(outcome="charged", revenue_micros=10_000, currency="USD", path="/@mira/c.jpg"),
            Hit(
                at=NOON,
                creator_id="crt_mira",
                crawler="Googlebot",
                operator="Google",
                purpose="search",
                client_class="verified-crawler",
                outcome="served",
                path="/@mira/c.jpg",
                bytes=300,
            ),
            human(),
            human(creator_id="crt_jonas", path="/@jonas"),
            human(creator_id="", path="/", source="import"),
        ],
    )
    db.commit()


def test_daily_groups_by_crawler_operator_purpose_and_class(db: Session) -> None:
    _sample(db)
    rows = daily(db, creator_id="crt_mira", since=DAY - timedelta(days=1), until=DAY, by="crawler")
    assert [(r.day, r.group, r.requests) for r in rows] == [
        (DAY - timedelta(days=1), "GPTBot", 1),
        (DAY, "", 1),
        (DAY, "GPTBot", 5),
        (DAY, "Googlebot", 1),
    ]
    today = rows[2]
    assert (today.refused, today.licensed, today.charged, today.violations) == (3, 1, 1, 3)
    assert today.revenue == {"EUR": 2_500_000, "USD": 10_000}
    assert rows[0].violations == 1

    by_purpose = {r.group: r for r in daily(db, creator_id="crt_mira", since=DAY, until=DAY, by="purpose")}
    assert set(by_purpose) == {"", "training", "search"}
    assert (by_purpose["training"].requests, by_purpose["training"].violations) == (5, 3)
    by_operator = {
        r.group: r.requests for r in daily(db, creator_id="crt_mira", since=DAY, until=DAY, by="operator")
    }
    assert by_operator == {"": 1, "OpenAI": 5, "Google": 1}
    by_class = {r.group: r for r in daily(db, creator_id="crt_mira", since=DAY, until=DAY, by="client_class")}
    assert {k: v.requests for k, v in by_class.items()} == {
        "anonymous": 1,
        "claimed-crawler": 1,
        "verified-crawler": 5,
    }
    # GPTBot's violations go to the class that made most of its requests that day.
    assert by_class["verified-crawler"].violations == 3

    summed = groups(db, creator_id="crt_mira", since=DAY - timedelta(days=1), until=DAY, by="crawler")
    assert [(g.group, g.requests, g.violations) for g in summed] == [
        ("GPTBot", 6, 4),
        ("", 1, 0),
        ("Googlebot", 1, 0),
    ]
    with pytest.raises(InvalidInput, match="cannot group by"):
        daily(db, creator_id=None, since=DAY, until=DAY, by="colour")  # type: ignore[arg-type]


def test_totals_paths_violations_and_filters(db: Session) -> None:
    _sample(db)
    site = totals(db, creator_id=None, since=DAY, until=DAY)
    assert (site.requests, site.violations) == (10 - 1, 3)
    assert site.revenue == {"EUR": 2_500_000, "USD": 10_000}
    mira = totals(db, creator_id="crt_mira", since=DAY - timedelta(days=1), until=DAY)
    assert (mira.requests, mira.served, mira.refused, mira.violations) == (8, 2, 4, 4)
    assert totals(db, creator_id="crt_jonas", since=DAY, until=DAY).requests == 1
    assert totals(db, creator_id=None, since=DAY, until=DAY, source="import").requests == 1
    assert (
        totals(
            db, creator_id="crt_mira", since=DAY + timedelta(days=1), until=DAY + timedelta(days=9)
        ).requests
        == 0
    )

    top = top_paths(db, creator_id="crt_mira", since=DAY - timedelta(days=1), until=DAY, limit=2)
    assert [(p.path, p.requests, p.violations) for p in top] == [
        ("/@mira/c.jpg", 3, 0),
        ("/@mira/a.jpg", 2, 2),
    ]
    crawled = top_paths(db, creator_id=None, since=DAY, until=DAY, crawlers_only=True)
    assert "/" not in {p.path for p in crawled}

    found = violations(db, creator_id="crt_mira", since=DAY - timedelta(days=1), until=DAY)
    assert [(v.crawler, v.path, v.count) for v in found] == [
        ("GPTBot", "/@mira/a.jpg", 2),
        ("GPTBot", "/@mira/b.jpg", 2),
    ]
    assert violations(db, creator_id="crt_jonas", since=DAY, until=DAY) == []

    with pytest.raises(InvalidInput, match="starts"):
        totals(db, creator_id=None, since=DAY, until=DAY - timedelta(days=1))
    with pytest.raises(InvalidInput, match="at most"):
        totals(db, creator_id=None, since=DAY - timedelta(days=1000), until=DAY)


def test_csv_has_a_revenue_column_per_currency_in_micros_and_defuses_formulas(db: Session) -> None:
    _sample(db)
    record_hits(db, [gptbot(crawler="=HYPERLINK(1)", operator="x")])
    db.commit()
    text = rows_csv(db, creator_id="crt_mira", since=DAY, until=DAY, by="crawler")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "day",
        "crawler",
        "requests",
        "bytes",
        "served",
        "refused",
        "quoted",
        "charged",
        "licensed",
        "violations",
        "revenue_micros_EUR",
        "revenue_micros_USD",
    ]
    gpt = next(r for r in rows if r["crawler"] == "GPTBot")
    assert (gpt["day"], gpt["requests"], gpt["revenue_micros_EUR"], gpt["revenue_micros_USD"]) == (
        "2026-11-20",
        "5",
        "2500000",
        "10000",
    )
    assert any(r["crawler"] == "'=HYPERLINK(1)" for r in rows)


# --- robots.txt ------------------------------------------------------------------------------------------

ROBOTS = """\
User-agent: GPTBot
Disallow: /@mira/
Allow: /@mira/public/
Disallow: /*.pdf$

User-agent: *
Disallow: /private
"""


def test_robots_rules_follow_groups_longest_match_and_wildcards() -> None:
    rules = RobotsRules(ROBOTS)
    assert rules.disallows("GPTBot", "/@mira/a.jpg")
    assert not rules.disallows("GPTBot", "/@mira/public/a.jpg")  # the longer Allow wins
    assert rules.disallows("GPTBot", "/papers/x.pdf")
    assert not rules.disallows("GPTBot", "/papers/x.pdf?download=1")  # `$` anchors the end
    assert not rules.disallows("GPTBot", "/private")  # GPTBot has its own group; * does not apply
    assert rules.disallows("gptbot", "@mira/a.jpg")  # tokens are case-insensitive; a missing / is added
    assert rules.disallows("CCBot", "/private/x")
    assert not rules.disallows("CCBot", "/@mira/a.jpg")
    assert not rules.disallows("", "/private")  # nobody named: no crawler to hold to a group
    assert not rules.disallows("GPTBot", "/robots.txt")


def test_robots_rules_are_kept_per_text() -> None:
    first = robots_rules_for(ROBOTS)
    assert robots_rules_for(ROBOTS) is first
    changed = robots_rules_for(ROBOTS.replace("Disallow: /@mira/", "Disallow: /@jonas/"))
    assert changed is not first
    assert not changed.disallows("GPTBot", "/@mira/a.jpg")
    assert changed.digest != first.digest


def test_site_robots_rules_read_the_robots_txt_this_site_serves(db: Session) -> None:
    registry = CrawlerRegistry(builtin_crawlers())
    rules = site_robots_rules(db, base_url="http://testserver", registry=registry)
    # The default policy reserves AI training and allows search.
    assert rules.disallows("GPTBot", "/@mira/a.jpg")
    assert not rules.disallows("GPTBot", "/robots.txt")
    assert not rules.disallows("Googlebot", "/@mira/a.jpg")
    assert "User-agent: GPTBot" in rules.text
