"""The crawler analytics page (``/analytics``) and its CSV (``/analytics.csv``).

Creators see their own numbers; operators see the whole site and can pick a creator. Every table works
without JavaScript; the charts are drawn by Chart.js from a JSON blob embedded in the page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import Role
from fairtrain.gateway import analytics
from fairtrain.gateway.analytics import GROUPINGS, DailyRow, Grouping
from fairtrain.rights.policy import format_micros
from fairtrain.web.analytics_api import DEFAULT_DAYS, analytics_scope, default_period
from fairtrain.web.deps import DbDep, UserDep
from fairtrain.web.ledger_api import csv_response
from fairtrain.web.security import check_csrf
from fairtrain.web.templating import render

__all__ = ["PERIODS", "router"]

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)

PERIODS = (7, 30, 90)
CHART_GROUPS = 8  # series drawn in the chart; the rest are summed as "other"
_GROUP_TITLES = {
    "crawler": "Crawler",
    "operator": "Operator",
    "purpose": "Purpose",
    "client_class": "Client class",
}
_NONE_LABELS = {
    "crawler": "people and unnamed clients",
    "operator": "no operator",
    "purpose": "not a crawler",
    "client_class": "unknown",
}
_OUTCOMES = ("served", "licensed", "charged", "quoted", "refused")


def _label(by: Grouping, group: str) -> str:
    return group or f"({_NONE_LABELS[by]})"


def _size(count: int) -> str:
    """Bytes for people: 1536 -> '1.5 KB'."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{count:,} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _revenue(revenue: dict[str, int]) -> str:
    return ", ".join(f"{code} {format_micros(micros)}" for code, micros in sorted(revenue.items())) or "–"


def _chart_data(rows: list[DailyRow], *, since: date, until: date, by: Grouping) -> dict[str, Any]:
    """What the charts draw: requests per day for the busiest groups, and per outcome."""
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    volume: dict[str, int] = defaultdict(int)
    for row in rows:
        volume[row.group] += row.requests
    shown = sorted(volume, key=lambda g: (-volume[g], g))[:CHART_GROUPS]
    series: dict[str, list[int]] = {group: [0] * len(days) for group in shown}
    other = [0] * len(days)
    outcomes = {name: [0] * len(days) for name in _OUTCOMES}
    for row in rows:
        at = index[row.day]
        series.get(row.group, other)[at] += row.requests
        for name in _OUTCOMES:
            outcomes[name][at] += getattr(row, name)
    datasets = [{"label": _label(by, group), "data": series[group]} for group in shown]
    if any(other):
        datasets.append({"label": "other", "data": other})
    return {
        "labels": [day.isoformat() for day in days],
        "groups": datasets,
        "outcomes": [{"label": name, "data": outcomes[name]} for name in _OUTCOMES],
    }


def _json_for_script(data: object) -> str:
    """JSON that is safe inside a <script> element: paths and crawler names come from clients."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@router.get("/analytics")
def analytics_page(
    request: Request,
    db: DbDep,
    user: UserDep,
    days: Annotated[int, Query()] = DEFAULT_DAYS,
    by: Annotated[Grouping, Query()] = "crawler",
    creator: str | None = None,
) -> Response:
    scope = analytics_scope(db, user, creator)
    days = days if days in PERIODS else DEFAULT_DAYS
    since, until = default_period(None, None, days=days)
    who = scope.creator_id
    rows = analytics.daily(db, creator_id=who, since=since, until=until, by=by)
    chart = _json_for_script(_chart_data(rows, since=since, until=until, by=by)) if rows else None
    query: dict[str, str] = {"days": str(days), "by": by}
    if scope.handle and not scope.own:
        query["creator"] = scope.handle
    csv_query = {"since": since.isoformat(), "until": until.isoformat(), "by": by}
    if "creator" in query:
        csv_query["creator"] = query["creator"]
    return render(
        request,
        "analytics.html",
        {
            "scope": scope,
            "since": since,
            "until": until,
            "days": days,
            "by": by,
            "by_title": _GROUP_TITLES[by],
            "groupings": [(name, _GROUP_TITLES[name]) for name in GROUPINGS],
            "periods": PERIODS,
            "query": query,
            "link": lambda **changes: "/analytics?" + urlencode({**query, **changes}),
            "csv_link": "/analytics.csv?" + urlencode(csv_query),
            "totals": analytics.totals(db, creator_id=who, since=since, until=until),
            "groups": analytics.groups(db, creator_id=who, since=since, until=until, by=by),
            "top_paths": analytics.top_paths(db, creator_id=who, since=since, until=until, limit=20),
            "violations": analytics.violations(db, creator_id=who, since=since, until=until, limit=50),
            "chart_json": chart,
            "creators": accounts.list_creators(db, limit=500) if user.has_role(Role.OPERATOR) else [],
            "label": lambda group: _label(by, group),
            "size": _size,
            "revenue": _revenue,
        },
    )


@router.get("/analytics.csv")
def analytics_csv(
    db: DbDep,
    user: UserDep,
    since: date | None = None,
    until: date | None = None,
    by: Annotated[Grouping, Query()] = "crawler",
    creator: str | None = None,
) -> Response:
    scope = analytics_scope(db, user, creator)
    start, end = default_period(since, until)
    text = analytics.rows_csv(db, creator_id=scope.creator_id, since=start, until=end, by=by)
    name = f"crawler-analytics-{scope.handle or 'site'}-{start}-{end}-by-{by}.csv"
    return csv_response(text, name)
