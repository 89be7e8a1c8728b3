"""JSON API for fans (issue 6): creators' subscription tiers, fans' subscriptions, and the operator's record
of a fan's transfer. Routes stay thin; ``fairtrain.gateway.subscriptions`` decides.

Prices and amounts are decimal strings in the currency's unit (``"5.00"``), parsed exactly. Recording a
payment moves money, so it needs an ``Idempotency-Key`` header; a retry with the same key gets the first
answer again with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role, User
from fairtrain.accounts.schemas import ApiError
from fairtrain.errors import Forbidden
from fairtrain.gateway import subscriptions as subs
from fairtrain.gateway.models import Subscription, SubscriptionPayment, SubscriptionTier
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.payments import PaymentProvider
from fairtrain.money import parse_amount
from fairtrain.web.catalog_api import owned_creator
from fairtrain.web.deps import ApiUserDep, DbDep, SettingsDep
from fairtrain.web.ledger_api import MoneyPublic, check_idempotency_key, money, providers

__all__ = ["SubscriptionPublic", "TierPublic", "router"]


def _error(description: str) -> dict[str, object]:
    return {"description": description, "model": ApiError}


router = APIRouter(
    prefix="/api/v1",
    tags=["fans"],
    responses={
        401: _error("No valid API token or session"),
        404: _error("No such creator, tier, subscription or payment (or not yours to see)"),
        422: _error("Invalid request: a price, a currency or a field"),
    },
)
CreatorQuery = Annotated[
    str | None, Query(description="An operator names the creator (handle); default: your own profile.")
]


# --- schemas -------------------------------------------------------------------------------------------


class CollectionRef(BaseModel):
    id: str
    slug: str
    name: str


class TierCreate(BaseModel):
    """A monthly tier: every work of the creator, or only some collections."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, examples=["Supporter"])
    price: str = Field(examples=["5.00"], description="Per month, in the currency's unit.")
    currency: str = Field(examples=["USD"])
    description: str = Field("", max_length=2000, examples=["Every photo in full size"])
    unlocks_all: bool = Field(True, description="Every work; false: only `collections`.")
    collections: list[str] = Field(
        default_factory=list, max_length=200, description="Collection ids or slugs, when not every work."
    )


class TierPublic(BaseModel):
    id: str
    creator: str = Field(examples=["mira"], description="The creator's handle.")
    name: str
    description: str
    price: MoneyPublic = Field(description="Per month.")
    unlocks_all: bool
    collections: list[CollectionRef]
    active: bool = Field(description="False once retired: it takes no new subscribers.")


class SubscriptionPaymentPublic(BaseModel):
    id: str
    reference: str = Field(examples=["FT-SUB-3KF9Q2M7"], description="Quote it on the transfer.")
    period_start: datetime
    period_end: datetime
    amount: MoneyPublic
    status: str = Field(examples=["due"], description="due, paid or void")
    paid_at: datetime | None


class InstructionsPublic(BaseModel):
    provider: str
    payment_id: str
    reference: str
    amount: MoneyPublic
    text: str
    details: dict[str, str]


class SubscriptionPublic(BaseModel):
    id: str
    fan_id: str
    creator: str = Field(description="The creator's handle.")
    tier: TierPublic
    price: MoneyPublic = Field(description="Per month, as it was when subscribed.")
    status: str = Field(examples=["active"], description="pending, active, lapsed or cancelled")
    cancel_at_period_end: bool
    paid_until: datetime | None = Field(description="Access runs to this moment (and a grace week).")
    created_at: datetime
    cancelled_at: datetime | None
    lapsed_at: datetime | None
    payments: list[SubscriptionPaymentPublic] = Field(description="Its months, latest first.")
    instructions: list[InstructionsPublic] = Field(description="How to pay the months that are due.")


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_period_end: bool = Field(True, description="Keep access to the end of the paid time (else end now).")


class SubscriptionPaymentCreate(BaseModel):
    """A fan's transfer for one month, as it arrived (an operator's "mark paid")."""

    model_config = ConfigDict(extra="forbid")

    amount: str = Field(examples=["5.00"], description="What arrived: exactly the month's amount.")
    currency: str | None = Field(None, examples=["USD"], description="If given, must be the month's.")
    fee: str = Field("0", examples=["0.30"], description="What the bank or processor kept.")
    reference: str | None = Field(
        None,
        max_length=200,
        description="The bank's id for the transfer; recorded once. Default: from the key.",
    )
    received_at: AwareDatetime | None = Field(None, description="When the money arrived; default: now.")


class SubscriptionPaymentResultPublic(BaseModel):
    payment: SubscriptionPaymentPublic
    subscription: SubscriptionPublic
    distribution_id: str


# --- conversions ---------------------------------------------------------------------------------------


def tier_public(tier: SubscriptionTier) -> TierPublic:
    return TierPublic(
        id=tier.id,
        creator=tier.creator.handle,
        name=tier.name,
        description=tier.description,
        price=money(subs.tier_amount(tier), tier.currency),
        unlocks_all=tier.unlocks_all,
        collections=[CollectionRef(id=c.id, slug=c.slug, name=c.name) for c in tier.collections],
        active=tier.active,
    )


def _payment_public(payment: SubscriptionPayment) -> SubscriptionPaymentPublic:
    return SubscriptionPaymentPublic(
        id=payment.id,
        reference=payment.reference,
        period_start=payment.period_start,
        period_end=payment.period_end,
        amount=money(payment.amount, payment.currency),
        status=payment.status,
        paid_at=payment.paid_at,
    )


def subscription_public(
    db: Session, subscription: Subscription, payment_providers: dict[str, PaymentProvider]
) -> SubscriptionPublic:
    payments = subs.subscription_payments(db, subscription)
    instructions = [
        subs.payment_instructions(payment, provider)
        for payment in payments
        if payment.status == "due"
        for provider in payment_providers.values()
    ]
    return SubscriptionPublic(
        id=subscription.id,
        fan_id=subscription.fan_id,
        creator=subscription.tier.creator.handle,
        tier=tier_public(subscription.tier),
        price=money(subs.tier_amount(subscription), subscription.currency),
        status=subscription.status,
        cancel_at_period_end=subscription.cancel_at_period_end,
        paid_until=subscription.paid_until,
        created_at=subscription.created_at,
        cancelled_at=subscription.cancelled_at,
        lapsed_at=subscription.lapsed_at,
        payments=[_payment_public(payment) for payment in payments],
        instructions=[
            InstructionsPublic(
                provider=i.provider,
                payment_id=i.payment_id,
                reference=i.reference,
                amount=money(i.amount, i.currency),
                text=i.text,
                details=i.details,
            )
            for i in instructions
        ],
    )


def _own_tier(db: Session, user: User, tier_id: str) -> SubscriptionTier:
    tier = subs.get_tier(db, tier_id)
    owned_creator(db, user, tier.creator.handle)  # Forbidden unless the creator's own or an operator
    return tier


# --- tiers ---------------------------------------------------------------------------------------------


@router.get("/tiers", summary="Your tiers (retired ones too)", responses={403: _error("Not your tiers")})
def my_tiers(db: DbDep, user: ApiUserDep, creator: CreatorQuery = None) -> list[TierPublic]:
    owner = owned_creator(db, user, creator)
    return [tier_public(tier) for tier in subs.list_tiers(db, creator=owner, active_only=False)]


@router.post(
    "/tiers", status_code=201, summary="Create a tier", responses={403: _error("Not your creator profile")}
)
def create_tier(db: DbDep, user: ApiUserDep, body: TierCreate, creator: CreatorQuery = None) -> TierPublic:
    owner = owned_creator(db, user, creator)
    tier = subs.create_tier(
        db,
        creator=owner,
        name=body.name,
        price_micros=subs.monthly_price_micros(body.price, body.currency),
        currency=body.currency,
        description=body.description,
        unlocks_all=body.unlocks_all,
        collections=body.collections,
    )
    return tier_public(tier)


@router.post(
    "/tiers/{tier_id}/retire",
    summary="Retire a tier: no new subscribers; current ones run on",
    responses={403: _error("Not your tier")},
)
def retire_tier(db: DbDep, user: ApiUserDep, tier_id: str) -> TierPublic:
    return tier_public(subs.retire_tier(db, tier=_own_tier(db, user, tier_id)))


@router.get("/creators/{handle}/tiers", summary="A creator's open tiers (public)")
def creator_tiers(db: DbDep, handle: str) -> list[TierPublic]:
    creator = accounts.get_creator(db, handle)
    return [tier_public(tier) for tier in subs.list_tiers(db, creator=creator)]


# --- subscriptions -------------------------------------------------------------------------------------


@router.post(
    "/tiers/{tier_id}/subscribe",
    status_code=201,
    summary="Subscribe: pending until the first month is paid (see `instructions`)",
    responses={409: _error("Retired tier, or already subscribed to this creator")},
)
def subscribe(request: Request, db: DbDep, user: ApiUserDep, tier_id: str) -> SubscriptionPublic:
    subscription = subs.subscribe(db, fan=user, tier=subs.get_tier(db, tier_id))
    return subscription_public(db, subscription, providers(request))


@router.get("/subscriptions", summary="Your subscriptions, newest first")
def my_subscriptions(request: Request, db: DbDep, user: ApiUserDep) -> list[SubscriptionPublic]:
    payment_providers = providers(request)
    return [subscription_public(db, s, payment_providers) for s in subs.fan_subscriptions(db, fan=user)]


@router.post(
    "/subscriptions/{subscription_id}/cancel",
    summary="Cancel (the fan, the creator or an operator); access runs to the end of the paid time",
    responses={409: _error("Already cancelled or lapsed")},
)
def cancel_subscription(
    request: Request,
    db: DbDep,
    user: ApiUserDep,
    subscription_id: str,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> SubscriptionPublic:
    subscription = subs.visible_subscription(db, user=user, subscription_id=subscription_id)
    at_period_end = body.at_period_end if body is not None else True
    cancelled = subs.cancel(db, subscription=subscription, by=user, at_period_end=at_period_end)
    return subscription_public(db, cancelled, providers(request))


@router.post(
    "/subscription-payments/{payment_id}/paid",
    status_code=201,
    response_model=SubscriptionPaymentResultPublic,
    summary="Record a fan's transfer for one month (operators); needs an Idempotency-Key",
    responses={
        400: _error("No Idempotency-Key header (code `idempotency_key_required`)"),
        403: _error("Only an operator may do this"),
        409: _error("Already paid or void, or the key was used for another request"),
        422: _error("Not exactly the month's amount and currency"),
    },
)
def mark_paid(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: ApiUserDep,
    payment_id: str,
    body: SubscriptionPaymentCreate,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", description="Any unique text; send the same key again to retry safely."
        ),
    ] = None,
) -> JSONResponse:
    if not user.has_role(Role.OPERATOR):
        raise Forbidden("only an operator may do this")
    key = check_idempotency_key(idempotency_key)
    payment = subs.get_payment(db, payment_id)
    currency = body.currency or payment.currency
    manual = providers(request)["manual"]
    ran = False

    def run() -> dict[str, Any]:
        nonlocal ran
        ran = True
        result = subs.record_subscription_payment(
            db,
            reference_or_id=payment.id,
            amount=parse_amount(body.amount, currency),
            currency=currency,
            fee=parse_amount(body.fee, currency),
            external_id=(body.reference or "").strip() or f"api:{user.id}:{key}",
            provider=manual,
            fee_bp=settings.platform_fee_bp,
            received_at=body.received_at,
        )
        public = SubscriptionPaymentResultPublic(
            payment=_payment_public(result.payment),
            subscription=subscription_public(db, result.subscription, providers(request)),
            distribution_id=result.distribution.id,
        )
        return public.model_dump(mode="json")

    stored = idempotent(
        db,
        key=key,
        scope=f"api.subscription-payment:{user.id}",
        fingerprint=fingerprint(payment=payment.id, **body.model_dump(mode="json")),
        fn=run,
    )
    return JSONResponse(stored, status_code=201, headers={} if ran else {"Idempotent-Replayed": "true"})
