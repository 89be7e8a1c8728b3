"""Licence terms: what an offer grants and a deal agrees, validated once and stored as canonical JSON.

Amounts are exact integers (STANDARDS §8): one-off, recurring and minimum-guarantee amounts in the currency's
minor units; per-crawl and per-use prices in millionths of the unit ("micros"), because they are fractions
of a cent (RSL's own example is USD 0.015), as in ``rights.policy.parse_price``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import iso3166

from fairtrain.errors import InvalidInput
from fairtrain.money import MAX_MINOR_UNITS, check_currency, currency_exponent
from fairtrain.rights.policy import CONCRETE_USAGES, USER_TYPES, expand, format_micros, parse_price

__all__ = [
    "DEFAULT_GOVERNING_LAW",
    "EU_MEMBERS",
    "FEE_MODELS",
    "MAX_UNIT_PRICE_UNITS",
    "Fee",
    "FeeModel",
    "Terms",
    "format_minor",
    "parse_unit_price",
    "territories_cover",
    "territories_intersect",
]

DEFAULT_GOVERNING_LAW = "England and Wales"


class FeeModel(enum.StrEnum):
    FLAT = "flat"  # one-off
    RECURRING = "recurring"  # monthly or yearly
    ROYALTY = "royalty"  # basis points of reported model revenue, with a minimum guarantee per period
    PER_CRAWL = "per-crawl"  # price per request
    PER_USE = "per-use"  # price per reported use
    ATTRIBUTION = "attribution"  # no money, credit only
    FREE = "free"


FEE_MODELS = tuple(m.value for m in FeeModel)
INTERVALS = ("monthly", "yearly")
AT_EXPIRY = ("delete", "retain-models")
DISTRIBUTIONS = ("items", "usage", "mixed")
FULL_BP = 10_000  # 100 %, in basis points
# A price above this for one request or one use is a typing mistake, not a price (larger fees are refused by
# fairtrain.money's MAX_MINOR_UNITS).
MAX_UNIT_PRICE_UNITS = 1_000
_MAX_DAYS = 100 * 366
EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


def _currency(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("currency must be an ISO 4217 code such as USD")
    return check_currency(value)


def parse_unit_price(amount: str, currency: str) -> int:
    """'0.015', 'usd' -> 15000 micros (a price per request or per use); at most six decimals."""
    micros, code = parse_price(amount, currency)
    _currency(code)
    return micros


def format_minor(amount: int, currency: str) -> str:
    """125050, 'USD' -> '1250.50'; 5000, 'JPY' -> '5000'."""
    exponent = currency_exponent(currency)
    if exponent == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    units, rest = divmod(abs(amount), 10**exponent)
    return f"{sign}{units}.{rest:0{exponent}d}"


def _int(value: object, label: str) -> int:
    # bool is an int in Python, and 12.0 from JSON is a float: neither is an amount of minor units.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float | Decimal) and value != int(value):
            raise InvalidInput(f"{label} must be a whole number, got {value!r} (fractional minor units?)")
        raise InvalidInput(f"{label} must be a whole number, got {value!r}")
    return value


def _opt_int(value: object, label: str) -> int | None:
    return None if value is None else _int(value, label)


def _bool(value: object, label: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{label} must be true or false, got {value!r}")
    return value


def _text(value: object, label: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(f"{label} must be at most {max_length:,} characters")
    return value


def _when(value: object, label: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{label} {value!r} is not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{label} must be a date and time")
    if value.tzinfo is None:
        raise InvalidInput(f"{label} needs a time zone (UTC, e.g. 2027-01-01T00:00:00Z)")
    # Whole seconds in UTC: what every database keeps the same, so a stored term reads back identical.
    return value.astimezone(UTC).replace(microsecond=0)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tokens(value: object, label: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidInput(f"{label} must be a list")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidInput(f"{label} must be a list of words")
        out.append(item.strip())
    return tuple(item for item in out if item)


def _usages(value: object) -> tuple[str, ...]:
    said = _tokens(value, "usages")
    concrete: set[str] = set()
    for usage in said:
        usage = usage.lower()
        if usage not in CONCRETE_USAGES and usage not in ("all", "ai-all"):
            raise InvalidInput(f"unknown usage {usage!r}; use {', '.join(CONCRETE_USAGES)} (or ai-all, all)")
        concrete.update(expand(usage))
    if not concrete:
        raise InvalidInput("the terms must permit at least one usage")
    return tuple(u for u in CONCRETE_USAGES if u in concrete)


def _user_types(value: object) -> tuple[str, ...]:
    said = {u.lower() for u in _tokens(value, "user types")}
    for user_type in said:
        if user_type not in USER_TYPES:
            raise InvalidInput(f"unknown user type {user_type!r}; use {', '.join(USER_TYPES)}")
    return tuple(u for u in USER_TYPES if u in said)


def _territories(value: object) -> tuple[str, ...]:
    out: list[str] = []
    for code in (t.upper() for t in _tokens(value, "territories")):
        if code != "EU" and (len(code) != 2 or code not in iso3166.countries_by_alpha2):
            raise InvalidInput(f"{code!r} is not an ISO 3166-1 alpha-2 country code or EU")
        if code not in out:
            out.append(code)
    return tuple(sorted(out))


def _countries(territories: tuple[str, ...]) -> frozenset[str] | None:
    """The countries meant; None for everywhere (no territory named)."""
    if not territories:
        return None
    countries: set[str] = set()
    for code in territories:
        countries |= EU_MEMBERS if code == "EU" else {code}
    return frozenset(countries)


def territories_intersect(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    ca, cb = _countries(a), _countries(b)
    return ca is None or cb is None or bool(ca & cb)


def territories_cover(territories: tuple[str, ...], territory: str) -> bool:
    """Whether terms limited to ``territories`` (empty: everywhere) cover ``territory`` (a country or EU)."""
    countries = _countries(territories)
    if countries is None:
        return True
    wanted = EU_MEMBERS if territory.upper() == "EU" else {territory.upper()}
    return wanted <= countries


@dataclass(frozen=True)
class Fee:
    """How the licensee pays. Which fields a model needs is checked here, and nothing else may be set."""

    model: str
    currency: str | None = None
    amount_minor: int | None = None  # flat, recurring
    interval: str | None = None  # recurring (billing), royalty (reporting period)
    royalty_bp: int | None = None  # royalty: basis points of reported model revenue (0–10,000)
    minimum_minor: int | None = None  # royalty: minimum guarantee per interval
    price_micros: int | None = None  # per-crawl, per-use: millionths of the unit

    def __post_init__(self) -> None:
        if self.model not in FEE_MODELS:
            raise InvalidInput(f"unknown fee model {self.model!r}; use one of {', '.join(FEE_MODELS)}")
        model = FeeModel(self.model)
        needed = {
            FeeModel.FLAT: {"currency", "amount_minor"},
            FeeModel.RECURRING: {"currency", "amount_minor", "interval"},
            FeeModel.ROYALTY: {"currency", "royalty_bp", "minimum_minor", "interval"},
            FeeModel.PER_CRAWL: {"currency", "price_micros"},
            FeeModel.PER_USE: {"currency", "price_micros"},
            FeeModel.ATTRIBUTION: set(),
            FeeModel.FREE: set(),
        }[model]
        if model is FeeModel.ROYALTY:  # sensible defaults: no minimum, yearly royalty statements
            if self.minimum_minor is None:
                object.__setattr__(self, "minimum_minor", 0)
            if self.interval is None:
                object.__setattr__(self, "interval", "yearly")
        for name in ("currency", "amount_minor", "interval", "royalty_bp", "minimum_minor", "price_micros"):
            given = getattr(self, name) is not None
            if given and name not in needed:
                raise InvalidInput(f"a {model.value} fee has no {name.replace('_', ' ')}")
            if not given and name in needed:
                raise InvalidInput(f"a {model.value} fee needs {name.replace('_', ' ')}")
        if self.currency is not None:
            object.__setattr__(self, "currency", _currency(self.currency))
        if self.interval is not None and self.interval not in INTERVALS:
            raise InvalidInput(f"unknown interval {self.interval!r}; use monthly or yearly")
        for name in ("amount_minor", "minimum_minor"):
            value = _opt_int(getattr(self, name), name.replace("_", " "))
            if value is None:
                continue
            if value < 0:
                raise InvalidInput(f"{name.replace('_minor', '')} cannot be negative")
            if name == "amount_minor" and value == 0:
                raise InvalidInput(f"a {model.value} fee needs an amount above zero; use the free model")
            if value > MAX_MINOR_UNITS:
                raise InvalidInput(
                    f"{format_minor(value, self.currency or 'USD')} {self.currency} is larger than any "
                    "amount fairtrain accepts"
                )
        if self.royalty_bp is not None:
            bp = _int(self.royalty_bp, "royalty rate")
            if not 0 <= bp <= FULL_BP:
                raise InvalidInput(f"a royalty must be between 0 % and 100 %, got {bp / 100:g} %")
            if bp == 0 and not self.minimum_minor:
                raise InvalidInput("a royalty of 0 % needs a minimum guarantee; otherwise use the free model")
        if self.price_micros is not None:
            micros = _int(self.price_micros, "price")
            if micros <= 0:
                raise InvalidInput(f"a {model.value} price must be above zero; use the free model")
            if micros > MAX_UNIT_PRICE_UNITS * 1_000_000:
                raise InvalidInput(
                    f"a {model.value} price above {MAX_UNIT_PRICE_UNITS:,} {self.currency} is not plausible"
                )

    @property
    def paid(self) -> bool:
        return self.model not in (FeeModel.ATTRIBUTION, FeeModel.FREE)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fee:
        if not isinstance(data, Mapping):
            raise InvalidInput("fee must be an object with a model")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidInput(f"unknown fee field(s): {', '.join(sorted(unknown))}")
        if "model" not in data:
            raise InvalidInput(f"a fee needs a model: one of {', '.join(FEE_MODELS)}")
        return cls(**dict(data))

    def describe(self) -> str:
        """Plain words, e.g. 'USD 5000.00 once' or '12.5 % of model revenue, at least USD 1000.00 yearly'."""
        currency = self.currency or ""
        match FeeModel(self.model):
            case FeeModel.FLAT:
                return f"{currency} {format_minor(self.amount_minor or 0, currency)} once"
            case FeeModel.RECURRING:
                return f"{currency} {format_minor(self.amount_minor or 0, currency)} {self.interval}"
            case FeeModel.ROYALTY:
                rate = f"{(self.royalty_bp or 0) / 100:g} % of reported model revenue"
                if self.minimum_minor:
                    minimum = format_minor(self.minimum_minor, currency)
                    return f"{rate}, at least {currency} {minimum} {self.interval}"
                return f"{rate}, reported {self.interval}"
            case FeeModel.PER_CRAWL:
                return f"{currency} {format_micros(self.price_micros or 0)} per request"
            case FeeModel.PER_USE:
                return f"{currency} {format_micros(self.price_micros or 0)} per reported use"
            case FeeModel.ATTRIBUTION:
                return "no fee; attribution required"
            case FeeModel.FREE:
                return "no fee"


@dataclass(frozen=True)
class Terms:
    """Everything a licence grants and requires. ``start`` None = from acceptance; the term ends at ``end``,
    after ``duration_days``, or never (neither given)."""

    usages: tuple[str, ...]
    fee: Fee
    user_types: tuple[str, ...] = ()  # empty: every user type
    territories: tuple[str, ...] = ()  # empty: worldwide
    exclusive: bool = False
    start: datetime | None = None
    end: datetime | None = None
    duration_days: int | None = None
    auto_renew: bool = False
    payment_due_days: int = 30
    attribution: str = ""  # required credit line; "" = none
    no_verbatim: bool = True  # outputs must not reproduce the works verbatim
    no_style_imitation: bool = True  # outputs must not imitate the named creators' style on request
    at_expiry: str = "delete"  # delete | retain-models
    deletion_days: int = 30  # copies deleted within this many days of the end, with a certificate
    audit: bool = True
    audit_notice_days: int = 30
    distribution: str = "items"  # how a collective's pool is split: items | usage | mixed
    distribution_items_bp: int | None = None  # mixed: weight of the item count; the rest by metered usage
    governing_law: str = DEFAULT_GOVERNING_LAW

    def __post_init__(self) -> None:
        if not isinstance(self.fee, Fee):
            raise InvalidInput("fee must be a Fee")
        object.__setattr__(self, "usages", _usages(self.usages))
        object.__setattr__(self, "user_types", _user_types(self.user_types))
        object.__setattr__(self, "territories", _territories(self.territories))
        for name in ("exclusive", "auto_renew", "no_verbatim", "no_style_imitation", "audit"):
            _bool(getattr(self, name), name.replace("_", " "))
        object.__setattr__(self, "start", _when(self.start, "start"))
        object.__setattr__(self, "end", _when(self.end, "end"))
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidInput(f"the term ends ({_iso(self.end)}) before it starts ({_iso(self.start)})")
        if self.duration_days is not None:
            days = _int(self.duration_days, "duration in days")
            if not 1 <= days <= _MAX_DAYS:
                raise InvalidInput(f"a term lasts 1 to {_MAX_DAYS:,} days, not {days}")
            if self.end is not None:
                raise InvalidInput("give either an end or a duration, not both")
        if self.auto_renew:
            period = self.renewal_period
            if period is None:
                raise InvalidInput("an auto-renewing term needs a length: a duration, or both start and end")
            if period < timedelta(days=1):
                raise InvalidInput("an auto-renewing term lasts at least one day")
        for name, low, high in (
            ("payment_due_days", 0, 365),
            ("deletion_days", 1, 365),
            ("audit_notice_days", 1, 365),
        ):
            value = _int(getattr(self, name), name.replace("_", " "))
            if not low <= value <= high:
                raise InvalidInput(f"{name.replace('_', ' ')} must be between {low} and {high}, not {value}")
        if self.at_expiry not in AT_EXPIRY:
            raise InvalidInput(f"unknown data-at-expiry rule {self.at_expiry!r}; use delete or retain-models")
        object.__setattr__(self, "attribution", _text(self.attribution, "attribution", 2_000))
        if self.fee.model == FeeModel.ATTRIBUTION and not self.attribution:
            raise InvalidInput("an attribution-only licence needs the attribution text")
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidInput(f"unknown distribution rule {self.distribution!r}; use items, usage or mixed")
        if self.distribution == "mixed":
            weight = _opt_int(self.distribution_items_bp, "item-count weight")
            if weight is None or not 0 < weight < FULL_BP:
                raise InvalidInput("a mixed distribution needs an item-count weight between 0 % and 100 %")
        elif self.distribution_items_bp is not None:
            raise InvalidInput("only a mixed distribution has an item-count weight")
        law = _text(self.governing_law, "governing law", 120)
        if not law:
            raise InvalidInput("the terms need a governing law, e.g. England and Wales")
        object.__setattr__(self, "governing_law", law)

    @property
    def renewal_period(self) -> timedelta | None:
        """How long one term lasts, when that is known before acceptance."""
        if self.duration_days is not None:
            return timedelta(days=self.duration_days)
        if self.start is not None and self.end is not None:
            return self.end - self.start
        return None

    def resolve_term(self, accepted_at: datetime) -> tuple[datetime, datetime | None]:
        """(start, end) of the first term for a deal accepted at ``accepted_at``."""
        start = self.start or accepted_at.astimezone(UTC).replace(microsecond=0)
        if self.end is not None:
            return start, self.end
        if self.duration_days is not None:
            return start, start + timedelta(days=self.duration_days)
        return start, None

    def as_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready form: what is stored, hashed and compared."""
        return {
            "usages": list(self.usages),
            "user_types": list(self.user_types),
            "territories": list(self.territories),
            "exclusive": self.exclusive,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "duration_days": self.duration_days,
            "auto_renew": self.auto_renew,
            "fee": self.fee.as_dict(),
            "payment_due_days": self.payment_due_days,
            "attribution": self.attribution,
            "no_verbatim": self.no_verbatim,
            "no_style_imitation": self.no_style_imitation,
            "at_expiry": self.at_expiry,
            "deletion_days": self.deletion_days,
            "audit": self.audit,
            "audit_notice_days": self.audit_notice_days,
            "distribution": self.distribution,
            "distribution_items_bp": self.distribution_items_bp,
            "governing_law": self.governing_law,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Terms:
        """Terms from JSON (an API body, or what was stored); every field is checked, unknown ones refused."""
        if not isinstance(data, Mapping):
            raise InvalidInput("terms must be an object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidInput(f"unknown term(s): {', '.join(sorted(unknown))}")
        for required in ("usages", "fee"):
            if required not in data:
                raise InvalidInput(f"the terms need {required}")
        values = dict(data)
        values["fee"] = Fee.from_dict(values["fee"])
        return cls(**values)

    def replace(self, **changes: Any) -> Terms:
        """A copy with some terms changed (checked again); ``fee`` may be a Fee or a dict."""
        if isinstance(changes.get("fee"), Mapping):
            changes["fee"] = Fee.from_dict(changes["fee"])
        return dataclasses.replace(self, **changes)
