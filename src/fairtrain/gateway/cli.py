"""``fairtrain fans …``: creators' subscription tiers and fans' subscriptions (mounted by ``fairtrain.cli``).

``tick`` is the one to run daily from cron: it opens next month's payments a week ahead, lapses unpaid
subscriptions after the grace period and ends the ones cancelled at period end. ``pay`` records a fan's bank
transfer (the operator's "mark paid"); one transfer is recorded once, by its bank reference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile
from fairtrain.commands import database, handles_errors, out
from fairtrain.errors import InvalidInput
from fairtrain.gateway import subscriptions as subs
from fairtrain.gateway.models import SUBSCRIPTION_STATES, Subscription
from fairtrain.licensing.billing import payment_providers
from fairtrain.money import format_amount, parse_amount

__all__ = ["fans_app"]

fans_app = typer.Typer(
    help="Fans: creators' subscription tiers, subscriptions and their payments.", no_args_is_help=True
)
tiers_app = typer.Typer(help="A creator's subscription tiers.", no_args_is_help=True)
subscriptions_app = typer.Typer(help="Fans' subscriptions.", no_args_is_help=True)
fans_app.add_typer(tiers_app, name="tiers")
fans_app.add_typer(subscriptions_app, name="subscriptions")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


@tiers_app.command("list")
@handles_errors
def tiers_list(
    handle: Annotated[str, typer.Argument(help="The creator's handle.")],
    show_all: Annotated[bool, typer.Option("--all", help="Retired tiers too.")] = False,
) -> None:
    """A creator's tiers, cheapest first."""
    with database() as (_, session):
        creator = accounts.get_creator(session, handle)
        table = Table("id", "name", "per month", "unlocks", "state")
        for tier in subs.list_tiers(session, creator=creator, active_only=not show_all):
            unlocks = "every work" if tier.unlocks_all else ", ".join(c.slug for c in tier.collections)
            table.add_row(
                tier.id,
                tier.name,
                format_amount(subs.tier_amount(tier), tier.currency),
                unlocks,
                "open" if tier.active else "retired",
            )
        out.print(table)


@tiers_app.command("create")
@handles_errors
def tiers_create(
    handle: Annotated[str, typer.Argument(help="The creator's handle.")],
    name: Annotated[str, typer.Argument(help="The tier's name, e.g. Supporter.")],
    price: Annotated[str, typer.Option("--price", help="Monthly price, e.g. 5.00.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code, e.g. USD.")] = "USD",
    description: Annotated[str, typer.Option(help="What fans get.")] = "",
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", help="Unlock only this collection (slug); repeat for several."),
    ] = None,
) -> None:
    """Create a tier: every work of the creator, or only the collections given."""
    with database() as (_, session):
        creator = accounts.get_creator(session, handle)
        tier = subs.create_tier(
            session,
            creator=creator,
            name=name,
            price_micros=subs.monthly_price_micros(price, currency),
            currency=currency,
            description=description,
            unlocks_all=not collection,
            collections=collection or [],
        )
        unlocks = "every work" if tier.unlocks_all else ", ".join(c.slug for c in tier.collections)
        amount = format_amount(subs.tier_amount(tier), tier.currency)
        out.print(f"created tier {tier.id} {tier.name!r} for @{creator.handle}: {amount} a month, {unlocks}")


@tiers_app.command("retire")
@handles_errors
def tiers_retire(tier_id: Annotated[str, typer.Argument(help="The tier (tier_…).")]) -> None:
    """Take no new fans on a tier; its subscriptions run on until cancelled or lapsed."""
    with database() as (_, session):
        tier = subs.retire_tier(session, tier=subs.get_tier(session, tier_id))
        out.print(f"tier {tier.id} {tier.name!r} retired; current subscriptions run on")


@subscriptions_app.command("list")
@handles_errors
def subscriptions_list(
    creator: Annotated[str | None, typer.Option(help="Only this creator's subscribers (handle).")] = None,
    status: Annotated[str | None, typer.Option(help="pending, active, lapsed or cancelled.")] = None,
) -> None:
    """Subscriptions, newest first."""
    if status is not None and status not in SUBSCRIPTION_STATES:
        raise InvalidInput(f"unknown status {status!r}; use {', '.join(SUBSCRIPTION_STATES)}")
    with database() as (_, session):
        query = select(Subscription)
        if creator is not None:
            query = query.where(Subscription.creator_id == accounts.get_creator(session, creator).id)
        if status is not None:
            query = query.where(Subscription.status == status)
        rows = session.scalars(query.order_by(Subscription.created_at.desc(), Subscription.id)).all()
        handles = {
            row.id: row.handle for row in session.execute(select(CreatorProfile.id, CreatorProfile.handle))
        }
        table = Table("id", "fan", "creator", "tier", "per month", "status", "paid until", "due")
        for subscription in rows:
            due = [p for p in subs.subscription_payments(session, subscription) if p.status == "due"]
            state = subscription.status + (" (ends)" if subscription.cancel_at_period_end else "")
            table.add_row(
                subscription.id,
                subscription.fan.email,
                f"@{handles.get(subscription.creator_id, subscription.creator_id)}",
                subscription.tier.name,
                format_amount(subs.tier_amount(subscription), subscription.currency),
                state,
                _when(subscription.paid_until),
                ", ".join(p.reference for p in due),
            )
        out.print(table)


@fans_app.command("pay")
@handles_errors
def pay(
    reference: Annotated[str, typer.Argument(help="The reference the fan quoted (FT-SUB-…).")],
    amount: Annotated[str, typer.Option("--amount", help="Amount received, e.g. 5.00.")],
    bank_reference: Annotated[
        str | None,
        typer.Option(
            "--bank-reference", help="The bank's id for the transfer, recorded once (default: REFERENCE)."
        ),
    ] = None,
    fee: Annotated[str, typer.Option(help="What the bank kept, in the same currency.")] = "0",
) -> None:
    """Record a fan's transfer for one month: the subscription is active and the creator credited."""
    with database() as (settings, session):
        payment = subs.get_payment(session, reference)
        result = subs.record_subscription_payment(
            session,
            reference_or_id=payment.id,
            amount=parse_amount(amount, payment.currency),
            currency=payment.currency,
            fee=parse_amount(fee, payment.currency),
            external_id=bank_reference or payment.reference,
            provider=payment_providers(settings)["manual"],
            fee_bp=settings.platform_fee_bp,
        )
        run = result.distribution
        out.print(
            f"{payment.reference} paid: {result.subscription.fan.email} subscribes to "
            f"{result.subscription.tier.name!r} until {_when(result.subscription.paid_until)} UTC"
        )
        out.print(
            f"distributed {format_amount(run.pool_amount, run.currency)}: platform fee "
            f"{format_amount(run.fee_amount, run.currency)}"
        )


@fans_app.command("tick")
@handles_errors
def tick(
    now: Annotated[
        str | None, typer.Option(help="Act as if it were this moment (ISO 8601, UTC); default: now.")
    ] = None,
) -> None:
    """Open renewals due within a week, lapse unpaid ones after the grace period, end cancelled ones."""
    moment = None
    if now is not None:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise typer.BadParameter(f"{now!r} is not an ISO 8601 date or time", param_hint="--now") from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    with database() as (_, session):
        result = subs.tick(session, moment)
        for payment in result.opened:
            out.print(f"opened {payment.reference} {format_amount(payment.amount, payment.currency)}")
        for subscription in result.lapsed:
            out.print(f"lapsed {subscription.id} ({subscription.fan.email})")
        for subscription in result.ended:
            out.print(f"ended {subscription.id} ({subscription.fan.email})")
        out.print(
            f"{len(result.opened)} renewals opened, {len(result.lapsed)} lapsed, {len(result.ended)} ended"
        )
