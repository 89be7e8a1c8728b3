"""Protect buttons, the protected download, watermark settings, the public Check-a-file page and API."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.catalog.models import Asset
from fairtrain.stamp.models import ProtectedFile
from tests.catalog.media import photo
from tests.helpers import csrf, log_in


@pytest.fixture
def demo(db: Session) -> None:
    seed_demo(db, min_password_length=10)
    db.commit()


def _login(client: TestClient, who: str) -> None:
    login = next(d for d in DEMO_LOGINS if d.email.startswith(who + "@"))
    assert log_in(client, login.email, login.password).status_code == 303


def _upload(client: TestClient, tmp_path: Path, seed: int) -> str:
    data = photo(tmp_path / f"p{seed}.jpg", seed=seed, size=(640, 480)).read_bytes()
    token = csrf(client, "/catalog")
    reply = client.post(
        "/catalog/upload",
        files={"files": (f"photo{seed}.jpg", data, "image/jpeg")},
        data={"csrf_token": token},
    )
    assert reply.status_code == 200, reply.text
    return reply.text.split('href="/catalog/assets/')[1].split('"')[0]


def test_protect_button_and_download(client: TestClient, demo: None, db: Session, tmp_path: Path) -> None:
    _login(client, "mira")
    asset_id = _upload(client, tmp_path, 1)
    page = client.get(f"/catalog/assets/{asset_id}")
    assert "No protected copy yet." in page.text
    reply = client.post(
        f"/catalog/assets/{asset_id}/protect",
        data={"csrf_token": csrf(client, f"/catalog/assets/{asset_id}")},
        follow_redirects=False,
    )
    assert reply.status_code == 303 and reply.headers["location"].endswith("notice=protected")
    page = client.get(f"/catalog/assets/{asset_id}")
    assert "Protected copy made" in page.text and "watermark, xmp, c2pa" in page.text
    download = client.get(f"/catalog/assets/{asset_id}/protected")
    assert download.status_code == 200 and download.headers["content-type"] == "image/jpeg"
    assert "photo1-protected.jpg" in download.headers["content-disposition"]
    Image.open(io.BytesIO(download.content)).verify()
    # Someone else's asset does not exist for them.
    other = TestClient(client.app)
    _login(other, "jonas")
    assert other.get(f"/catalog/assets/{asset_id}/protected").status_code == 404
    assert (
        other.post(
            f"/catalog/assets/{asset_id}/protect", data={"csrf_token": csrf(other, "/catalog")}
        ).status_code
        == 404
    )


def test_protect_requires_csrf(client: TestClient, demo: None, tmp_path: Path) -> None:
    _login(client, "mira")
    asset_id = _upload(client, tmp_path, 2)
    assert client.post(f"/catalog/assets/{asset_id}/protect").status_code == 403


def test_protect_whole_catalogue_then_check_a_copy_anonymously(
    client: TestClient, demo: None, db: Session, tmp_path: Path
) -> None:
    _login(client, "mira")
    ids = [_upload(client, tmp_path, seed) for seed in (3, 4)]
    reply = client.post(
        "/catalog/protect", data={"csrf_token": csrf(client, "/catalog/protection")}, follow_redirects=False
    )
    assert reply.status_code == 303 and "notice=protected-" in reply.headers["location"]
    rows = db.scalars(select(ProtectedFile).where(ProtectedFile.asset_id.in_(ids))).all()
    assert {r.asset_id for r in rows} == set(ids)
    protected = client.get(f"/catalog/assets/{ids[0]}/protected").content
    title = db.get(Asset, ids[0]).title  # type: ignore[union-attr]

    anonymous = TestClient(client.app)
    form = anonymous.get("/check")
    assert form.status_code == 200 and 'name="file"' in form.text
    with Image.open(io.BytesIO(protected)) as image:
        copy = io.BytesIO()
        image.save(copy, "JPEG", quality=80)  # metadata stripped, pixels re-encoded
    checked = anonymous.post(
        "/check",
        files={"file": ("found.jpg", copy.getvalue(), "image/jpeg")},
        data={"csrf_token": csrf(anonymous, "/check")},
    )
    assert checked.status_code == 200
    assert title in checked.text and "@mira" in checked.text
    assert "none found" not in checked.text

    api = anonymous.post("/api/v1/verify", files={"file": ("p.jpg", protected, "image/jpeg")})
    assert api.status_code == 200
    body = api.json()
    assert body["asset"]["asset_id"] == ids[0]
    assert body["watermark"]["found"] is True
    assert body["manifest"]["state"] == "trusted"
    assert body["xmp"]["web_statement"].endswith("/@mira/license.xml")


def test_check_refuses_garbage_clearly(client: TestClient) -> None:
    reply = client.post(
        "/check",
        files={"file": ("x.jpg", b"\xff\xd8\xff garbage", "image/jpeg")},
        data={"csrf_token": csrf(client, "/check")},
    )
    assert reply.status_code in (400, 415, 422) and 'data-testid="check-error"' in reply.text
    api = client.post("/api/v1/verify", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n broken", "image/png")})
    assert api.status_code in (400, 415, 422) and api.json()["code"]


def test_watermark_settings_page(client: TestClient, demo: None) -> None:
    _login(client, "mira")
    page = client.get("/catalog/protection")
    assert page.status_code == 200 and "Visible watermark" in page.text
    token = csrf(client, "/catalog/protection")
    bad = client.post(
        "/catalog/protection",
        data={
            "csrf_token": token,
            "enabled": "1",
            "text": "",
            "position": "bottom-right",
            "opacity": "40",
            "scale": "25",
        },
    )
    assert bad.status_code == 422
    assert "needs a text or a logo" in bad.text
    logo = io.BytesIO()
    Image.new("RGBA", (60, 30), (255, 0, 0, 200)).save(logo, "PNG")
    good = client.post(
        "/catalog/protection",
        data={
            "csrf_token": token,
            "enabled": "1",
            "text": "",
            "position": "tile",
            "opacity": "30",
            "scale": "20",
        },
        files={"logo": ("logo.png", logo.getvalue(), "image/png")},
        follow_redirects=False,
    )
    assert good.status_code == 303
    page = client.get("/catalog/protection")
    assert "A logo is set" in page.text and 'value="tile" selected' in page.text


def test_trust_anchors_are_published(client: TestClient) -> None:
    root = client.get("/c2pa/root.pem")
    assert root.status_code == 200 and root.text.startswith("-----BEGIN CERTIFICATE-----")
    anchors = client.get("/c2pa/trust-anchors.pem")
    assert root.text.strip() in anchors.text


def test_policy_change_remakes_protected_copies(
    client: TestClient, demo: None, db: Session, tmp_path: Path
) -> None:
    _login(client, "mira")
    asset_id = _upload(client, tmp_path, 5)
    client.post(f"/catalog/assets/{asset_id}/protect", data={"csrf_token": csrf(client, "/catalog")})
    before = client.get("/api/v1/verify")  # GET is not allowed: only a sanity check of the route's method
    assert before.status_code == 405
    form = {f"{u}-action": "inherit" for u in ("search", "ai-input", "ai-index", "ai-train")}
    form.update({"scope": "", "ai-train-action": "deny", "csrf_token": csrf(client, "/policy")})
    saved = client.post("/policy", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    rows = db.scalars(select(ProtectedFile).where(ProtectedFile.asset_id == asset_id)).all()
    assert len(rows) == 2  # the background task made a new copy and superseded the old one
    current = next(r for r in rows if r.superseded_at is None)
    copy = client.get(f"/catalog/assets/{asset_id}/protected").content
    report = client.post("/api/v1/verify", files={"file": ("c.jpg", copy, "image/jpeg")}).json()
    assert report["sha256"] == current.sha256
    assert report["manifest"]["training_mining"]["ai_training"]["use"] == "notAllowed"
