"""A creator opens /analytics after crawlers came: Chart.js draws the requests per crawler in chromium.

This module runs its own server on a database seeded with the demo cast plus a few days of crawler hits
for Mira (recorded through ``record_hits``, as the gateway does), so the browser only logs in and looks.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.config import Settings
from fairtrain.db.engine import make_engine, make_sessionmaker, transaction
from fairtrain.gateway.analytics import Hit, record_hits
from tests.browser.conftest import SECRET_KEY
from tests.browser.helpers import log_in, running_server

pytestmark = pytest.mark.browser

MIRA = next(login for login in DEMO_LOGINS if login.handle == "mira")

# Counts the painted (non-transparent) pixels of a canvas: more than the axes alone once bars are drawn.
_PAINTED = """canvas => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return painted;
}"""


def seed_hits(database_url: str) -> None:
    engine = make_engine(database_url)
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            seed_demo(session, min_password_length=10)
            mira = accounts.get_creator(session, "mira")
            hits = []
            for day in range(5):
                for n in range(3 + day):
                    hits.append(
                        Hit(
                            at=today - timedelta(days=day),
                            creator_id=mira.id,
                            crawler="GPTBot" if n % 2 else "ClaudeBot",
                            operator="OpenAI" if n % 2 else "Anthropic",
                            purpose="training",
                            client_class="verified-crawler",
                            outcome="refused",
                            path=f"/@mira/work-{n}.jpg",
                            violation=n == 0,
                        )
                    )
            record_hits(session, hits)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class AnalyticsDatabase:
    url: str
    directory: Path


@pytest.fixture(scope="module")
def analytics_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> AnalyticsDatabase:
    directory = tmp_path_factory.mktemp("browser-analytics")
    shutil.copyfile(sqlite_template, directory / "fairtrain.db")
    url = f"sqlite:///{directory / 'fairtrain.db'}"
    seed_hits(url)
    return AnalyticsDatabase(url, directory)


@pytest.fixture(scope="module")
def live_server(analytics_db: AnalyticsDatabase) -> Iterator[str]:
    """This module's own server, as ``conftest.live_server`` runs it, on the ``analytics_db`` database."""

    def settings_for(base_url: str) -> Settings:
        return Settings(
            data_dir=analytics_db.directory / "data",
            database_url=analytics_db.url,
            secret_key=SECRET_KEY,
            base_url=base_url,
        )

    with running_server(settings_for) as base_url:
        yield base_url


def test_the_chart_draws_the_recorded_hits(page: Page) -> None:
    log_in(page, MIRA)
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_test_id("total-requests")).to_have_text("25")
    expect(page.get_by_test_id("analytics-groups")).to_contain_text("ClaudeBot")

    canvas = page.get_by_test_id("analytics-chart")
    expect(canvas).to_be_visible()
    page.wait_for_function(
        "() => window.Chart !== undefined && Chart.getChart('analytics-groups-chart') !== undefined"
    )
    chart = page.evaluate(
        """() => {
          const chart = Chart.getChart('analytics-groups-chart');
          return {labels: chart.data.labels.length, series: chart.data.datasets.map(d => d.label),
                  total: chart.data.datasets.reduce((sum, d) => sum + d.data.reduce((a, b) => a + b, 0), 0)};
        }"""
    )
    assert chart == {"labels": 30, "series": ["ClaudeBot", "GPTBot"], "total": 25}
    assert canvas.evaluate(_PAINTED) > 1000  # bars, not just an empty frame

    # The tables are there without JavaScript's help, and switching the grouping redraws.
    page.get_by_role("link", name="Operator").last.click()
    expect(page.get_by_test_id("analytics-groups")).to_contain_text("Anthropic")
    page.wait_for_function("() => Chart.getChart('analytics-groups-chart') !== undefined")
    series = page.evaluate("() => Chart.getChart('analytics-groups-chart').data.datasets.map(d => d.label)")
    assert series == ["Anthropic", "OpenAI"]
