"""Licensing pages (issue 5): the public catalogue of offers, sellers' offers, deals and their agreements, and
the licensee's organisation with its API clients.

Routes stay thin: the licensing services decide, check and record. What is here turns forms into terms and
selections and terms into plain words. A form the services refuse is shown again with the reason and
nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile, LicenseeOrg, Role, User
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Collection
from fairtrain.config import Settings
from fairtrain.errors import FairtrainError, Forbidden, InvalidInput
from fairtrain.licensing import agreements, billing, clients, crawl_billing, crawlers, deals, offers
from fairtrain.licensing.deals import Side
from fairtrain.licensing.models import ApiClient, Deal, Offer, OfferVersion
from fairtrain.licensing.rsl import license_element, license_fragment, offer_url
from fairtrain.licensing.selection import DATE_FIELDS, KINDS, Selection, Seller, seller_creator_ids
from fairtrain.licensing.terms import FEE_MODELS, Fee, FeeModel, Terms, format_minor, parse_unit_price
from fairtrain.money import parse_amount
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.policy import CONCRETE_USAGES, USER_TYPES, format_micros
from fairtrain.rights.service import USAGE_LABELS, USER_TYPE_WORDS
from fairtrain.web.deps import DbDep, SettingsDep, UserDep, ViewerDep
from fairtrain.web.licensing_api import (
    agreement_response,
    count_offers,
    deal_actions,
    event_actor,
    member_org,
    pick_side,
    seller_for,
    seller_ref,
    sellers_of,
    user_deals,
    visible_deal,
)
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["router", "terms_from_form", "terms_words"]

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

PAGE_SIZE = 30
FEE_MODEL_WORDS = {
    "flat": "one-off fee",
    "recurring": "recurring fee (monthly or yearly)",
    "royalty": "royalty on model revenue, with a minimum guarantee",
    "per-crawl": "price per request",
    "per-use": "price per reported use",
    "attribution": "attribution only (no fee)",
    "free": "free",
}
DEAL_STATE_WORDS = {
    "proposed": "Proposed: the seller answers",
    "countered": "Countered: the licensee answers",
    "accepted": "Accepted: starts later",
    "active": "Active",
    "expired": "Expired",
    "terminated": "Terminated",
    "declined": "Declined",
    "withdrawn": "Withdrawn",
}
_DAY = timedelta(days=1)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- forms ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """A posted form: text fields, repeated fields and check boxes."""

    data: FormData

    def text(self, name: str) -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else ""

    def words(self, name: str) -> list[str]:
        return [v for v in self.data.getlist(name) if isinstance(v, str) and v]

    def flag(self, name: str) -> bool:
        return name in self.data


async def _posted(request: Request) -> Posted:
    return Posted(await request.form())


PostedDep = Annotated[Posted, Depends(_posted)]


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{label} {value!r} is not a date (YYYY-MM-DD)") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _last_day(end: datetime | None) -> str:
    """The form's "last day" of a term ending at ``end`` (the day before, when it ends at midnight)."""
    if end is None:
        return ""
    day = end.date() - _DAY if end.timetz() == time(tzinfo=UTC) else end.date()
    return day.isoformat()


def _whole(value: str, label: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{label} must be a whole number, not {value!r}")
    return int(value)


def _percent_bp(value: str, label: str) -> int:
    """'12.5' -> 1250 basis points, exactly; at most two decimals."""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise InvalidInput(f"{label} {value!r} is not a percentage") from None
    bp = amount * 100
    if not amount.is_finite() or bp != bp.to_integral_value():
        raise InvalidInput(f"{label} {value!r}: use at most two decimals")
    return int(bp)


def _fee_amount(fee: Fee) -> str:
    """The one amount the form shows for a fee: the fee, the unit price, or a royalty's minimum."""
    if fee.currency is None:
        return ""
    if fee.amount_minor is not None:
        return format_minor(fee.amount_minor, fee.currency)
    if fee.price_micros is not None:
        return format_micros(fee.price_micros)
    if fee.minimum_minor:
        return format_minor(fee.minimum_minor, fee.currency)
    return ""


def _fee_from(model: str, currency: str, amount: str, interval: str, royalty: str) -> Fee:
    if model not in FEE_MODELS:
        raise InvalidInput(f"choose how the licensee pays, one of {', '.join(FEE_MODELS)}")
    fee_model = FeeModel(model)
    if fee_model in (FeeModel.ATTRIBUTION, FeeModel.FREE):
        return Fee(model)
    if not currency:
        raise InvalidInput("the fee needs a currency, e.g. USD")
    if fee_model is FeeModel.ROYALTY:
        if not royalty:
            raise InvalidInput("a royalty needs a rate in percent")
        return Fee(
            model,
            currency=currency,
            royalty_bp=_percent_bp(royalty, "royalty rate"),
            minimum_minor=parse_amount(amount, currency) if amount else 0,
            interval=interval or "yearly",
        )
    if not amount:
        raise InvalidInput(f"a {FEE_MODEL_WORDS[model]} needs an amount")
    if fee_model in (FeeModel.PER_CRAWL, FeeModel.PER_USE):
        return Fee(model, currency=currency, price_micros=parse_unit_price(amount, currency))
    return Fee(
        model,
        currency=currency,
        amount_minor=parse_amount(amount, currency),
        interval=(interval or "monthly") if fee_model is FeeModel.RECURRING else None,
    )


def terms_form(terms: Terms | None) -> dict[str, Any]:
    """The terms form's fields for ``terms`` (a new offer's defaults when None)."""
    t = terms or Terms(usages=("ai-train",), fee=Fee("flat", currency="USD", amount_minor=100_000))
    fee = t.fee
    return {
        "usages": list(t.usages),
        "user_types": list(t.user_types),
        "territories": ", ".join(t.territories),
        "exclusive": t.exclusive,
        "start": t.start.date().isoformat() if t.start else "",
        "end": _last_day(t.end),
        "duration_days": "" if t.duration_days is None else str(t.duration_days),
        "auto_renew": t.auto_renew,
        "fee_model": fee.model,
        "fee_currency": fee.currency or "USD",
        "fee_amount": _fee_amount(fee),
        "fee_interval": fee.interval or "",
        "royalty_percent": "" if fee.royalty_bp is None else f"{Decimal(fee.royalty_bp) / 100:f}",
        "payment_due_days": str(t.payment_due_days),
        "attribution": t.attribution,
        "no_verbatim": t.no_verbatim,
        "no_style_imitation": t.no_style_imitation,
        "at_expiry": t.at_expiry,
        "deletion_days": str(t.deletion_days),
        "audit": t.audit,
        "audit_notice_days": str(t.audit_notice_days),
        "distribution": t.distribution,
        "distribution_items_percent": ""
        if t.distribution_items_bp is None
        else f"{Decimal(t.distribution_items_bp) / 100:f}",
        "governing_law": t.governing_law,
    }


def _terms_values(f: Posted) -> dict[str, Any]:
    """The terms form as posted, to show again."""
    values: dict[str, Any] = {name: f.text(name) for name in terms_form(None)}
    for name in ("usages", "user_types"):
        values[name] = f.words(name)
    for name in ("exclusive", "auto_renew", "no_verbatim", "no_style_imitation", "audit"):
        values[name] = f.flag(name)
    return values


def terms_from_form(f: Posted) -> Terms:
    """Terms from the offer form; the first problem raises ``InvalidInput`` in plain words. A number left
    empty takes the default of ``Terms``."""
    start, last = _day(f.text("start"), "first day"), _day(f.text("end"), "last day")
    distribution = f.text("distribution") or "items"
    items = f.text("distribution_items_percent")
    days = {
        name: given
        for name, label in (
            ("payment_due_days", "payment due (days)"),
            ("deletion_days", "deletion within (days)"),
            ("audit_notice_days", "audit notice (days)"),
        )
        if (given := _whole(f.text(name), label)) is not None
    }
    return Terms(
        usages=tuple(f.words("usages")),
        fee=_fee_from(
            f.text("fee_model"),
            f.text("fee_currency").upper(),
            f.text("fee_amount"),
            f.text("fee_interval"),
            f.text("royalty_percent"),
        ),
        user_types=tuple(f.words("user_types")),
        territories=tuple(f.text("territories").replace(",", " ").split()),
        exclusive=f.flag("exclusive"),
        start=_midnight(start) if start else None,
        end=_midnight(last + _DAY) if last else None,
        duration_days=_whole(f.text("duration_days"), "the term's length in days"),
        auto_renew=f.flag("auto_renew"),
        attribution=f.text("attribution"),
        no_verbatim=f.flag("no_verbatim"),
        no_style_imitation=f.flag("no_style_imitation"),
        at_expiry=f.text("at_expiry") or "delete",
        audit=f.flag("audit"),
        distribution=distribution,
        distribution_items_bp=_percent_bp(items, "item-count weight")
        if distribution == "mixed" and items
        else None,
        governing_law=f.text("governing_law"),
        **days,
    )


def changes_form(terms: Terms) -> dict[str, Any]:
    """The fields of a request with changed terms, or of a counter-offer, filled from ``terms``."""
    return {
        "usages": list(terms.usages),
        "exclusive": terms.exclusive,
        "fee_amount": _fee_amount(terms.fee),
        "royalty_percent": "" if terms.fee.royalty_bp is None else f"{Decimal(terms.fee.royalty_bp) / 100:f}",
        "end": _last_day(terms.end),
    }


def _changes_values(f: Posted) -> dict[str, Any]:
    return {
        "usages": f.words("usages"),
        "exclusive": f.flag("exclusive"),
        "fee_amount": f.text("fee_amount"),
        "royalty_percent": f.text("royalty_percent"),
        "end": f.text("end"),
    }


def changed_terms(base: Terms, f: Posted) -> Terms:
    """``base`` with what the short form changes: usages, exclusivity, the fee's amount, the last day."""
    fee = base.fee
    if fee.paid:
        fee = _fee_from(
            fee.model,
            fee.currency or "",
            f.text("fee_amount"),
            fee.interval or "",
            f.text("royalty_percent"),
        )
    last = _day(f.text("end"), "last day")
    changes: dict[str, Any] = {
        "usages": tuple(f.words("usages")),
        "exclusive": f.flag("exclusive"),
        "fee": fee,
        "end": _midnight(last + _DAY) if last else None,
    }
    if last:
        changes["duration_days"] = None
    return base.replace(**changes)


def selection_form(selection: Selection | None) -> dict[str, Any]:
    s = selection or Selection(all=True)
    return {
        "mode": "all" if s.all else "filter",
        "collections": list(s.collections),
        "tags": ", ".join(s.tags),
        "kinds": list(s.kinds),
        "date_field": s.date_field,
        "since": s.since.isoformat() if s.since else "",
        "until": s.until.isoformat() if s.until else "",
        "assets": "\n".join(s.assets),
    }


def _selection_values(f: Posted) -> dict[str, Any]:
    return {
        "mode": f.text("sel_mode") or "all",
        "collections": f.words("collections"),
        "tags": f.text("tags"),
        "kinds": f.words("kinds"),
        "date_field": f.text("date_field") or "created",
        "since": f.text("since"),
        "until": f.text("until"),
        "assets": f.text("assets"),
    }


def selection_from_form(f: Posted) -> Selection:
    if (f.text("sel_mode") or "all") == "all":
        return Selection(all=True)
    return Selection(
        collections=tuple(f.words("collections")),
        tags=tuple(f.text("tags").replace(",", " ").split()),
        kinds=tuple(f.words("kinds")),
        date_field=f.text("date_field") or "created",
        since=_day(f.text("since"), "from"),
        until=_day(f.text("until"), "to"),
        assets=tuple(f.text("assets").replace(",", " ").split()),
    )


# --- terms in plain words ------------------------------------------------------------------------------


def _usage(usage: str) -> str:
    return f"{USAGE_LABELS[usage]} ({usage})"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value.timetz() != time(tzinfo=UTC) else f"{value:%Y-%m-%d}"


def term_words(terms: Terms) -> str:
    start = f"from {_when(terms.start)}" if terms.start else "from acceptance"
    if terms.end is not None:
        end = f"until {_when(terms.end)}"
    elif terms.duration_days is not None:
        end = f"for {terms.duration_days:,} days"
    else:
        end = "with no end date"
    return f"{start} {end}" + (", renewing automatically until notice" if terms.auto_renew else "")


def headline(terms: Terms) -> list[tuple[str, str]]:
    """What a catalogue card shows: uses, fee, term, exclusivity."""
    return [
        ("Uses", ", ".join(_usage(u) for u in terms.usages)),
        ("Fee", terms.fee.describe()),
        ("Term", term_words(terms)),
        ("Exclusivity", "exclusive" if terms.exclusive else "non-exclusive"),
    ]


def terms_words(terms: Terms, *, collective: bool = False) -> list[tuple[str, str]]:
    """Every term as (label, sentence)."""
    refused = [u for u in CONCRETE_USAGES if u not in terms.usages]
    outputs = [
        text
        for on, text in (
            (terms.no_verbatim, "no verbatim reproduction of the works"),
            (terms.no_style_imitation, "no imitation of a named creator's style on request"),
        )
        if on
    ]
    expiry = (
        f"every copy and everything derived is deleted within {terms.deletion_days} days of the end, "
        "with a certificate of deletion"
    )
    if terms.at_expiry == "retain-models":
        expiry += "; models already trained may be kept"
    rows = [
        ("Permitted uses", ", ".join(_usage(u) for u in terms.usages)),
        ("Not permitted", ", ".join(_usage(u) for u in refused) or "—"),
        ("Who may use them", ", ".join(USER_TYPE_WORDS[u] for u in terms.user_types) or "any kind of user"),
        ("Where", ", ".join(terms.territories) or "worldwide"),
        (
            "Exclusivity",
            "exclusive: no overlapping licence of the same works for the same use"
            if terms.exclusive
            else "non-exclusive",
        ),
        ("Term", term_words(terms)),
        ("Fee", terms.fee.describe()),
        ("Payment", f"due within {terms.payment_due_days} days of each invoice"),
        ("Attribution", terms.attribution or "not required"),
        ("Outputs", "; ".join(outputs) or "no restriction"),
        ("At expiry", expiry),
        (
            "Audit",
            f"the seller may audit compliance on {terms.audit_notice_days} days' notice"
            if terms.audit
            else "no audit rights",
        ),
        ("Governing law", terms.governing_law),
    ]
    if collective:
        rule = {
            "items": "by the number of works of each creator",
            "usage": "by the metered use of each creator's works",
        }.get(terms.distribution)
        if rule is None:
            weight = Decimal(terms.distribution_items_bp or 0) / 100
            rule = f"{weight:f} % by number of works, the rest by metered use"
        rows.append(("Shared among creators", rule))
    return rows


# --- offers --------------------------------------------------------------------------------------------


def _seller_collections(db: Session, seller: Seller) -> list[Collection]:
    """The collections a selection may name: the creator's, or each current member's of a collective."""
    found: list[Collection] = []
    for creator_id in seller_creator_ids(db, seller):
        creator = db.get(CreatorProfile, creator_id)
        if creator is not None:
            found += catalog.list_collections(db, creator=creator)
    return found


def _offer_form(
    request: Request,
    db: Session,
    *,
    seller: Seller,
    offer: Offer | None,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "offer_form.html",
        {
            "seller": seller,
            "seller_ref": seller_ref(seller),
            "collective": not isinstance(seller, CreatorProfile),
            "offer": offer,
            "f": values,
            "collections": _seller_collections(db, seller),
            "usages": [(u, _usage(u)) for u in CONCRETE_USAGES],
            "user_types": [(u, USER_TYPE_WORDS[u]) for u in USER_TYPES],
            "fee_models": list(FEE_MODEL_WORDS.items()),
            "kinds": KINDS,
            "date_fields": DATE_FIELDS,
            "error": error,
        },
        status_code=status_code,
    )


def _form_values(offer: Offer | None, version: OfferVersion | None) -> dict[str, Any]:
    return {
        "title": offer.title if offer else "",
        "description": offer.description if offer else "",
        "public": offer.public if offer else True,
        "note": "",
        "terms": terms_form(offers.offer_terms(version) if version else None),
        "selection": selection_form(offers.offer_selection(version) if version else None),
    }


def _posted_values(f: Posted) -> dict[str, Any]:
    return {
        "title": f.text("title"),
        "description": f.text("description"),
        "public": f.flag("public"),
        "note": f.text("note"),
        "terms": _terms_values(f),
        "selection": _selection_values(f),
    }


def _seller_url(seller: Seller) -> str:
    return f"/@{seller.handle}" if isinstance(seller, CreatorProfile) else f"/collectives/{seller.slug}"


def _portfolio_words(summary: offers.Portfolio) -> str:
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in summary.by_kind.items())
    creators = f"{summary.creators:,} creator{'s' * (summary.creators != 1)}"
    works = f"{summary.works:,} work{'s' * (summary.works != 1)}"
    return f"{works} ({kinds or 'none yet'}) by {creators}"


@router.get("/offers")
def offers_page(request: Request, db: DbDep, viewer: ViewerDep, page: int = 1) -> Response:
    """The public catalogue: every seller's public open offers with the headline terms."""
    page = max(1, page)
    items = offers.list_offers(db, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    total = count_offers(db, seller=None, public_only=True, include_withdrawn=False)
    summaries: dict[str, str] = {}
    cards = []
    for offer in items:
        seller = offers.seller_of(offer)
        if seller.id not in summaries:
            summaries[seller.id] = _portfolio_words(offers.portfolio(db, seller))
        cards.append(
            {
                "offer": offer,
                "seller_url": _seller_url(seller),
                "portfolio": summaries[seller.id],
                "headline": headline(offers.offer_terms(offer.current)),
            }
        )
    return render(
        request,
        "offers.html",
        {
            "cards": cards,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "sells": viewer is not None and bool(sellers_of(db, viewer)),
        },
    )


@router.get("/offers/mine")
def my_offers(request: Request, db: DbDep, user: UserDep) -> Response:
    sellers = sellers_of(db, user)
    if not sellers:
        raise Forbidden("only creators and the operators of collectives make offers")
    groups = [
        (
            seller,
            seller_ref(seller),
            [
                (offer, headline(offers.offer_terms(offer.current)))
                for offer in offers.list_offers(
                    db, seller=seller, public_only=False, include_withdrawn=True, limit=500
                )
            ],
        )
        for seller in sellers
    ]
    return render(request, "offers_mine.html", {"groups": groups})


@router.get("/offers/new")
def new_offer_form(request: Request, db: DbDep, user: UserDep, seller: str = "") -> Response:
    found = seller_for(db, user, seller or None)
    return _offer_form(request, db, seller=found, offer=None, values=_form_values(None, None))


@router.post("/offers/new")
def create_offer(request: Request, db: DbDep, user: UserDep, f: PostedDep) -> Response:
    seller = seller_for(db, user, f.text("seller") or None)
    try:
        offer = offers.create_offer(
            db,
            seller=seller,
            title=f.text("title"),
            description=f.text("description"),
            public=f.flag("public"),
            terms=terms_from_form(f),
            selection=selection_from_form(f),
            by=user,
        )
    except FairtrainError as exc:
        db.rollback()  # nothing of a refused offer is kept
        return _offer_form(
            request,
            db,
            seller=seller_for(db, user, f.text("seller") or None),
            offer=None,
            values=_posted_values(f),
            error=exc.message,
            status_code=exc.status_code,
        )
    return _see_other(f"/offers/{offer.id}?notice=created")


def _offer_page(
    request: Request,
    db: Session,
    settings: Settings,
    viewer: User | None,
    offer: Offer,
    version: OfferVersion,
    *,
    request_values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    seller = offers.seller_of(offer)
    terms = offers.offer_terms(version)
    collective = not isinstance(seller, CreatorProfile)
    url = offer_url(settings.base_url, offer.id)
    sells = viewer is not None and seller in sellers_of(db, viewer)
    orgs: Sequence[LicenseeOrg] = accounts.orgs_of(db, viewer) if viewer is not None else ()
    return render(
        request,
        "offer.html",
        {
            "offer": offer,
            "shown": version,  # not "version": that is fairtrain's, in the footer
            "seller": seller,
            "seller_url": _seller_url(seller),
            "terms": terms,
            "terms_words": terms_words(terms, collective=collective),
            "selection": offers.offer_selection(version).describe(),
            "portfolio": _portfolio_words(offers.portfolio(db, seller)),
            "rsl": license_fragment([license_element(terms, rate_card_url=url, shared=collective)]),
            "sells": sells,
            "orgs": orgs,
            "can_request": bool(orgs) and offer.status == "open" and version.version == offer.current_version,
            "mode": (request_values or {}).get("mode", "as-offered"),
            "c": (request_values or {}).get("changes") or changes_form(terms),
            "message": (request_values or {}).get("message", ""),
            "usages": [(u, _usage(u)) for u in CONCRETE_USAGES],
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


@router.get("/offers/{offer_id}")
def offer_page(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    viewer: ViewerDep,
    offer_id: str,
    version: int | None = None,
) -> Response:
    """An offer in full; also the RSL rate card its ``<custom>``/``<standard>`` URL points at. Unlisted
    offers are shown to whoever has the link, as in the API."""
    offer = offers.get_offer(db, offer_id)
    shown = offers.get_offer_version(db, offer_id, version)
    return _offer_page(request, db, settings, viewer, offer, shown)


@router.get("/offers/{offer_id}/revise")
def revise_offer_form(request: Request, db: DbDep, user: UserDep, offer_id: str) -> Response:
    offer = offers.get_offer(db, offer_id)
    seller = offers.seller_of(offer)
    seller_for(db, user, seller_ref(seller))  # 403 for anyone but the seller
    return _offer_form(request, db, seller=seller, offer=offer, values=_form_values(offer, offer.current))


@router.post("/offers/{offer_id}/revise")
def revise_offer(request: Request, db: DbDep, user: UserDep, offer_id: str, f: PostedDep) -> Response:
    offer = offers.get_offer(db, offer_id)
    seller = offers.seller_of(offer)
    seller_for(db, user, seller_ref(seller))
    before = offer.current_version
    try:
        offers.update_offer(
            db,
            offer=offer,
            title=f.text("title"),
            description=f.text("description"),
            public=f.flag("public"),
            by=user,
        )
        version = offers.revise_offer(
            db,
            offer=offer,
            terms=terms_from_form(f),
            selection=selection_from_form(f),
            note=f.text("note"),
            by=user,
        )
    except FairtrainError as exc:
        db.rollback()
        offer = offers.get_offer(db, offer_id)
        return _offer_form(
            request,
            db,
            seller=offers.seller_of(offer),
            offer=offer,
            values=_posted_values(f),
            error=exc.message,
            status_code=exc.status_code,
        )
    notice = "revised" if version.version != before else "saved"
    return _see_other(f"/offers/{offer.id}?notice={notice}")


@router.post("/offers/{offer_id}/withdraw")
def withdraw_offer(db: DbDep, user: UserDep, offer_id: str) -> Response:
    offers.withdraw_offer(db, offer=offers.get_offer(db, offer_id), by=user)
    return _see_other(f"/offers/{offer_id}?notice=withdrawn")


@router.post("/offers/{offer_id}/request")
def request_deal(
    request: Request, db: DbDep, settings: SettingsDep, user: UserDep, offer_id: str, f: PostedDep
) -> Response:
    """A licensee member asks for a licence: on the offer's terms, or proposing changed ones."""
    if not user.has_role(Role.LICENSEE):
        raise Forbidden("requesting a licence needs the licensee role")
    offer = offers.get_offer(db, offer_id)
    mode = f.text("mode") or "as-offered"
    try:
        version = offers.get_offer_version(db, offer_id, _whole(f.text("version"), "version"))
        terms = changed_terms(offers.offer_terms(version), f) if mode == "changed" else None
        deal = deals.request_deal(
            db,
            offer_version=version,
            org=member_org(db, user, f.text("org") or None),
            terms=terms,
            message=f.text("message"),
            by=user,
        )
    except FairtrainError as exc:
        db.rollback()
        offer = offers.get_offer(db, offer_id)
        values = {"mode": mode, "changes": _changes_values(f), "message": f.text("message")}
        return _offer_page(
            request,
            db,
            settings,
            user,
            offer,
            offer.current,
            request_values=values,
            error=exc.message,
            status_code=exc.status_code,
        )
    return _see_other(f"/deals/{deal.id}?notice=requested")


# --- deals ---------------------------------------------------------------------------------------------


def _may_deal(db: Session, user: User) -> None:
    if not (user.roles & {Role.CREATOR, Role.OPERATOR, Role.LICENSEE} or sellers_of(db, user)):
        raise Forbidden("deals are for creators, operators and licensees")


@router.get("/deals")
def deals_page(request: Request, db: DbDep, user: UserDep) -> Response:
    _may_deal(db, user)
    items, total = user_deals(db, user, limit=500)
    groups: dict[str, list[Deal]] = {state: [] for state in DEAL_STATE_WORDS}
    for deal in items:
        groups[deal.status].append(deal)
    return render(
        request,
        "deals.html",
        {
            "groups": [(state, DEAL_STATE_WORDS[state], rows) for state, rows in groups.items() if rows],
            "total": total,
            "shown": len(items),
            "operator": user.has_role(Role.OPERATOR),
        },
    )


def _deal_page(
    request: Request,
    db: Session,
    user: User,
    deal: Deal,
    sides: set[Side],
    *,
    error: str | None = None,
    counter_values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    terms = deals.deal_terms(deal)
    collective = deal.collective_id is not None
    by_kind: dict[str, int] = {}
    by_creator: dict[str, int] = {}
    for row in deal.assets:
        by_kind[row.kind] = by_kind.get(row.kind, 0) + 1
        name = f"{row.creator_name} (@{row.creator_handle})"
        by_creator[name] = by_creator.get(name, 0) + 1
    return render(
        request,
        "deal.html",
        {
            "deal": deal,
            "sides": sorted(s.value for s in sides),
            "terms_words": terms_words(terms, collective=collective),
            "events": [
                {
                    "event": event,
                    "actor": event_actor(db, user, deal, event, sides),
                    "terms": headline(Terms.from_dict(event.terms)),
                    "changed": i == 0 or event.terms != deal.events[i - 1].terms,
                }
                for i, event in enumerate(deal.events)
            ],
            "warnings": deals.deal_warnings(db, deal),
            "by_kind": sorted(by_kind.items()),
            "by_creator": sorted(by_creator.items(), key=lambda kv: (-kv[1], kv[0])),
            "sample": deal.assets[:20],
            "actions": deal_actions(deal, sides),
            "terms": terms,
            "c": counter_values or changes_form(terms),
            "usages": [(u, _usage(u)) for u in CONCRETE_USAGES],
            "state_words": DEAL_STATE_WORDS,
            "error": error,
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


@router.get("/deals/{deal_id}")
def deal_page(request: Request, db: DbDep, user: UserDep, deal_id: str) -> Response:
    deal, sides = visible_deal(db, user, deal_id)
    return _deal_page(request, db, user, deal, sides)


StepName = Literal["accept", "counter", "decline", "withdraw", "terminate"]


@router.post("/deals/{deal_id}/{step}")
def deal_step(
    request: Request, db: DbDep, user: UserDep, deal_id: str, step: StepName, f: PostedDep
) -> Response:
    deal, sides = visible_deal(db, user, deal_id)
    reason = f.text("reason")
    try:
        side = pick_side(sides, f.text("side") or None)
        match step:
            case "accept":
                deals.accept(db, deal=deal, side=side, reason=reason, by=user)
                billing.bill_deal(db, deal)  # a flat fee is invoiced at acceptance
            case "counter":
                terms = changed_terms(deals.deal_terms(deal), f)
                deals.counter(db, deal=deal, side=side, terms=terms, reason=reason, by=user)
            case "decline":
                deals.decline(db, deal=deal, reason=reason, by=user)
            case "withdraw":
                deals.withdraw(db, deal=deal, reason=reason, by=user)
            case "terminate":
                deals.terminate(db, deal=deal, side=side, reason=reason, by=user)
    except FairtrainError as exc:
        db.rollback()
        deal, sides = visible_deal(db, user, deal_id)
        values = _changes_values(f) if step == "counter" else None
        return _deal_page(
            request,
            db,
            user,
            deal,
            sides,
            error=exc.message,
            counter_values=values,
            status_code=exc.status_code,
        )
    return _see_other(f"/deals/{deal.id}?notice={step}")


@router.get("/deals/{deal_id}/agreement")
def deal_agreement(db: DbDep, user: UserDep, deal_id: str) -> Response:
    deal, _ = visible_deal(db, user, deal_id)
    return agreement_response(deal, "html")


@router.get("/deals/{deal_id}/agreement.pdf")
def deal_agreement_pdf(db: DbDep, user: UserDep, deal_id: str) -> Response:
    deal, _ = visible_deal(db, user, deal_id)
    return agreement_response(deal, "pdf")


@router.get("/deals/{deal_id}/agreement/verify")
def verify_agreement(request: Request, db: DbDep, user: UserDep, deal_id: str) -> Response:
    """htmx fragment: whether the agreement still renders to the hashes recorded at acceptance (renders the
    PDF, which takes a moment for a long schedule, so the deal page loads it afterwards)."""
    deal, _ = visible_deal(db, user, deal_id)
    return render(request, "_deal_verify.html", {"deal": deal, "ok": agreements.verify_agreement(deal)})


# --- licensees -----------------------------------------------------------------------------------------


def _licensee(user: User) -> None:
    if not user.has_role(Role.LICENSEE):
        raise Forbidden("this page is for licensees (AI companies); an operator grants the licensee role")


def _licensing_page(
    request: Request,
    db: Session,
    user: User,
    *,
    org_id: str | None = None,
    secret: tuple[ApiClient, str] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    orgs = accounts.orgs_of(db, user)
    org = next((o for o in orgs if o.id == org_id), orgs[0] if orgs else None)
    return render(
        request,
        "licensee.html",
        {
            "orgs": orgs,
            "org": org,
            "clients": clients.list_clients(db, org=org, include_revoked=True) if org else [],
            "crawlers": crawlers.list_crawlers(db, org, include_revoked=True) if org else [],
            "crawl_months": crawl_billing.monthly_crawl_totals(db, org.id) if org else [],
            "unit_price": format_micros,
            "deals": deals.list_deals(db, org=org, limit=50) if org else [],
            "secret": secret,
            "error": error,
            "form": form or {},
            "notice": request.query_params.get("notice"),
        },
        status_code=status_code,
    )


@router.get("/licensing")
def licensing_page(request: Request, db: DbDep, user: UserDep, org: str | None = None) -> Response:
    _licensee(user)
    return _licensing_page(request, db, user, org_id=org)


@router.post("/licensing/register")
def register_org(request: Request, db: DbDep, user: UserDep, f: PostedDep) -> Response:
    _licensee(user)
    form = {k: f.text(k) for k in ("name", "contact_name", "contact_email", "billing_email")}
    try:
        org = accounts.create_licensee_org(db, **form)
        accounts.add_licensee_member(db, org=org, user=user)
    except FairtrainError as exc:
        db.rollback()
        return _licensing_page(request, db, user, error=exc.message, form=form, status_code=exc.status_code)
    return _see_other(f"/licensing?org={org.id}&notice=registered")


@router.post("/licensing/{org_id}/members")
def add_member(request: Request, db: DbDep, user: UserDep, org_id: str, f: PostedDep) -> Response:
    _licensee(user)
    org = member_org(db, user, org_id)
    try:
        accounts.add_licensee_member(db, org=org, user=accounts.get_user_by_email(db, f.text("email")))
    except FairtrainError as exc:
        db.rollback()
        return _licensing_page(
            request, db, user, org_id=org_id, error=exc.message, status_code=exc.status_code
        )
    return _see_other(f"/licensing?org={org.id}&notice=member-added")


@router.post("/licensing/{org_id}/clients")
def create_client(request: Request, db: DbDep, user: UserDep, org_id: str, f: PostedDep) -> Response:
    _licensee(user)
    org = member_org(db, user, org_id)
    try:
        client, secret = clients.create_client(db, org=org, name=f.text("name"), by=user)
    except FairtrainError as exc:
        db.rollback()
        return _licensing_page(
            request, db, user, org_id=org_id, error=exc.message, status_code=exc.status_code
        )
    # Shown once, in this response only: never stored, never put in a URL.
    return _licensing_page(request, db, user, org_id=org.id, secret=(client, secret))


@router.post("/licensing/{org_id}/clients/{client_id}/rotate")
def rotate_client(request: Request, db: DbDep, user: UserDep, org_id: str, client_id: str) -> Response:
    _licensee(user)
    org = member_org(db, user, org_id)
    client = clients.get_client(db, client_id, org=org)
    try:
        secret = clients.rotate_client_secret(db, client=client, by=user)
    except FairtrainError as exc:
        db.rollback()
        return _licensing_page(
            request, db, user, org_id=org_id, error=exc.message, status_code=exc.status_code
        )
    return _licensing_page(request, db, user, org_id=org.id, secret=(client, secret))


@router.post("/licensing/{org_id}/crawlers")
def register_crawler(
    request: Request, db: DbDep, settings: SettingsDep, user: UserDep, org_id: str, f: PostedDep
) -> Response:
    """Pay for a crawler: its origin or crawler-list name, and optionally the most a crawl may cost (the
    currency only says how many decimals the price may have)."""
    _licensee(user)
    org = member_org(db, user, org_id)
    form = {k: f.text(k) for k in ("agent", "max_price", "currency")}
    try:
        price = form["max_price"]
        crawlers.register_crawler(
            db,
            org=org,
            agent=form["agent"],
            by=user,
            max_price_micros=parse_unit_price(price, form["currency"].upper() or "USD") if price else None,
            registry=CrawlerRegistry.current(settings.data_dir),
        )
    except FairtrainError as exc:
        db.rollback()
        return _licensing_page(
            request, db, user, org_id=org_id, error=exc.message, form=form, status_code=exc.status_code
        )
    return _see_other(f"/licensing?org={org.id}&notice=crawler-added")


@router.post("/licensing/{org_id}/crawlers/{account_id}/revoke")
def revoke_crawler(db: DbDep, user: UserDep, org_id: str, account_id: str) -> Response:
    _licensee(user)
    org = member_org(db, user, org_id)
    crawlers.revoke_crawler(db, account=crawlers.get_crawler(db, account_id, org=org), by=user)
    return _see_other(f"/licensing?org={org.id}&notice=crawler-revoked")


@router.post("/licensing/{org_id}/clients/{client_id}/revoke")
def revoke_client(db: DbDep, user: UserDep, org_id: str, client_id: str) -> Response:
    _licensee(user)
    org = member_org(db, user, org_id)
    clients.revoke_client(db, client=clients.get_client(db, client_id, org=org), by=user)
    return _see_other(f"/licensing?org={org.id}&notice=client-revoked")
