"""Crawler accounts: which licensee organisation pays for which verified crawler (pay per crawl)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy.orm import Session
from tests.licensing.helpers import World
from typer.testing import CliRunner

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role
from fairtrain.cli import app as cli_app
from fairtrain.errors import InvalidInput
from fairtrain.licensing.crawlers import (
    AgentTaken,
    UnknownCrawlerAccount,
    account_for,
    get_crawler,
    list_crawlers,
    normalise_agent,
    register_crawler,
    request_agents,
    revoke_crawler,
    signature_origin,
)
from fairtrain.licensing.errors import NotAParty
from fairtrain.rights.crawlers import CrawlerRegistry, builtin_crawlers


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("https://crawler.example", "https://crawler.example"),
        ("HTTPS://Crawler.Example/", "https://crawler.example"),
        ("https://crawler.example:443/", "https://crawler.example"),
        ("https://crawler.example:8443", "https://crawler.example:8443"),
        # The key directory lives at the origin: that is what a signature proves.
        ("https://crawler.example/.well-known/http-message-signatures-directory", "https://crawler.example"),
        ("  https://bot.crawler.example?x=1  ", "https://bot.crawler.example"),
        ("GPTBot", "gptbot"),
        ("  ChatGPT   Agent ", "chatgpt agent"),
        ("iaskspider/2.0", "iaskspider/2.0"),
        ("bigsur.ai", "bigsur.ai"),  # a registry name that looks like a host stays a name
    ],
)
def test_normalise_agent(given: str, normal: str) -> None:
    assert normalise_agent(given) == normal


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "http://crawler.example",  # Web Bot Auth keys are fetched over https only
        "ftp://crawler.example",
        "https://",
        "https://user:pw@crawler.example",
        "https://crawler_example.com",
        "https://crawler.example:99999",
        "bot#1",
        "bot:1",
        "x" * 101,
        "bot\x00",
    ],
)
def test_normalise_agent_refuses(given: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_agent(given)


def test_signature_origin_takes_the_legacy_host_form() -> None:
    assert signature_origin("Crawler.Example") == "https://crawler.example"
    assert request_agents(signature_agent="crawler.example", crawler="GPTBot") == [
        "https://crawler.example",
        "gptbot",
    ]
    assert request_agents(signature_agent=None, crawler="GPTBot") == ["gptbot"]
    assert request_agents(signature_agent="http://plain.example", crawler=None) == []
    # An agent the registry does not know is named by its URL: one entry, not two.
    assert request_agents(signature_agent="https://a.example", crawler="https://a.example/") == [
        "https://a.example"
    ]


def test_register_list_revoke(db: Session, world: World) -> None:
    first = register_crawler(db, org=world.org, agent="https://Crawler.Example/", by=world.buyer)
    second = register_crawler(db, org=world.org, agent="GPTBot", by=world.buyer, max_price_micros=50_000)
    db.commit()
    assert (first.agent, first.max_price_micros, first.created_by) == (
        "https://crawler.example",
        None,
        world.buyer.id,
    )
    assert first.id.startswith("cra_")
    assert [a.agent for a in list_crawlers(db, world.org)] == ["https://crawler.example", "gptbot"]
    assert list_crawlers(db, world.other_org) == []

    # Registering again changes the price cap, not the account.
    again = register_crawler(db, org=world.org, agent="gptbot", by=world.buyer, max_price_micros=10_000)
    assert (again.id, again.max_price_micros) == (second.id, 10_000)

    # Another organisation cannot take a live agent...
    with pytest.raises(AgentTaken):
        register_crawler(db, org=world.other_org, agent="GPTBOT")
    # ...until it is revoked.
    at = datetime(2026, 3, 1, tzinfo=UTC)
    revoke_crawler(db, account=second, by=world.buyer, now=at)
    revoke_crawler(db, account=second, by=world.buyer)  # idempotent: the first time stays
    assert second.revoked_at is not None and second.revoked_at.replace(tzinfo=UTC) == at
    taken = register_crawler(db, org=world.other_org, agent="GPTBot")
    db.commit()
    assert taken.org_id == world.other_org.id and taken.id != second.id
    assert [a.agent for a in list_crawlers(db, world.org)] == ["https://crawler.example"]
    assert len(list_crawlers(db, world.org, include_revoked=True)) == 2

    assert get_crawler(db, first.id, org=world.org) is first
    with pytest.raises(UnknownCrawlerAccount):
        get_crawler(db, first.id, org=world.other_org)
    with pytest.raises(UnknownCrawlerAccount):
        get_crawler(db, "cra_nothing")


def test_who_may_register(db: Session, world: World) -> None:
    with pytest.raises(NotAParty):
        register_crawler(db, org=world.org, agent="gptbot", by=world.stranger)
    with pytest.raises(NotAParty):
        register_crawler(db, org=world.other_org, agent="gptbot", by=world.buyer)
    assert list_crawlers(db, world.org) == []
    account = register_crawler(db, org=world.other_org, agent="gptbot")  # the command line
    with pytest.raises(NotAParty):
        revoke_crawler(db, account=account, by=world.buyer)
    accounts.grant_role(db, user=world.operator, role=Role.OPERATOR)
    revoke_crawler(db, account=account, by=world.operator)  # an operator may act for any organisation
    assert account.revoked_at is not None


@pytest.mark.parametrize("price", [0, -1, True, 10**18])
def test_register_refuses_a_bad_price_cap(db: Session, world: World, price: int) -> None:
    with pytest.raises(InvalidInput):
        register_crawler(db, org=world.org, agent="gptbot", max_price_micros=price)


def test_register_checks_names_against_the_registry(db: Session, world: World) -> None:
    registry = CrawlerRegistry(builtin_crawlers())
    with pytest.raises(InvalidInput, match="knows no crawler"):
        register_crawler(db, org=world.org, agent="NoSuchBot", registry=registry)
    assert register_crawler(db, org=world.org, agent="GPTBot", registry=registry).agent == "gptbot"
    # An origin is whatever signs: the registry need not know it.
    origin = register_crawler(db, org=world.org, agent="https://new.example", registry=registry)
    assert origin.agent == "https://new.example"


def test_account_for(db: Session, world: World) -> None:
    signed = register_crawler(db, org=world.org, agent="https://crawler.example")
    named = register_crawler(db, org=world.other_org, agent="gptbot")
    revoked = register_crawler(db, org=world.org, agent="ccbot")
    revoke_crawler(db, account=revoked)
    db.commit()
    assert account_for(db, []) is None
    assert account_for(db, ["perplexitybot"]) is None
    assert account_for(db, ["gptbot"]) is named
    # The strongest proof first: the signature agent's account wins over the name's.
    assert account_for(db, ["https://crawler.example", "gptbot"]) is signed
    assert account_for(db, ["gptbot", "https://crawler.example"]) is named
    assert account_for(db, ["ccbot"]) is None  # revoked accounts are nobody's
    agents = request_agents(signature_agent="Crawler.Example", crawler="GPTBot")
    assert account_for(db, agents) is signed


def test_crawlers_from_the_command_line(env: Path, db: Session) -> None:
    made = CliRunner().invoke(
        cli_app,
        ["licensees", "create", "Acme AI", "--contact-name", "Ada", "--contact-email", "ada@acme.example"],
    )
    assert made.exit_code == 0, made.output

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli_app, ["licensing", "crawlers", *args])

    added = run("add", "Acme AI", "GPTBot", "--max-price", "0.05")
    assert added.exit_code == 0, added.output
    assert "Acme AI pays for gptbot, at most 0.05 a crawl" in added.output
    account_id = re.search(r"(cra_\w+)", added.output).group(1)  # type: ignore[union-attr]
    assert run("add", "Acme AI", "https://Crawler.Example/").exit_code == 0
    unknown = run("add", "Acme AI", "NoSuchBot")
    assert unknown.exit_code == 1 and "knows no crawler named 'NoSuchBot'" in unknown.output
    bad_price = run("add", "Acme AI", "ccbot", "--max-price", "0.0000001")
    assert bad_price.exit_code == 1
    listed = run("list", "Acme AI")
    assert "gptbot" in listed.output and "https://crawler.example" in listed.output
    assert "0.05" in listed.output and "no cap" in listed.output

    revoked = run("revoke", account_id)
    assert revoked.exit_code == 0 and "no longer pays for gptbot" in revoked.output
    assert "gptbot" not in run("list", "Acme AI").output
    assert "gptbot" in run("list", "Acme AI", "--all").output
    missing = run("revoke", "cra_nope")
    assert missing.exit_code == 1 and "no crawler account cra_nope" in missing.output
    db.expire_all()
    org = accounts.get_licensee_org(db, "Acme AI")
    assert [a.agent for a in list_crawlers(db, org)] == ["https://crawler.example"]
