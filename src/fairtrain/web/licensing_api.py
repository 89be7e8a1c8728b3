"""JSON API for licensing (issue 5): offers, licensee organisations and their API clients, deals, agreements.

The routes are thin: ``fairtrain.licensing`` decides. This module also holds what the licensing pages share
with the API: who acts for which seller, which deals a user may see and as which side, and the JSON shapes
(``*Create`` in, ``*Public`` out), which the pages reuse to describe terms.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from fairtrain.accounts import service as accounts
from fairtrain.accounts.errors import UnknownOrg
from fairtrain.accounts.models import Collective, CreatorProfile, LicenseeMember, LicenseeOrg, Role, User
from fairtrain.accounts.schemas import ApiError, Page
from fairtrain.errors import Forbidden, InvalidInput
from fairtrain.licensing import agreements, billing, clients, crawl_billing, crawlers, deals, offers
from fairtrain.licensing.billing_models import CrawlCharge
from fairtrain.licensing.deals import LIVE_STATES, OPEN_STATES, Side
from fairtrain.licensing.errors import NotAParty, UnknownDeal
from fairtrain.licensing.models import ApiClient, Deal, DealEvent, Offer, OfferVersion
from fairtrain.licensing.rsl import license_element, license_fragment, offer_url, payment_type
from fairtrain.licensing.selection import Selection, Seller
from fairtrain.licensing.terms import Terms
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.policy import format_micros
from fairtrain.web.deps import ApiUserDep, DbDep, OptionalApiUserDep, SettingsDep

__all__ = [
    "ApiClientCreate",
    "ApiClientPublic",
    "ApiClientSecret",
    "CrawlChargePublic",
    "CrawlerAccountCreate",
    "CrawlerAccountPublic",
    "DealCounter",
    "DealCreate",
    "DealPublic",
    "DealStep",
    "DealSummaryPublic",
    "DealTerminate",
    "FeeCreate",
    "LicenseeCreate",
    "LicenseePublic",
    "OfferCreate",
    "OfferPublic",
    "OfferUpdate",
    "OfferVersionCreate",
    "SelectionCreate",
    "TermsCreate",
    "agreement_response",
    "charge_window",
    "count_offers",
    "crawler_org",
    "deal_actions",
    "deal_sides",
    "event_actor",
    "member_org",
    "pick_side",
    "router",
    "seller_for",
    "seller_ref",
    "sellers_of",
    "user_deals",
    "visible_deal",
]


def _error(description: str) -> dict[str, object]:
    return {"description": description, "model": ApiError}


router = APIRouter(
    prefix="/api/v1",
    tags=["licensing"],
    responses={
        401: _error("No valid API token or session"),
        404: _error("No such offer, deal, organisation or client (or not yours to see)"),
        422: _error("Invalid request, or terms the seller's policy refuses"),
    },
)
_WRITE: dict[int | str, dict[str, object]] = {
    403: _error("Not allowed for this user, or not a party to this step"),
    409: _error("Not possible in the current state (withdrawn offer, deal state, exclusivity)"),
}

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]


# --- schemas -------------------------------------------------------------------------------------------

_TERMS_DEFAULTS: dict[str, Any] = {name: f.default for name, f in Terms.__dataclass_fields__.items()}
Usage = Literal["search", "ai-input", "ai-index", "ai-train", "ai-all", "all"]
UserType = Literal["commercial", "non-commercial", "education", "government", "personal"]
Kind = Literal["image", "text", "audio", "video"]


class FeeCreate(BaseModel):
    """How the licensee pays; which fields a model needs is in docs/licensing.md. Amounts are integers."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["flat", "recurring", "royalty", "per-crawl", "per-use", "attribution", "free"]
    currency: str | None = Field(None, examples=["USD"], description="ISO 4217; not for attribution/free.")
    amount_minor: StrictInt | None = Field(None, description="flat, recurring: minor units (cents).")
    interval: Literal["monthly", "yearly"] | None = Field(None, description="recurring, royalty.")
    royalty_bp: StrictInt | None = Field(None, description="royalty: basis points of model revenue.")
    minimum_minor: StrictInt | None = Field(None, description="royalty: minimum guarantee per interval.")
    price_micros: StrictInt | None = Field(None, description="per-crawl, per-use: millionths of the unit.")


class FeePublic(FeeCreate):
    description: str = Field(examples=["USD 5000.00 once"])


class TermsCreate(BaseModel):
    """Licence terms (docs/licensing.md#terms). Omitted fields take the defaults shown."""

    model_config = ConfigDict(extra="forbid")

    usages: list[Usage] = Field(min_length=1, examples=[["ai-train"]])
    fee: FeeCreate
    user_types: list[UserType] = Field(default=[], description="Empty: any user type.")
    territories: list[str] = Field(default=[], description="ISO 3166-1 alpha-2 or EU; empty: worldwide.")
    exclusive: StrictBool = False
    start: AwareDatetime | None = Field(None, description="Empty: from acceptance.")
    end: AwareDatetime | None = None
    duration_days: StrictInt | None = Field(None, description="Instead of an end.")
    auto_renew: StrictBool = False
    payment_due_days: StrictInt = _TERMS_DEFAULTS["payment_due_days"]
    attribution: str = Field(default="", max_length=2000)
    no_verbatim: StrictBool = True
    no_style_imitation: StrictBool = True
    at_expiry: Literal["delete", "retain-models"] = "delete"
    deletion_days: StrictInt = _TERMS_DEFAULTS["deletion_days"]
    audit: StrictBool = True
    audit_notice_days: StrictInt = _TERMS_DEFAULTS["audit_notice_days"]
    distribution: Literal["items", "usage", "mixed"] = "items"
    distribution_items_bp: StrictInt | None = None
    governing_law: str = Field(default=_TERMS_DEFAULTS["governing_law"], max_length=120)

    def to_terms(self) -> Terms:
        return Terms.from_dict(self.model_dump(exclude_unset=True))


class TermsPublic(TermsCreate):
    usages: list[Usage]
    fee: FeePublic
    rsl_payment: str = Field(description="The RSL payment type the fee renders as.", examples=["purchase"])

    @classmethod
    def of(cls, terms: Terms) -> TermsPublic:
        data = terms.as_dict()
        data["fee"] = {**data["fee"], "description": terms.fee.describe()}
        return cls.model_validate({**data, "rsl_payment": payment_type(terms)})


class SelectionCreate(BaseModel):
    """Which works (docs/licensing.md#selection): all, or collections AND tags AND kinds AND dates, plus
    listed assets."""

    model_config = ConfigDict(extra="forbid")

    all: StrictBool = False
    collections: list[str] = Field(default=[], description="Collection ids (any of them).")
    tags: list[str] = []
    kinds: list[Kind] = []
    date_field: Literal["created", "published", "imported"] = "created"
    since: date | None = None
    until: date | None = None
    assets: list[str] = Field(default=[], description="Asset ids added to what the criteria match.")

    def to_selection(self) -> Selection:
        return Selection.from_dict(self.model_dump(exclude_unset=True))


class SelectionPublic(SelectionCreate):
    description: str = Field(examples=["works kind image"])

    @classmethod
    def of(cls, selection: Selection) -> SelectionPublic:
        return cls.model_validate({**selection.as_dict(), "description": selection.describe()})


class SellerPublic(BaseModel):
    kind: Literal["creator", "collective"]
    id: str
    handle: str = Field(description="The creator's handle or the collective's slug.")
    name: str
    url: str


class PortfolioPublic(BaseModel):
    creators: int
    works: int
    by_kind: dict[str, int]


class OfferVersionPublic(BaseModel):
    version: int
    note: str
    created_at: datetime


class OfferPublic(BaseModel):
    id: str
    url: str = Field(description="The offer's page, also its RSL rate card.")
    status: str = Field(examples=["open"], description="open or withdrawn")
    public: bool = Field(description="Listed publicly; an unlisted offer is reachable by its id.")
    title: str
    description: str
    seller: SellerPublic
    version: int = Field(description="The version shown: the current one unless asked for another.")
    current_version: int
    terms: TermsPublic
    selection: SelectionPublic
    rsl_license: str = Field(description="The version as an RSL 1.0 <license> element.")
    versions: list[OfferVersionPublic]
    portfolio: PortfolioPublic = Field(description="What the seller has to offer overall.")
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seller: str | None = Field(
        None, description="'@handle' of a creator or a collective's slug; default: your creator profile."
    )
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    public: StrictBool = True
    terms: TermsCreate
    selection: SelectionCreate = Field(
        default_factory=lambda: SelectionCreate(all=True), description="Default: all works."
    )


class OfferVersionCreate(BaseModel):
    """New terms and/or a new selection; what is omitted stays as in the current version."""

    model_config = ConfigDict(extra="forbid")

    terms: TermsCreate | None = None
    selection: SelectionCreate | None = None
    note: str = Field(default="", max_length=2000, description="What changed, for the version history.")


class OfferUpdate(BaseModel):
    """How the offer is shown (no new version)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    public: StrictBool | None = None


class MemberOut(BaseModel):
    email: str
    joined_at: datetime


class ApiClientPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The client id (public).", examples=["ftc_3kf9q2m7x0v5b8nd"])
    name: str
    secret_hint: str = Field(description="The secret's first characters, to tell secrets apart.")
    generation: int = Field(description="Bumped by every rotation.")
    created_at: datetime
    rotated_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiClientSecret(ApiClientPublic):
    client_secret: str = Field(description="Shown in this response only; store it now.")


class ApiClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["training crawler"])


class CrawlerAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(
        min_length=1,
        max_length=255,
        description="The crawler's Web Bot Auth origin, or its name on the crawler list.",
        examples=["https://crawler.example", "GPTBot"],
    )
    max_price_micros: StrictInt | None = Field(
        None,
        gt=0,
        description="The most a crawl may cost, in millionths of the currency's unit.",
        examples=[50_000],
    )


class CrawlerAccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["cra_3kf9q2m7x0v5b8nd"])
    agent: str = Field(description="Normalised: an https origin, or a crawler name in lower case.")
    max_price_micros: int | None
    created_at: datetime
    revoked_at: datetime | None


class CrawlChargePublic(BaseModel):
    request_id: str = Field(description="The gateway request that was charged.")
    crawler: str
    creator_id: str
    asset_id: str
    path: str
    price_micros: int
    price: str = Field(examples=["0.015"])
    currency: str
    bytes: int
    occurred_at: datetime
    invoice_id: str | None = Field(description="The invoice that billed it; None until its month is billed.")

    @classmethod
    def of(cls, row: CrawlCharge) -> CrawlChargePublic:
        at = row.occurred_at if row.occurred_at.tzinfo else row.occurred_at.replace(tzinfo=UTC)
        return cls(
            request_id=row.request_id,
            crawler=row.crawler,
            creator_id=row.creator_id,
            asset_id=row.asset_id,
            path=row.path,
            price_micros=row.price_micros,
            price=format_micros(row.price_micros),
            currency=row.currency,
            bytes=row.bytes,
            occurred_at=at,
            invoice_id=row.invoice_id,
        )


class LicenseeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Example AI Lab"])
    contact_name: str = Field(min_length=1, max_length=200)
    contact_email: str = Field(max_length=320)
    billing_email: str = Field(max_length=320)


class LicenseeMemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, description="An existing account's email.")


class LicenseePublic(BaseModel):
    id: str
    name: str
    contact_name: str
    contact_email: str
    billing_email: str
    created_at: datetime
    members: list[MemberOut]
    clients: list[ApiClientPublic] = Field(description="Live clients (revoked ones are left out).")


class OrgRef(BaseModel):
    id: str
    name: str


class OfferRef(BaseModel):
    id: str
    version: int
    title: str
    url: str


class AgreementPublic(BaseModel):
    sha256: str = Field(description="SHA-256 of the HTML agreement, recorded at acceptance.")
    pdf_sha256: str
    data_sha256: str
    template_version: int
    html_url: str
    pdf_url: str


class DealEventPublic(BaseModel):
    seq: int
    action: str
    from_status: str | None
    to_status: str
    side: str
    actor: str | None = Field(description="Who took the step, as far as this caller may know.")
    reason: str
    terms: TermsPublic
    at: datetime


class DealWarningPublic(BaseModel):
    asset_id: str
    code: str
    message: str


Action = Literal["accept", "counter", "decline", "withdraw", "terminate"]


class ActionPublic(BaseModel):
    action: Action
    side: str = Field(examples=["seller"], description="seller or licensee")


class DealSummaryPublic(BaseModel):
    id: str
    url: str
    status: str
    offer: OfferRef
    seller: SellerPublic
    licensee: OrgRef
    terms: TermsPublic
    terms_from: str = Field(description="Which side put the current terms on the table.")
    starts_at: datetime | None
    ends_at: datetime | None
    renewals: int
    asset_count: int | None
    selection_sha256: str | None
    agreement: AgreementPublic | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    your_sides: list[str] = Field(description="seller, licensee, both or neither (an operator)")
    actions: list[ActionPublic] = Field(description="What this caller may do now.")


class DealPublic(DealSummaryPublic):
    events: list[DealEventPublic]
    warnings: list[DealWarningPublic] = Field(description="Works the seller may no longer license.")


class DealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offer_id: str
    offer_version: int | None = Field(None, description="Default: the current one (it must be current).")
    org: str | None = Field(None, description="Your organisation's id; needed if you belong to several.")
    terms: TermsCreate | None = Field(None, description="Changed terms to propose; default: as offered.")
    message: str = Field(default="", max_length=5000)


class DealStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=5000)
    side: Literal["seller", "licensee"] | None = Field(
        None, description="Needed only if you are on both sides."
    )


class DealCounter(DealStep):
    terms: TermsCreate


class DealTerminate(DealStep):
    reason: str = Field(min_length=1, max_length=5000)


# --- who may do what -----------------------------------------------------------------------------------


def sellers_of(db: Session, user: User) -> list[Seller]:
    """Whom ``user`` sells for: their creator profile, and the collectives they operate."""
    out: list[Seller] = [user.creator] if user.creator is not None else []
    out += db.scalars(select(Collective).where(Collective.operator_id == user.id).order_by(Collective.name))
    return out


def seller_ref(seller: Seller) -> str:
    return f"@{seller.handle}" if isinstance(seller, CreatorProfile) else seller.slug


def seller_for(db: Session, user: User, ref: str | None) -> Seller:
    """The seller ``ref`` names ('@handle' or a collective's slug; None: the user's own creator profile),
    if ``user`` acts for it."""
    if not ref:
        if user.creator is None:
            raise Forbidden("this account sells for no creator; name a collective you operate")
        return user.creator
    seller: Seller = (
        accounts.get_creator(db, ref) if ref.startswith("@") else accounts.get_collective(db, ref)
    )
    try:
        offers.check_seller(seller, user)
    except NotAParty as exc:
        raise Forbidden(exc.message) from None
    return seller


def member_org(db: Session, user: User, org_id: str | None) -> LicenseeOrg:
    """One of ``user``'s licensee organisations: the one named, or their only one."""
    orgs = accounts.orgs_of(db, user)
    if org_id:
        found = next((o for o in orgs if o.id == org_id), None)
        if found is None:
            raise UnknownOrg(f"no organisation {org_id} of yours")
        return found
    if not orgs:
        raise Forbidden("this account belongs to no licensee organisation; register one first")
    if len(orgs) > 1:
        raise InvalidInput("you belong to several organisations; say which (org)")
    return orgs[0]


def crawler_org(db: Session, user: User, org_id: str) -> LicenseeOrg:
    """The organisation whose crawlers and crawl charges ``user`` manages: their own, any for an operator."""
    if user.has_role(Role.OPERATOR):
        org = db.get(LicenseeOrg, org_id)
        if org is None:
            raise UnknownOrg(f"no organisation {org_id}")
        return org
    return member_org(db, user, org_id)


def _moment(value: str | None, label: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label} {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{label} {value!r} needs a timezone (e.g. a trailing Z for UTC)")
    return moment


def charge_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``since`` (inclusive) and ``until`` as given: a date is a whole UTC day, ``until`` a date includes
    that day; a time must carry its timezone, and ``until`` a time is exclusive."""
    return _moment(since, "since", end=False), _moment(until, "until", end=True)


def deal_sides(db: Session, user: User, deal: Deal) -> set[Side]:
    sides = set()
    if db.get(LicenseeMember, (deal.org_id, user.id)) is not None:
        sides.add(Side.LICENSEE)
    try:
        offers.check_seller(offers.seller_of(deal.offer), user)
    except NotAParty:
        pass
    else:
        sides.add(Side.SELLER)
    return sides


def visible_deal(db: Session, user: User, deal_id: str) -> tuple[Deal, set[Side]]:
    """The deal and the sides ``user`` is on; "no such deal" for anyone but its parties and operators."""
    deal = deals.get_deal(db, deal_id)
    sides = deal_sides(db, user, deal)
    if not sides and not user.has_role(Role.OPERATOR):
        raise UnknownDeal(f"no deal {deal_id}")
    return deal, sides


def pick_side(sides: set[Side], wanted: str | None) -> Side:
    if wanted:
        side = Side(wanted)
        if side not in sides:
            raise NotAParty(f"you are not on the {side.value}'s side of this deal")
        return side
    if not sides:
        raise NotAParty("you are on neither side of this deal")
    if len(sides) > 1:
        raise InvalidInput("you are on both sides of this deal; say which (side)")
    return next(iter(sides))


def deal_actions(deal: Deal, sides: Iterable[Side]) -> list[tuple[Action, Side]]:
    """The steps each of ``sides`` may take now (the services check again)."""
    out: list[tuple[Action, Side]] = []
    for side in sorted(sides):
        if deal.status in OPEN_STATES:
            if deal.terms_from != side.value:
                out.append(("accept", side))
            out.append(("counter", side))
            out.append(("decline" if side is Side.SELLER else "withdraw", side))
        elif deal.status in LIVE_STATES:
            out.append(("terminate", side))
    return out


def _party_filter(db: Session, user: User) -> ColumnElement[bool]:
    if user.has_role(Role.OPERATOR):
        return Deal.id.is_not(None)
    conditions: list[ColumnElement[bool]] = []
    org_ids = [org.id for org in accounts.orgs_of(db, user)]
    if org_ids:
        conditions.append(Deal.org_id.in_(org_ids))
    for seller in sellers_of(db, user):
        if isinstance(seller, CreatorProfile):
            conditions.append(Deal.creator_id == seller.id)
        else:
            conditions.append(Deal.collective_id == seller.id)
    return or_(*conditions) if conditions else false()


def user_deals(
    db: Session, user: User, *, status: Sequence[str] = (), limit: int = 50, offset: int = 0
) -> tuple[Sequence[Deal], int]:
    """The deals ``user`` is a party to (every deal, for an operator), newest first, and their count."""
    where = [_party_filter(db, user)]
    if status:
        where.append(Deal.status.in_(status))
    total = db.scalar(select(func.count(Deal.id)).where(*where)) or 0
    items = (
        db.scalars(
            select(Deal).where(*where).order_by(Deal.created_at.desc(), Deal.id).limit(limit).offset(offset)
        )
        .unique()
        .all()
    )
    return items, int(total)


# --- shaping -------------------------------------------------------------------------------------------


def seller_public(seller: Seller, base_url: str) -> SellerPublic:
    if isinstance(seller, CreatorProfile):
        return SellerPublic(
            kind="creator",
            id=seller.id,
            handle=seller.handle,
            name=seller.display_name,
            url=f"{base_url}/@{seller.handle}",
        )
    return SellerPublic(
        kind="collective",
        id=seller.id,
        handle=seller.slug,
        name=seller.name,
        url=f"{base_url}/collectives/{seller.slug}",
    )


def offer_public(
    db: Session, offer: Offer, base_url: str, version: OfferVersion | None = None
) -> OfferPublic:
    version = version or offer.current
    terms = offers.offer_terms(version)
    seller = offers.seller_of(offer)
    summary = offers.portfolio(db, seller)
    url = offer_url(base_url, offer.id)
    element = license_element(terms, rate_card_url=url, shared=offer.collective_id is not None)
    return OfferPublic(
        id=offer.id,
        url=url,
        status=offer.status,
        public=offer.public,
        title=offer.title,
        description=offer.description,
        seller=seller_public(seller, base_url),
        version=version.version,
        current_version=offer.current_version,
        terms=TermsPublic.of(terms),
        selection=SelectionPublic.of(offers.offer_selection(version)),
        rsl_license=license_fragment([element]),
        versions=[
            OfferVersionPublic(version=v.version, note=v.note, created_at=v.created_at)
            for v in offer.versions
        ],
        portfolio=PortfolioPublic(creators=summary.creators, works=summary.works, by_kind=summary.by_kind),
        created_at=offer.created_at,
        updated_at=offer.updated_at,
        withdrawn_at=offer.withdrawn_at,
    )


def event_actor(db: Session, user: User, deal: Deal, event: DealEvent, sides: set[Side]) -> str | None:
    """Who took a step, as ``user`` may know it: themselves, a colleague's email, else the party's name."""
    if event.side == Side.SYSTEM.value:
        return "fairtrain"
    if event.actor_id is None:
        return "the server's operator"
    if event.actor_id == user.id:
        return "you"
    if event.side == Side.LICENSEE.value:
        actor = db.get(User, event.actor_id)
        return f"{actor.email} ({deal.org.name})" if actor else deal.org.name
    if Side.SELLER in sides or user.has_role(Role.OPERATOR):
        actor = db.get(User, event.actor_id)
        return f"{actor.email} ({deal.offer.seller_name})" if actor else deal.offer.seller_name
    return deal.offer.seller_name


def _deal_fields(deal: Deal, sides: set[Side], base_url: str) -> dict[str, Any]:
    url = f"{base_url}/deals/{deal.id}"
    agreement = deal.agreement
    return {
        "id": deal.id,
        "url": url,
        "status": deal.status,
        "offer": OfferRef(
            id=deal.offer_id,
            version=deal.offer_version.version,
            title=deal.offer.title,
            url=offer_url(base_url, deal.offer_id),
        ),
        "seller": seller_public(offers.seller_of(deal.offer), base_url),
        "licensee": OrgRef(id=deal.org.id, name=deal.org.name),
        "terms": TermsPublic.of(deals.deal_terms(deal)),
        "terms_from": deal.terms_from,
        "starts_at": deal.starts_at,
        "ends_at": deal.ends_at,
        "renewals": deal.renewals,
        "asset_count": deal.asset_count,
        "selection_sha256": deal.selection_sha256,
        "agreement": None
        if agreement is None
        else AgreementPublic(
            sha256=agreement.html_sha256,
            pdf_sha256=agreement.pdf_sha256,
            data_sha256=agreement.data_sha256,
            template_version=agreement.template_version,
            html_url=f"{base_url}/api/v1/deals/{deal.id}/agreement",
            pdf_url=f"{base_url}/api/v1/deals/{deal.id}/agreement.pdf",
        ),
        "created_at": deal.created_at,
        "updated_at": deal.updated_at,
        "accepted_at": deal.accepted_at,
        "ended_at": deal.ended_at,
        "end_reason": deal.end_reason,
        "your_sides": sorted(side.value for side in sides),
        "actions": [ActionPublic(action=a, side=s.value) for a, s in deal_actions(deal, sides)],
    }


def deal_summary(deal: Deal, sides: set[Side], base_url: str) -> DealSummaryPublic:
    return DealSummaryPublic(**_deal_fields(deal, sides, base_url))


def deal_public(db: Session, deal: Deal, user: User, sides: set[Side], base_url: str) -> DealPublic:
    return DealPublic(
        **_deal_fields(deal, sides, base_url),
        events=[
            DealEventPublic(
                seq=e.seq,
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                side=e.side,
                actor=event_actor(db, user, deal, e, sides),
                reason=e.reason,
                terms=TermsPublic.of(Terms.from_dict(e.terms)),
                at=e.at,
            )
            for e in deal.events
        ],
        warnings=[
            DealWarningPublic(asset_id=w.asset_id, code=w.code, message=w.message)
            for w in deals.deal_warnings(db, deal)
        ],
    )


def licensee_public(db: Session, org: LicenseeOrg) -> LicenseePublic:
    return LicenseePublic(
        id=org.id,
        name=org.name,
        contact_name=org.contact_name,
        contact_email=org.contact_email,
        billing_email=org.billing_email,
        created_at=org.created_at,
        members=[MemberOut(email=m.user.email, joined_at=m.joined_at) for m in org.members],
        clients=[ApiClientPublic.model_validate(c) for c in clients.list_clients(db, org=org)],
    )


def _client_secret(client: ApiClient, secret: str) -> ApiClientSecret:
    return ApiClientSecret(**ApiClientPublic.model_validate(client).model_dump(), client_secret=secret)


def count_offers(db: Session, *, seller: Seller | None, public_only: bool, include_withdrawn: bool) -> int:
    # The count matching offers.list_offers's filters, for the page total.
    query = select(func.count(Offer.id))
    if isinstance(seller, CreatorProfile):
        query = query.where(Offer.creator_id == seller.id)
    elif isinstance(seller, Collective):
        query = query.where(Offer.collective_id == seller.id)
    if public_only:
        query = query.where(Offer.public.is_(True))
    if not include_withdrawn:
        query = query.where(Offer.status == "open")
    return int(db.scalar(query) or 0)


def _digest_header(hex_sha256: str) -> dict[str, str]:
    """RFC 9530 ``Repr-Digest`` of the document as recorded at acceptance."""
    return {"Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(hex_sha256)).decode()}:"}


def agreement_response(deal: Deal, fmt: Literal["html", "pdf"]) -> Response:
    """The agreement as HTML or PDF; ``Repr-Digest`` carries the hash recorded at acceptance."""
    if fmt == "pdf":
        body = agreements.agreement_pdf(deal)
        assert deal.agreement is not None  # agreement_pdf raised otherwise
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="agreement-{deal.id}.pdf"',
                **_digest_header(deal.agreement.pdf_sha256),
            },
        )
    html = agreements.agreement_html(deal)
    assert deal.agreement is not None
    return Response(
        html, media_type="text/html; charset=utf-8", headers=_digest_header(deal.agreement.html_sha256)
    )


# --- offers --------------------------------------------------------------------------------------------


@router.get("/offers", summary="List public offers (or a seller's own, for that seller)")
def list_offers(
    db: DbDep,
    settings: SettingsDep,
    user: OptionalApiUserDep,
    seller: Annotated[
        str | None, Query(description="Only this seller's: '@handle' or a collective slug.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[OfferPublic]:
    """Public open offers, newest first. A seller asking for their own (`seller=`) also sees unlisted and
    withdrawn ones."""
    found: Seller | None = None
    mine = False
    if seller:
        found = (
            accounts.get_creator(db, seller)
            if seller.startswith("@")
            else accounts.get_collective(db, seller)
        )
        if user is not None:
            try:
                offers.check_seller(found, user)
                mine = True
            except NotAParty:
                pass
    items = offers.list_offers(
        db, seller=found, public_only=not mine, include_withdrawn=mine, limit=limit, offset=offset
    )
    return Page[OfferPublic](
        items=[offer_public(db, o, settings.base_url) for o in items],
        total=count_offers(db, seller=found, public_only=not mine, include_withdrawn=mine),
        limit=limit,
        offset=offset,
    )


@router.get("/offers/{offer_id}", summary="One offer (a listed or unlisted one, by its id)")
def get_offer(
    db: DbDep,
    settings: SettingsDep,
    offer_id: str,
    version: Annotated[int | None, Query(ge=1, description="Default: the current version.")] = None,
) -> OfferPublic:
    offer = offers.get_offer(db, offer_id)
    shown = offers.get_offer_version(db, offer_id, version)
    return offer_public(db, offer, settings.base_url, shown)


@router.post(
    "/offers",
    summary="Create an offer (a creator, or a collective's operator)",
    status_code=201,
    responses=_WRITE,
)
def create_offer(db: DbDep, settings: SettingsDep, user: ApiUserDep, body: OfferCreate) -> OfferPublic:
    offer = offers.create_offer(
        db,
        seller=seller_for(db, user, body.seller),
        title=body.title,
        description=body.description,
        public=body.public,
        terms=body.terms.to_terms(),
        selection=body.selection.to_selection(),
        by=user,
    )
    return offer_public(db, offer, settings.base_url)


@router.post(
    "/offers/{offer_id}/versions",
    summary="Revise an offer: a new version with changed terms and/or selection",
    status_code=201,
    responses=_WRITE,
)
def revise_offer(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, offer_id: str, body: OfferVersionCreate
) -> OfferPublic:
    offer = offers.get_offer(db, offer_id)
    offers.revise_offer(
        db,
        offer=offer,
        terms=body.terms.to_terms() if body.terms else None,
        selection=body.selection.to_selection() if body.selection else None,
        note=body.note,
        by=user,
    )
    return offer_public(db, offer, settings.base_url)


@router.patch(
    "/offers/{offer_id}", summary="Change an offer's title, description or listing", responses=_WRITE
)
def update_offer(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, offer_id: str, body: OfferUpdate
) -> OfferPublic:
    offer = offers.get_offer(db, offer_id)
    offers.update_offer(db, offer=offer, **body.model_dump(exclude_unset=True), by=user)
    return offer_public(db, offer, settings.base_url)


@router.post("/offers/{offer_id}/withdraw", summary="Withdraw an offer (agreed deals stay)", responses=_WRITE)
def withdraw_offer(db: DbDep, settings: SettingsDep, user: ApiUserDep, offer_id: str) -> OfferPublic:
    offer = offers.withdraw_offer(db, offer=offers.get_offer(db, offer_id), by=user)
    return offer_public(db, offer, settings.base_url)


# --- licensees and their API clients -------------------------------------------------------------------


@router.post(
    "/licensees",
    summary="Register a licensee organisation; you become its first member",
    status_code=201,
    responses=_WRITE,
)
def register_licensee(db: DbDep, user: ApiUserDep, body: LicenseeCreate) -> LicenseePublic:
    """For users with the licensee role (an operator grants it), e.g. the first of a new AI company."""
    if not user.has_role(Role.LICENSEE):
        raise Forbidden("registering an organisation needs the licensee role; an operator grants it")
    org = accounts.create_licensee_org(
        db,
        name=body.name,
        contact_name=body.contact_name,
        contact_email=body.contact_email,
        billing_email=body.billing_email,
    )
    accounts.add_licensee_member(db, org=org, user=user)
    return licensee_public(db, org)


@router.get("/licensees/me", summary="Your licensee organisations, with members and API clients")
def my_licensees(db: DbDep, user: ApiUserDep) -> list[LicenseePublic]:
    return [licensee_public(db, org) for org in accounts.orgs_of(db, user)]


@router.post(
    "/licensees/{org_id}/members",
    summary="Add an existing account to your organisation",
    status_code=201,
    responses=_WRITE,
)
def add_licensee_member(
    db: DbDep, user: ApiUserDep, org_id: str, body: LicenseeMemberCreate
) -> LicenseePublic:
    org = member_org(db, user, org_id)
    accounts.add_licensee_member(db, org=org, user=accounts.get_user_by_email(db, body.email))
    return licensee_public(db, org)


@router.post(
    "/licensees/{org_id}/clients",
    summary="Create an API client; its secret is in this response only",
    status_code=201,
    responses=_WRITE,
)
def create_client(db: DbDep, user: ApiUserDep, org_id: str, body: ApiClientCreate) -> ApiClientSecret:
    client, secret = clients.create_client(db, org=member_org(db, user, org_id), name=body.name, by=user)
    return _client_secret(client, secret)


@router.post(
    "/licensees/{org_id}/clients/{client_id}/rotate",
    summary="Give a client a new secret (in this response only); the old one stops working",
    responses=_WRITE,
)
def rotate_client(db: DbDep, user: ApiUserDep, org_id: str, client_id: str) -> ApiClientSecret:
    client = clients.get_client(db, client_id, org=member_org(db, user, org_id))
    secret = clients.rotate_client_secret(db, client=client, by=user)
    return _client_secret(client, secret)


@router.post(
    "/licensees/{org_id}/clients/{client_id}/revoke", summary="Revoke a client for good", responses=_WRITE
)
def revoke_client(db: DbDep, user: ApiUserDep, org_id: str, client_id: str) -> ApiClientPublic:
    client = clients.get_client(db, client_id, org=member_org(db, user, org_id))
    return ApiClientPublic.model_validate(clients.revoke_client(db, client=client, by=user))


# --- crawlers the organisation pays for (pay per crawl) -------------------------------------------------

_PAGE_SIZE = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]


@router.get("/licensees/{org_id}/crawlers", summary="The crawlers your organisation pays for")
def list_crawlers(
    db: DbDep,
    user: ApiUserDep,
    org_id: str,
    include_revoked: Annotated[bool, Query(description="Also those no longer paid for.")] = False,
) -> list[CrawlerAccountPublic]:
    org = crawler_org(db, user, org_id)
    rows = crawlers.list_crawlers(db, org, include_revoked=include_revoked)
    return [CrawlerAccountPublic.model_validate(row) for row in rows]


@router.post(
    "/licensees/{org_id}/crawlers",
    summary="Pay for a verified crawler's crawls (pay per crawl); registering it again sets the price cap",
    status_code=201,
    responses=_WRITE,
)
def register_crawler(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, org_id: str, body: CrawlerAccountCreate
) -> CrawlerAccountPublic:
    """From now on, every paid crawl of this crawler (a Web Bot Auth origin, or a crawler the gateway
    verifies by IP list or reverse DNS, by its name on the crawler list) is charged to the organisation and
    invoiced monthly. One organisation pays for a crawler at a time (409 otherwise)."""
    account = crawlers.register_crawler(
        db,
        org=crawler_org(db, user, org_id),
        agent=body.agent,
        by=user,
        max_price_micros=body.max_price_micros,
        registry=CrawlerRegistry.current(settings.data_dir),
    )
    return CrawlerAccountPublic.model_validate(account)


@router.post(
    "/licensees/{org_id}/crawlers/{account_id}/revoke",
    summary="Stop paying for a crawler (its charges so far are still billed)",
    responses=_WRITE,
)
def revoke_crawler(db: DbDep, user: ApiUserDep, org_id: str, account_id: str) -> CrawlerAccountPublic:
    account = crawlers.get_crawler(db, account_id, org=crawler_org(db, user, org_id))
    return CrawlerAccountPublic.model_validate(crawlers.revoke_crawler(db, account=account, by=user))


@router.get(
    "/licensees/{org_id}/crawl-charges", summary="Your organisation's pay-per-crawl charges, newest first"
)
def list_crawl_charges(
    db: DbDep,
    user: ApiUserDep,
    org_id: str,
    since: Annotated[
        str | None, Query(description="From this UTC day (YYYY-MM-DD) or time (ISO 8601 with timezone).")
    ] = None,
    until: Annotated[
        str | None, Query(description="Through this UTC day, or up to (not including) this time.")
    ] = None,
    limit: _PAGE_SIZE = 100,
    offset: Offset = 0,
) -> Page[CrawlChargePublic]:
    org = crawler_org(db, user, org_id)
    start, end = charge_window(since, until)
    rows, total = crawl_billing.crawl_charges(db, org.id, since=start, until=end, limit=limit, offset=offset)
    return Page[CrawlChargePublic](
        items=[CrawlChargePublic.of(row) for row in rows], total=total, limit=limit, offset=offset
    )


# --- deals ---------------------------------------------------------------------------------------------


@router.post(
    "/deals",
    summary="Request a deal on an offer, as offered or with changed terms",
    status_code=201,
    responses=_WRITE,
)
def request_deal(db: DbDep, settings: SettingsDep, user: ApiUserDep, body: DealCreate) -> DealPublic:
    deal = deals.request_deal(
        db,
        offer_version=offers.get_offer_version(db, body.offer_id, body.offer_version),
        org=member_org(db, user, body.org),
        terms=body.terms.to_terms() if body.terms else None,
        message=body.message,
        by=user,
    )
    return deal_public(db, deal, user, deal_sides(db, user, deal), settings.base_url)


@router.get("/deals", summary="Your deals, as seller or licensee (every deal, for an operator)")
def list_deals(
    db: DbDep,
    settings: SettingsDep,
    user: ApiUserDep,
    status: Annotated[list[str] | None, Query(description="Only deals in these states (repeatable).")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DealSummaryPublic]:
    items, total = user_deals(db, user, status=status or (), limit=limit, offset=offset)
    return Page[DealSummaryPublic](
        items=[deal_summary(d, deal_sides(db, user, d), settings.base_url) for d in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/deals/{deal_id}", summary="One deal with its history and warnings")
def get_deal(db: DbDep, settings: SettingsDep, user: ApiUserDep, deal_id: str) -> DealPublic:
    deal, sides = visible_deal(db, user, deal_id)
    return deal_public(db, deal, user, sides, settings.base_url)


@router.post(
    "/deals/{deal_id}/accept", summary="Accept the terms the other side put forward", responses=_WRITE
)
def accept_deal(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, deal_id: str, body: DealStep | None = None
) -> DealPublic:
    body = body or DealStep()
    deal, sides = visible_deal(db, user, deal_id)
    deals.accept(db, deal=deal, side=pick_side(sides, body.side), reason=body.reason, by=user)
    billing.bill_deal(db, deal)  # a flat fee is invoiced at acceptance, not at the next billing tick
    return deal_public(db, deal, user, sides, settings.base_url)


@router.post("/deals/{deal_id}/counter", summary="Put changed terms on the table", responses=_WRITE)
def counter_deal(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, deal_id: str, body: DealCounter
) -> DealPublic:
    deal, sides = visible_deal(db, user, deal_id)
    side = pick_side(sides, body.side)
    deals.counter(db, deal=deal, side=side, terms=body.terms.to_terms(), reason=body.reason, by=user)
    return deal_public(db, deal, user, sides, settings.base_url)


@router.post("/deals/{deal_id}/decline", summary="Decline a proposal (the seller)", responses=_WRITE)
def decline_deal(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, deal_id: str, body: DealStep | None = None
) -> DealPublic:
    body = body or DealStep()
    deal, sides = visible_deal(db, user, deal_id)
    deals.decline(db, deal=deal, reason=body.reason, by=user)
    return deal_public(db, deal, user, sides, settings.base_url)


@router.post(
    "/deals/{deal_id}/withdraw", summary="Walk away from a negotiation (the licensee)", responses=_WRITE
)
def withdraw_deal(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, deal_id: str, body: DealStep | None = None
) -> DealPublic:
    body = body or DealStep()
    deal, sides = visible_deal(db, user, deal_id)
    deals.withdraw(db, deal=deal, reason=body.reason, by=user)
    return deal_public(db, deal, user, sides, settings.base_url)


@router.post("/deals/{deal_id}/terminate", summary="End an agreed deal early, saying why", responses=_WRITE)
def terminate_deal(
    db: DbDep, settings: SettingsDep, user: ApiUserDep, deal_id: str, body: DealTerminate
) -> DealPublic:
    deal, sides = visible_deal(db, user, deal_id)
    deals.terminate(db, deal=deal, side=pick_side(sides, body.side), reason=body.reason, by=user)
    return deal_public(db, deal, user, sides, settings.base_url)


_DOCUMENT: dict[int | str, dict[str, Any]] = {
    404: _error("No such deal, or it has no agreement (never accepted)")
}


@router.get(
    "/deals/{deal_id}/agreement",
    summary="The licence agreement as HTML (the canonical document)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **_DOCUMENT},
)
def deal_agreement(db: DbDep, user: ApiUserDep, deal_id: str) -> Response:
    deal, _ = visible_deal(db, user, deal_id)
    return agreement_response(deal, "html")


@router.get(
    "/deals/{deal_id}/agreement.pdf",
    summary="The licence agreement as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_DOCUMENT},
)
def deal_agreement_pdf(db: DbDep, user: ApiUserDep, deal_id: str) -> Response:
    deal, _ = visible_deal(db, user, deal_id)
    return agreement_response(deal, "pdf")
