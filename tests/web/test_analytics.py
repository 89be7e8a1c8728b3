"""Crawler analytics on the web: /analytics, /analytics.csv and GET /api/v1/analytics (both databases)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile, Role, User
from fairtrain.accounts.tokens import create_api_token
from fairtrain.gateway.analytics import Hit, record_hits
from tests.helpers import STRONG_PASSWORD, log_in

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@dataclass
class People:
    mira_user: User
    mira: CreatorProfile
    jonas_user: User
    jonas: CreatorProfile
    operator: User
    fan: User
    tokens: dict[str, dict[str, str]]


def _user(db: Session, email: str) -> User:
    user = accounts.create_user(db, email=email, password=None, min_password_length=10)
    accounts.set_password(db, user=user, password=STRONG_PASSWORD, min_password_length=10)
    return user


@pytest.fixture
def people(db: Session) -> People:
    mira_user, jonas_user = _user(db, "mira@example.com"), _user(db, "jonas@example.com")
    mira = accounts.create_creator(db, handle="mira", display_name="Mira", user=mira_user)
    jonas = accounts.create_creator(db, handle="jonas", display_name="Jonas", user=jonas_user)
    operator = _user(db, "op@example.com")
    accounts.grant_role(db, user=operator, role=Role.OPERATOR)
    fan = _user(db, "fan@example.com")
    tokens = {
        who: {"Authorization": f"Bearer {create_api_token(db, user=user, name='test')[1]}"}
        for who, user in {"mira": mira_user, "operator": operator, "fan": fan}.items()
    }
    record_hits(
        db,
        [
            Hit(
                at=NOW - timedelta(days=day),
                creator_id=mira.id,
                crawler="GPTBot",
                operator="OpenAI",
                purpose="training",
                client_class="verified-crawler",
                outcome="charged",
                path=f"/@mira/photo-{day}.jpg",
                bytes=2048,
                revenue_micros=15_000,
                currency="USD",
            )
            for day in range(3)
        ]
        + [
            Hit(
                at=NOW,
                creator_id=mira.id,
                crawler="GPTBot",
                operator="OpenAI",
                purpose="training",
                client_class="claimed-crawler",
                outcome="refused",
                path="/@mira/</script><b>x</b>",
                violation=True,
            ),
            Hit(at=NOW, creator_id=mira.id, client_class="anonymous", outcome="served", path="/@mira"),
            Hit(
                at=NOW,
                creator_id=jonas.id,
                crawler="CCBot",
                operator="Common Crawl Foundation",
                purpose="training",
                client_class="verified-crawler",
                outcome="refused",
                path="/@jonas/secret-plan.jpg",
                violation=True,
            ),
            Hit(
                at=NOW - timedelta(days=60),
                creator_id=mira.id,
                client_class="anonymous",
                outcome="served",
                path="/old",
            ),
        ],
    )
    db.commit()
    return People(mira_user, mira, jonas_user, jonas, operator, fan, tokens)


def _as(client: TestClient, user: User) -> TestClient:
    client.cookies.clear()
    assert log_in(client, user.email).status_code == 303
    return client


def _chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="analytics-data">(.*?)</script>', html, re.S)
    assert match, "no chart data in the page"
    return json.loads(match.group(1))


def test_a_creator_sees_their_own_traffic_with_chart_data_and_tables(
    client: TestClient, people: People
) -> None:
    page = _as(client, people.mira_user).get("/analytics")
    assert page.status_code == 200
    html = page.text
    assert ">Analytics</a>" in html  # in the navigation
    assert 'data-testid="total-requests">5<' in html  # 60 days ago is outside the default 30
    assert "USD 0.045" in html
    assert 'data-testid="total-violations">1<' in html
    assert "GPTBot" in html and "(people and unnamed clients)" in html
    assert "secret-plan" not in html and "CCBot" not in html  # jonas's traffic stays jonas's
    # A client-chosen path cannot end the data script early or inject markup.
    assert "</script><b>" not in html
    assert "&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;" in html  # shown escaped in the tables
    data = _chart_data(html)
    assert len(data["labels"]) == 30 and data["labels"][-1] == NOW.date().isoformat()
    gpt = next(d for d in data["groups"] if d["label"] == "GPTBot")
    assert gpt["data"][-3:] == [1, 1, 2]
    charged = next(d for d in data["outcomes"] if d["label"] == "charged")
    assert sum(charged["data"]) == 3
    assert '<canvas id="analytics-groups-chart"' in html
    assert "/static/vendor/chartjs/chart.umd.min.js" in html

    ninety = client.get("/analytics?days=90&by=purpose")
    assert 'data-testid="total-requests">6<' in ninety.text
    assert "(not a crawler)" in ninety.text and ">training<" in ninety.text


def test_an_operator_sees_the_site_and_picks_a_creator(client: TestClient, people: People) -> None:
    _as(client, people.operator)
    site = client.get("/analytics")
    assert site.status_code == 200
    assert "The whole site" in site.text and 'data-testid="total-requests">6<' in site.text
    assert "secret-plan" in site.text and "CCBot" in site.text
    jonas = client.get("/analytics?creator=jonas&by=operator")
    assert jonas.status_code == 200
    assert "@jonas" in jonas.text and 'data-testid="total-requests">1<' in jonas.text
    assert "Common Crawl Foundation" in jonas.text and "GPTBot" not in jonas.text
    assert 'href="/analytics.csv?since=' in jonas.text and "creator=jonas" in jonas.text


def test_nobody_sees_another_creators_analytics(client: TestClient, people: People) -> None:
    assert client.get("/analytics", follow_redirects=False).status_code in (303, 401)
    _as(client, people.mira_user)
    assert client.get("/analytics?creator=jonas").status_code == 403
    assert client.get("/analytics.csv?creator=jonas").status_code == 403
    assert client.get("/analytics?creator=nobody").status_code == 404
    _as(client, people.fan)
    assert client.get("/analytics").status_code == 403
    assert client.get("/api/v1/analytics", headers=people.tokens["fan"]).status_code == 403
    assert client.get("/api/v1/analytics?creator=jonas", headers=people.tokens["mira"]).status_code == 403
    client.cookies.clear()
    assert client.get("/api/v1/analytics").status_code == 401


def test_csv_export(client: TestClient, people: People) -> None:
    response = _as(client, people.mira_user).get("/analytics.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        "attachment" in response.headers["content-disposition"]
        and "mira" in response.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    gpt_today = [r for r in rows if r["crawler"] == "GPTBot" and r["day"] == NOW.date().isoformat()]
    assert len(gpt_today) == 1
    assert (gpt_today[0]["requests"], gpt_today[0]["violations"], gpt_today[0]["revenue_micros_USD"]) == (
        "2",
        "1",
        "15000",
    )
    assert {r["crawler"] for r in rows} == {"GPTBot", ""}
    since = (NOW - timedelta(days=89)).date().isoformat()
    by_class = client.get(f"/analytics.csv?since={since}&by=client_class")
    assert by_class.text.splitlines()[0].startswith("day,client_class,requests")
    assert client.get("/analytics.csv?since=2026-02-01&until=2026-01-01").status_code == 422


def test_api_returns_daily_rows_totals_top_paths_and_violations(client: TestClient, people: People) -> None:
    since = (NOW - timedelta(days=6)).date()
    response = client.get(
        f"/api/v1/analytics?since={since}&until={NOW.date()}&by=client_class", headers=people.tokens["mira"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["creator"], body["since"], body["by"]) == ("mira", since.isoformat(), "client_class")
    assert body["totals"]["requests"] == 5
    assert body["totals"]["revenue"] == [{"currency": "USD", "micros": 45_000, "amount": "0.045"}]
    today = {r["group"]: r for r in body["daily"] if r["day"] == NOW.date().isoformat()}
    assert set(today) == {"verified-crawler", "claimed-crawler", "anonymous"}
    assert (today["claimed-crawler"]["refused"], today["verified-crawler"]["charged"]) == (1, 1)
    assert body["groups"][0]["group"] == "verified-crawler"
    assert {p["path"] for p in body["top_paths"]} >= {"/@mira", "/@mira/photo-0.jpg"}
    assert body["violations"] == [{"crawler": "GPTBot", "path": "/@mira/</script><b>x</b>", "count": 1}]

    site = client.get("/api/v1/analytics", headers=people.tokens["operator"]).json()
    assert site["creator"] is None and site["totals"]["requests"] == 6 and len(site["violations"]) == 2
    jonas = client.get("/api/v1/analytics?creator=jonas", headers=people.tokens["operator"]).json()
    assert jonas["totals"]["violations"] == 1
    bad = client.get("/api/v1/analytics?by=colour", headers=people.tokens["mira"])
    assert bad.status_code == 422
    too_long = client.get(
        "/api/v1/analytics?since=2020-01-01&until=2026-01-01", headers=people.tokens["mira"]
    )
    assert too_long.status_code == 422 and "at most" in too_long.text
