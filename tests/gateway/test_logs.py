"""``fairtrain logs import``: parsing combined and JSON logs, classifying each line, and importing once."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fairtrain.cli import app as cli_app
from fairtrain.gateway.analytics import RobotsRules, totals
from fairtrain.gateway.logs import (
    AlreadyImported,
    BadLine,
    Classifier,
    ImportState,
    import_log,
    outcome_of,
    parse_combined,
    parse_json_line,
)
from fairtrain.gateway.models import PathDaily, TrafficDaily
from fairtrain.gateway.prefixes import PrefixLists
from fairtrain.rights.crawlers import CrawlerRegistry, builtin_crawlers

GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
)
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
OPENAI_IP = "20.171.206.7"
ELSEWHERE_IP = "198.51.100.23"
DAY = date(2026, 11, 20)
ROBOTS = "User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"


def combined(ip: str, path: str, status: int = 200, size: str = "512", agent: str = BROWSER_UA) -> str:
    return f'{ip} - - [20/Nov/2026:13:05:09 +0100] "GET {path} HTTP/1.1" {status} {size} "-" "{agent}"\n'


# --- parsing ---------------------------------------------------------------------------------------------


def test_combined_lines_parse_with_both_servers_escapes() -> None:
    record = parse_combined(combined(OPENAI_IP, "/a.jpg?x=1", agent=GPTBOT_UA))
    assert record.at == datetime(2026, 11, 20, 12, 5, 9, tzinfo=UTC)
    assert (record.ip, record.target, record.status, record.bytes) == (OPENAI_IP, "/a.jpg?x=1", 200, 512)
    assert record.user_agent == GPTBOT_UA
    nginx = parse_combined(combined("::1", "/b", size="-", agent=r"say \x22hi\x22") + "")
    assert (nginx.user_agent, nginx.bytes) == ('say "hi"', 0)
    apache = parse_combined(combined("::1", "/b", agent=r"say \"hi\""))
    assert apache.user_agent == 'say "hi"'
    proxied = parse_combined(combined("::1", "http://example.com/c?d=1"))
    assert proxied.target == "/c?d=1"
    extra = parse_combined(combined("::1", "/e").rstrip("\n") + ' "10.0.0.1" rt=0.003')
    assert extra.target == "/e"  # fields appended after the user agent are ignored


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("garbage\n", "not in the combined log format"),
        (combined("::1", "/a").replace("20/Nov/2026", "20/Foo/2026"), "is not like"),
        (combined("::1", "/a").replace("20/Nov/2026", "31/Nov/2026"), "day is out of range"),
        (combined("::1", "/a").replace("GET /a HTTP/1.1", "\\x16\\x03\\x01"), "is not METHOD TARGET"),
        (combined("::1", "a"), "is not a path"),
        (combined("::1", "/a")[:-30] + "\n", "not in the combined log format"),  # cut off mid-agent
    ],
)
def test_bad_combined_lines_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(BadLine, match=message):
        parse_combined(line)


def test_json_lines_read_cdn_and_server_field_names() -> None:
    cloudflare = parse_json_line(
        json.dumps(
            {
                "ClientIP": OPENAI_IP,
                "ClientRequestUserAgent": GPTBOT_UA,
                "ClientRequestPath": "/a.jpg",
                "ClientRequestQuery": "?w=10",
                "EdgeResponseStatus": 402,
                "EdgeResponseBytes": 120,
                "EdgeStartTimestamp": 1_795_608_000_123_456_789,  # nanoseconds
            }
        )
    )
    assert cloudflare.at == datetime(2026, 11, 25, 12, 0, 0, 123_456, tzinfo=UTC)
    assert (cloudflare.ip, cloudflare.target, cloudflare.status, cloudflare.bytes) == (
        OPENAI_IP,
        "/a.jpg?w=10",
        402,
        120,
    )
    nginx = parse_json_line(
        '{"remote_addr": "::1", "http_user_agent": "x", "request": "GET /b HTTP/2.0", "status": "200",'
        ' "body_bytes_sent": "77", "time_iso8601": "2026-11-20T13:00:00+01:00"}'
    )
    assert (nginx.target, nginx.status, nginx.bytes, nginx.at) == (
        "/b",
        200,
        77,
        datetime(2026, 11, 20, 12, tzinfo=UTC),
    )
    plain = parse_json_line('{"ip": "::1", "path": "/c", "status": 404, "time": 1795608000}')
    assert (plain.at, plain.bytes, plain.user_agent) == (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), 0, "")
    zulu = parse_json_line('{"path": "/c", "status": 200, "timestamp": "2026-11-20T12:00:00.5Z"}')
    assert zulu.at == datetime(2026, 11, 20, 12, 0, 0, 500_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"path": "/a", "status": 200}', "no time"),
        ('{"time": 1795608000, "status": 200}', "no path"),
        ('{"time": 1795608000, "path": "/a"}', "no status"),
        ('{"time": 1795608000, "path": "/a", "status": 999}', "not an HTTP status"),
        ('{"time": 1795608000, "path": "/a", "status": "ok"}', "not a number"),
        ('{"time": "yesterday", "path": "/a", "status": 200}', "neither RFC 3339 nor an epoch"),
        ('{"time": "2026-11-20T12:00:00", "path": "/a", "status": 200}', "no time zone"),
    ],
)
def test_bad_json_lines_name_the_field(line: str, message: str) -> None:
    with pytest.raises(BadLine, match=message):
        parse_json_line(line)


def test_statuses_map_to_outcomes() -> None:
    assert [outcome_of(s) for s in (200, 206, 304, 401, 402, 403, 404, 429, 500)] == [
        "served",
        "served",
        "served",
        "quoted",
        "quoted",
        "refused",
        "refused",
        "refused",
        "refused",
    ]


# --- importing -------------------------------------------------------------------------------------------


def _install_openai_list(data_dir: Path) -> None:
    prefixes = data_dir / "prefixes"
    prefixes.mkdir(parents=True, exist_ok=True)
    document = {"creationTime": "2026-11-01T00:00:00", "prefixes": [{"ipv4Prefix": "20.171.206.0/24"}]}
    (prefixes / "openai-gptbot.json").write_text(json.dumps(document), encoding="utf-8")


def _rows(engine: Engine, model: type) -> list:
    with Session(engine) as session:
        return list(session.scalars(select(model)))


def test_import_classifies_spoofed_crawlers_counts_violations_and_refuses_a_second_import(
    env: Path, engine: Engine
) -> None:
    data_dir = env / "data"
    _install_openai_list(data_dir)
    robots = env / "robots.txt"
    robots.write_text(ROBOTS, encoding="utf-8")
    log = env / "access.log"
    log.write_text(
        combined(OPENAI_IP, "/private/a.jpg", agent=GPTBOT_UA)
        + combined(OPENAI_IP, "/public/b.jpg?size=full", agent=GPTBOT_UA)
        + "this is not a log line\n"
        + combined(ELSEWHERE_IP, "/private/c.jpg", status=403, size="0", agent=GPTBOT_UA)
        + combined("203.0.113.5", "/private/c.jpg")
        + "\n"
        + combined("203.0.113.5", "/x", status=402, agent=BROWSER_UA)
        + '203.0.113.5 - - [20/Nov/2026:13:05:09 +0100] "GET /y HTTP/1.1" 200\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(cli_app, ["logs", "import", str(log), "--robots", str(robots)])
    assert result.exit_code == 0, result.output
    assert "5 requests imported from 8 lines" in result.output
    assert "2 lines could not be read" in result.output
    assert "line 3: not in the combined log format" in result.output
    assert "line 8: not in the combined log format" in result.output

    rows = {(r.crawler, r.client_class): r for r in _rows(engine, TrafficDaily)}
    assert set(rows) == {
        ("GPTBot", "verified-crawler"),
        ("GPTBot", "claimed-crawler"),  # GPTBot's name from an address outside OpenAI's list
        ("", "anonymous"),
    }
    verified = rows[("GPTBot", "verified-crawler")]
    assert (verified.requests, verified.served, verified.operator, verified.purpose, verified.source) == (
        2,
        2,
        "OpenAI",
        "training",
        "import",
    )
    assert (rows[("GPTBot", "claimed-crawler")].refused, rows[("", "anonymous")].quoted) == (1, 1)
    assert all(r.day == DAY and r.creator_id == "" for r in rows.values())
    paths = {(p.crawler, p.path): p.violations for p in _rows(engine, PathDaily)}
    assert paths == {
        ("GPTBot", "/private/a.jpg"): 1,
        ("GPTBot", "/public/b.jpg"): 0,
        ("GPTBot", "/private/c.jpg"): 1,  # the disguised bot broke the rules of the name it wears
        ("", "/private/c.jpg"): 0,  # people are not held to robots.txt
        ("", "/x"): 0,
    }

    again = runner.invoke(cli_app, ["logs", "import", str(log), "--robots", str(robots)])
    assert again.exit_code == 1
    assert "was imported on" in again.output and "--force" in again.output
    assert sum(r.requests for r in _rows(engine, TrafficDaily)) == 5

    forced = runner.invoke(cli_app, ["logs", "import", str(log), "--robots", str(robots), "--force"])
    assert forced.exit_code == 0, forced.output
    assert sum(r.requests for r in _rows(engine, TrafficDaily)) == 10


def test_gzip_json_log_for_a_creator_under_its_own_source(env: Path, engine: Engine) -> None:
    log = env / "cdn.json.gz"
    lines = [
        {
            "ClientIP": ELSEWHERE_IP,
            "ClientRequestUserAgent": GPTBOT_UA,
            "ClientRequestPath": "/p/1.jpg",
            "EdgeResponseStatus": 200,
            "EdgeResponseBytes": 1000,
            "EdgeStartTimestamp": "2026-11-20T10:00:00Z",
        },
        {
            "ClientIP": "203.0.113.5",
            "ClientRequestUserAgent": BROWSER_UA,
            "ClientRequestPath": "/p/1.jpg",
            "EdgeResponseStatus": 200,
            "EdgeResponseBytes": 1000,
            "EdgeStartTimestamp": "2026-11-20T10:00:01Z",
        },
    ]
    with gzip.open(log, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    result = CliRunner().invoke(
        cli_app, ["logs", "import", str(log), "--format", "json", "--creator", "mira", "--source", "cdn"]
    )
    assert result.exit_code == 0, result.output
    assert "line 3: not JSON" in result.output
    rows = {r.client_class: r for r in _rows(engine, TrafficDaily)}
    # No prefix list installed: GPTBot's claim cannot be checked either way.
    assert set(rows) == {"unverified-crawler", "anonymous"}
    assert {(r.source, r.bytes) for r in rows.values()} == {("cdn", 1000)}
    assert len({r.creator_id for r in rows.values()}) == 1 and rows["anonymous"].creator_id.startswith("crt_")
    # Without --robots, the site's own robots.txt applies: its default policy reserves AI training.
    assert {(p.crawler, p.violations) for p in _rows(engine, PathDaily)} == {("GPTBot", 1), ("", 0)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "gateway"], "not 'gateway'"),
        (["--source", "Has Spaces"], "must be 1-16"),
        (["--creator", "nobody"], "nobody"),
        (["--format", "xml"], "Invalid value"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    env: Path, engine: Engine, args: list[str], message: str
) -> None:
    log = env / "access.log"
    log.write_text(combined("::1", "/a"), encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["logs", "import", str(log), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert _rows(engine, TrafficDaily) == []


def test_an_interrupted_import_resumes_after_the_last_batch_written(
    tmp_path: Path, db_factory: sessionmaker[Session]
) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(combined("203.0.113.5", f"/{i}") for i in range(7)), encoding="utf-8")
    classifier = Classifier(
        registry=CrawlerRegistry(builtin_crawlers()),
        prefixes=PrefixLists(),
        robots=RobotsRules(ROBOTS),
    )
    state = ImportState(tmp_path)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_log(
            db_factory,
            path=log,
            log_format="combined",
            classifier=classifier,
            state=state,
            batch_size=3,
            on_progress=interrupt,
        )
    with db_factory() as session:
        assert totals(session, creator_id=None, since=DAY, until=DAY).requests == 3
    report = import_log(
        db_factory, path=log, log_format="combined", classifier=classifier, state=state, batch_size=3
    )
    assert (report.resumed_from, report.imported) == (3, 4)
    with db_factory() as session:
        assert totals(session, creator_id=None, since=DAY, until=DAY).requests == 7
        assert session.scalar(select(func.count()).select_from(PathDaily)) == 7
    with pytest.raises(AlreadyImported):
        import_log(db_factory, path=log, log_format="combined", classifier=classifier, state=state)
