"""Distribution runs: one pool (a source's income for a period) split exactly among platform and creators.

The caller (the licensing layer) decides the weights — item count, metered usage, or a mix of the two made
with ``mix_weights`` — and, per creator, how its share is split among co-rightsholders. The run then:

1. splits the pool among creators by weight in ONE ``allocate`` step (largest remainder): each creator's
   *gross* share is within one minor unit of exact and the shares sum to the pool;
2. takes the platform fee from each gross share, rounded down (``gross × fee_bp // 10000``), so rounding
   favours creators and each statement shows gross, fee and net exactly;
3. splits each creator's *net* among its payees (creators, or outside rightsholders without an account) with
   ``allocate`` again, and optionally its gross among its assets, for statements;
4. posts it all as one transaction:

       Dr pool:<source>:<id>:<period>        pool
       Cr platform:revenue                   Σ fees
       Cr payable:<crt_id> / payable:holder:<digest>   each payee's total

A run is keyed by (source, period, currency): running it again returns the first run and posts nothing; with
different inputs it is refused. The pool is distributed only when every issued invoice feeding it is paid.
A pool that payments credit directly, with no invoice (a fan's subscription month), is distributed with
``invoiced=False``: whatever the pool holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.models import Asset, AssetRightsholder
from fairtrain.errors import InvalidInput
from fairtrain.ledger.errors import PoolAlreadyDistributed, PoolNotSettled
from fairtrain.ledger.idempotency import fingerprint, idempotent
from fairtrain.ledger.invoices import pool_code
from fairtrain.ledger.journal import PLATFORM_REVENUE, get_account, lock_accounts, owed, post
from fairtrain.ledger.models import (
    Account,
    DistributionAsset,
    DistributionPayee,
    DistributionRun,
    DistributionShare,
    Invoice,
    InvoiceStatus,
)
from fairtrain.money import allocate, check_currency

__all__ = [
    "BASIS_POINTS",
    "CreatorShare",
    "DistributionPlan",
    "Payee",
    "Weight",
    "asset_splits",
    "mix_weights",
    "payee_weights",
    "plan_distribution",
    "run_distribution",
]

BASIS_POINTS = 10_000
Weight = int | Fraction
K = TypeVar("K")


@dataclass(frozen=True)
class Payee:
    """Who is paid: a creator with an account, or a named outside rightsholder without one.

    An outside rightsholder is credited to ``payable:holder:<digest>``, the digest of their name with case and
    spacing normalised, so the same name always lands on the same account and the code carries no personal
    data; the account's ``name`` keeps the name as given, for payouts and statements.
    """

    creator_id: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if (self.creator_id is None) == (not self.name.strip()):
            raise InvalidInput("a payee is either a creator id or the name of an outside rightsholder")

    @classmethod
    def creator(cls, creator_id: str) -> Payee:
        return cls(creator_id=creator_id)

    @classmethod
    def outside(cls, name: str) -> Payee:
        return cls(name=" ".join(name.split()))

    @property
    def account_code(self) -> str:
        if self.creator_id is not None:
            return f"payable:{self.creator_id}"
        digest = hashlib.sha256(" ".join(self.name.split()).casefold().encode()).hexdigest()[:24]
        return f"payable:holder:{digest}"

    def __str__(self) -> str:
        return self.account_code

    def __lt__(self, other: Payee) -> bool:  # sorted by account code, for a fixed posting order
        return self.account_code < other.account_code


def mix_weights(first: Mapping[K, Weight], second: Mapping[K, Weight], ratio: Weight) -> dict[K, Fraction]:
    """Weights that give ``ratio`` of the pool by ``first`` and the rest by ``second``, exactly.

    Each map is normalised to sum to one, so e.g. item counts and metered requests can be mixed 70/30 with
    ``mix_weights(items, requests, Fraction(7, 10))``. Keys whose mixed weight is zero are left out.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, int | Fraction):
        raise InvalidInput(f"the mix ratio is an int or a Fraction, got {ratio!r}")
    ratio = Fraction(ratio)
    if not 0 <= ratio <= 1:
        raise InvalidInput(f"the mix ratio must be between 0 and 1, got {ratio}")
    mixed: dict[K, Fraction] = {}
    for weights, part in ((first, ratio), (second, 1 - ratio)):
        if part == 0:
            continue
        normalised = _normalised(weights)
        for key, weight in normalised.items():
            mixed[key] = mixed.get(key, Fraction(0)) + part * weight
    return {key: weight for key, weight in mixed.items() if weight > 0}


def _normalised(weights: Mapping[K, Weight]) -> dict[K, Fraction]:
    if not weights:
        raise InvalidInput("cannot mix an empty set of weights")
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | Fraction) or weight < 0:
            raise InvalidInput(f"weight of {key} is {weight!r}; weights are non-negative ints or Fractions")
    total = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if total == 0:
        raise InvalidInput("cannot mix weights that are all zero")
    return {key: Fraction(weight) / total for key, weight in weights.items()}


def asset_splits(session: Session, asset_ids: list[str] | set[str]) -> dict[str, dict[Payee, int]]:
    """Each asset's rightsholders in basis points, from the catalog; an asset without any is its creator's."""
    assets = {asset.id: asset for asset in session.scalars(select(Asset).where(Asset.id.in_(asset_ids)))}
    missing = set(asset_ids) - set(assets)
    if missing:
        raise InvalidInput(f"unknown assets: {', '.join(sorted(missing))}")
    splits: dict[str, dict[Payee, int]] = {asset_id: {} for asset_id in assets}
    rows = session.scalars(
        select(AssetRightsholder)
        .where(AssetRightsholder.asset_id.in_(assets))
        .order_by(AssetRightsholder.asset_id, AssetRightsholder.position)
    )
    for row in rows:
        payee = Payee.creator(row.creator_id) if row.creator_id else Payee.outside(row.name)
        splits[row.asset_id][payee] = splits[row.asset_id].get(payee, 0) + row.share_bp
    for asset_id, asset in assets.items():
        if not splits[asset_id]:
            splits[asset_id] = {Payee.creator(asset.creator_id): BASIS_POINTS}
    return splits


def payee_weights(
    contributions: Mapping[str, Weight], splits: Mapping[str, Mapping[Payee, Weight]]
) -> dict[Payee, Fraction]:
    """How a creator's share divides among payees: each asset's contribution times its holders' shares."""
    normalised = _normalised(contributions)
    weights: dict[Payee, Fraction] = {}
    for asset_id, part in normalised.items():
        if asset_id not in splits:
            raise InvalidInput(f"no rightsholder split given for asset {asset_id}")
        for payee, share in _normalised(splits[asset_id]).items():
            weights[payee] = weights.get(payee, Fraction(0)) + part * share
    return {payee: weight for payee, weight in weights.items() if weight > 0}


@dataclass(frozen=True)
class CreatorShare:
    creator_id: str
    weight: Fraction
    gross: int
    fee: int
    net: int
    payees: dict[Payee, int] = field(default_factory=dict)
    payee_weights: dict[Payee, Fraction] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)
    asset_weights: dict[str, Fraction] = field(default_factory=dict)


@dataclass(frozen=True)
class DistributionPlan:
    """The exact numbers of a distribution, before anything is posted."""

    pool: int
    fee_bp: int
    shares: list[CreatorShare]

    @property
    def fee_total(self) -> int:
        return sum(share.fee for share in self.shares)

    @property
    def payee_totals(self) -> dict[Payee, int]:
        totals: dict[Payee, int] = {}
        for share in self.shares:
            for payee, amount in share.payees.items():
                totals[payee] = totals.get(payee, 0) + amount
        return totals


def plan_distribution(
    pool: int,
    *,
    fee_bp: int,
    weights: Mapping[str, Weight],
    splits: Mapping[str, Mapping[Payee, Weight]] | None = None,
    contributions: Mapping[str, Mapping[str, Weight]] | None = None,
) -> DistributionPlan:
    """Split ``pool`` minor units: creators by ``weights`` (creator id -> weight) in one step, the platform
    fee from each gross share, each net share among the creator's payees (``splits``, default: the creator),
    and each gross share among the creator's assets (``contributions``, for statements)."""
    if isinstance(fee_bp, bool) or not isinstance(fee_bp, int) or not 0 <= fee_bp <= BASIS_POINTS:
        raise InvalidInput(f"the platform fee is 0 to 10000 basis points, got {fee_bp!r}")
    splits = splits or {}
    contributions = contributions or {}
    for name, extra in (("splits", splits), ("contributions", contributions)):
        strangers = set(extra) - set(weights)
        if strangers:
            raise InvalidInput(f"{name} given for creators without a weight: {', '.join(sorted(strangers))}")
    gross = allocate(pool, weights)
    shares = []
    for creator_id in sorted(weights):
        fee = gross[creator_id] * fee_bp // BASIS_POINTS
        net = gross[creator_id] - fee
        split = {
            payee: Fraction(w)
            for payee, w in (splits.get(creator_id) or {Payee.creator(creator_id): 1}).items()
        }
        assets = {asset: Fraction(w) for asset, w in (contributions.get(creator_id) or {}).items()}
        shares.append(
            CreatorShare(
                creator_id=creator_id,
                weight=Fraction(weights[creator_id]),
                gross=gross[creator_id],
                fee=fee,
                net=net,
                payees=allocate(net, split),
                payee_weights=split,
                assets=allocate(gross[creator_id], assets) if assets else {},
                asset_weights=assets,
            )
        )
    plan = DistributionPlan(pool=pool, fee_bp=fee_bp, shares=shares)
    assert plan.fee_total + sum(plan.payee_totals.values()) == pool, "distribution lost or made money"
    return plan


def run_distribution(
    session: Session,
    *,
    source_type: str,
    source_id: str,
    period_start: date,
    period_end: date,
    currency: str,
    fee_bp: int,
    weights: Mapping[str, Weight],
    splits: Mapping[str, Mapping[Payee, Weight]] | None = None,
    contributions: Mapping[str, Mapping[str, Weight]] | None = None,
    rule: str = "",
    idempotency_key: str,
    invoiced: bool = True,
) -> DistributionRun:
    """Distribute the pool of a source's paid invoices for a period; once per (source, period, currency).

    ``invoiced=False``: the pool is filled by payments posted straight into it, not by invoices; what it
    holds is distributed.
    """
    currency = check_currency(currency)
    inputs = _inputs(weights, splits or {}, contributions or {})
    digest = fingerprint(fee_bp=fee_bp, **inputs)
    key = {
        "source_type": source_type,
        "source_id": source_id,
        "period_start": period_start,
        "period_end": period_end,
        "currency": currency,
    }

    def run() -> dict[str, Any]:
        run_row = _run(session, key, fee_bp, weights, splits, contributions, rule, inputs, digest, invoiced)
        return {"run_id": run_row.id}

    result = idempotent(
        session,
        key=idempotency_key,
        scope="ledger.distribution",
        fingerprint=fingerprint(**key, digest=digest),
        fn=run,
    )
    run_row = session.get(DistributionRun, result["run_id"])
    assert run_row is not None
    return run_row


def _run(
    session: Session,
    key: dict[str, Any],
    fee_bp: int,
    weights: Mapping[str, Weight],
    splits: Mapping[str, Mapping[Payee, Weight]] | None,
    contributions: Mapping[str, Mapping[str, Weight]] | None,
    rule: str,
    inputs: dict[str, Any],
    digest: str,
    invoiced: bool,
) -> DistributionRun:
    currency: str = key["currency"]
    invoices = list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.source_type == key["source_type"],
                Invoice.source_id == key["source_id"],
                Invoice.period_start == key["period_start"],
                Invoice.period_end == key["period_end"],
                Invoice.currency == currency,
                Invoice.status.in_([InvoiceStatus.ISSUED, InvoiceStatus.PAID]),
            )
            .order_by(Invoice.id)
            .with_for_update()  # a concurrent run of the same pool waits here, then finds this one's run
        )
    )
    existing = session.scalar(
        select(DistributionRun).where(*(getattr(DistributionRun, k) == v for k, v in key.items()))
    )
    if existing is not None:
        if existing.inputs_digest != digest:
            raise PoolAlreadyDistributed(
                f"{key['source_type']} {key['source_id']} for {key['period_start']}–{key['period_end']} was "
                f"distributed by run {existing.id} with other inputs; it is not distributed twice"
            )
        return existing
    if invoiced and not invoices:
        raise InvalidInput(f"nothing to distribute: no issued {currency} invoices for this source and period")
    unpaid = [invoice.reference for invoice in invoices if invoice.status != InvoiceStatus.PAID]
    if unpaid:
        raise PoolNotSettled(
            f"invoices not yet paid: {', '.join(unpaid)}; distribute once they are, or void them"
        )
    code = pool_code(key["source_type"], key["source_id"], key["period_start"], key["period_end"])
    pool_account = get_account(session, code, currency)
    lock_accounts(session, [pool_account])
    pool = owed(session, pool_account)
    if invoiced:
        assert pool == sum(invoice.total for invoice in invoices), f"pool {code} does not match its invoices"
    if pool <= 0:
        raise InvalidInput(f"nothing to distribute: pool {code} holds no {currency}")
    creators = set(session.scalars(select(CreatorProfile.id).where(CreatorProfile.id.in_(set(weights)))))
    unknown = set(weights) - creators
    if unknown:
        raise InvalidInput(f"unknown creators: {', '.join(sorted(unknown))}")
    plan = plan_distribution(pool, fee_bp=fee_bp, weights=weights, splits=splits, contributions=contributions)

    accounts = {payee: _payee_account(session, payee, currency) for payee in plan.payee_totals}
    legs: list[tuple[Account, int]] = [(pool_account, pool)]
    if plan.fee_total:
        legs.append((get_account(session, PLATFORM_REVENUE, currency), -plan.fee_total))
    legs += [(accounts[payee], -amount) for payee, amount in sorted(plan.payee_totals.items()) if amount]
    transaction = post(
        session,
        kind="distribution",
        legs=legs,
        memo=f"distribution of {code}",
        idempotency_key=f"distribution:{code}:{currency}",
        ref_type=key["source_type"],
        ref_id=key["source_id"],
    )
    run = DistributionRun(
        **key,
        pool_account_id=pool_account.id,
        pool_amount=pool,
        fee_bp=fee_bp,
        fee_amount=plan.fee_total,
        rule=rule.strip()[:200],
        inputs=inputs,
        inputs_digest=digest,
        transaction_id=transaction.id,
    )
    session.add(run)
    session.flush()
    for share in plan.shares:
        session.add(
            DistributionShare(
                run_id=run.id,
                creator_id=share.creator_id,
                weight=str(share.weight),
                gross=share.gross,
                fee=share.fee,
                net=share.net,
            )
        )
        for payee, amount in sorted(share.payees.items()):
            session.add(
                DistributionPayee(
                    run_id=run.id,
                    creator_id=share.creator_id,
                    account_id=accounts[payee].id,
                    weight=str(share.payee_weights[payee]),
                    amount=amount,
                )
            )
        for asset_id, amount in sorted(share.assets.items()):
            session.add(
                DistributionAsset(
                    run_id=run.id,
                    creator_id=share.creator_id,
                    asset_id=asset_id,
                    weight=str(share.asset_weights[asset_id]),
                    amount=amount,
                )
            )
    for invoice in invoices:
        invoice.distribution_id = run.id
    session.flush()
    return run


def _payee_account(session: Session, payee: Payee, currency: str) -> Account:
    if payee.creator_id is not None:
        creator = session.get(CreatorProfile, payee.creator_id)
        if creator is None:
            raise InvalidInput(f"unknown creator {payee.creator_id} among the rightsholders")
        return get_account(
            session, payee.account_code, currency, name=creator.display_name, creator_id=creator.id
        )
    return get_account(session, payee.account_code, currency, name=payee.name)


def _inputs(
    weights: Mapping[str, Weight],
    splits: Mapping[str, Mapping[Payee, Weight]],
    contributions: Mapping[str, Mapping[str, Weight]],
) -> dict[str, Any]:
    """The run's inputs as JSON with exact fraction strings, to store and to compare re-runs by."""
    return {
        "weights": {c: str(Fraction(w)) for c, w in sorted(weights.items())},
        "splits": {
            c: {p.account_code: str(Fraction(w)) for p, w in sorted(split.items())}
            for c, split in sorted(splits.items())
        },
        "payee_names": {
            p.account_code: p.name for split in splits.values() for p in split if p.creator_id is None
        },
        "contributions": {
            c: {a: str(Fraction(w)) for a, w in sorted(assets.items())}
            for c, assets in sorted(contributions.items())
        },
    }
