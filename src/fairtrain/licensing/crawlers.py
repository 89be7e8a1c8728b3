"""Crawlers a licensee organisation pays for (pay per crawl, STANDARDS §2).

A verified crawler that sends ``crawler-exact-price`` or ``crawler-max-price`` is served and charged; the
charge goes to the organisation that registered the crawler here. An agent is what the gateway can prove
about a request, in one normal form (``normalise_agent``):

- a Web Bot Auth signature agent: its https origin, ``https://crawler.example`` (``:port`` when not 443);
- a crawler verified by its operator's IP prefix list or forward-confirmed reverse DNS: its registry name in
  lower case, ``gptbot``.

One organisation holds an agent at a time (a unique index over live accounts). The gateway asks
``account_for`` with every agent a request proved, strongest first (``request_agents`` makes that list).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairtrain.accounts.models import LicenseeMember, LicenseeOrg, Role, User
from fairtrain.db.base import utcnow
from fairtrain.errors import Conflict, InvalidInput, NotFound
from fairtrain.licensing.errors import NotAParty
from fairtrain.licensing.models import CrawlerAccount
from fairtrain.rights.crawlers import CrawlerRegistry

__all__ = [
    "AgentTaken",
    "UnknownCrawlerAccount",
    "account_for",
    "get_crawler",
    "list_crawlers",
    "normalise_agent",
    "register_crawler",
    "request_agents",
    "revoke_crawler",
    "signature_origin",
]

_MAX_AGENT = 255  # the column's length
_MAX_NAME = 100  # a registry name's (rights.crawlers.Crawler.name)
_MAX_PRICE_MICROS = 10**13 * 10_000  # the largest unit price an invoice line takes
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


class AgentTaken(Conflict):
    """Another organisation already pays for this crawler."""

    code = "agent_taken"


class UnknownCrawlerAccount(NotFound):
    code = "unknown_crawler_account"


def signature_origin(agent: str) -> str:
    """The https origin of a Web Bot Auth signature agent, as sent (``crawler.example`` or
    ``https://Crawler.Example/``) -> ``https://crawler.example``. The key directory lives at the origin, so
    that is what a valid signature proves; a path is dropped. ``InvalidInput`` for anything else."""
    text = agent.strip()
    if not text or len(text) > _MAX_AGENT or not text.isprintable():
        raise InvalidInput(f"{agent!r} is not a crawler's https origin")
    if "://" not in text:
        text = "https://" + text  # the legacy Signature-Agent form names the host alone
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{agent!r} is not a crawler's https origin") from None
    if parts.scheme.lower() != "https":
        raise InvalidInput(f"{agent!r}: a Web Bot Auth agent is an https origin (https://crawler.example)")
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or not _HOST.fullmatch(host):
        raise InvalidInput(f"{agent!r} is not a crawler's https origin")
    return f"https://{host}" if port in (None, 443) else f"https://{host}:{port}"


def normalise_agent(text: str) -> str:
    """The agent's normal form: an https origin (``https://crawler.example``) or a registry crawler name
    in lower case (``gptbot``). ``InvalidInput`` names what is wrong with anything else."""
    value = " ".join(text.split())
    if "://" in value:
        return signature_origin(value)
    if not value:
        raise InvalidInput(
            "name the crawler: its https origin (Web Bot Auth) or its name in the crawler list"
        )
    # A registry name is a robots.txt user-agent token, as rights.crawlers.Crawler checks it; ':' there
    # would make it look like an origin, so a name never contains one.
    if len(value) > _MAX_NAME or any(c in value for c in "#:") or not value.isprintable():
        raise InvalidInput(
            f"{text!r} is neither an https origin (https://crawler.example) nor a crawler name "
            "(1–100 characters without '#' or ':')"
        )
    return value.lower()


def request_agents(*, signature_agent: str | None, crawler: str | None) -> list[str]:
    """What a verified request proved, for ``account_for``: the signature agent's origin first (the
    stronger proof), then the registry name of the crawler (verified by IP list or reverse DNS)."""
    agents: list[str] = []
    if signature_agent:
        # A verified signature always has a usable agent; a malformed one has nothing to look up.
        with contextlib.suppress(InvalidInput):
            agents.append(signature_origin(signature_agent))
    if crawler:
        try:
            name = normalise_agent(crawler)
        except InvalidInput:
            name = None
        if name is not None and name not in agents:
            agents.append(name)
    return agents


def _check_member(session: Session, org: LicenseeOrg, by: User | None) -> None:
    """A member of the organisation or an operator; ``by`` None is the operator's command line."""
    if by is None or by.has_role(Role.OPERATOR):
        return
    if session.get(LicenseeMember, (org.id, by.id)) is None:
        raise NotAParty(f"{by.email} does not belong to {org.name}")


def _live(session: Session, agent: str) -> CrawlerAccount | None:
    return session.scalar(
        select(CrawlerAccount).where(CrawlerAccount.agent == agent, CrawlerAccount.revoked_at.is_(None))
    )


def register_crawler(
    session: Session,
    *,
    org: LicenseeOrg,
    agent: str,
    by: User | None = None,
    max_price_micros: int | None = None,
    registry: CrawlerRegistry | None = None,
) -> CrawlerAccount:
    """``org`` pays for the crawls of ``agent`` from now on, up to ``max_price_micros`` a crawl if given.

    ``by`` must belong to the organisation (or be an operator; None is the command line). With a
    ``registry``, a crawler name must be one it knows (the gateway verifies crawlers by that list). The
    organisation's own live registration is returned as it is (the price cap updated); another
    organisation's is a ``Conflict``.
    """
    _check_member(session, org, by)
    normal = normalise_agent(agent)
    if registry is not None and not normal.startswith("https://") and normal not in registry:
        raise InvalidInput(
            f"the crawler list knows no crawler named {agent.strip()!r}; give its https origin if it signs "
            "its requests (Web Bot Auth), or ask an operator to add it (`fairtrain crawlers add`)"
        )
    if max_price_micros is not None and (
        isinstance(max_price_micros, bool)
        or not isinstance(max_price_micros, int)
        or not 0 < max_price_micros <= _MAX_PRICE_MICROS
    ):
        raise InvalidInput(f"the most a crawl may cost must be a positive price, got {max_price_micros!r}")
    existing = _live(session, normal)
    if existing is not None:
        if existing.org_id != org.id:
            raise AgentTaken(f"another organisation already pays for {normal}")
        existing.max_price_micros = max_price_micros
        session.flush()
        return existing
    account = CrawlerAccount(
        org=org,
        agent=normal,
        max_price_micros=max_price_micros,
        created_by=by.id if by else None,
    )
    try:
        with session.begin_nested():  # a concurrent registration of the same agent loses to the index
            session.add(account)
            session.flush()
    except IntegrityError:
        raise AgentTaken(f"another organisation already pays for {normal}") from None
    return account


def get_crawler(session: Session, account_id: str, *, org: LicenseeOrg | None = None) -> CrawlerAccount:
    account = session.get(CrawlerAccount, account_id.strip())
    if account is None or (org is not None and account.org_id != org.id):
        raise UnknownCrawlerAccount(f"no crawler account {account_id}")
    return account


def revoke_crawler(
    session: Session, *, account: CrawlerAccount, by: User | None = None, now: datetime | None = None
) -> CrawlerAccount:
    """Stop paying for the crawler (idempotent): its later crawls are charged to nobody, so not served as
    paid. Charges already made stay and are billed."""
    _check_member(session, account.org, by)
    if account.revoked_at is None:
        account.revoked_at = now or utcnow()
        session.flush()
    return account


def list_crawlers(
    session: Session, org: LicenseeOrg, *, include_revoked: bool = False
) -> Sequence[CrawlerAccount]:
    """The organisation's crawlers, oldest first (live ones only, unless asked)."""
    query = select(CrawlerAccount).where(CrawlerAccount.org_id == org.id)
    if not include_revoked:
        query = query.where(CrawlerAccount.revoked_at.is_(None))
    return session.scalars(query.order_by(CrawlerAccount.created_at, CrawlerAccount.id)).all()


def account_for(session: Session, agents: Sequence[str]) -> CrawlerAccount | None:
    """The live account of the first of ``agents`` (normalised, strongest proof first) that has one.

    One query on the unique index of live agents; the gateway calls it for every verified crawler that
    names a price.
    """
    wanted = [agent for agent in agents if agent]
    if not wanted:
        return None
    found = {
        account.agent: account
        for account in session.scalars(
            select(CrawlerAccount).where(
                CrawlerAccount.agent.in_(wanted), CrawlerAccount.revoked_at.is_(None)
            )
        )
    }
    return next((found[agent] for agent in wanted if agent in found), None)
