"""``fairtrain licensing``: API clients, crawlers paid for, offers, deals and agreements from the operator's
command line.

The command line acts as the server's administrator (``by=None`` in the services): it may act for any seller
or licensee. The main CLI mounts ``licensing_app``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.commands import database, err, handles_errors, out
from fairtrain.errors import InvalidInput
from fairtrain.licensing import agreements, billing, clients, crawl_billing, crawlers, deals, offers
from fairtrain.licensing.selection import Selection, Seller
from fairtrain.licensing.terms import Terms, parse_unit_price
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.policy import format_micros

__all__ = ["licensing_app"]


licensing_app = typer.Typer(
    help="AI licensing: API clients, crawlers paid for, offers, deals, agreements.", no_args_is_help=True
)
clients_app = typer.Typer(help="API clients of licensee organisations.", no_args_is_help=True)
crawlers_app = typer.Typer(
    help="Crawlers a licensee organisation pays for (pay per crawl).", no_args_is_help=True
)
offers_app = typer.Typer(help="Sellers' offers.", no_args_is_help=True)
deals_app = typer.Typer(help="Deals and their agreements.", no_args_is_help=True)
licensing_app.add_typer(clients_app, name="clients")
licensing_app.add_typer(crawlers_app, name="crawlers")
licensing_app.add_typer(offers_app, name="offers")
licensing_app.add_typer(deals_app, name="deals")


@contextmanager
def _db() -> Iterator[Session]:
    with database() as (_, session):
        yield session


def _json(value: str, what: str) -> dict[str, Any]:
    """Inline JSON, or ``@file.json``."""
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return data


def _seller(session: Session, seller: str) -> Seller:
    """``@handle`` for a creator, a slug for a collective."""
    if seller.startswith("@"):
        return accounts.get_creator(session, seller)
    return accounts.get_collective(session, seller)


# --- clients -------------------------------------------------------------------------------------------


@clients_app.command("create")
@handles_errors
def clients_create(
    org: Annotated[str, typer.Argument(help="Licensee organisation name.")],
    name: Annotated[str, typer.Argument(help="What the client is for, e.g. 'training crawler'.")],
) -> None:
    """Create an API client; its secret is printed once and stored nowhere."""
    with _db() as session:
        client, secret = clients.create_client(
            session, org=accounts.get_licensee_org(session, org), name=name
        )
        out.print(f"client id: {client.id}")
        out.print(f"secret:    {secret}")
    err.print("Store the secret now: it cannot be shown again (rotate to get a new one).")


@clients_app.command("list")
@handles_errors
def clients_list(
    org: Annotated[str, typer.Argument(help="Licensee organisation name.")],
    all_: Annotated[bool, typer.Option("--all", help="Include revoked clients.")] = False,
) -> None:
    """The organisation's API clients."""
    with _db() as session:
        rows = clients.list_clients(
            session, org=accounts.get_licensee_org(session, org), include_revoked=all_
        )
        table = Table("client id", "name", "secret", "created", "last used", "revoked")
        for c in rows:
            table.add_row(
                c.id,
                c.name,
                c.secret_hint + "…",
                f"{c.created_at:%Y-%m-%d}",
                f"{c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "",
                f"{c.revoked_at:%Y-%m-%d}" if c.revoked_at else "",
            )
        out.print(table)


@clients_app.command("rotate")
@handles_errors
def clients_rotate(client_id: Annotated[str, typer.Argument(help="The client id (ftc_…).")]) -> None:
    """Give a client a new secret; the old one stops working at once."""
    with _db() as session:
        secret = clients.rotate_client_secret(session, client=clients.get_client(session, client_id))
        out.print(f"secret:    {secret}")


@clients_app.command("revoke")
@handles_errors
def clients_revoke(client_id: Annotated[str, typer.Argument(help="The client id (ftc_…).")]) -> None:
    """Revoke a client for good."""
    with _db() as session:
        clients.revoke_client(session, client=clients.get_client(session, client_id))
        out.print(f"revoked {client_id}")


# --- crawlers paid for ---------------------------------------------------------------------------------


@crawlers_app.command("add")
@handles_errors
def crawlers_add(
    org: Annotated[str, typer.Argument(help="Licensee organisation name.")],
    agent: Annotated[
        str,
        typer.Argument(
            help="The crawler's Web Bot Auth origin (https://crawler.example) or its crawler-list name."
        ),
    ],
    max_price: Annotated[
        str | None, typer.Option(help="The most one crawl may cost, e.g. 0.05 (no cap if left out).")
    ] = None,
    currency: Annotated[
        str, typer.Option(help="Currency of --max-price (how many decimals it may have).")
    ] = "USD",
) -> None:
    """Charge the crawler's paid crawls to the organisation; again for the same crawler sets its cap."""
    with database() as (settings, session):
        account = crawlers.register_crawler(
            session,
            org=accounts.get_licensee_org(session, org),
            agent=agent,
            max_price_micros=parse_unit_price(max_price, currency.upper()) if max_price else None,
            registry=CrawlerRegistry.current(settings.data_dir),
        )
        cap = (
            f", at most {format_micros(account.max_price_micros)} a crawl" if account.max_price_micros else ""
        )
        out.print(f"{account.id}: {account.org.name} pays for {account.agent}{cap}")


@crawlers_app.command("list")
@handles_errors
def crawlers_list(
    org: Annotated[str, typer.Argument(help="Licensee organisation name.")],
    all_: Annotated[bool, typer.Option("--all", help="Include crawlers no longer paid for.")] = False,
) -> None:
    """The crawlers the organisation pays for, and its crawl charges of the last twelve months."""
    with _db() as session:
        found = accounts.get_licensee_org(session, org)
        table = Table("account", "crawler", "most per crawl", "since", "stopped")
        for a in crawlers.list_crawlers(session, found, include_revoked=all_):
            table.add_row(
                a.id,
                a.agent,
                format_micros(a.max_price_micros) if a.max_price_micros else "no cap",
                f"{a.created_at:%Y-%m-%d}",
                f"{a.revoked_at:%Y-%m-%d}" if a.revoked_at else "",
            )
        out.print(table)
        months = crawl_billing.monthly_crawl_totals(session, found.id)
        if months:
            charges = Table("month", "crawls charged", "total", title="Crawl charges")
            for m in months:
                charges.add_row(m.words, f"{m.count:,}", m.total)
            out.print(charges)


@crawlers_app.command("revoke")
@handles_errors
def crawlers_revoke(
    account_id: Annotated[str, typer.Argument(help="The crawler account id (cra_…).")],
) -> None:
    """Stop paying for a crawler; its charges so far are still invoiced."""
    with _db() as session:
        account = crawlers.revoke_crawler(session, account=crawlers.get_crawler(session, account_id))
        out.print(f"revoked {account.id}: {account.org.name} no longer pays for {account.agent}")


# --- offers --------------------------------------------------------------------------------------------


@offers_app.command("create")
@handles_errors
def offers_create(
    seller: Annotated[str, typer.Argument(help="@handle of a creator, or a collective's slug.")],
    title: Annotated[str, typer.Option(help="Offer title.")],
    terms: Annotated[str, typer.Option(help="Terms as JSON, or @file.json (see docs/licensing.md).")],
    selection: Annotated[str, typer.Option(help="Selection as JSON or @file.json.")] = '{"all": true}',
    private: Annotated[bool, typer.Option("--private", help="Do not list it publicly.")] = False,
) -> None:
    """Offer a selection of a seller's catalogue on terms."""
    with _db() as session:
        offer = offers.create_offer(
            session,
            seller=_seller(session, seller),
            title=title,
            terms=Terms.from_dict(_json(terms, "terms")),
            selection=Selection.from_dict(_json(selection, "selection")),
            public=not private,
        )
        out.print(f"offer {offer.id} version 1")


@offers_app.command("list")
@handles_errors
def offers_list(
    seller: Annotated[
        str | None, typer.Option(help="Only this seller's (@handle or collective slug).")
    ] = None,
) -> None:
    """Open offers, newest first."""
    with _db() as session:
        rows = offers.list_offers(
            session, seller=_seller(session, seller) if seller else None, public_only=False, limit=1000
        )
        table = Table("offer", "version", "seller", "title", "usages", "fee", "public")
        for offer in rows:
            t = offers.offer_terms(offer.current)
            table.add_row(
                offer.id,
                str(offer.current_version),
                offer.seller_name,
                offer.title,
                " ".join(t.usages),
                t.fee.describe(),
                "yes" if offer.public else "no",
            )
        out.print(table)


@offers_app.command("withdraw")
@handles_errors
def offers_withdraw(offer_id: Annotated[str, typer.Argument(help="The offer id (ofr_…).")]) -> None:
    """No new deals on an offer; deals already made stay."""
    with _db() as session:
        offers.withdraw_offer(session, offer=offers.get_offer(session, offer_id))
        out.print(f"withdrew {offer_id}")


# --- deals ---------------------------------------------------------------------------------------------


@deals_app.command("list")
@handles_errors
def deals_list(
    org: Annotated[str | None, typer.Option(help="Only this licensee organisation's.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only deals in this state (repeatable).")] = None,
) -> None:
    """Deals, newest first."""
    with _db() as session:
        rows = deals.list_deals(
            session, org=accounts.get_licensee_org(session, org) if org else None, status=status, limit=1000
        )
        table = Table("deal", "status", "licensee", "offer", "works", "term")
        for deal in rows:
            term = (
                f"{deal.starts_at:%Y-%m-%d} – {deal.ends_at:%Y-%m-%d}"
                if deal.starts_at and deal.ends_at
                else (f"from {deal.starts_at:%Y-%m-%d}" if deal.starts_at else "")
            )
            table.add_row(
                deal.id, deal.status, deal.org.name, deal.offer.title, str(deal.asset_count or ""), term
            )
        out.print(table)


@deals_app.command("show")
@handles_errors
def deals_show(deal_id: Annotated[str, typer.Argument(help="The deal id (deal_…).")]) -> None:
    """A deal's terms, history and warnings."""
    with _db() as session:
        deal = deals.get_deal(session, deal_id)
        t = deals.deal_terms(deal)
        version = deal.offer_version.version
        out.print(f"deal {deal.id}: {deal.status}, {deal.org.name} on {deal.offer.title} v{version}")
        out.print(f"usages: {' '.join(t.usages)}; fee: {t.fee.describe()}; exclusive: {t.exclusive}")
        if deal.agreement_sha256:
            out.print(f"works: {deal.asset_count}; agreement SHA-256: {deal.agreement_sha256}")
        for event in deal.events:
            why = f" — {event.reason}" if event.reason else ""
            out.print(f"  {event.at:%Y-%m-%d %H:%M} {event.side:8} {event.action}{why}")
        for warning in deals.deal_warnings(session, deal):
            err.print(f"[yellow]warning:[/] {warning.asset_id}: {warning.message}", markup=True)


@deals_app.command("accept")
@handles_errors
def deals_accept(deal_id: Annotated[str, typer.Argument(help="The deal id (deal_…).")]) -> None:
    """Accept, for the seller, the terms the licensee put forward."""
    with _db() as session:
        deal = deals.accept(session, deal=deals.get_deal(session, deal_id), side=deals.Side.SELLER)
        invoices = billing.bill_deal(session, deal)
        out.print(f"{deal.id}: {deal.status}; agreement SHA-256 {deal.agreement_sha256}")
        for invoice in invoices:
            out.print(f"invoice {invoice.reference} issued")


@deals_app.command("decline")
@handles_errors
def deals_decline(
    deal_id: Annotated[str, typer.Argument(help="The deal id (deal_…).")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Decline, for the seller, a proposed deal."""
    with _db() as session:
        deals.decline(session, deal=deals.get_deal(session, deal_id), reason=reason)
        out.print(f"{deal_id}: declined")


@deals_app.command("terminate")
@handles_errors
def deals_terminate(
    deal_id: Annotated[str, typer.Argument(help="The deal id (deal_…).")],
    reason: Annotated[str, typer.Option(help="Why (required).")],
    side: Annotated[str, typer.Option(help="Which side ends it: seller or licensee.")] = "seller",
) -> None:
    """End an agreed deal early."""
    if side not in ("seller", "licensee"):
        raise typer.BadParameter("side is seller or licensee")
    with _db() as session:
        deals.terminate(session, deal=deals.get_deal(session, deal_id), side=deals.Side(side), reason=reason)
        out.print(f"{deal_id}: terminated")


@deals_app.command("tick")
@handles_errors
def deals_tick() -> None:
    """Activate deals whose start has come, renew or expire those whose term ended. Run it from cron."""
    with _db() as session:
        activated = deals.activate_due(session)
        ended = deals.expire_due(session)
        out.print(f"activated {len(activated)}, renewed or expired {len(ended)}")


@deals_app.command("agreement")
@handles_errors
def deals_agreement(
    deal_id: Annotated[str, typer.Argument(help="The deal id (deal_…).")],
    out_path: Annotated[Path, typer.Option("--out", help="File to write (.pdf or .html).")],
) -> None:
    """Write a deal's agreement as PDF or HTML, checked against the hashes recorded at acceptance."""
    with _db() as session:
        deal = deals.get_deal(session, deal_id)
        if not agreements.verify_agreement(deal):
            raise InvalidInput(f"the agreement of {deal_id} no longer renders to its recorded hashes")
        if out_path.suffix.lower() == ".pdf":
            out_path.write_bytes(agreements.agreement_pdf(deal))
        else:
            out_path.write_text(agreements.agreement_html(deal), encoding="utf-8")
        out.print(f"wrote {out_path}")
