"""Getting works and prefix lists to the door: publishing a work (page, API), installing a prefix list (CLI),
and the demo's published works."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fairtrain.accounts.demo import seed_demo
from fairtrain.accounts.tokens import create_api_token
from fairtrain.catalog.models import Asset
from fairtrain.cli import app as cli_app
from fairtrain.config import Settings
from fairtrain.gateway.demo import seed_demo_works
from fairtrain.gateway.door import Door
from fairtrain.gateway.models import SubscriptionTier
from fairtrain.gateway.prefixes import PREFIX_DIR, InvalidPrefixList, install_prefix_list, parse_prefix_list
from tests.gateway.site import GPTBOT_UA, Site
from tests.helpers import csrf, log_in

runner = CliRunner()
OPENAI = {"creationTime": "2026-11-20T00:00:00Z", "prefixes": [{"ipv4Prefix": "20.171.206.0/24"}]}


def test_owner_publishes_a_work_on_its_page_and_by_api(client: TestClient, site: Site, db: Session) -> None:
    assert client.get(f"/media/{site.private.id}/preview").status_code == 404
    assert log_in(client, "mira@example.com").status_code == 303
    page = client.get(f"/catalog/assets/{site.private.id}")
    assert 'data-testid="access"' in page.text
    token = csrf(client, f"/catalog/assets/{site.private.id}")
    saved = client.post(
        f"/catalog/assets/{site.private.id}/access",
        data={"access": "subscribers", "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    bad = client.post(
        f"/catalog/assets/{site.private.id}/access", data={"access": "world", "csrf_token": token}
    )
    assert bad.status_code == 422
    db.expire_all()
    asset = db.get(Asset, site.private.id)
    assert asset is not None and asset.access == "subscribers"
    creator_page = client.get("/@mira")
    assert f"/@mira/works/{site.private.id}" in creator_page.text
    # The API speaks the same field.
    _, api_token = create_api_token(db, user=site.mira_user, name="t")
    db.commit()
    headers = {"Authorization": f"Bearer {api_token}"}
    reply = client.patch(f"/api/v1/assets/{site.private.id}", json={"access": "public"}, headers=headers)
    assert reply.status_code == 200 and reply.json()["access"] == "public"
    refused = client.patch(f"/api/v1/assets/{site.private.id}", json={"access": "everyone"}, headers=headers)
    assert refused.status_code == 422
    # Someone else's work cannot be published by them.
    _, fan_token = create_api_token(db, user=site.fan, name="t")
    db.commit()
    other = client.patch(
        f"/api/v1/assets/{site.public.id}",
        json={"access": "private"},
        headers={"Authorization": f"Bearer {fan_token}"},
    )
    assert other.status_code in (403, 404)


def test_prefix_list_installed_from_the_cli_verifies_gptbot_in_a_running_app(
    app: FastAPI,
    site: Site,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FAIRTRAIN_DATABASE_URL", database_url)
    door: Door = app.state.door
    door.prefixes.check_interval = 0  # type: ignore[union-attr]  # see new files at once
    with TestClient(app, headers={"User-Agent": GPTBOT_UA}, client=("20.171.206.7", 1)) as gptbot:
        before = gptbot.get(f"/media/{site.public.id}/full")
        assert before.status_code == 403  # cannot be verified: no list installed yet
        source = tmp_path / "gptbot.json"
        source.write_text(json.dumps(OPENAI))
        result = runner.invoke(
            cli_app, ["crawlers", "prefixes", "install", "openai-gptbot", "--from", str(source)]
        )
        assert result.exit_code == 0, result.output
        assert "1 prefixes" in result.output and "GPTBot" in result.output
        after = gptbot.get(f"/media/{site.public.id}/full")
        assert after.status_code == 402 and after.headers["www-authenticate"].startswith("License")
    listing = runner.invoke(cli_app, ["crawlers", "prefixes", "list"])
    assert listing.exit_code == 0 and "openai-gptbot" in listing.output


def test_a_bad_prefix_list_never_replaces_a_good_one(tmp_path: Path) -> None:
    folder = tmp_path / PREFIX_DIR
    good = tmp_path / "good.txt"
    good.write_text("# OpenAI\n20.171.206.0/24\n2a0a:1::/32\n")
    assert len(install_prefix_list("openai-gptbot", str(good), directory=folder)) == 2
    for text in ("", "{}", '{"prefixes": [{"ipv4Prefix": "300.1.1.0/24"}]}', "not-an-address\n"):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(InvalidPrefixList):
            install_prefix_list("openai-gptbot", str(bad), directory=folder)
    with pytest.raises(InvalidPrefixList):
        install_prefix_list("../escape", str(good), directory=folder)
    installed = parse_prefix_list((folder / "openai-gptbot.txt").read_text())
    assert "20.171.206.9" in installed and list(folder.iterdir()) == [folder / "openai-gptbot.txt"]


def test_prefix_list_from_a_url_no_redirects(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/gptbot.json":
            return httpx.Response(200, json=OPENAI)
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/x.json"})

    transport = httpx.MockTransport(answer)
    folder = tmp_path / PREFIX_DIR
    found = install_prefix_list(
        "openai-gptbot", "https://openai.com/gptbot.json", directory=folder, transport=transport
    )
    assert len(found) == 1 and (folder / "openai-gptbot.json").is_file()
    with pytest.raises(InvalidPrefixList, match="HTTP 302"):
        install_prefix_list("other", "https://openai.com/moved.json", directory=folder, transport=transport)


def test_demo_publishes_works_and_tiers(db: Session, settings: Settings, client: TestClient) -> None:
    seed_demo(db, min_password_length=10)
    assert seed_demo_works(db, settings) == 6
    db.commit()
    assert seed_demo_works(db, settings) == 0  # idempotent
    db.commit()
    works = db.scalars(select(Asset).where(Asset.deleted_at.is_(None))).all()
    assert sorted(w.access for w in works) == ["public"] * 3 + ["subscribers"] * 3
    assert len(db.scalars(select(SubscriptionTier)).all()) == 2
    page = client.get("/@mira")
    assert page.text.count('data-testid="work-card"') == 4
    preview = next(w for w in works if w.kind == "image" and w.access == "subscribers")
    assert client.get(f"/media/{preview.id}/preview").status_code == 200
    assert client.get(f"/media/{preview.id}/full").status_code == 403
