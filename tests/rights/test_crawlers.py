"""The crawler registry: the shipped list, User-Agent matching, updates that never lose the old list."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from fairtrain.cli import app
from fairtrain.config import Settings
from fairtrain.rights.crawlers import (
    INSTALLED_FILE,
    LOCAL_FILE,
    PURPOSES,
    Crawler,
    CrawlerNotFound,
    CrawlerRegistry,
    InvalidCrawlerList,
    add_local,
    builtin_crawlers,
    guess_purpose,
    remove_local,
    update_from,
    validate_document,
)

GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1; +https://openai.com/gptbot)"
)
GOOGLEBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/131.0.6778.69 Safari/537.36"
)
GOOGLEBOT_IMAGE_UA = "Googlebot-Image/1.0"
CHATGPT_USER_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; "
    "+https://openai.com/bot"
)
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

# Entries in ai.robots.txt's robots.json format (real facts, trimmed), plus one agent the built-in list lacks.
ROBOTS_JSON: dict[str, Any] = {
    "GPTBot": {
        "operator": "[OpenAI](https://openai.com)",
        "respect": "Yes",
        "function": "Scrapes data to train OpenAI's products.",
        "frequency": "No information.",
        "description": "Data is used to train current and future models.",
    },
    "Perplexity-User": {
        "operator": "[Perplexity](https://www.perplexity.ai/)",
        "respect": "[No](https://docs.perplexity.ai/guides/bots)",
        "function": "AI Assistants",
        "frequency": "Only when prompted by a user.",
        "description": "Perplexity-User supports user actions within Perplexity.",
    },
    "BrandNewBot": {
        "operator": "Unclear at this time.",
        "respect": "Unclear at this time.",
        "function": "AI Search Crawlers",
        "frequency": "Unclear at this time.",
        "description": "Indexes pages for an AI answer engine.",
    },
    "brandnewbot": {
        "operator": "Someone",
        "respect": "Yes",
        "function": "LLM training.",
        "frequency": "",
        "description": "",
    },
}


def _doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "source": "test", "crawlers": list(entries)}


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.fixture
def registry() -> CrawlerRegistry:
    return CrawlerRegistry(builtin_crawlers())


# --- the built-in list ---------------------------------------------------------------------------------


def test_builtin_list_loads_validates_and_is_sorted() -> None:
    crawlers = builtin_crawlers()
    assert len(crawlers) > 150
    names = [c.name for c in crawlers]
    assert names == sorted(names, key=str.casefold)
    assert len({n.casefold() for n in names}) == len(names)
    raw = json.loads((Path(__file__).parents[2] / "src/fairtrain/rights/data/crawlers.json").read_text())
    assert raw["version"] == 1 and "MIT" in raw["license"] and "ai.robots.txt" in raw["source"]
    assert validate_document(raw) == crawlers
    assert {c.purpose for c in crawlers} == set(PURPOSES)
    assert all(c.source == "builtin" for c in crawlers)


@pytest.mark.parametrize(
    ("name", "purpose"),
    [
        ("GPTBot", "training"),
        ("ChatGPT-User", "user-fetch"),
        ("OAI-SearchBot", "ai-input"),
        ("ClaudeBot", "training"),
        ("Claude-User", "user-fetch"),
        ("PerplexityBot", "ai-input"),
        ("Perplexity-User", "user-fetch"),
        ("Google-Extended", "training"),
        ("Applebot-Extended", "training"),
        ("Googlebot", "search"),
        ("bingbot", "search"),
        ("Applebot", "search"),
        ("DuckDuckBot", "search"),
        ("Bytespider", "training"),
        ("CCBot", "training"),
        ("meta-externalagent", "training"),
    ],
)
def test_well_known_agents_have_sensible_purposes(registry: CrawlerRegistry, name: str, purpose: str) -> None:
    crawler = registry.get(name)
    assert crawler is not None, name
    assert crawler.purpose == purpose


def test_well_known_facts_and_verification(registry: CrawlerRegistry) -> None:
    google_extended = registry.get("google-extended")
    assert google_extended is not None and google_extended.token_only
    googlebot = registry.get("Googlebot")
    assert googlebot is not None and not googlebot.token_only
    assert googlebot.rdns_suffixes == ["googlebot.com", "google.com"]
    assert googlebot.ip_prefix_list == "google-googlebot"
    gptbot = registry.get("GPTBot")
    assert gptbot is not None and gptbot.operator == "OpenAI" and gptbot.respects_robots_txt is True
    assert gptbot.ip_prefix_list_url == "https://openai.com/gptbot.json"
    bytespider = registry.get("Bytespider")
    assert bytespider is not None and bytespider.respects_robots_txt is False
    bingbot = registry.get("BingBot")
    assert bingbot is not None and bingbot.rdns_suffixes == ["search.msn.com"]
    assert any(c.web_bot_auth for c in registry)
    assert "gptbot" in registry and "GPTBot" in registry.names() and "gptbot" not in registry.names()


def test_by_purpose(registry: CrawlerRegistry) -> None:
    training = registry.by_purpose("training")
    assert {"GPTBot", "ClaudeBot", "CCBot"} <= {c.name for c in training}
    assert all(c.purpose == "training" for c in training)
    assert sum(len(registry.by_purpose(p)) for p in PURPOSES) == len(registry)


# --- matching ------------------------------------------------------------------------------------------


def test_match_real_user_agents(registry: CrawlerRegistry) -> None:
    assert (found := registry.match(GPTBOT_UA)) is not None and found.name == "GPTBot"
    assert (found := registry.match(GOOGLEBOT_UA)) is not None and found.name == "Googlebot"
    assert (found := registry.match(GOOGLEBOT_IMAGE_UA)) is not None and found.name == "Googlebot-Image"
    assert (found := registry.match(CHATGPT_USER_UA)) is not None and found.name == "ChatGPT-User"
    assert (found := registry.match("mozilla/5.0 (compatible; gptbot/1.2)")) is not None
    assert found.name == "GPTBot"
    assert registry.match(CHROME_UA) is None
    assert registry.match("") is None


def test_match_is_whole_words_and_never_returns_token_only_entries(registry: CrawlerRegistry) -> None:
    baidu = registry.match(
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
    )
    assert baidu is not None and baidu.name == "Baiduspider"  # not the generic `Spider`
    assert registry.match("VSCode/1.90 node-fetch") is None  # `Code` needs `Code/<version>`
    assert (code := registry.match("Code/1.2.3")) is not None and code.name == "Code"
    assert registry.match("Google-Extended") is None  # a robots.txt token, never a sender


def test_most_specific_match_wins_wherever_it_is() -> None:
    registry = CrawlerRegistry(
        [
            Crawler(name="Bot"),
            Crawler(name="SuperBot-Images", purpose="training"),
            Crawler(name="Regexy", user_agent_patterns=["re:regexy-v\\d+"], purpose="search"),
        ]
    )
    assert (found := registry.match("Bot/1 SuperBot-Images/2")) is not None
    assert found.name == "SuperBot-Images"
    assert (found := registry.match("x regexy-v12 y")) is not None and found.name == "Regexy"
    assert registry.match("robot") is None


# --- updates -------------------------------------------------------------------------------------------


def test_load_without_files_is_the_builtin_list(tmp_path: Path) -> None:
    registry = CrawlerRegistry.load(Settings(data_dir=tmp_path))
    assert registry.names() == [c.name for c in builtin_crawlers()]


def test_update_from_a_valid_file_replaces_the_list(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "list.json",
        _doc(
            {"name": "OnlyBot", "operator": "Us", "purpose": "training"},
            {"name": "OtherBot", "purpose": "search", "rdns_suffixes": ["Crawl.Example.COM."]},
        ),
    )
    data = tmp_path / "data"
    crawlers = update_from(str(source), data_dir=data)
    assert [c.name for c in crawlers] == ["OnlyBot", "OtherBot"]
    registry = CrawlerRegistry.load(data)
    assert registry.names() == ["OnlyBot", "OtherBot"]
    assert registry.get("OtherBot").rdns_suffixes == ["crawl.example.com"]  # type: ignore[union-attr]
    assert not list(data.glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (_doc({"name": "GoodBot"}, {"name": "BadBot", "purpose": "scraping"}), "'BadBot'"),
        (_doc({"name": "GoodBot"}, {"name": "BadBot", "purpose": "scraping"}), "purpose"),
        (_doc({"name": "GoodBot"}, {"operator": "Nobody"}), "entry 2: name: Field required"),
        (_doc({"name": "SameBot"}, {"name": "samebot"}), "same name as entry 1"),
        ("{not json", "is not JSON"),
        (_doc(), "lists no crawlers"),
        ({"version": 2, "crawlers": [{"name": "X"}]}, "version 2"),
        ([1, 2], "expected an object"),
        (_doc({"name": "Bad\nBot"}), "user-agent token"),
        (_doc({"name": "ReBot", "user_agent_patterns": ["re:("]}), "regular expression"),
        (_doc({"name": "NetBot", "ip_prefix_list_url": "http://x.example/ips.json"}), "https"),
        (_doc({"name": "XBot", "colour": "red"}), "colour"),
    ],
)
def test_update_from_an_invalid_file_keeps_the_old_list(
    tmp_path: Path, content: object, problem: str
) -> None:
    data = tmp_path / "data"
    update_from(str(_write(tmp_path / "old.json", _doc({"name": "OldBot"}))), data_dir=data)
    before = (data / INSTALLED_FILE).read_bytes()
    with pytest.raises(InvalidCrawlerList) as caught:
        update_from(str(_write(tmp_path / "new.json", content)), data_dir=data)
    assert problem in caught.value.message
    assert str(tmp_path / "new.json") in caught.value.message
    assert (data / INSTALLED_FILE).read_bytes() == before
    assert CrawlerRegistry.load(data).names() == ["OldBot"]


def test_update_from_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidCrawlerList, match="cannot read"):
        update_from(str(tmp_path / "nope.json"), data_dir=tmp_path)
    assert not (tmp_path / INSTALLED_FILE).exists()


def test_update_from_robots_json_format(tmp_path: Path) -> None:
    crawlers = update_from(str(_write(tmp_path / "robots.json", ROBOTS_JSON)), data_dir=tmp_path / "d")
    registry = CrawlerRegistry.load(tmp_path / "d")
    new = registry.get("BrandNewBot")
    assert new is not None and new.purpose == "ai-input" and new.operator == "unknown"
    assert new.respects_robots_txt is None
    assert len([c for c in crawlers if c.name.casefold() == "brandnewbot"]) == 1  # case duplicates merged
    gptbot = registry.get("GPTBot")
    assert gptbot is not None and gptbot.operator == "OpenAI" and gptbot.purpose == "training"
    assert gptbot.ip_prefix_list == "openai-gptbot"  # curated verification kept
    user = registry.get("Perplexity-User")
    assert user is not None and user.purpose == "user-fetch" and user.respects_robots_txt is False
    assert registry.get("Googlebot") is not None  # built-in entries the list does not mention stay
    assert len(registry) == len(builtin_crawlers()) + 1


@pytest.mark.parametrize(
    ("function", "description", "purpose"),
    [
        ("LLM training.", "", "training"),
        ("AI Data Scrapers", "Description unavailable", "training"),
        ("AI Assistants", "Fetches pages in response to user prompts.", "ai-input"),
        ("Takes action based on user prompts.", "", "user-fetch"),
        ("AI Agents", "", "user-fetch"),
        ("Search result generation.", "", "ai-input"),
        ("AI Search Crawlers", "", "ai-input"),
        ("Unclear at this time.", "Purpose unclear.", "unknown"),
        ("Scrapes data.", "Used for research.", "unknown"),
    ],
)
def test_guess_purpose(function: str, description: str, purpose: str) -> None:
    assert guess_purpose(function, description) == purpose


def test_update_from_a_url_with_mock_transport(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"location": "/list.json"})
        if request.url.path == "/elsewhere":
            return httpx.Response(302, headers={"location": "https://evil.example/list.json"})
        if request.url.path == "/list.json":
            return httpx.Response(200, json=_doc({"name": "UrlBot", "purpose": "search"}))
        return httpx.Response(404)

    transport = httpx.MockTransport(handler)
    crawlers = update_from("https://lists.example/moved", data_dir=tmp_path, transport=transport)
    assert [c.name for c in crawlers] == ["UrlBot"]
    before = (tmp_path / INSTALLED_FILE).read_bytes()
    with pytest.raises(InvalidCrawlerList, match="another host"):
        update_from("https://lists.example/elsewhere", data_dir=tmp_path, transport=transport)
    with pytest.raises(InvalidCrawlerList, match="HTTP 404"):
        update_from("https://lists.example/missing", data_dir=tmp_path, transport=transport)
    assert (tmp_path / INSTALLED_FILE).read_bytes() == before


@pytest.fixture
def local_server() -> Iterator[str]:
    body = json.dumps(ROBOTS_JSON).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/robots.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_update_from_a_local_http_server(tmp_path: Path, local_server: str) -> None:
    update_from(f"{local_server}/robots.json", data_dir=tmp_path)
    assert "BrandNewBot" in CrawlerRegistry.load(tmp_path)
    with pytest.raises(InvalidCrawlerList, match="HTTP 404"):
        update_from(f"{local_server}/other.json", data_dir=tmp_path)
    assert "BrandNewBot" in CrawlerRegistry.load(tmp_path)


# --- operator entries ----------------------------------------------------------------------------------


def test_local_additions_override_and_can_be_removed(tmp_path: Path) -> None:
    added = add_local(
        {"name": "gptbot", "operator": "Me", "purpose": "search", "user_agent_patterns": ["MyGPT"]},
        data_dir=tmp_path,
    )
    assert added.source == "operator"
    add_local(Crawler(name="HomeBot", operator="Me", purpose="user-fetch"), data_dir=tmp_path)
    registry = CrawlerRegistry.load(tmp_path)
    overridden = registry.get("GPTBot")
    assert overridden is not None and overridden.purpose == "search" and overridden.source == "operator"
    assert (found := registry.match("MyGPT/1")) is not None and found.name == "gptbot"
    assert registry.match(GPTBOT_UA) is None  # the operator's patterns replaced the built-in ones
    assert "HomeBot" in registry
    assert remove_local("GPTBOT", data_dir=tmp_path).name == "gptbot"
    registry = CrawlerRegistry.load(tmp_path)
    assert registry.get("GPTBot").source == "builtin"  # type: ignore[union-attr]
    assert "HomeBot" in registry
    with pytest.raises(CrawlerNotFound, match="only those can be removed"):
        remove_local("ClaudeBot", data_dir=tmp_path)
    with pytest.raises(InvalidCrawlerList, match="purpose"):
        add_local({"name": "X", "purpose": "nope"}, data_dir=tmp_path)


def test_local_additions_survive_an_update(tmp_path: Path) -> None:
    add_local({"name": "HomeBot", "purpose": "training"}, data_dir=tmp_path)
    update_from(str(_write(tmp_path / "l.json", _doc({"name": "OnlyBot"}))), data_dir=tmp_path)
    assert CrawlerRegistry.load(tmp_path).names() == ["HomeBot", "OnlyBot"]


def test_a_corrupt_local_file_is_named(tmp_path: Path) -> None:
    _write(tmp_path / LOCAL_FILE, "{")
    with pytest.raises(InvalidCrawlerList, match=LOCAL_FILE):
        CrawlerRegistry.load(tmp_path)


# --- CLI -----------------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "cli-data"
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(path))
    return path


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") <= 2, result.output
    return result.output


def test_cli_list(data_dir: Path) -> None:
    listing = _ok("crawlers", "list")
    assert "GPTBot" in listing and "openai-gptbot" in listing and "Googlebot" in listing
    training = json.loads(_ok("crawlers", "list", "--purpose", "training", "--json"))
    assert {c["purpose"] for c in training} == {"training"}
    assert "GPTBot" in {c["name"] for c in training}
    assert runner.invoke(app, ["crawlers", "list", "--purpose", "wrong"]).exit_code == 2


def test_cli_update_add_remove(data_dir: Path, tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", _doc({"name": "OnlyBot", "purpose": "training"}))
    assert "installed 1 crawlers" in _ok("crawlers", "update", "--from", str(good))
    bad = _write(tmp_path / "bad.json", _doc({"name": "OnlyBot"}, {"name": "Bad", "purpose": "x"}))
    assert "'Bad'" in _fails("crawlers", "update", "--from", str(bad))
    assert "OnlyBot" in _ok("crawlers", "list")
    assert "added HomeBot" in _ok(
        "crawlers", "add", "HomeBot", "--operator", "Me", "--purpose", "user-fetch",
        "--pattern", "HomeBot", "--pattern", "HB-Agent", "--rdns", "bots.example.org",
    )  # fmt: skip
    entries = {c["name"]: c for c in json.loads(_ok("crawlers", "list", "--json"))}
    assert entries["HomeBot"]["user_agent_patterns"] == ["HomeBot", "HB-Agent"]
    assert entries["HomeBot"]["rdns_suffixes"] == ["bots.example.org"]
    assert entries["HomeBot"]["source"] == "operator"
    assert "removed HomeBot" in _ok("crawlers", "remove", "HomeBot")
    assert "only those can be removed" in _fails("crawlers", "remove", "OnlyBot")
    assert "not a domain name" in _fails(
        "crawlers", "add", "X", "--operator", "Me", "--purpose", "search", "--rdns", "not a domain"
    )


def test_a_token_inside_a_host_name_is_not_a_match(registry: CrawlerRegistry) -> None:
    assert registry.match("Mozilla/5.0 (compatible; +https://openai.com/about)") is None
    assert (found := registry.match("Mozilla/5.0 (compatible; OpenAI/1.0)")) is not None
    assert found.name == "OpenAI"


def test_current_registry_is_reused_until_a_file_changes(tmp_path: Path) -> None:
    from fairtrain.rights.crawlers import CrawlerRegistry, add_local

    first = CrawlerRegistry.current(tmp_path)
    assert CrawlerRegistry.current(tmp_path) is first
    add_local(
        {"name": "CacheProbeBot", "operator": "Example", "purpose": "training"},
        data_dir=tmp_path,
    )
    changed = CrawlerRegistry.current(tmp_path)
    assert changed is not first and "CacheProbeBot" in changed
