"""Each rendering checked the way its readers read it: robots.txt by two parsers, XML and JSON by shape."""

from __future__ import annotations

import json
import urllib.robotparser
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
from protego import Protego

from fairtrain.rights.policy import SITE, Decision, EffectivePolicy, Rule, Scope
from fairtrain.rights.signals import (
    RSL_NAMESPACE,
    CreatorSignals,
    SiteSignals,
    ai_txt,
    content_signal,
    html_tags,
    license_xml,
    response_headers,
    robots_txt,
    tdm_policy_document,
    tdmrep_json,
)

BASE = "https://art.example.org"


@dataclass(frozen=True)
class Agent:
    name: str
    purpose: str


AGENTS = [
    Agent("GPTBot", "training"),
    Agent("ClaudeBot", "training"),
    Agent("ChatGPT-User", "user-fetch"),
    Agent("PerplexityBot", "ai-input"),
    Agent("Googlebot", "search"),
    Agent("Bingbot", "search"),
    Agent("Google-Extended", "training"),
    Agent("MysteryBot", "unknown"),
]


def _policy(**actions: str) -> EffectivePolicy:
    defaults = {"search": "allow", "ai-input": "licence", "ai-index": "licence", "ai-train": "licence"}
    defaults.update({k.replace("_", "-"): v for k, v in actions.items()})
    return EffectivePolicy({u: Decision(u, Rule(a), SITE) for u, a in defaults.items()})


def _priced(amount: int) -> EffectivePolicy:
    rule = Rule("licence", payment="crawl", amount_micros=amount, currency="USD")
    decisions = {
        u: Decision(u, rule, Scope("creator", "crt_x")) for u in ("ai-input", "ai-index", "ai-train")
    }
    decisions["search"] = Decision("search", Rule("allow"), SITE)
    return EffectivePolicy(decisions)


@pytest.fixture
def site() -> SiteSignals:
    return SiteSignals(
        base_url=BASE,
        site_name="Art Example",
        policy=_policy(),
        creators=[
            CreatorSignals(
                "open", "Open Artist", _policy(ai_train="allow", ai_input="allow", ai_index="allow")
            ),
            CreatorSignals(
                "closed", "Closed Artist", _policy(search="deny", ai_train="deny", ai_input="deny")
            ),
            CreatorSignals("priced", "Priced Artist", _priced(15_000)),
        ],
    )


def _parsers(text: str) -> list:  # type: ignore[type-arg]
    stdlib = urllib.robotparser.RobotFileParser()
    stdlib.parse(text.splitlines())
    protego = Protego.parse(text)
    return [lambda agent, url: stdlib.can_fetch(agent, url), lambda agent, url: protego.can_fetch(url, agent)]


EXPECTED = {
    # agent -> {path: allowed}
    "GPTBot": {"/": False, "/@open/work.jpg": True, "/@closed/work.jpg": False, "/@priced/x.jpg": False},
    "Google-Extended": {"/": False, "/@open/work.jpg": True},
    "ChatGPT-User": {"/": False, "/@open/page": True, "/@closed/page": False},
    "PerplexityBot": {"/@open/": True, "/something": False},
    "MysteryBot": {"/": False, "/@open/a": True},
    "Googlebot": {"/": True, "/@open/a": True, "/@closed/a": False},
    "Bingbot": {"/@priced/a": True, "/@closed/a": False},
    "SomeNewBrowserLikeAgent": {"/": True, "/@closed/a": False},
}


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_robots_txt_means_the_same_to_both_parsers(site: SiteSignals, agent: str) -> None:
    text = robots_txt(site, AGENTS)
    for can_fetch in _parsers(text):
        for path, allowed in EXPECTED[agent].items():
            assert can_fetch(agent, BASE + path) is allowed, (agent, path)
        # The terms themselves are always reachable.
        for path in ("/robots.txt", "/license.xml", "/.well-known/tdmrep.json"):
            assert can_fetch(agent, BASE + path), (agent, path)


def test_robots_txt_carries_licence_and_content_signal(site: SiteSignals) -> None:
    text = robots_txt(site, AGENTS)
    assert f"License: {BASE}/license.xml" in text.splitlines()
    assert "Content-Signal: search=yes, ai-input=no, ai-train=no" in text.splitlines()
    # Agents with the same rules share a group.
    assert (
        "User-agent: ClaudeBot\nUser-agent: GPTBot" in text
        or "User-agent: ClaudeBot\nUser-agent: Google-Extended" in text
    )


def test_ai_txt(site: SiteSignals) -> None:
    text = ai_txt(site)
    stdlib = urllib.robotparser.RobotFileParser()
    stdlib.parse(text.splitlines())
    assert not stdlib.can_fetch("anything", f"{BASE}/gallery/a.jpg")
    assert stdlib.can_fetch("anything", f"{BASE}/@open/a.jpg")


def test_tdmrep_json_matches_the_spec_shape(site: SiteSignals) -> None:
    entries = json.loads(tdmrep_json(site))
    assert isinstance(entries, list)
    by_location = {e["location"]: e for e in entries}
    assert entries[-1]["location"] == "/*"
    assert by_location["/*"] == {
        "location": "/*",
        "tdm-reservation": 1,
        "tdm-policy": f"{BASE}/.well-known/tdm/site.json",
    }
    assert by_location["/@open/*"]["tdm-reservation"] == 0 and "tdm-policy" not in by_location["/@open/*"]
    assert by_location["/@closed/*"] == {"location": "/@closed/*", "tdm-reservation": 1}
    for entry in entries:
        assert set(entry) <= {"location", "tdm-reservation", "tdm-policy"}


def test_tdm_policy_document_is_an_odrl_offer(site: SiteSignals) -> None:
    document = tdm_policy_document(site, site.creators[2])
    assert document["@context"] == ["http://www.w3.org/ns/odrl.jsonld", "http://www.w3.org/ns/tdmrep.jsonld"]
    assert document["@type"] == "Offer" and document["profile"] == "http://www.w3.org/ns/tdmrep"
    permission = document["permission"][0]  # type: ignore[index]
    assert permission["action"] == "tdm:mine"
    amount = permission["duty"][0]["constraint"][0]["rightOperand"]["@value"]
    assert amount == "0.015"
    assert document["assigner"]["vcard:fn"] == "Priced Artist"  # type: ignore[index]


def test_license_xml_uses_the_rsl_vocabulary(site: SiteSignals) -> None:
    root = ET.fromstring(license_xml(site))
    ns = {"rsl": RSL_NAMESPACE}
    assert root.tag == f"{{{RSL_NAMESPACE}}}rsl"
    allowed = {"rsl", "content", "license", "permits", "prohibits", "payment", "amount", "copyright", "terms"}
    for element in root.iter():
        assert element.tag.startswith(f"{{{RSL_NAMESPACE}}}")
        assert element.tag.split("}")[1] in allowed
    usage_tokens = {"all", "ai-all", "ai-train", "ai-input", "ai-index", "search"}
    for usage in root.iterfind(".//rsl:permits[@type='usage']", ns):
        assert set(usage.text.split()) <= usage_tokens  # type: ignore[union-attr]
    contents = {c.get("url"): c for c in root.iterfind("rsl:content", ns)}
    assert set(contents) == {"/@open/*", "/@closed/*", "/@priced/*", "/*"}
    assert all(c.get("server") == f"{BASE}/rsl" for c in contents.values())
    closed = contents["/@closed/*"]
    assert closed.find("rsl:license/rsl:prohibits[@type='usage']", ns).text == "search ai-input ai-train"  # type: ignore[union-attr]
    priced = contents["/@priced/*"]
    amount = priced.find(".//rsl:payment[@type='crawl']/rsl:amount", ns)
    assert amount is not None and amount.get("currency") == "USD" and amount.text == "0.015"
    site_terms = contents["/*"]
    payment = site_terms.find(".//rsl:payment", ns)
    assert payment is not None and payment.find("rsl:amount", ns) is None  # licence without a price: ask
    one = ET.fromstring(license_xml(site, only="open"))
    assert [c.get("url") for c in one.iterfind("rsl:content", ns)] == ["/@open/*"]


def test_headers_and_tags_follow_the_mapping(site: SiteSignals) -> None:
    closed, open_, priced = site.creators[1], site.creators[0], site.creators[2]
    assert response_headers(site, closed)["X-Robots-Tag"] == "noai, noimageai"
    assert response_headers(site, closed)["tdm-reservation"] == "1" and "tdm-policy" not in response_headers(
        site, closed
    )
    assert response_headers(site, priced)["X-Robots-Tag"] == "noai"
    assert response_headers(site, priced)["tdm-policy"] == f"{BASE}/.well-known/tdm/@priced.json"
    assert "X-Robots-Tag" not in response_headers(site, open_)
    assert response_headers(site, open_)["tdm-reservation"] == "0"
    link = response_headers(site, open_)["Link"]
    assert link == f'<{BASE}/@open/license.xml>; rel="license"; type="application/rsl+xml"'
    tags = html_tags(site, priced)
    assert {"tag": "meta", "name": "robots", "content": "noai"} in tags
    assert content_signal(open_.policy) == "search=yes, ai-input=yes, ai-train=yes"


def test_profile_pages_use_end_anchors_for_modern_parsers(site: SiteSignals) -> None:
    # "/@closed$" keeps the rule off "/@closedshop"; Python's parser ignores "$" (it only matches prefixes).
    robots = Protego.parse(robots_txt(site, AGENTS))
    assert not robots.can_fetch(f"{BASE}/@closed", "Googlebot")
    assert robots.can_fetch(f"{BASE}/@closedshop", "Googlebot")


def test_robots_txt_for_every_registered_agent(site: SiteSignals, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Both parsers give every shipped registry agent the access its purpose and the policy call for."""
    from fairtrain.rights.crawlers import CrawlerRegistry
    from fairtrain.rights.signals import PURPOSE_USAGE

    crawlers = CrawlerRegistry.load(tmp_path).crawlers
    assert len(crawlers) > 100
    text = robots_txt(site, crawlers)
    parsers = _parsers(text)
    for crawler in crawlers:
        usage = PURPOSE_USAGE[crawler.purpose]
        site_allows = site.policy.action(usage) == "allow"
        for can_fetch in parsers:
            assert can_fetch(crawler.name, f"{BASE}/gallery/x.jpg") is site_allows, crawler.name
            assert can_fetch(crawler.name, f"{BASE}/license.xml"), crawler.name
            open_allows = site.creators[0].policy.action(usage) == "allow"
            assert can_fetch(crawler.name, f"{BASE}/@open/x.jpg") is open_allows, crawler.name
