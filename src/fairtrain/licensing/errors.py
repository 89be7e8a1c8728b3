"""Named errors of the licensing package; the web layer maps ``status_code`` and ``code``."""

from __future__ import annotations

from fairtrain.errors import Conflict, FairtrainError, Forbidden, InvalidInput, NotFound

__all__ = [
    "ExclusiveConflict",
    "InvalidClient",
    "InvalidTransition",
    "NotAParty",
    "OfferClosed",
    "UnknownClient",
    "UnknownDeal",
    "UnknownOffer",
    "UsageDenied",
]


class InvalidClient(FairtrainError):
    """Unknown client id, wrong secret, or a revoked client. One error for all three (OLP ``invalid_client``),
    so a caller learns nothing about which part was wrong."""

    status_code = 401
    code = "invalid_client"

    def __init__(self, message: str = "unknown client or wrong secret") -> None:
        super().__init__(message)


class UnknownClient(NotFound):
    code = "unknown_client"


class UnknownOffer(NotFound):
    code = "unknown_offer"


class UnknownDeal(NotFound):
    code = "unknown_deal"


class UsageDenied(InvalidInput):
    """The terms grant a usage that the seller's AI policy denies."""

    code = "usage_denied"


class OfferClosed(Conflict):
    code = "offer_closed"


class InvalidTransition(Conflict):
    """A deal cannot move from its state by this step (or not by this side)."""

    code = "invalid_transition"


class ExclusiveConflict(Conflict):
    """Accepting would overlap an exclusive deal (or make an exclusive one overlap another deal)."""

    code = "exclusive_conflict"


class NotAParty(Forbidden):
    """The user acts for neither the seller nor the licensee this step needs."""

    code = "not_a_party"
