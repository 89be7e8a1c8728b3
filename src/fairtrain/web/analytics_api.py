"""JSON API for the crawler analytics: ``GET /api/v1/analytics``.

A creator reads their own numbers; an operator reads the whole site's, or any creator's with ``creator``.
Routes stay thin: ``fairtrain.gateway.analytics`` counts and queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role, User
from fairtrain.accounts.schemas import ApiError
from fairtrain.errors import Forbidden, InvalidInput
from fairtrain.gateway import analytics
from fairtrain.gateway.analytics import Counters, Grouping
from fairtrain.rights.policy import format_micros
from fairtrain.web.deps import ApiUserDep, DbDep

__all__ = [
    "DEFAULT_DAYS",
    "AnalyticsPublic",
    "Scope",
    "analytics_scope",
    "default_period",
    "revenue_public",
    "router",
]

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Scope:
    """Whose numbers: one creator's (``creator_id``), or the whole site's (None)."""

    creator_id: str | None
    handle: str | None
    own: bool
    """The viewer's own creator profile (no ``creator`` parameter needed in links)."""


def analytics_scope(db: Session, user: User, handle: str | None) -> Scope:
    """What ``user`` may see: their own creator's analytics, or (operators) the site's or any creator's."""
    operator = user.has_role(Role.OPERATOR)
    if handle:
        creator = accounts.get_creator(db, handle)
        if creator.user_id != user.id and not operator:
            raise Forbidden(f"only @{creator.handle} or an operator may see @{creator.handle}'s analytics")
        return Scope(creator.id, creator.handle, own=creator.user_id == user.id and not operator)
    if operator:
        return Scope(None, None, own=False)
    if user.creator is None:
        raise Forbidden("the crawler analytics are for creators and operators")
    return Scope(user.creator.id, user.creator.handle, own=True)


def default_period(since: date | None, until: date | None, *, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The asked period, or the last ``days`` days up to today (UTC)."""
    end = until or datetime.now(UTC).date()
    start = since or end - timedelta(days=days - 1)
    if start > end:
        raise InvalidInput(f"since ({start}) is after until ({end})")
    if (end - start).days + 1 > analytics.MAX_DAYS:
        raise InvalidInput(f"a period may span at most {analytics.MAX_DAYS} days")
    return start, end


class RevenuePublic(BaseModel):
    currency: str = Field(examples=["USD"])
    micros: int = Field(examples=[150000], description="Millionths of the currency's unit; never a float.")
    amount: str = Field(examples=["0.15"], description="The same as a decimal string.")


def revenue_public(revenue: dict[str, int]) -> list[RevenuePublic]:
    return [
        RevenuePublic(currency=code, micros=micros, amount=format_micros(micros))
        for code, micros in sorted(revenue.items())
    ]


class CountersPublic(BaseModel):
    requests: int
    bytes: int
    served: int = Field(description="Served free (public content).")
    refused: int = Field(description="Refused: 403, 429, 400, 503 (or, in imported logs, any other status).")
    quoted: int = Field(description="401/402: a licence or a price asked.")
    charged: int = Field(description="Served and charged per crawl.")
    licensed: int = Field(description="Served under a licence token.")
    violations: int = Field(description="Fetches of paths the crawler's robots.txt group disallows.")
    revenue: list[RevenuePublic]


class DailyPublic(CountersPublic):
    day: date
    group: str = Field(description="The crawler, operator, purpose or client class ('' for none).")


class GroupPublic(CountersPublic):
    group: str


class PathPublic(BaseModel):
    path: str
    requests: int
    bytes: int
    violations: int


class ViolationPublic(BaseModel):
    crawler: str
    path: str
    count: int


class AnalyticsPublic(BaseModel):
    creator: str | None = Field(description="The creator's handle; null for the whole site.")
    since: date
    until: date
    by: Grouping
    totals: CountersPublic
    daily: list[DailyPublic]
    groups: list[GroupPublic] = Field(description="The same groups over the whole period, busiest first.")
    top_paths: list[PathPublic]
    violations: list[ViolationPublic]


def _counters(counters: Counters) -> dict[str, object]:
    values: dict[str, object] = counters.as_dict()
    values["revenue"] = revenue_public(counters.revenue)
    return values


router = APIRouter(
    prefix="/api/v1",
    tags=["analytics"],
    responses={
        401: {"description": "No valid API token or session", "model": ApiError},
        403: {"description": "Not your creator, and you are not an operator", "model": ApiError},
        404: {"description": "No such creator", "model": ApiError},
        422: {"description": "Invalid period or grouping", "model": ApiError},
    },
)


@router.get("/analytics", summary="Crawler analytics: requests per day and crawler, top paths, violations")
def get_analytics(
    db: DbDep,
    user: ApiUserDep,
    since: Annotated[
        date | None, Query(description="First day (UTC). Default: 29 days before `until`.")
    ] = None,
    until: Annotated[date | None, Query(description="Last day (UTC), included. Default: today.")] = None,
    by: Annotated[Grouping, Query(description="What the daily rows are grouped by.")] = "crawler",
    creator: Annotated[
        str | None, Query(description="A creator's handle (operators: any; default: the whole site).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Most top paths and violations listed.")] = 20,
) -> AnalyticsPublic:
    scope = analytics_scope(db, user, creator)
    start, end = default_period(since, until)
    who = scope.creator_id
    return AnalyticsPublic(
        creator=scope.handle,
        since=start,
        until=end,
        by=by,
        totals=CountersPublic.model_validate(
            _counters(analytics.totals(db, creator_id=who, since=start, until=end))
        ),
        daily=[
            DailyPublic.model_validate({**_counters(row), "day": row.day, "group": row.group})
            for row in analytics.daily(db, creator_id=who, since=start, until=end, by=by)
        ],
        groups=[
            GroupPublic.model_validate({**_counters(row), "group": row.group})
            for row in analytics.groups(db, creator_id=who, since=start, until=end, by=by)
        ],
        top_paths=[
            PathPublic(path=p.path, requests=p.requests, bytes=p.bytes, violations=p.violations)
            for p in analytics.top_paths(db, creator_id=who, since=start, until=end, limit=limit)
        ],
        violations=[
            ViolationPublic(crawler=v.crawler, path=v.path, count=v.count)
            for v in analytics.violations(db, creator_id=who, since=start, until=end, limit=limit)
        ],
    )
