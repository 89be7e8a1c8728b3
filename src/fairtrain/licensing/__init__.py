"""Licensing: API clients of licensee organisations, offers, deals and agreements (issue 5).

Each concept has its module (``clients``, ``terms``, ``selection``, ``offers``, ``deals``, ``agreements``,
``rsl``); the names below are the package's public face.
"""

from __future__ import annotations

from fairtrain.licensing.agreements import agreement_html, agreement_pdf, verify_agreement
from fairtrain.licensing.clients import (
    authenticate_client,
    create_client,
    get_client,
    list_clients,
    revoke_client,
    rotate_client_secret,
)
from fairtrain.licensing.deals import (
    DealWarning,
    Side,
    accept,
    activate_due,
    cancel_renewal,
    counter,
    covering_deal,
    deal_terms,
    deal_warnings,
    decline,
    expire_due,
    get_deal,
    is_active,
    list_deals,
    request_deal,
    terminate,
    withdraw,
)
from fairtrain.licensing.errors import (
    ExclusiveConflict,
    InvalidClient,
    InvalidTransition,
    NotAParty,
    OfferClosed,
    UnknownClient,
    UnknownDeal,
    UnknownOffer,
    UsageDenied,
)
from fairtrain.licensing.offers import (
    create_offer,
    get_offer,
    get_offer_version,
    list_offers,
    portfolio,
    revise_offer,
    update_offer,
    withdraw_offer,
)
from fairtrain.licensing.rsl import license_element, offer_license_elements, offers_version, parse_license
from fairtrain.licensing.selection import Selection, selection_assets
from fairtrain.licensing.terms import Fee, Terms

__all__ = [
    "DealWarning",
    "ExclusiveConflict",
    "Fee",
    "InvalidClient",
    "InvalidTransition",
    "NotAParty",
    "OfferClosed",
    "Selection",
    "Side",
    "Terms",
    "UnknownClient",
    "UnknownDeal",
    "UnknownOffer",
    "UsageDenied",
    "accept",
    "activate_due",
    "agreement_html",
    "agreement_pdf",
    "authenticate_client",
    "cancel_renewal",
    "counter",
    "covering_deal",
    "create_client",
    "create_offer",
    "deal_terms",
    "deal_warnings",
    "decline",
    "expire_due",
    "get_client",
    "get_deal",
    "get_offer",
    "get_offer_version",
    "is_active",
    "license_element",
    "list_clients",
    "list_deals",
    "list_offers",
    "offer_license_elements",
    "offers_version",
    "parse_license",
    "portfolio",
    "request_deal",
    "revise_offer",
    "revoke_client",
    "rotate_client_secret",
    "selection_assets",
    "terminate",
    "update_offer",
    "verify_agreement",
    "withdraw",
    "withdraw_offer",
]
