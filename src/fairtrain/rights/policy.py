"""One policy model: rules per scope and usage, resolved to what applies to a site, creator or asset.

Usage categories are RSL's. ``all`` and ``ai-all`` are shorthands that expand to the concrete usages. The
narrowest scope that says anything about a usage decides it (asset > collection > creator > collective >
site); within one scope, or between several collectives or collections at the same level, the strictest
rule wins: deny, then licence, then allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CollectiveMembership, CreatorProfile
from fairtrain.catalog.models import Asset, Collection
from fairtrain.db.base import utcnow
from fairtrain.errors import InvalidInput
from fairtrain.money import check_currency
from fairtrain.rights.models import ACTIONS, SCOPES, USAGES, PolicyChange, PolicyRule

__all__ = [
    "CONCRETE_USAGES",
    "PAYMENT_TYPES",
    "SHORTHANDS",
    "Decision",
    "EffectivePolicy",
    "Rule",
    "Scope",
    "changes_at",
    "concrete_rules_at",
    "effective_policy",
    "expand",
    "format_micros",
    "parse_price",
    "rules_at",
    "set_rule",
]

CONCRETE_USAGES = ("search", "ai-input", "ai-index", "ai-train")
_EXPANDS = {"all": CONCRETE_USAGES, "ai-all": ("ai-input", "ai-index", "ai-train")}
SHORTHANDS = tuple(_EXPANDS)
PAYMENT_TYPES = (
    "purchase",
    "subscription",
    "training",
    "crawl",
    "use",
    "contribution",
    "attribution",
    "free",
)
USER_TYPES = ("commercial", "non-commercial", "education", "government", "personal")
_STRICTNESS = {"allow": 0, "licence": 1, "deny": 2}
_TERRITORY = re.compile(r"^([A-Z]{2}|EU)$")


@dataclass(frozen=True)
class Scope:
    kind: str  # site | collective | creator | collection | asset
    id: str = ""  # the object's id; "" for the site

    def __post_init__(self) -> None:
        if self.kind not in SCOPES:
            raise InvalidInput(f"unknown scope {self.kind!r}; scopes are {', '.join(SCOPES)}")
        if (self.kind == "site") != (self.id == ""):
            raise InvalidInput("the site scope has no id; every other scope needs one")


SITE = Scope("site")


@dataclass(frozen=True)
class Rule:
    action: str  # allow | deny | licence
    payment: str | None = None
    amount_micros: int | None = None
    currency: str | None = None
    user_types: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidInput(f"unknown action {self.action!r}; use allow, deny or licence")
        if self.action != "licence" and (self.payment or self.amount_micros is not None):
            raise InvalidInput("only a licence has a payment and a price")
        if self.payment is not None and self.payment not in PAYMENT_TYPES:
            raise InvalidInput(
                f"unknown payment type {self.payment!r}; use one of {', '.join(PAYMENT_TYPES)}"
            )
        if (self.amount_micros is None) != (self.currency is None):
            raise InvalidInput("a price needs both an amount and a currency")
        if self.currency is not None and check_currency(self.currency) != self.currency:
            raise InvalidInput(
                f"{self.currency!r} is not an ISO 4217 code as written; use capitals, e.g. USD"
            )
        if self.amount_micros is not None and self.amount_micros < 0:
            raise InvalidInput("a price cannot be negative")
        for user_type in self.user_types:
            if user_type not in USER_TYPES:
                raise InvalidInput(f"unknown user type {user_type!r}; use {', '.join(USER_TYPES)}")
        for territory in self.territories:
            if not _TERRITORY.match(territory):
                raise InvalidInput(f"{territory!r} is not an ISO 3166-1 alpha-2 code or EU")

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "payment": self.payment,
            "amount_micros": self.amount_micros,
            "currency": self.currency,
            "user_types": list(self.user_types),
            "territories": list(self.territories),
        }

    @classmethod
    def of(cls, row: PolicyRule) -> Rule:
        return cls(
            action=row.action,
            payment=row.payment,
            amount_micros=row.amount_micros,
            currency=row.currency,
            user_types=tuple(row.user_types or ()),
            territories=tuple(row.territories or ()),
        )


# When nobody has said anything: search is welcome, every AI use needs a licence.
DEFAULT_SITE_RULES = {"search": Rule("allow"), "ai-all": Rule("licence")}


@dataclass(frozen=True)
class Decision:
    usage: str
    rule: Rule
    scope: Scope  # where it was decided; the site scope for the built-in default
    default: bool = False

    @property
    def action(self) -> str:
        return self.rule.action


@dataclass(frozen=True)
class EffectivePolicy:
    decisions: dict[str, Decision] = field(default_factory=dict)

    def __getitem__(self, usage: str) -> Decision:
        return self.decisions[usage]

    def action(self, usage: str) -> str:
        return self.decisions[usage].action


def parse_price(amount: str, currency: str) -> tuple[int, str]:
    """'0.015', 'usd' -> (15000, 'USD'): exact, in millionths of the unit; never a float."""
    currency = check_currency(currency)
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        raise InvalidInput(f"{amount!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise InvalidInput(f"{amount!r} is not an amount of money")
    micros = value * 1_000_000
    if micros != micros.to_integral_value():
        raise InvalidInput(f"{amount!r} has more than six decimals")
    return int(micros), currency


def format_micros(amount_micros: int) -> str:
    """15000 -> '0.015', 2500000 -> '2.50' (at least two decimals, no trailing zeros beyond)."""
    units, micros = divmod(amount_micros, 1_000_000)
    decimals = f"{micros:06d}".rstrip("0")
    return f"{units}.{decimals.ljust(2, '0')}"


def expand(usage: str) -> Sequence[str]:
    """The concrete usages a usage stands for: ``ai-all`` -> ai-input, ai-index, ai-train."""
    return _EXPANDS.get(usage, (usage,))


def rules_at(session: Session, scope: Scope) -> dict[str, Rule]:
    rows = session.scalars(
        select(PolicyRule).where(PolicyRule.scope_type == scope.kind, PolicyRule.scope_id == scope.id)
    )
    return {row.usage: Rule.of(row) for row in rows}


def concrete_rules_at(session: Session, scope: Scope) -> dict[str, Rule | None]:
    """What ``scope`` itself says about each concrete usage, shorthands spelled out (the strictest where it
    says two things); ``None`` where it says nothing."""
    said = rules_at(session, scope)
    out: dict[str, Rule | None] = {}
    for usage in CONCRETE_USAGES:
        found = _strictest((rule, scope) for name, rule in said.items() if usage in expand(name))
        out[usage] = found[0] if found else None
    return out


def _strictest(candidates: Iterable[tuple[Rule, Scope]]) -> tuple[Rule, Scope] | None:
    best: tuple[Rule, Scope] | None = None
    for rule, scope in candidates:
        if best is None or _STRICTNESS[rule.action] > _STRICTNESS[best[0].action]:
            best = (rule, scope)
    return best


def _chain(
    session: Session,
    *,
    creator: CreatorProfile | None,
    asset: Asset | None,
    collection: Collection | None = None,
) -> list[list[Scope]]:
    """Scopes from narrowest to broadest; each level may hold several (collections, collectives)."""
    levels: list[list[Scope]] = []
    if asset is not None:
        levels.append([Scope("asset", asset.id)])
        levels.append([Scope("collection", c.id) for c in asset.collections])
        creator = creator or asset.creator
    elif collection is not None:
        levels.append([Scope("collection", collection.id)])
        creator = creator or session.get(CreatorProfile, collection.creator_id)
    if creator is not None:
        levels.append([Scope("creator", creator.id)])
        collective_ids = session.scalars(
            select(CollectiveMembership.collective_id).where(
                CollectiveMembership.creator_id == creator.id, CollectiveMembership.left_at.is_(None)
            )
        )
        levels.append([Scope("collective", cid) for cid in collective_ids])
    levels.append([SITE])
    return [level for level in levels if level]


def effective_policy(
    session: Session,
    *,
    creator: CreatorProfile | None = None,
    asset: Asset | None = None,
    collection: Collection | None = None,
    overrides: Mapping[Scope, Mapping[str, Rule]] | None = None,
) -> EffectivePolicy:
    """What applies to ``asset`` (or a ``collection``'s works, all of ``creator``'s work, or the site) for
    every concrete usage.

    ``overrides`` replaces what the named scopes say, in memory only: how a preview asks "what if".
    """
    chain = _chain(session, creator=creator, asset=asset, collection=collection)
    overrides = overrides or {}
    rules = {
        scope: dict(overrides[scope]) if scope in overrides else rules_at(session, scope)
        for level in chain
        for scope in level
    }
    decisions: dict[str, Decision] = {}
    for usage in CONCRETE_USAGES:
        for level in chain:
            found = _strictest(
                (rule, scope)
                for scope in level
                for said, rule in rules[scope].items()
                if usage in expand(said)
            )
            if found is not None:
                decisions[usage] = Decision(usage, found[0], found[1])
                break
        else:
            default = next(rule for said, rule in DEFAULT_SITE_RULES.items() if usage in expand(said))
            decisions[usage] = Decision(usage, default, SITE, default=True)
    return EffectivePolicy(decisions)


def set_rule(
    session: Session, *, scope: Scope, usage: str, rule: Rule | None, changed_by: str | None
) -> PolicyChange | None:
    """Set (or with ``rule=None`` remove) what ``scope`` says about ``usage``; every change is recorded."""
    if usage not in USAGES:
        raise InvalidInput(f"unknown usage {usage!r}; usages are {', '.join(USAGES)}")
    row = session.scalar(
        select(PolicyRule).where(
            PolicyRule.scope_type == scope.kind, PolicyRule.scope_id == scope.id, PolicyRule.usage == usage
        )
    )
    old = Rule.of(row).as_dict() if row is not None else None
    new = rule.as_dict() if rule is not None else None
    if old == new:
        return None
    if rule is None:
        assert row is not None
        session.delete(row)
    else:
        if row is None:
            row = PolicyRule(scope_type=scope.kind, scope_id=scope.id, usage=usage)
            session.add(row)
        row.action, row.payment = rule.action, rule.payment
        row.amount_micros, row.currency = rule.amount_micros, rule.currency
        row.user_types, row.territories = list(rule.user_types), list(rule.territories)
        row.updated_at = utcnow()
    change = PolicyChange(
        scope_type=scope.kind, scope_id=scope.id, usage=usage, changed_by=changed_by, old=old, new=new
    )
    session.add(change)
    session.flush()
    return change


def changes_at(session: Session, scope: Scope, *, limit: int = 50) -> Sequence[PolicyChange]:
    """The scope's recorded changes, newest first."""
    return session.scalars(
        select(PolicyChange)
        .where(PolicyChange.scope_type == scope.kind, PolicyChange.scope_id == scope.id)
        .order_by(PolicyChange.changed_at.desc(), PolicyChange.id.desc())
        .limit(limit)
    ).all()
