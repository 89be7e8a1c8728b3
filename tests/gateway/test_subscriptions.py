"""Fans' subscriptions: tiers, subscribing, paying a month through the ledger, renewal, lapse, cancellation,
and who may see a work in full."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role, User
from fairtrain.catalog import service as catalog
from fairtrain.errors import Conflict, Forbidden, InvalidInput
from fairtrain.gateway import subscriptions as subs
from fairtrain.gateway.models import Subscription, SubscriptionPayment, SubscriptionTier
from fairtrain.ledger.journal import check_integrity, trial_balance
from fairtrain.ledger.models import DistributionRun, Transaction
from fairtrain.ledger.payments import ManualProvider
from fairtrain.ledger.statements import creator_statement
from tests.licensing.helpers import World, build_world

NOW = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
FEE_BP = 1500
BANK = ManualProvider(account_holder="Fairtrain Ltd", iban="DE89370400440532013000", bic="COBADEFFXXX")


@pytest.fixture
def world(db: Session) -> World:
    world = build_world(db)
    accounts.grant_role(db, user=world.operator, role=Role.OPERATOR)
    db.commit()
    return world


def _tier(db: Session, world: World, **changes: object) -> SubscriptionTier:
    values: dict[str, object] = {
        "creator": world.mira,
        "name": "Supporter",
        "price_micros": subs.monthly_price_micros("5.00", "USD"),
        "currency": "usd",
    }
    values.update(changes)
    return subs.create_tier(db, **values)  # type: ignore[arg-type]


def _pay(
    db: Session, payment: SubscriptionPayment, *, at: datetime, external_id: str = ""
) -> subs.SubscriptionPaymentResult:
    return subs.record_subscription_payment(
        db,
        reference_or_id=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        external_id=external_id or f"TRX-{payment.reference}",
        fee_bp=FEE_BP,
        provider=BANK,
        received_at=at,
    )


def _due(db: Session, subscription: Subscription) -> SubscriptionPayment:
    [payment] = [p for p in subs.subscription_payments(db, subscription) if p.status == "due"]
    return payment


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _balance(db: Session, code: str) -> int:
    return sum(row.balance for row in trial_balance(db).rows if row.code == code)


def _books_balance(db: Session) -> None:
    assert check_integrity(db) == []
    assert trial_balance(db).balanced


def test_subscribe_pay_and_the_creator_statement_shows_the_month_net_of_fee(
    db: Session, world: World
) -> None:
    tier = _tier(db, world, description="Every photo, full size")
    subscription = subs.subscribe(db, fan=world.stranger, tier=tier, now=NOW)
    assert subscription.status == "pending" and subscription.paid_until is None
    payment = _due(db, subscription)
    assert payment.amount == 500 and payment.currency == "USD"
    assert payment.reference.startswith("FT-SUB-") and len(payment.reference) == 15
    text = subs.payment_instructions(payment, BANK).text
    assert text == (
        f"Transfer 5.00 USD to Fairtrain Ltd (IBAN DE89370400440532013000, BIC COBADEFFXXX), "
        f"quoting the reference {payment.reference}."
    )
    assert subs.entitlements(db, world.stranger.id, now=NOW) == {}

    paid_on = NOW + timedelta(days=3)  # the first month starts when the money arrives
    result = _pay(db, payment, at=paid_on)
    db.commit()
    assert result.payment.status == "paid" and result.payment.transaction_id is not None
    assert result.subscription.status == "active"
    assert result.subscription.paid_until == datetime(2027, 3, 3, 9, 30, tzinfo=UTC)
    assert (result.payment.period_start, result.payment.period_end) == (
        paid_on,
        datetime(2027, 3, 3, 9, 30, tzinfo=UTC),
    )
    run = result.distribution
    assert (run.source_type, run.source_id, run.pool_amount, run.fee_amount) == (
        "subscription",
        subscription.id,
        500,
        75,
    )
    assert (str(run.period_start), str(run.period_end)) == ("2027-02-03", "2027-03-02")

    today = datetime.now(UTC).date()  # the ledger dates its transactions by the clock
    statement = creator_statement(
        db, world.mira.id, currency="USD", period_start=today - timedelta(days=1), period_end=today
    )
    assert (statement.gross, statement.fees, statement.earnings) == (500, 75, 425)
    [source] = statement.sources
    assert (source.source_type, source.source_id, source.credited) == ("subscription", subscription.id, 425)
    assert _balance(db, "cash:bank") == 500
    assert _balance(db, "platform:revenue") == -75
    assert _balance(db, f"payable:{world.mira.id}") == -425
    _books_balance(db)
    assert subs.entitlements(db, world.stranger.id, now=paid_on) == {
        world.mira.id: subs.Entitlement(all_works=True, collection_ids=frozenset())
    }


def test_a_wrong_amount_or_currency_posts_nothing_and_a_month_is_paid_once(db: Session, world: World) -> None:
    subscription = subs.subscribe(db, fan=world.stranger, tier=_tier(db, world), now=NOW)
    payment = _due(db, subscription)
    for amount, currency, message in (
        (499, "USD", "is for 5.00 USD, not 4.99 USD"),
        (500, "EUR", "not 5.00 EUR"),
    ):
        with pytest.raises(subs.WrongPaymentAmount, match=message):
            subs.record_subscription_payment(
                db,
                reference_or_id=payment.reference,
                amount=amount,
                currency=currency,
                external_id="TRX-1",
                fee_bp=FEE_BP,
            )
    with pytest.raises(InvalidInput, match="must be integer minor units"):
        subs.record_subscription_payment(
            db,
            reference_or_id=payment.id,
            amount=5.0,
            currency="USD",
            external_id="TRX-1",
            fee_bp=FEE_BP,  # type: ignore[arg-type]
        )
    assert _count(db, Transaction) == 0 and payment.status == "due"

    # The reference as a fan might type it: lower case, with spaces.
    quoted = payment.reference.lower().replace("-", " - ")
    result = subs.record_subscription_payment(
        db, reference_or_id=quoted, amount=500, currency="usd", external_id="TRX-1", fee_bp=FEE_BP
    )
    db.commit()
    posted = _count(db, Transaction)
    assert result.payment.id == payment.id and posted == 2  # the payment and its distribution
    with pytest.raises(subs.PaymentNotDue, match="already paid"):
        _pay(db, payment, at=NOW, external_id="TRX-2")
    db.rollback()
    assert _count(db, Transaction) == posted and _count(db, DistributionRun) == 1
    _books_balance(db)


def test_renewal_is_opened_once_a_week_ahead_and_paid_months_follow_the_calendar(
    db: Session, world: World
) -> None:
    subscription = subs.subscribe(db, fan=world.stranger, tier=_tier(db, world), now=NOW)
    _pay(db, _due(db, subscription), at=NOW)  # 31 January
    assert subscription.paid_until == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)

    assert subs.renew_due(db, now=datetime(2027, 2, 20, 9, 0, tzinfo=UTC)) == []
    [renewal] = subs.renew_due(db, now=datetime(2027, 2, 21, 9, 30, tzinfo=UTC))
    assert subs.renew_due(db, now=datetime(2027, 2, 22, tzinfo=UTC)) == []  # once
    assert (renewal.period_start, renewal.period_end) == (
        datetime(2027, 2, 28, 9, 30, tzinfo=UTC),
        datetime(2027, 3, 31, 9, 30, tzinfo=UTC),  # back on the 31st, not drifting to the 28th
    )
    assert renewal.reference != subscription.id and renewal.amount == 500
    _pay(db, renewal, at=datetime(2027, 2, 27, tzinfo=UTC))
    assert subscription.paid_until == datetime(2027, 3, 31, 9, 30, tzinfo=UTC)
    assert len(db.scalars(select(DistributionRun)).all()) == 2
    db.commit()
    _books_balance(db)


def test_an_unpaid_renewal_lapses_after_the_grace_period(db: Session, world: World) -> None:
    subscription = subs.subscribe(db, fan=world.stranger, tier=_tier(db, world), now=NOW)
    _pay(db, _due(db, subscription), at=NOW)
    paid_until = datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    result = subs.tick(db, paid_until - timedelta(days=2))
    assert len(result.opened) == 1 and result.lapsed == []
    renewal = result.opened[0]

    in_grace = paid_until + timedelta(days=6)
    assert subs.tick(db, in_grace) == subs.TickResult([], [], [])
    assert world.mira.id in subs.entitlements(db, world.stranger.id, now=in_grace)  # access through grace

    over = paid_until + timedelta(days=7)
    assert subs.entitlements(db, world.stranger.id, now=over) == {}
    result = subs.tick(db, over)
    assert result.lapsed == [subscription] and subscription.status == "lapsed"
    assert subscription.lapsed_at == over and renewal.status == "void"
    with pytest.raises(subs.PaymentNotDue, match="void: the subscription is lapsed"):
        _pay(db, renewal, at=over)
    # A lapsed fan may subscribe again.
    again = subs.subscribe(db, fan=world.stranger, tier=subscription.tier, now=over)
    assert again.status == "pending"


def test_cancelling_honours_the_paid_time(db: Session, world: World) -> None:
    subscription = subs.subscribe(db, fan=world.stranger, tier=_tier(db, world), now=NOW)
    _pay(db, _due(db, subscription), at=NOW)
    paid_until = datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    [renewal] = subs.renew_due(db, now=paid_until - timedelta(days=1))
    with pytest.raises(Forbidden):
        subs.cancel(db, subscription=subscription, by=world.buyer, now=NOW)

    subs.cancel(db, subscription=subscription, by=world.stranger, now=paid_until - timedelta(hours=1))
    assert subscription.status == "active" and subscription.cancel_at_period_end
    assert renewal.status == "void"  # the month nobody will pay for
    with pytest.raises(subs.SubscriptionStateError, match="already cancelled at the end"):
        subs.cancel(db, subscription=subscription, by=world.stranger, now=NOW)
    assert world.mira.id in subs.entitlements(db, world.stranger.id, now=paid_until - timedelta(minutes=1))
    assert subs.entitlements(db, world.stranger.id, now=paid_until) == {}
    assert subs.renew_due(db, now=paid_until) == []
    result = subs.tick(db, paid_until)
    assert result.ended == [subscription] and subscription.status == "cancelled"


def test_a_pending_subscription_is_cancelled_at_once_by_the_creator_or_an_operator(
    db: Session, world: World
) -> None:
    tier = _tier(db, world)
    first = subs.subscribe(db, fan=world.stranger, tier=tier, now=NOW)
    payment = _due(db, first)
    subs.cancel(db, subscription=first, by=world.mira_user, now=NOW)
    assert first.status == "cancelled" and payment.status == "void"
    second = subs.subscribe(db, fan=world.stranger, tier=tier, now=NOW)
    subs.cancel(db, subscription=second, by=world.operator, at_period_end=False, now=NOW)
    assert second.status == "cancelled"
    with pytest.raises(subs.SubscriptionStateError):
        subs.cancel(db, subscription=second, by=world.stranger, now=NOW)
    # Unpaid for PENDING_DAYS: cancelled by the tick.
    third = subs.subscribe(db, fan=world.stranger, tier=tier, now=NOW)
    assert subs.tick(db, NOW + timedelta(days=29)).ended == []
    assert subs.tick(db, NOW + timedelta(days=30)).ended == [third]
    assert _due_count(db) == 0


def _due_count(db: Session) -> int:
    return len(subs.due_payments(db))


def test_who_may_see_a_work_in_full(db: Session, world: World) -> None:
    series = catalog.get_collection(db, creator=world.mira, slug="series")
    in_series, outside = world.photos[2], world.photos[0]
    collection_tier = _tier(db, world, name="Series only", unlocks_all=False, collections=["series"])
    fan = world.stranger
    subscription = subs.subscribe(db, fan=fan, tier=collection_tier, now=NOW)
    _pay(db, _due(db, subscription), at=NOW)
    assert subs.entitlements(db, fan.id, now=NOW) == {
        world.mira.id: subs.Entitlement(all_works=False, collection_ids=frozenset({series.id}))
    }

    def sees(user: User | None, asset: object) -> bool:
        return subs.can_view_full(db, user=user, asset=asset, now=NOW)  # type: ignore[arg-type]

    for asset in (in_series, outside):
        asset.access = "subscribers"
    assert sees(fan, in_series) and not sees(fan, outside)
    assert not sees(None, in_series) and not sees(world.buyer, in_series)
    assert sees(world.mira_user, outside) and sees(world.operator, outside)
    world.ola_assets[0].access = "subscribers"
    assert not sees(fan, world.ola_assets[0])  # another creator's work

    in_series.access = "private"
    assert not sees(fan, in_series) and sees(world.mira_user, in_series) and sees(world.operator, in_series)
    outside.access = "public"
    assert sees(None, outside) and sees(fan, outside)

    # Every work: an all-works tier of the same creator, for another fan.
    everything = _tier(db, world, name="Everything", price_micros=subs.monthly_price_micros("9", "USD"))
    other = accounts.create_user(db, email="other-fan@example.com", password=None, min_password_length=10)
    _pay(db, _due(db, subs.subscribe(db, fan=other, tier=everything, now=NOW)), at=NOW)
    world.photos[1].access = "subscribers"
    assert sees(other, world.photos[1]) and not sees(fan, world.photos[1])
    later = NOW + timedelta(days=60)  # past the paid month and the grace period, renewal unpaid
    assert not subs.can_view_full(db, user=other, asset=world.photos[1], now=later)


def test_tiers_are_checked_and_retired_tiers_take_no_new_fans(db: Session, world: World) -> None:
    with pytest.raises(InvalidInput, match="fractions of a minor unit"):
        subs.monthly_price_micros("4.995", "USD")
    with pytest.raises(InvalidInput, match="whole number of USD minor units"):
        _tier(db, world, price_micros=4_995_000 + 1)
    with pytest.raises(InvalidInput, match="not both"):
        _tier(db, world, collections=["series"])
    with pytest.raises(InvalidInput, match="choose the collections"):
        _tier(db, world, unlocks_all=False)
    with pytest.raises(InvalidInput, match="no collection 'nope'"):
        _tier(db, world, unlocks_all=False, collections=["nope"])
    with pytest.raises(InvalidInput, match="ISO 4217"):
        _tier(db, world, currency="XXX1")
    tier = _tier(db, world)
    with pytest.raises(Conflict, match="already a tier called 'supporter'"):
        _tier(db, world, name="supporter")
    with pytest.raises(InvalidInput, match="cannot subscribe to themselves"):
        subs.subscribe(db, fan=world.mira_user, tier=tier, now=NOW)
    subs.subscribe(db, fan=world.stranger, tier=tier, now=NOW)
    with pytest.raises(subs.AlreadySubscribed, match="waiting for its first payment"):
        subs.subscribe(db, fan=world.stranger, tier=tier, now=NOW)

    subs.update_tier(
        db,
        tier=tier,
        price_micros=subs.monthly_price_micros("6", "USD"),
        unlocks_all=False,
        collections=["series"],
    )
    assert [c.slug for c in tier.collections] == ["series"] and not tier.unlocks_all
    assert subs.tier_amount(tier) == 600
    [subscription] = subs.fan_subscriptions(db, fan=world.stranger)
    assert subs.tier_amount(subscription) == 500  # the price when subscribed

    subs.retire_tier(db, tier=tier)
    assert subs.list_tiers(db, creator=world.mira) == []
    assert subs.list_tiers(db, creator=world.mira, active_only=False) == [tier]
    with pytest.raises(subs.TierRetired):
        subs.subscribe(db, fan=world.buyer, tier=tier, now=NOW)
