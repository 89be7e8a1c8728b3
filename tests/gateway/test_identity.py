"""Crawler identity: prefix lists, forward-confirmed reverse DNS and `identify`, offline (fake resolver)."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
from pathlib import Path

import pytest

from fairtrain.gateway.identity import Identity, identify
from fairtrain.gateway.prefixes import (
    InvalidPrefixList,
    PrefixList,
    PrefixLists,
    PrefixSet,
    parse_prefix_list,
)
from fairtrain.gateway.rdns import DNSFailure, DNSNotFound, FCrDNS, SystemResolver, host_in_domains
from fairtrain.rights.crawlers import Crawler, CrawlerRegistry, builtin_crawlers

GOOGLE_JSON = {
    "creationTime": "2026-11-30T14:46:34.000000",
    "prefixes": [
        {"ipv6Prefix": "2001:4860:4801:10::/64"},
        {"ipv4Prefix": "66.249.64.0/27"},
        {"ipv4Prefix": "66.249.66.0/27"},
    ],
}
GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
)
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeResolver:
    """PTR and forward answers from dicts; a value that is an exception class is raised."""

    def __init__(
        self, ptr: dict[str, object] | None = None, forward: dict[str, object] | None = None
    ) -> None:
        self.ptr = ptr or {}
        self.fwd = forward or {}
        self.calls: list[tuple[str, str]] = []

    def _answer(self, table: dict[str, object], key: str) -> list[str]:
        value = table.get(key, DNSNotFound)
        if isinstance(value, type) and issubclass(value, Exception):
            raise value(f"fake: {key}")
        assert isinstance(value, list)
        return value

    def reverse(self, address: str) -> list[str]:
        self.calls.append(("reverse", address))
        return self._answer(self.ptr, address)

    def forward(self, host: str) -> list[str]:
        self.calls.append(("forward", host))
        return self._answer(self.fwd, host)


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))  # explicit times: no dependence on clock granularity


# --- parsing ---------------------------------------------------------------------------------------------


def test_published_json_with_ipv4_and_ipv6() -> None:
    prefixes = parse_prefix_list(json.dumps(GOOGLE_JSON))
    assert len(prefixes) == 3
    assert "66.249.64.5" in prefixes
    assert "66.249.66.31" in prefixes
    assert "66.249.65.1" not in prefixes
    assert "2001:4860:4801:10::1" in prefixes
    assert "2001:4860:4801:11::1" not in prefixes
    assert ipaddress.ip_address("66.249.64.5") in prefixes
    assert "::ffff:66.249.64.5" in prefixes  # an IPv4 client seen on a dual-stack socket
    assert "not an address" not in prefixes


def test_plain_text_list_with_comments_and_single_addresses() -> None:
    text = "# OpenAI GPTBot\n\n20.171.206.0/24  # west\n52.230.152.0/24\n2603:1030:b::/48\n192.0.2.7\n"
    prefixes = parse_prefix_list(text)
    assert len(prefixes) == 4
    assert "20.171.206.200" in prefixes
    assert "2603:1030:b:ffff::1" in prefixes
    assert "192.0.2.7" in prefixes
    assert "192.0.2.8" not in prefixes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prefixes": [{"ipv4Prefix": "66.249.64.0/27"}', "not valid JSON"),
        ('{"creationTime": "x"}', "'prefixes' array"),
        ('{"prefixes": ["66.249.64.0/27"]}', "prefix 1: expected an object"),
        ('{"prefixes": [{"ipv4Prefix": "1.2.3.0/24"}, {"ipv4Prefix": "999.1.1.0/24"}]}', "prefix 2"),
        ('{"prefixes": [{"ipv4Prefix": "2001:db8::/32"}]}', "not an IPv4 prefix"),
        ('{"prefixes": [{"ipv6Prefix": "10.0.0.0/8"}]}', "not an IPv6 prefix"),
        ('{"prefixes": [{"ipv4Prefix": "1.2.3.0/24", "ipv6Prefix": "2001:db8::/32"}]}', "exactly one"),
        ('{"prefixes": [{"ipv4Prefix": 17}]}', "expected a prefix string"),
        ('{"prefixes": []}', "lists no prefixes"),
        ("10.0.0.0/8\n10.0.0.0/33\n", "line 2"),
        ("# nothing here\n", "lists no prefixes"),
    ],
)
def test_malformed_lists_are_refused_with_the_place(text: str, message: str) -> None:
    with pytest.raises(InvalidPrefixList, match=message):
        parse_prefix_list(text, origin="gptbot.json")


def test_lookups_at_range_boundaries_and_merged_ranges() -> None:
    prefixes = PrefixSet(
        ipaddress.ip_network(n)
        for n in ["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.5.0/30", "0.0.0.0/32", "::/128"]
    )
    for inside in ["10.0.0.0", "10.0.1.255", "10.0.0.200", "10.0.5.0", "10.0.5.3", "0.0.0.0", "::"]:  # noqa: S104
        assert inside in prefixes, inside
    for outside in [
        "9.255.255.255",
        "10.0.2.0",
        "10.0.4.255",
        "10.0.5.4",
        "0.0.0.1",
        "::1",
        "255.255.255.255",
    ]:
        assert outside not in prefixes, outside
    assert "10.0.0.1" not in PrefixSet()


def test_ipv4_and_ipv6_with_equal_integers_do_not_mix() -> None:
    prefixes = PrefixSet([ipaddress.ip_network("::a00:0/104")])  # same integers as 10.0.0.0/8
    assert "10.1.2.3" not in prefixes
    assert "::a01:203" in prefixes


# --- files: reload and keep-old-on-error -----------------------------------------------------------------


def test_list_file_reloads_on_change_and_keeps_the_old_list_on_error(tmp_path: Path) -> None:
    path = tmp_path / "openai-gptbot.txt"
    write(path, "20.171.206.0/24\n", mtime=1_700_000_000)
    clock = Clock()
    prefix_list = PrefixList(path, check_interval=10, clock=clock)
    assert prefix_list.contains("20.171.206.9") is True
    assert prefix_list.contains("52.230.152.9") is False

    write(path, "52.230.152.0/24\n", mtime=1_700_000_100)
    assert prefix_list.contains("52.230.152.9") is False  # not re-checked before check_interval
    clock.now += 10
    assert prefix_list.contains("52.230.152.9") is True
    assert prefix_list.contains("20.171.206.9") is False
    assert prefix_list.error is None

    write(path, "52.230.152.0/24\nnonsense\n", mtime=1_700_000_200)
    clock.now += 10
    assert prefix_list.contains("52.230.152.9") is True  # the last good list stays
    assert prefix_list.error is not None
    assert "line 2" in prefix_list.error
    with pytest.raises(InvalidPrefixList, match="line 2"):
        prefix_list.reload()

    path.unlink()
    clock.now += 10
    assert prefix_list.contains("52.230.152.9") is True  # a vanished file does not empty the list

    write(path, "198.51.100.0/24\n", mtime=1_700_000_300)
    clock.now += 10
    assert prefix_list.contains("198.51.100.1") is True
    assert prefix_list.error is None


def test_a_list_never_loaded_answers_none(tmp_path: Path) -> None:
    missing = PrefixList(tmp_path / "absent.json", check_interval=0)
    assert missing.contains("66.249.64.1") is None
    assert missing.error is not None
    assert "no such file" in missing.error
    bad = tmp_path / "bad.json"
    write(bad, "{", mtime=1_700_000_000)
    broken = PrefixList(bad, check_interval=0)
    assert broken.contains("66.249.64.1") is None
    assert broken.error is not None
    assert "not valid JSON" in broken.error


def test_lists_from_a_directory_by_registry_name(tmp_path: Path) -> None:
    write(tmp_path / "google-googlebot.json", json.dumps(GOOGLE_JSON), mtime=1_700_000_000)
    write(tmp_path / "openai-gptbot.txt", "20.171.206.0/24\n", mtime=1_700_000_000)
    write(tmp_path / "notes.md", "not a list", mtime=1_700_000_000)
    lists = PrefixLists.from_directory(tmp_path)
    assert lists.names() == ["google-googlebot", "openai-gptbot"]
    assert lists.contains("google-googlebot", "66.249.66.1") is True
    assert lists.contains("Google-Googlebot", "20.171.206.1") is False
    assert lists.contains("openai-gptbot", "20.171.206.1") is True
    assert lists.contains("bing-bingbot", "20.171.206.1") is None
    assert PrefixLists.from_directory(tmp_path / "nowhere").names() == []


# --- forward-confirmed reverse DNS -----------------------------------------------------------------------

GOOGLE_IP = "66.249.66.1"
GOOGLE_HOST = "crawl-66-249-66-1.googlebot.com"


def google_resolver() -> FakeResolver:
    return FakeResolver(ptr={GOOGLE_IP: [GOOGLE_HOST + "."]}, forward={GOOGLE_HOST: [GOOGLE_IP]})


def test_host_in_domains_matches_on_a_dot_boundary() -> None:
    assert host_in_domains("crawl-1.googlebot.com.", ["googlebot.com"])
    assert host_in_domains("GOOGLEBOT.COM", ["googlebot.com"])
    assert not host_in_domains("evilgooglebot.com", ["googlebot.com"])
    assert not host_in_domains("googlebot.com.evil.example", ["googlebot.com"])
    assert not host_in_domains("anything.example", [""])


def test_fcrdns_verifies_a_forward_confirmed_name() -> None:
    result = FCrDNS(google_resolver()).verify(GOOGLE_IP, ["googlebot.com", "google.com"])
    assert result.status == "verified"
    assert result.host == GOOGLE_HOST


def test_fcrdns_ipv6_answers_compare_as_addresses() -> None:
    resolver = FakeResolver(
        ptr={"2001:4860:4801:10::1": ["crawl.googlebot.com"]},
        forward={"crawl.googlebot.com": ["2001:4860:4801:10:0:0:0:1", "66.249.66.9"]},
    )
    assert FCrDNS(resolver).verify("2001:4860:4801:0010::0001", ["googlebot.com"]).status == "verified"


def test_fcrdns_refuses_a_look_alike_domain() -> None:
    resolver = FakeResolver(
        ptr={"203.0.113.5": ["crawl.evilgooglebot.com"]}, forward={"crawl.evilgooglebot.com": ["203.0.113.5"]}
    )
    result = FCrDNS(resolver).verify("203.0.113.5", ["googlebot.com"])
    assert result.status == "mismatch"
    assert resolver.calls == [("reverse", "203.0.113.5")]  # no forward lookup for a name out of scope


def test_fcrdns_refuses_a_ptr_that_does_not_resolve_back() -> None:
    # The attacker controls the PTR of its own address, not Google's forward zone.
    resolver = FakeResolver(ptr={"203.0.113.5": [GOOGLE_HOST]}, forward={GOOGLE_HOST: [GOOGLE_IP]})
    result = FCrDNS(resolver).verify("203.0.113.5", ["googlebot.com"])
    assert result.status == "mismatch"
    assert "does not resolve back" in result.reason


def test_fcrdns_no_ptr_is_a_mismatch_but_a_dns_failure_is_unknown() -> None:
    resolver = FakeResolver(ptr={"203.0.113.6": DNSFailure})
    rdns = FCrDNS(resolver)
    assert rdns.verify("203.0.113.5", ["googlebot.com"]).status == "mismatch"  # NXDOMAIN: an answer
    assert rdns.verify("203.0.113.6", ["googlebot.com"]).status == "unknown"  # timeout/SERVFAIL: none


def test_fcrdns_forward_failure_is_unknown() -> None:
    resolver = FakeResolver(ptr={GOOGLE_IP: [GOOGLE_HOST]}, forward={GOOGLE_HOST: DNSFailure})
    result = FCrDNS(resolver).verify(GOOGLE_IP, ["googlebot.com"])
    assert result.status == "unknown"
    assert "forward lookup" in result.reason


def test_fcrdns_caches_results_and_expires_them() -> None:
    clock = Clock()
    resolver = google_resolver()
    resolver.ptr["203.0.113.5"] = ["host.example.net"]
    resolver.ptr["203.0.113.6"] = DNSFailure
    rdns = FCrDNS(resolver, positive_ttl=3600, negative_ttl=300, failure_ttl=60, clock=clock)

    def lookups() -> int:
        return sum(1 for kind, _ in resolver.calls if kind == "reverse")

    for _ in range(3):
        rdns.verify(GOOGLE_IP, ["googlebot.com"])
        rdns.verify("203.0.113.5", ["googlebot.com"])
        rdns.verify("203.0.113.6", ["googlebot.com"])
    assert lookups() == 3

    clock.now += 61  # the failure expires first
    assert rdns.verify("203.0.113.6", ["googlebot.com"]).status == "unknown"
    rdns.verify("203.0.113.5", ["googlebot.com"])
    rdns.verify(GOOGLE_IP, ["googlebot.com"])
    assert lookups() == 4

    resolver.ptr["203.0.113.6"] = ["crawl.googlebot.com"]
    resolver.fwd["crawl.googlebot.com"] = ["203.0.113.6"]
    clock.now += 240  # 301 s in: the mismatch expires, the positive answer stays
    assert rdns.verify("203.0.113.6", ["googlebot.com"]).status == "verified"
    rdns.verify("203.0.113.5", ["googlebot.com"])
    rdns.verify(GOOGLE_IP, ["googlebot.com"])
    assert lookups() == 6

    clock.now += 3600
    rdns.verify(GOOGLE_IP, ["googlebot.com"])
    assert lookups() == 7


def test_fcrdns_cache_is_bounded() -> None:
    resolver = FakeResolver()
    rdns = FCrDNS(resolver, max_entries=2)
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1"]:
        rdns.verify(address, ["googlebot.com"])
    assert len(rdns) == 2
    assert len(resolver.calls) == 4  # 192.0.2.1 was evicted and looked up again


def test_system_resolver_maps_socket_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[str, object] = {}

    def gethostbyaddr(address: str) -> tuple[str, list[str], list[str]]:
        error = answers["ptr"]
        if isinstance(error, Exception):
            raise error
        return (GOOGLE_HOST, [], [address])

    def getaddrinfo(host: str, port: object, **kwargs: object) -> list[tuple[object, ...]]:
        error = answers["fwd"]
        if isinstance(error, Exception):
            raise error
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (GOOGLE_IP, 0))]

    monkeypatch.setattr(socket, "gethostbyaddr", gethostbyaddr)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    resolver = SystemResolver(timeout=30)
    try:
        answers.update(ptr=None, fwd=None)
        assert resolver.reverse(GOOGLE_IP) == [GOOGLE_HOST]
        assert resolver.forward(GOOGLE_HOST) == [GOOGLE_IP]
        answers.update(
            ptr=socket.herror(1, "Unknown host"), fwd=socket.gaierror(socket.EAI_NONAME, "no name")
        )
        with pytest.raises(DNSNotFound):
            resolver.reverse(GOOGLE_IP)
        with pytest.raises(DNSNotFound):
            resolver.forward(GOOGLE_HOST)
        answers.update(ptr=socket.herror(2, "Try again"), fwd=socket.gaierror(socket.EAI_AGAIN, "again"))
        with pytest.raises(DNSFailure):
            resolver.reverse(GOOGLE_IP)
        with pytest.raises(DNSFailure):
            resolver.forward(GOOGLE_HOST)
    finally:
        resolver.close()


def test_system_resolver_times_out_and_never_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = threading.Event()

    def hang(address: str) -> tuple[str, list[str], list[str]]:
        started.set()
        release.wait()
        raise socket.herror(1, "Unknown host")

    monkeypatch.setattr(socket, "gethostbyaddr", hang)
    resolver = SystemResolver(timeout=0.001, max_workers=1)
    try:
        with pytest.raises(DNSFailure, match="no answer within"):
            resolver.reverse(GOOGLE_IP)
        assert started.wait(30)
        with pytest.raises(DNSFailure, match="busy"):  # the one worker still hangs: fail at once
            resolver.reverse("192.0.2.1")
        # Through FCrDNS, a timeout is "unknown", not a spoof.
        assert FCrDNS(resolver).verify(GOOGLE_IP, ["googlebot.com"]).status == "unknown"
    finally:
        release.set()
        resolver.close()


# --- identify --------------------------------------------------------------------------------------------


@pytest.fixture
def registry() -> CrawlerRegistry:
    return CrawlerRegistry(builtin_crawlers())


@pytest.fixture
def prefixes(tmp_path: Path) -> PrefixLists:
    write(tmp_path / "google-googlebot.json", json.dumps(GOOGLE_JSON), mtime=1_700_000_000)
    write(tmp_path / "openai-gptbot.json", '{"prefixes": [{"ipv4Prefix": "20.171.206.0/24"}]}', 1_700_000_000)
    return PrefixLists.from_directory(tmp_path)


def test_googlebot_verified_by_prefix_list_without_dns(
    registry: CrawlerRegistry, prefixes: PrefixLists
) -> None:
    resolver = FakeResolver()
    identity = identify(
        GOOGLEBOT_UA, "66.249.64.10", registry=registry, prefixes=prefixes, resolver=FCrDNS(resolver)
    )
    assert identity == Identity(
        "verified-crawler",
        crawler="Googlebot",
        operator="Google",
        purpose="search",
        method="ip-prefix",
        reason="66.249.64.10 is in prefix list google-googlebot",
    )
    assert identity.verified
    assert resolver.calls == []


def test_googlebot_verified_by_rdns_outside_a_stale_list(
    registry: CrawlerRegistry, prefixes: PrefixLists
) -> None:
    resolver = FakeResolver(ptr={"66.249.90.7": ["crawl-66-249-90-7.googlebot.com"]})
    resolver.fwd["crawl-66-249-90-7.googlebot.com"] = ["66.249.90.7"]
    identity = identify(
        GOOGLEBOT_UA, "66.249.90.7", registry=registry, prefixes=prefixes, resolver=FCrDNS(resolver)
    )
    assert (identity.kind, identity.crawler, identity.method) == ("verified-crawler", "Googlebot", "rdns")


def test_googlebot_verified_by_rdns_without_any_list(registry: CrawlerRegistry) -> None:
    identity = identify(
        GOOGLEBOT_UA, GOOGLE_IP, registry=registry, prefixes=PrefixLists(), resolver=FCrDNS(google_resolver())
    )
    assert (identity.kind, identity.method) == ("verified-crawler", "rdns")


def test_spoofed_googlebot_is_claimed(registry: CrawlerRegistry, prefixes: PrefixLists) -> None:
    resolver = FakeResolver(ptr={"203.0.113.5": ["crawl.evilgooglebot.com"]})
    identity = identify(
        GOOGLEBOT_UA, "203.0.113.5", registry=registry, prefixes=prefixes, resolver=FCrDNS(resolver)
    )
    assert identity.kind == "claimed-crawler"
    assert identity.crawler == "Googlebot"
    assert identity.method is None
    assert not identity.verified
    assert "not in prefix list google-googlebot" in identity.reason


def test_spoofed_gptbot_is_claimed_without_dns(registry: CrawlerRegistry, prefixes: PrefixLists) -> None:
    resolver = FakeResolver()
    identity = identify(
        GPTBOT_UA, "203.0.113.5", registry=registry, prefixes=prefixes, resolver=FCrDNS(resolver)
    )
    assert (identity.kind, identity.crawler, identity.operator, identity.purpose) == (
        "claimed-crawler",
        "GPTBot",
        "OpenAI",
        "training",
    )
    assert resolver.calls == []  # GPTBot has no rDNS domains: nothing to look up
    real = identify(
        GPTBOT_UA, "20.171.206.33", registry=registry, prefixes=prefixes, resolver=FCrDNS(resolver)
    )
    assert (real.kind, real.method) == ("verified-crawler", "ip-prefix")


def test_gptbot_without_its_list_installed_is_unverifiable(registry: CrawlerRegistry) -> None:
    identity = identify(GPTBOT_UA, "20.171.206.33", registry=registry, prefixes=PrefixLists(), resolver=None)
    assert identity.kind == "unknown-crawler-unverifiable"
    assert not identity.transient
    assert "openai-gptbot is not installed" in identity.reason


def test_dns_outage_leaves_a_crawler_unknown_not_spoofed(
    registry: CrawlerRegistry, prefixes: PrefixLists
) -> None:
    resolver = FakeResolver(ptr={"66.249.90.7": DNSFailure})
    identity = identify(
        GOOGLEBOT_UA, "66.249.90.7", registry=registry, prefixes=prefixes, resolver=FCrDNS(resolver)
    )
    assert identity.kind == "unknown-crawler-unverifiable"
    assert identity.transient
    assert identity.crawler == "Googlebot"


def test_browsers_and_unknown_bots_cost_no_lookup(registry: CrawlerRegistry, prefixes: PrefixLists) -> None:
    resolver = FakeResolver(ptr={"198.51.100.4": DNSFailure})
    rdns = FCrDNS(resolver)
    for user_agent in [BROWSER_UA, "FancyNewScraper/0.1 (+https://scraper.example/bot)", ""]:
        identity = identify(user_agent, "198.51.100.4", registry=registry, prefixes=prefixes, resolver=rdns)
        assert identity.kind == "not-a-crawler"
        assert identity.crawler is None
        assert not identity.transient
    assert resolver.calls == []


def test_a_crawler_with_no_way_to_verify_is_unverifiable(prefixes: PrefixLists) -> None:
    registry = CrawlerRegistry([Crawler(name="ExampleBot", operator="Example", purpose="training")])
    identity = identify("ExampleBot/1.0", "192.0.2.1", registry=registry, prefixes=prefixes, resolver=None)
    assert identity.kind == "unknown-crawler-unverifiable"
    assert "no way to verify ExampleBot" in identity.reason


def test_web_bot_auth(registry: CrawlerRegistry, prefixes: PrefixLists) -> None:
    signed_ua = "Mozilla/5.0 (compatible; ChatGPT Agent)"
    resolver = FakeResolver()
    rdns = FCrDNS(resolver)
    unsigned = identify(signed_ua, "192.0.2.1", registry=registry, prefixes=prefixes, resolver=rdns)
    # Its operator signs every request, so an unsigned one is a disguise.
    assert (unsigned.kind, unsigned.crawler) == ("claimed-crawler", "ChatGPT Agent")
    signed = identify(
        signed_ua, "192.0.2.1", registry=registry, prefixes=prefixes, resolver=rdns, botauth="ChatGPT Agent"
    )
    assert (signed.kind, signed.crawler, signed.operator, signed.method) == (
        "verified-crawler",
        "ChatGPT Agent",
        "OpenAI",
        "webbotauth",
    )
    # The signature, not the user agent, says who it is.
    other = identify(
        GOOGLEBOT_UA, "192.0.2.1", registry=registry, prefixes=prefixes, resolver=rdns, botauth="GPTBot"
    )
    assert (other.crawler, other.method) == ("GPTBot", "webbotauth")
    assert "claimed Googlebot" in other.reason
    stranger = identify(
        BROWSER_UA, "192.0.2.1", registry=registry, prefixes=prefixes, resolver=rdns, botauth="NewBot"
    )
    assert (stranger.kind, stranger.crawler, stranger.operator) == ("verified-crawler", "NewBot", "unknown")
    assert resolver.calls == []


def test_a_bad_client_address_is_never_verified(registry: CrawlerRegistry, prefixes: PrefixLists) -> None:
    identity = identify(GOOGLEBOT_UA, "not-an-ip", registry=registry, prefixes=prefixes, resolver=None)
    assert identity.kind == "unknown-crawler-unverifiable"
    assert not identity.verified


def test_a_new_registry_is_not_answered_from_the_old_ones_memo(prefixes: PrefixLists) -> None:
    before = CrawlerRegistry([Crawler(name="ExampleBot", operator="Example")])
    after = CrawlerRegistry([Crawler(name="ExampleBot", operator="Example Inc.")])
    empty = CrawlerRegistry([])
    for registry, operator in [(before, "Example"), (after, "Example Inc."), (before, "Example")]:
        identity = identify("ExampleBot/2", "192.0.2.1", registry=registry, prefixes=prefixes, resolver=None)
        assert identity.operator == operator
    assert identify("ExampleBot/2", "192.0.2.1", registry=empty, prefixes=prefixes, resolver=None).kind == (
        "not-a-crawler"
    )
