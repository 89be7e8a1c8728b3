"""Fans and subscriptions (issue 6): creators' tiers, fans' monthly subscriptions paid through the ledger,
renewal, lapse and cancellation, and the entitlement check the gateway makes for works behind the paywall.

A subscription's life::

    subscribe -> pending --first month paid--> active --renewal unpaid past the grace period--> lapsed
                    |                            |
                    +--cancel (at once)--> cancelled <--cancel at period end, once the paid time is over

Each month is a ``SubscriptionPayment`` with its own reference (``FT-SUB-…``) that the fan quotes on a bank
transfer. Periods are calendar months from the day the first payment arrived (31 January, 28 February,
31 March…), so a fan who pays late still gets a whole first month. Recording a month's payment posts

    Dr cash:<provider>                               amount − processor fee
    Dr fees:processor                                processor fee
    Cr pool:subscription:<sub_id>:<start>/<end>      amount

and distributes that pool at once as ``run_distribution`` distributes a deal's: the platform fee
(``platform_fee_bp``) from the creator's gross share and the rest to ``payable:<crt_id>``, so the month shows
on the creator's statement like any other income.

``renew_due`` opens the next month's payment a week before the paid time ends; ``lapse_due`` lapses a
subscription whose renewal is still unpaid a grace period after it, and ends the ones cancelled at period
end; ``tick`` runs both (daily, from cron). A fan keeps access through the grace period, and through the paid
time after cancelling at period end.
"""

from __future__ import annotations

import calendar
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile, Role, User
from fairtrain.catalog.models import Asset, AssetCollection, Collection
from fairtrain.db.base import utcnow
from fairtrain.db.engine import lock_row
from fairtrain.errors import Conflict, Forbidden, InvalidInput, NotFound
from fairtrain.gateway.models import Subscription, SubscriptionPayment, SubscriptionTier, TierCollection
from fairtrain.ledger.distribution import run_distribution
from fairtrain.ledger.invoices import pool_code
from fairtrain.ledger.journal import get_account, post
from fairtrain.ledger.models import DistributionRun
from fairtrain.ledger.payments import ManualProvider, PaymentProvider, receipt_legs
from fairtrain.money import MAX_MINOR_UNITS, check_currency, currency_exponent, format_amount, parse_amount

__all__ = [
    "GRACE_DAYS",
    "PENDING_DAYS",
    "RENEW_DAYS",
    "AlreadySubscribed",
    "Entitlement",
    "PaymentNotDue",
    "SubscriptionInstructions",
    "SubscriptionPaymentResult",
    "SubscriptionStateError",
    "TickResult",
    "TierRetired",
    "UnknownSubscription",
    "UnknownSubscriptionPayment",
    "UnknownTier",
    "WrongPaymentAmount",
    "can_view_full",
    "cancel",
    "create_tier",
    "creator_subscriptions",
    "due_payments",
    "entitlements",
    "fan_subscriptions",
    "get_payment",
    "get_subscription",
    "get_tier",
    "lapse_due",
    "list_tiers",
    "monthly_price_micros",
    "payment_instructions",
    "record_subscription_payment",
    "renew_due",
    "retire_tier",
    "subscribe",
    "subscription_payments",
    "tick",
    "tier_amount",
    "update_tier",
    "visible_subscription",
]

RENEW_DAYS = 7  # the next month's payment is opened this long before the paid time ends
GRACE_DAYS = 7  # an unpaid renewal keeps access this long after the paid time ends, then lapses
PENDING_DAYS = 30  # a first month unpaid this long is cancelled
_NAME_MAX = 100
_DESCRIPTION_MAX = 2000
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U to misread


# --- errors ---------------------------------------------------------------------------------------------


class UnknownTier(NotFound):
    code = "unknown_tier"


class UnknownSubscription(NotFound):
    code = "unknown_subscription"


class UnknownSubscriptionPayment(NotFound):
    code = "unknown_subscription_payment"


class TierRetired(Conflict):
    """The tier takes no new fans."""

    code = "tier_retired"


class AlreadySubscribed(Conflict):
    code = "already_subscribed"


class SubscriptionStateError(Conflict):
    """The subscription is not in a state that allows the operation (e.g. cancelling a lapsed one)."""

    code = "subscription_state"


class PaymentNotDue(Conflict):
    """The month is already paid, or void (its subscription was cancelled or lapsed)."""

    code = "subscription_payment_not_due"


class WrongPaymentAmount(InvalidInput):
    code = "wrong_amount"


# --- tiers ----------------------------------------------------------------------------------------------


def monthly_price_micros(text: str, currency: str) -> int:
    """'5.00', 'USD' -> 5,000,000: a monthly price, exact in the currency's minor units, as micros."""
    minor = parse_amount(text, currency)
    if minor <= 0:
        raise InvalidInput("a tier's monthly price must be more than zero")
    return minor * _micros_per_minor(currency)


def _micros_per_minor(currency: str) -> int:
    step: int = 10 ** (6 - currency_exponent(currency))
    return step


def tier_amount(tier: SubscriptionTier | Subscription) -> int:
    """The monthly price in minor units."""
    return tier.price_micros // _micros_per_minor(tier.currency)


def _check_price(price_micros: int, currency: str) -> None:
    if isinstance(price_micros, bool) or not isinstance(price_micros, int):
        raise InvalidInput(f"a tier's price is an integer of micros, got {price_micros!r}")
    step = _micros_per_minor(currency)
    if price_micros <= 0 or price_micros // step > MAX_MINOR_UNITS:
        raise InvalidInput("a tier's monthly price must be more than zero and not absurd")
    if price_micros % step:
        raise InvalidInput(f"a monthly price is a whole number of {currency} minor units (no fractions)")


def _text(value: str, *, what: str, limit: int, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"a tier needs a {what}")
    if len(value) > limit:
        raise InvalidInput(f"a tier's {what} is at most {limit} characters")
    return value


def _collections(session: Session, creator: CreatorProfile, names: Sequence[str]) -> list[Collection]:
    """The creator's collections named by id or slug, in the order given."""
    wanted = [name.strip() for name in names if name.strip()]
    if not wanted:
        return []
    rows = session.scalars(
        select(Collection).where(
            Collection.creator_id == creator.id,
            or_(Collection.id.in_(wanted), Collection.slug.in_([name.lower() for name in wanted])),
        )
    ).all()
    found: list[Collection] = []
    for name in wanted:
        match = next((c for c in rows if name in (c.id, c.slug) or name.lower() == c.slug), None)
        if match is None:
            raise InvalidInput(f"@{creator.handle} has no collection {name!r}")
        if match not in found:
            found.append(match)
    return found


def _unlocks(
    session: Session, creator: CreatorProfile, unlocks_all: bool, collections: Sequence[str]
) -> list[Collection]:
    chosen = _collections(session, creator, collections)
    if unlocks_all and chosen:
        raise InvalidInput("a tier unlocks every work or some collections, not both")
    if not unlocks_all and not chosen:
        raise InvalidInput("choose the collections the tier unlocks, or let it unlock every work")
    return chosen


def _name_taken(session: Session, creator_id: str, name: str, *, other_than: str | None = None) -> None:
    statement = select(SubscriptionTier.id).where(
        SubscriptionTier.creator_id == creator_id, func.lower(SubscriptionTier.name) == name.lower()
    )
    if other_than is not None:
        statement = statement.where(SubscriptionTier.id != other_than)
    if session.scalar(statement) is not None:
        raise Conflict(f"there is already a tier called {name!r}")


def create_tier(
    session: Session,
    *,
    creator: CreatorProfile,
    name: str,
    price_micros: int,
    currency: str,
    description: str = "",
    unlocks_all: bool = True,
    collections: Sequence[str] = (),
) -> SubscriptionTier:
    """A tier fans can subscribe to: a monthly price, and every work or some collections (ids or slugs)."""
    currency = check_currency(currency)
    name = _text(name, what="name", limit=_NAME_MAX, required=True)
    description = _text(description, what="description", limit=_DESCRIPTION_MAX, required=False)
    _check_price(price_micros, currency)
    chosen = _unlocks(session, creator, unlocks_all, collections)
    _name_taken(session, creator.id, name)
    tier = SubscriptionTier(
        creator_id=creator.id,
        name=name,
        description=description,
        price_micros=price_micros,
        currency=currency,
        unlocks_all=unlocks_all,
        active=True,
        collections=chosen,
    )
    session.add(tier)
    session.flush()
    return tier


def update_tier(
    session: Session,
    *,
    tier: SubscriptionTier,
    name: str | None = None,
    description: str | None = None,
    price_micros: int | None = None,
    unlocks_all: bool | None = None,
    collections: Sequence[str] | None = None,
) -> SubscriptionTier:
    """Change a tier. A new price applies to new subscribers; current ones keep the price they chose."""
    if name is not None:
        name = _text(name, what="name", limit=_NAME_MAX, required=True)
        _name_taken(session, tier.creator_id, name, other_than=tier.id)
        tier.name = name
    if description is not None:
        tier.description = _text(description, what="description", limit=_DESCRIPTION_MAX, required=False)
    if price_micros is not None:
        _check_price(price_micros, tier.currency)
        tier.price_micros = price_micros
    if unlocks_all is not None or collections is not None:
        everything = tier.unlocks_all if unlocks_all is None else unlocks_all
        if collections is not None:
            names: Sequence[str] = collections
        else:
            names = [] if everything else [c.id for c in tier.collections]
        tier.collections = _unlocks(session, tier.creator, everything, names)
        tier.unlocks_all = everything
    session.flush()
    return tier


def retire_tier(session: Session, *, tier: SubscriptionTier) -> SubscriptionTier:
    """Take no new fans on the tier; its subscriptions run on until cancelled or lapsed."""
    tier.active = False
    session.flush()
    return tier


def get_tier(session: Session, tier_id: str) -> SubscriptionTier:
    tier = session.get(SubscriptionTier, tier_id)
    if tier is None:
        raise UnknownTier(f"no tier {tier_id}")
    return tier


def list_tiers(
    session: Session, *, creator: CreatorProfile, active_only: bool = True
) -> list[SubscriptionTier]:
    """The creator's tiers, cheapest first."""
    statement = select(SubscriptionTier).where(SubscriptionTier.creator_id == creator.id)
    if active_only:
        statement = statement.where(SubscriptionTier.active.is_(True))
    order = (SubscriptionTier.active.desc(), SubscriptionTier.price_micros, SubscriptionTier.name)
    return list(session.scalars(statement.order_by(*order)))


# --- periods and references -----------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise InvalidInput("times are timezone-aware UTC; a naive datetime was given")
    return now


def _add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later, clipped to the month's end (31 January + 1 = 28 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _period_end(anchor: datetime, start: datetime) -> datetime:
    """The end of the month that begins at ``start``: the first monthly anniversary of ``anchor`` after it."""
    months = (start.year - anchor.year) * 12 + start.month - anchor.month
    end = _add_months(anchor, months)
    while end <= start:
        months += 1
        end = _add_months(anchor, months)
    return end


def _new_reference(session: Session) -> str:
    while True:
        reference = "FT-SUB-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
        taken = select(SubscriptionPayment.id).where(SubscriptionPayment.reference == reference)
        if session.scalar(taken) is None:
            return reference


def _open_payment(
    session: Session, subscription: Subscription, start: datetime, end: datetime
) -> SubscriptionPayment:
    payment = SubscriptionPayment(
        subscription_id=subscription.id,
        period_start=start,
        period_end=end,
        amount=tier_amount(subscription),
        currency=subscription.currency,
        reference=_new_reference(session),
        status="due",
    )
    session.add(payment)
    session.flush()
    return payment


def _lock_subscription(session: Session, subscription_id: str) -> Subscription | None:
    """The subscription under a row lock with fresh values (``FOR UPDATE OF`` its own table: the tier and
    fan it loads with it are outer-joined, which PostgreSQL does not lock)."""
    statement = (
        select(Subscription)
        .where(Subscription.id == subscription_id)
        .with_for_update(of=Subscription)
        .execution_options(populate_existing=True)
    )
    return session.scalar(statement)


def _void_due(session: Session, subscription: Subscription) -> None:
    for payment in session.scalars(
        select(SubscriptionPayment).where(
            SubscriptionPayment.subscription_id == subscription.id, SubscriptionPayment.status == "due"
        )
    ):
        payment.status = "void"


# --- subscribing ----------------------------------------------------------------------------------------


def subscribe(
    session: Session, *, fan: User, tier: SubscriptionTier, now: datetime | None = None
) -> Subscription:
    """A pending subscription to the tier, with its first month due (see ``payment_instructions``)."""
    now = _now(now)
    if not tier.active:
        raise TierRetired(f"the tier {tier.name!r} takes no new subscribers")
    if fan.creator is not None and fan.creator.id == tier.creator_id:
        raise InvalidInput("creators cannot subscribe to themselves")
    lock_row(session, User, fan.id)  # one subscribe at a time per fan, so two clicks make one subscription
    current = session.scalar(
        select(Subscription).where(
            Subscription.fan_id == fan.id,
            Subscription.creator_id == tier.creator_id,
            Subscription.status.in_(("pending", "active")),
        )
    )
    if current is not None:
        state = "waiting for its first payment" if current.status == "pending" else "active"
        raise AlreadySubscribed(
            f"you already have a subscription to @{tier.creator.handle} ({current.tier.name}, {state}); "
            "cancel it before choosing another tier"
        )
    subscription = Subscription(
        tier_id=tier.id,
        fan_id=fan.id,
        creator_id=tier.creator_id,
        status="pending",
        price_micros=tier.price_micros,
        currency=tier.currency,
        provider="manual",
        cancel_at_period_end=False,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    session.flush()
    _open_payment(session, subscription, now, _add_months(now, 1))
    return subscription


@dataclass(frozen=True)
class SubscriptionInstructions:
    """How a fan pays one month: text to show, and the details a form or e-mail needs."""

    provider: str
    payment_id: str
    reference: str
    amount: int
    currency: str
    text: str
    details: dict[str, str] = field(default_factory=dict)


def payment_instructions(payment: SubscriptionPayment, provider: PaymentProvider) -> SubscriptionInstructions:
    """What to pay, to whom and quoting what, for one month (the bank details of a ``ManualProvider``)."""
    if isinstance(provider, ManualProvider):
        text, details = provider.transfer(
            amount=payment.amount, currency=payment.currency, reference=payment.reference
        )
    else:
        amount = format_amount(payment.amount, payment.currency)
        text = f"Pay {amount} with {provider.name}, quoting the reference {payment.reference}."
        details = {"reference": payment.reference}
    return SubscriptionInstructions(
        provider=provider.name,
        payment_id=payment.id,
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        text=text,
        details=details,
    )


# --- payments -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionPaymentResult:
    payment: SubscriptionPayment
    subscription: Subscription
    distribution: DistributionRun


def get_payment(session: Session, reference_or_id: str) -> SubscriptionPayment:
    """A month by its id (``sbp_…``) or the reference a transfer quoted (case and spaces forgiven)."""
    value = reference_or_id.strip()
    payment = session.get(SubscriptionPayment, value) if value.startswith("sbp_") else None
    if payment is None:
        normal = "".join(value.split()).upper()
        payment = session.scalar(select(SubscriptionPayment).where(SubscriptionPayment.reference == normal))
    if payment is None:
        raise UnknownSubscriptionPayment(f"no subscription payment {reference_or_id!r}")
    return payment


def _check_amounts(amount: int, fee: int) -> None:
    for value, what in ((amount, "amount"), (fee, "fee")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"the payment {what} must be integer minor units, got {value!r}")
    if amount <= 0 or amount > MAX_MINOR_UNITS:
        raise InvalidInput(f"a payment amount must be positive and not absurd, got {amount}")
    if fee < 0 or fee > amount:
        raise InvalidInput(f"a processor fee is between 0 and the amount paid, got {fee}")


def record_subscription_payment(
    session: Session,
    *,
    reference_or_id: str,
    amount: int,
    currency: str,
    external_id: str,
    fee_bp: int,
    provider: PaymentProvider | None = None,
    fee: int = 0,
    received_at: datetime | None = None,
) -> SubscriptionPaymentResult:
    """Record one month's money (exactly the amount due, in its currency), post it to the subscription's pool
    for the month and distribute the pool to the creator; the subscription is then active until the month
    ends. A month is paid once: paying it again, or a void month, is refused and nothing is posted."""
    provider = provider or ManualProvider()
    currency = check_currency(currency)
    _check_amounts(amount, fee)
    external_id = external_id.strip()
    if not external_id or len(external_id) > 200:
        raise InvalidInput("a payment needs the provider's id for it (1 to 200 characters)")
    received = _now(received_at)
    found = get_payment(session, reference_or_id)
    # Locked in the same order as lapse_due and cancel (subscription, then month): no deadlock between them.
    subscription = _lock_subscription(session, found.subscription_id)
    payment = lock_row(session, SubscriptionPayment, found.id)
    assert subscription is not None
    assert payment is not None
    if payment.status == "paid":
        raise PaymentNotDue(f"{payment.reference} is already paid (on {payment.paid_at:%Y-%m-%d})")
    if payment.status != "due":
        raise PaymentNotDue(
            f"{payment.reference} is void: the subscription is {subscription.status}; subscribe again"
        )
    if currency != payment.currency or amount != payment.amount:
        raise WrongPaymentAmount(
            f"{payment.reference} is for {format_amount(payment.amount, payment.currency)}, not "
            f"{format_amount(amount, currency)}; record exactly what is due"
        )
    duplicate = session.scalar(
        select(SubscriptionPayment.reference).where(
            SubscriptionPayment.provider == provider.name, SubscriptionPayment.external_id == external_id
        )
    )
    if duplicate is not None:
        raise PaymentNotDue(f"{provider.name} payment {external_id} is already recorded, for {duplicate}")
    if subscription.status == "pending":
        # The first month starts when its money arrives.
        payment.period_start, payment.period_end = received, _add_months(received, 1)
    start, end = payment.period_start.date(), (payment.period_end - timedelta(days=1)).date()
    pool = get_account(session, pool_code("subscription", subscription.id, start, end), currency)
    legs = receipt_legs(session, provider, amount=amount, fee=fee, currency=currency)
    legs.append((pool, -amount))
    transaction = post(
        session,
        kind="subscription.payment",
        legs=legs,
        memo=f"{provider.name} payment {external_id} for subscription month {payment.reference}",
        idempotency_key=f"subscription.payment:{payment.id}",
        ref_type="subscription",
        ref_id=subscription.id,
    )
    run = run_distribution(
        session,
        source_type="subscription",
        source_id=subscription.id,
        period_start=start,
        period_end=end,
        currency=currency,
        fee_bp=fee_bp,
        weights={subscription.creator_id: 1},
        rule=f"fan subscription, {subscription.tier.name}",
        idempotency_key=f"subscription.distribution:{payment.id}",
        invoiced=False,
    )
    payment.status = "paid"
    payment.provider = provider.name
    payment.external_id = external_id
    payment.transaction_id = transaction.id
    payment.paid_at = received
    if subscription.status == "pending":
        subscription.status = "active"
    subscription.paid_until = max(subscription.paid_until or payment.period_end, payment.period_end)
    subscription.provider = provider.name
    session.flush()
    return SubscriptionPaymentResult(payment, subscription, run)


# --- renewal, lapse, cancellation -----------------------------------------------------------------------


def _anchor(session: Session, subscription: Subscription) -> datetime:
    first = session.scalar(
        select(func.min(SubscriptionPayment.period_start)).where(
            SubscriptionPayment.subscription_id == subscription.id, SubscriptionPayment.status == "paid"
        )
    )
    assert first is not None, f"active subscription {subscription.id} has no paid month"
    anchor: datetime = first
    return anchor


def renew_due(session: Session, *, now: datetime | None = None) -> list[SubscriptionPayment]:
    """Open the next month's payment of each active subscription whose paid time ends within a week (once)."""
    now = _now(now)
    ids = session.scalars(
        select(Subscription.id)
        .where(
            Subscription.status == "active",
            Subscription.cancel_at_period_end.is_(False),
            Subscription.paid_until <= now + timedelta(days=RENEW_DAYS),
        )
        .order_by(Subscription.paid_until, Subscription.id)
    ).all()
    opened = []
    for subscription_id in ids:
        subscription = _lock_subscription(session, subscription_id)
        if subscription is None or subscription.status != "active" or subscription.cancel_at_period_end:
            continue
        start = subscription.paid_until
        assert start is not None
        exists = select(SubscriptionPayment.id).where(
            SubscriptionPayment.subscription_id == subscription.id, SubscriptionPayment.period_start == start
        )
        if session.scalar(exists) is not None:
            continue
        opened.append(
            _open_payment(session, subscription, start, _period_end(_anchor(session, subscription), start))
        )
    return opened


def lapse_due(
    session: Session, *, now: datetime | None = None, grace_days: int = GRACE_DAYS
) -> tuple[list[Subscription], list[Subscription]]:
    """(lapsed, ended): active subscriptions whose renewal is unpaid ``grace_days`` after the paid time ran
    out lapse; those cancelled at period end whose paid time is over are cancelled; pending ones unpaid for
    ``PENDING_DAYS`` are cancelled. Their due months are voided."""
    now = _now(now)
    candidates = session.scalars(
        select(Subscription.id)
        .where(
            or_(
                and_(
                    Subscription.status == "active",
                    Subscription.cancel_at_period_end.is_(False),
                    Subscription.paid_until <= now - timedelta(days=grace_days),
                ),
                and_(
                    Subscription.status == "active",
                    Subscription.cancel_at_period_end.is_(True),
                    Subscription.paid_until <= now,
                ),
                and_(
                    Subscription.status == "pending",
                    Subscription.created_at <= now - timedelta(days=PENDING_DAYS),
                ),
            )
        )
        .order_by(Subscription.id)
    ).all()
    lapsed: list[Subscription] = []
    ended: list[Subscription] = []
    for subscription_id in candidates:
        subscription = _lock_subscription(session, subscription_id)
        assert subscription is not None
        if subscription.status == "pending":
            if subscription.created_at > now - timedelta(days=PENDING_DAYS):
                continue
            subscription.status, subscription.cancelled_at = "cancelled", now
            ended.append(subscription)
        elif subscription.status != "active" or subscription.paid_until is None:
            continue
        elif subscription.cancel_at_period_end:
            if subscription.paid_until > now:
                continue
            subscription.status = "cancelled"
            subscription.cancelled_at = subscription.cancelled_at or now
            ended.append(subscription)
        else:
            if subscription.paid_until > now - timedelta(days=grace_days):
                continue  # paid meanwhile
            subscription.status, subscription.lapsed_at = "lapsed", now
            lapsed.append(subscription)
        _void_due(session, subscription)
    session.flush()
    return lapsed, ended


@dataclass(frozen=True)
class TickResult:
    opened: list[SubscriptionPayment]
    lapsed: list[Subscription]
    ended: list[Subscription]


def tick(session: Session, now: datetime | None = None) -> TickResult:
    """What cron runs daily: lapse and end what is over, then open the renewals that are due."""
    lapsed, ended = lapse_due(session, now=now)
    opened = renew_due(session, now=now)
    return TickResult(opened, lapsed, ended)


def _may_manage(user: User, subscription: Subscription) -> bool:
    return (
        user.id == subscription.fan_id
        or (user.creator is not None and user.creator.id == subscription.creator_id)
        or user.has_role(Role.OPERATOR)
    )


def cancel(
    session: Session,
    *,
    subscription: Subscription,
    by: User,
    at_period_end: bool = True,
    now: datetime | None = None,
) -> Subscription:
    """Cancel by the fan, the creator or an operator. An active subscription runs to the end of its paid time
    (``at_period_end``, the default) or ends now; a pending one ends now. Unpaid months are voided; paid
    ones are not refunded."""
    now = _now(now)
    if not _may_manage(by, subscription):
        raise Forbidden("only the fan, the creator or an operator may cancel a subscription")
    locked = _lock_subscription(session, subscription.id)
    assert locked is not None
    if locked.status in ("cancelled", "lapsed") or (locked.cancel_at_period_end and at_period_end):
        raise SubscriptionStateError(f"the subscription is already {_state(locked)}")
    if locked.status == "active" and at_period_end:
        locked.cancel_at_period_end = True
    else:
        locked.status = "cancelled"
        locked.cancel_at_period_end = False
    locked.cancelled_at = now
    _void_due(session, locked)
    session.flush()
    return locked


def _state(subscription: Subscription) -> str:
    if subscription.status == "active" and subscription.cancel_at_period_end:
        return "cancelled at the end of the paid time"
    return subscription.status


# --- reading --------------------------------------------------------------------------------------------


def get_subscription(session: Session, subscription_id: str) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        raise UnknownSubscription(f"no subscription {subscription_id}")
    return subscription


def visible_subscription(session: Session, *, user: User, subscription_id: str) -> Subscription:
    """The subscription if ``user`` is its fan, its creator or an operator (others are told there is none)."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or not _may_manage(user, subscription):
        raise UnknownSubscription(f"no subscription {subscription_id}")
    return subscription


def fan_subscriptions(session: Session, *, fan: User) -> list[Subscription]:
    """A fan's subscriptions, newest first."""
    statement = select(Subscription).where(Subscription.fan_id == fan.id)
    return list(session.scalars(statement.order_by(Subscription.created_at.desc(), Subscription.id)))


def creator_subscriptions(
    session: Session, *, creator: CreatorProfile, status: str | None = None
) -> list[Subscription]:
    """A creator's subscribers' subscriptions, newest first."""
    statement = select(Subscription).where(Subscription.creator_id == creator.id)
    if status is not None:
        statement = statement.where(Subscription.status == status)
    return list(session.scalars(statement.order_by(Subscription.created_at.desc(), Subscription.id)))


def subscription_payments(session: Session, subscription: Subscription) -> list[SubscriptionPayment]:
    """A subscription's months, latest first."""
    statement = select(SubscriptionPayment).where(SubscriptionPayment.subscription_id == subscription.id)
    return list(session.scalars(statement.order_by(SubscriptionPayment.period_start.desc())))


def due_payments(session: Session, *, limit: int = 500) -> list[tuple[SubscriptionPayment, Subscription]]:
    """Months waiting for money, oldest first, with their subscriptions (for the operator)."""
    rows = session.execute(
        select(SubscriptionPayment, Subscription)
        .join(Subscription, Subscription.id == SubscriptionPayment.subscription_id)
        .where(SubscriptionPayment.status == "due")
        .order_by(SubscriptionPayment.created_at, SubscriptionPayment.id)
        .limit(limit)
    ).all()
    return [(payment, subscription) for payment, subscription in rows]


# --- entitlement (on the gateway's hot path) ------------------------------------------------------------


@dataclass(frozen=True)
class Entitlement:
    """What a fan may see of one creator's works behind the paywall."""

    all_works: bool
    collection_ids: frozenset[str]

    def covers(self, collection_ids: Iterable[str]) -> bool:
        return self.all_works or not self.collection_ids.isdisjoint(collection_ids)


def entitlements(
    session: Session, user_id: str, *, now: datetime | None = None, creator_id: str | None = None
) -> dict[str, Entitlement]:
    """What the user's subscriptions unlock now, by creator id (one query).

    Entitled: an active subscription through its paid time and the grace period after it, or one cancelled
    at period end until its paid time is over.
    """
    now = _now(now)
    statement = (
        select(Subscription.creator_id, SubscriptionTier.unlocks_all, TierCollection.collection_id)
        .join(SubscriptionTier, SubscriptionTier.id == Subscription.tier_id)
        .outerjoin(TierCollection, TierCollection.tier_id == SubscriptionTier.id)
        .where(
            Subscription.fan_id == user_id,
            or_(
                and_(
                    Subscription.status == "active",
                    Subscription.cancel_at_period_end.is_(False),
                    Subscription.paid_until > now - timedelta(days=GRACE_DAYS),
                ),
                and_(
                    Subscription.status.in_(("active", "cancelled")),
                    Subscription.cancel_at_period_end.is_(True),
                    Subscription.paid_until > now,
                ),
            ),
        )
    )
    if creator_id is not None:
        statement = statement.where(Subscription.creator_id == creator_id)
    everything: dict[str, bool] = {}
    collections: dict[str, set[str]] = {}
    for creator, unlocks_all, collection_id in session.execute(statement):
        everything[creator] = everything.get(creator, False) or bool(unlocks_all)
        found = collections.setdefault(creator, set())
        if collection_id is not None and not unlocks_all:
            found.add(collection_id)
    return {
        creator: Entitlement(all_works=everything[creator], collection_ids=frozenset(collections[creator]))
        for creator in everything
    }


def can_view_full(session: Session, *, user: User | None, asset: Asset, now: datetime | None = None) -> bool:
    """May ``user`` (None: an anonymous visitor) see the full work?

    The owner and operators always; anyone a ``public`` work; a fan whose subscription covers a
    ``subscribers`` work (every work of the creator, or one of the work's collections); nobody else a
    ``private`` or deleted work.
    """
    if user is not None and (
        (user.creator is not None and user.creator.id == asset.creator_id) or user.has_role(Role.OPERATOR)
    ):
        return True
    if asset.deleted_at is not None or asset.access == "private":
        return False
    if asset.access == "public":
        return True
    if asset.access != "subscribers" or user is None:
        return False
    entitlement = entitlements(session, user.id, now=now, creator_id=asset.creator_id).get(asset.creator_id)
    if entitlement is None:
        return False
    if entitlement.all_works:
        return True
    in_collections = session.scalars(
        select(AssetCollection.collection_id).where(AssetCollection.asset_id == asset.id)
    )
    return entitlement.covers(in_collections)
