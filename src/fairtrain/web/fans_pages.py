"""Fans' pages (issue 6): a creator's tiers and subscribers (``/fans``), subscribing from the creator's page,
a fan's subscriptions (``/subscriptions``), and the operator's record of fans' transfers (``/fans/payments``).
Routes stay thin; ``fairtrain.gateway.subscriptions`` decides.

The "mark paid" form carries a one-time idempotency key made when the page is drawn, so a double click or
a resubmitted form records the transfer once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile, Role, User
from fairtrain.catalog import service as catalog
from fairtrain.config import Settings
from fairtrain.errors import FairtrainError, Forbidden
from fairtrain.gateway import subscriptions as subs
from fairtrain.gateway.models import SubscriptionPayment
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.money import format_amount, parse_amount
from fairtrain.web.catalog_api import owned_creator
from fairtrain.web.deps import DbDep, SettingsDep, UserDep
from fairtrain.web.ledger_api import check_idempotency_key, providers
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["TierCard", "public_tiers", "router"]

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

Text = Annotated[str, Form()]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _form_key() -> str:
    return secrets.token_urlsafe(18)


def _operator(user: User) -> None:
    if not user.has_role(Role.OPERATOR):
        raise Forbidden("fans' payments are recorded by operators")


def _fans_url(creator: CreatorProfile, user: User, notice: str) -> str:
    extra = f"&creator={quote(creator.handle)}" if creator.user_id != user.id else ""
    return f"/fans?notice={quote(notice)}{extra}"


@dataclass(frozen=True)
class TierCard:
    """One open tier as the creator's public page shows it."""

    id: str
    name: str
    description: str
    price: str
    unlocks: str


def public_tiers(db: Session, creator: CreatorProfile) -> list[TierCard]:
    """The creator's open tiers for ``_tiers.html``, cheapest first."""
    return [
        TierCard(
            id=tier.id,
            name=tier.name,
            description=tier.description,
            price=format_amount(subs.tier_amount(tier), tier.currency),
            unlocks=f"Every work by {creator.display_name}"
            if tier.unlocks_all
            else "The collection"
            + "s" * (len(tier.collections) > 1)
            + ": "
            + ", ".join(c.name for c in tier.collections),
        )
        for tier in subs.list_tiers(db, creator=creator)
    ]


# --- the creator's tiers and subscribers ---------------------------------------------------------------


def _fans_page(
    request: Request,
    db: Session,
    user: User,
    creator: CreatorProfile | None,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if creator is None:  # an operator without a creator profile picks one
        return render(
            request, "fans.html", {"creator": None, "creators": accounts.list_creators(db, limit=500)}
        )
    return render(
        request,
        "fans.html",
        {
            "creator": creator,
            "own": creator.user_id == user.id,
            "tiers": subs.list_tiers(db, creator=creator, active_only=False),
            "collections": catalog.list_collections(db, creator=creator),
            "subscriptions": subs.creator_subscriptions(db, creator=creator),
            "amount": subs.tier_amount,
            "money": format_amount,
            "form": form or {"currency": "USD", "unlocks": "all", "collections": []},
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


def _subject(db: Session, user: User, creator: str | None) -> CreatorProfile | None:
    if not creator and user.creator is None and user.has_role(Role.OPERATOR):
        return None
    return owned_creator(db, user, creator or None)


@router.get("/fans")
def fans_page(request: Request, db: DbDep, user: UserDep, creator: str | None = None) -> Response:
    return _fans_page(request, db, user, _subject(db, user, creator))


@router.post("/fans/tiers")
def create_tier(
    request: Request,
    db: DbDep,
    user: UserDep,
    name: Text = "",
    price: Text = "",
    currency: Text = "USD",
    description: Text = "",
    unlocks: Text = "all",
    collections: Annotated[list[str] | None, Form()] = None,
    creator: Text = "",
) -> Response:
    owner = owned_creator(db, user, creator or None)
    chosen = collections or []
    try:
        subs.create_tier(
            db,
            creator=owner,
            name=name,
            price_micros=subs.monthly_price_micros(price, currency),
            currency=currency,
            description=description,
            unlocks_all=unlocks != "some",
            collections=chosen if unlocks == "some" else [],
        )
    except FairtrainError as exc:
        db.rollback()
        form = {
            "name": name,
            "price": price,
            "currency": currency,
            "description": description,
            "unlocks": unlocks,
            "collections": chosen,
        }
        return _fans_page(request, db, user, owner, error=exc.message, form=form, status_code=exc.status_code)
    return _see_other(_fans_url(owner, user, f"created:{name.strip()}"))


@router.post("/fans/tiers/{tier_id}/retire")
def retire_tier(db: DbDep, user: UserDep, tier_id: str) -> Response:
    tier = subs.get_tier(db, tier_id)
    owner = owned_creator(db, user, tier.creator.handle)
    subs.retire_tier(db, tier=tier)
    return _see_other(_fans_url(owner, user, f"retired:{tier.name}"))


# --- a fan's subscriptions -----------------------------------------------------------------------------


@router.post("/tiers/{tier_id}/subscribe")
def subscribe(request: Request, db: DbDep, user: UserDep, tier_id: str) -> Response:
    tier = subs.get_tier(db, tier_id)
    try:
        subscription = subs.subscribe(db, fan=user, tier=tier)
    except FairtrainError as exc:
        db.rollback()
        return _subscriptions_page(request, db, user, error=exc.message, status_code=exc.status_code)
    return _see_other(f"/subscriptions?notice=subscribed:{subscription.id}")


def _subscriptions_page(
    request: Request, db: Session, user: User, *, error: str | None = None, status_code: int = 200
) -> Response:
    payment_providers = providers(request)
    rows = []
    for subscription in subs.fan_subscriptions(db, fan=user):
        payments = subs.subscription_payments(db, subscription)
        instructions = [
            subs.payment_instructions(payment, provider)
            for payment in payments
            if payment.status == "due"
            for provider in payment_providers.values()
        ]
        rows.append((subscription, payments, instructions))
    return render(
        request,
        "fans_subscriptions.html",
        {
            "rows": rows,
            "amount": subs.tier_amount,
            "money": format_amount,
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


@router.get("/subscriptions")
def subscriptions_page(request: Request, db: DbDep, user: UserDep) -> Response:
    return _subscriptions_page(request, db, user)


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel_subscription(db: DbDep, user: UserDep, subscription_id: str, back: Text = "") -> Response:
    subscription = subs.visible_subscription(db, user=user, subscription_id=subscription_id)
    subs.cancel(db, subscription=subscription, by=user)
    if back == "fans":
        creator = db.get(CreatorProfile, subscription.creator_id)
        assert creator is not None
        return _see_other(_fans_url(creator, user, f"cancelled:{subscription.fan.email}"))
    return _see_other(f"/subscriptions?notice=cancelled:{subscription.id}")


# --- the operator's record of fans' transfers ----------------------------------------------------------


def _payments_page(
    request: Request, db: Session, *, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "fans_payments.html",
        {
            "due": [(payment, subscription, _form_key()) for payment, subscription in subs.due_payments(db)],
            "money": format_amount,
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


@router.get("/fans/payments")
def payments_page(request: Request, db: DbDep, user: UserDep) -> Response:
    _operator(user)
    return _payments_page(request, db)


@router.post("/fans/payments/{payment_id}/paid")
def mark_paid(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    user: UserDep,
    payment_id: str,
    idempotency_key: Text = "",
    amount: Text = "",
    reference: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """An operator records a fan's bank transfer for one month."""
    _operator(user)
    form_key = check_idempotency_key(idempotency_key)
    payment = subs.get_payment(db, payment_id)
    try:
        result = _record(db, settings, request, user, payment, form_key, amount, reference)
    except FairtrainError as exc:
        db.rollback()
        message = f"{payment.reference}: {exc.message}"
        return _payments_page(request, db, error=message, status_code=exc.status_code)
    return _see_other(f"/fans/payments?notice=paid:{result['reference']}")


def _record(
    db: Session,
    settings: Settings,
    request: Request,
    user: User,
    payment: SubscriptionPayment,
    form_key: str,
    amount: str,
    reference: str,
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        subs.record_subscription_payment(
            db,
            reference_or_id=payment.id,
            amount=parse_amount(amount, payment.currency) if amount.strip() else payment.amount,
            currency=payment.currency,
            # Without the bank's reference, the form's own key names the transfer (recorded once).
            external_id=reference.strip() or f"{payment.reference}/{form_key[:12]}",
            provider=providers(request)["manual"],
            fee_bp=settings.platform_fee_bp,
        )
        return {"reference": payment.reference}

    return idempotent(
        db,
        key=f"web:{user.id}:{form_key}",
        scope="fans.payment",
        fingerprint=fingerprint(payment=payment.id, amount=amount, reference=reference),
        fn=run,
    )


@router.post("/fans/tick")
def run_tick(db: DbDep, user: UserDep) -> Response:
    """What ``fairtrain fans tick`` does: open renewals, lapse and end what is over."""
    _operator(user)
    result = subs.tick(db)
    counts = f"{len(result.opened)}:{len(result.lapsed)}:{len(result.ended)}"
    return _see_other(f"/fans/payments?notice=tick:{counts}")
