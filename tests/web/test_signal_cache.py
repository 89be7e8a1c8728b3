"""The served signal files are cached: a repeat request costs one small query, and any change shows next."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import seed_demo
from fairtrain.rights.crawlers import add_local
from fairtrain.rights.policy import Rule, Scope, set_rule

ROUTES = ("/robots.txt", "/ai.txt", "/.well-known/tdmrep.json", "/license.xml")


@pytest.fixture
def demo(db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL the app runs meanwhile."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        seen.append(sql)

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_repeat_request_runs_only_the_version_query(app: FastAPI, client: TestClient, demo: None) -> None:
    first = {path: client.get(path).text for path in ROUTES}
    for path in ROUTES:
        with statements(app) as seen:
            again = client.get(path)
        assert again.status_code == 200 and again.text == first[path]
        assert len(seen) == 1, (path, seen)
        assert "policy_changes" in seen[0] and "creators" in seen[0]


def test_a_policy_change_and_a_new_creator_show_on_the_next_request(
    app: FastAPI, client: TestClient, db: Session, demo: None
) -> None:
    assert "/@mira/" not in client.get("/ai.txt").text
    mira = accounts.get_creator(db, "mira")
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("allow"), changed_by=None)
    db.commit()
    assert "Allow: /@mira/" in client.get("/ai.txt").text

    # A new creator inherits the site's terms, so the files do not change; their TDM policy, built from
    # the same cached site, shows that the cache knows them.
    assert client.get("/.well-known/tdm/@ines.json").status_code == 404
    accounts.create_creator(db, handle="ines", display_name="Ines")
    db.commit()
    assert client.get("/.well-known/tdm/@ines.json").json()["assigner"]["vcard:fn"] == "Ines"
    assert client.get("/@ines/license.xml").status_code == 200

    # Leaving a collective changes what applies to a creator.
    collective = accounts.get_collective(db, "northern-light")
    set_rule(
        db, scope=Scope("collective", collective.id), usage="ai-index", rule=Rule("deny"), changed_by=None
    )
    db.commit()
    assert "<prohibits" in client.get("/@jonas/license.xml").text
    jonas = accounts.get_creator(db, "jonas")
    accounts.remove_member(db, collective=collective, creator=jonas)
    db.commit()
    assert "<prohibits" not in client.get("/@jonas/license.xml").text


def test_an_edited_crawler_list_shows_in_robots_txt(app: FastAPI, client: TestClient, demo: None) -> None:
    assert "User-agent: HarbourBot" not in client.get("/robots.txt").text
    data_dir = app.state.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    add_local({"name": "HarbourBot", "operator": "Harbour AI", "purpose": "training"}, data_dir=data_dir)
    assert "User-agent: HarbourBot" in client.get("/robots.txt").text
