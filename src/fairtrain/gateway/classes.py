"""The names the gateway gives clients and outcomes: shared by the door, the meter and the analytics.

Client classes, strongest evidence first:

- ``licensed-client``: presented a valid ``Authorization: License`` token (RSL CAP) that covers the request;
- ``verified-crawler``: a registered crawler proven by Web Bot Auth, its operator's IP prefix list or
  forward-confirmed reverse DNS; the only kind that may be charged per crawl;
- ``claimed-crawler``: a User-Agent naming a registered crawler that the checks refute: a disguised bot,
  never billed to the operator it names;
- ``unverified-crawler``: names a registered crawler that cannot be checked (no way known, DNS down);
- ``signed-in``: a browser with a session (a fan, a creator);
- ``suspected-scraper``: no crawler named, no session, and the rate or pattern of a bot (many full-size
  fetches a minute);
- ``anonymous``: anyone else, treated as a human visitor.

Outcomes of one request: ``served`` (2xx/304/206 of public content), ``licensed`` (served under a licence
token), ``charged`` (served under pay-per-crawl), ``quoted`` (401/402: a licence or a price asked),
``refused`` (403/429/400/503 for policy, forgery or bad input).
"""

from __future__ import annotations

from typing import Literal, get_args

from fairtrain.gateway.identity import Identity

__all__ = ["CLIENT_CLASSES", "OUTCOMES", "ClientClass", "Outcome", "crawler_class"]

ClientClass = Literal[
    "licensed-client",
    "verified-crawler",
    "claimed-crawler",
    "unverified-crawler",
    "signed-in",
    "suspected-scraper",
    "anonymous",
]
CLIENT_CLASSES: tuple[ClientClass, ...] = get_args(ClientClass)

Outcome = Literal["served", "licensed", "charged", "quoted", "refused"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


def crawler_class(identity: Identity) -> ClientClass | None:
    """The class an identity gives a request by itself (None: no crawler named; the door decides between
    signed-in, suspected-scraper and anonymous)."""
    if identity.kind == "verified-crawler":
        return "verified-crawler"
    if identity.kind == "claimed-crawler":
        return "claimed-crawler"
    if identity.kind == "unknown-crawler-unverifiable":
        return "unverified-crawler"
    return None
