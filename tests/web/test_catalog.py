from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.demo import seed_demo
from fairtrain.accounts.tokens import create_api_token
from fairtrain.catalog.models import Asset
from tests.catalog.media import photo
from tests.helpers import csrf, log_in


@pytest.fixture
def tokens(db: Session) -> dict[str, str]:
    seed_demo(db, min_password_length=10)
    out = {}
    for email in ("mira@demo.example.com", "jonas@demo.example.com", "operator@demo.example.com"):
        out[email.split("@")[0]] = create_api_token(db, user=accounts.get_user_by_email(db, email), name="t")[
            1
        ]
    db.commit()
    return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _jpeg(tmp_path: Path, seed: int = 1) -> bytes:
    return photo(tmp_path / f"p{seed}.jpg", seed=seed, exif_date="2022:03:04 10:00:00").read_bytes()


def _media_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    media = settings.media_dir
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_api_upload_list_edit_delete(
    client: TestClient, tokens: dict[str, str], tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    mira = _auth(tokens["mira"])
    data = _jpeg(tmp_path)
    created = client.post("/api/v1/assets", files={"file": ("harbour.jpg", data, "image/jpeg")}, headers=mira)
    assert created.status_code == 201, created.text
    asset = created.json()
    assert asset["outcome"] == "new" and asset["kind"] == "image" and asset["creator"] == "mira"
    assert asset["title"] == "harbour" and asset["created_source"] == "exif"
    assert {"phash64", "dhash64", "pdq256"} <= set(asset["fingerprints"])
    again = client.post("/api/v1/assets", files={"file": ("copy.jpg", data, "image/jpeg")}, headers=mira)
    assert (
        again.status_code == 200
        and again.json()["outcome"] == "duplicate"
        and again.json()["id"] == asset["id"]
    )
    text = client.post(
        "/api/v1/assets",
        files={"file": ("notes.md", b"# Tide tables\n\nLow water at noon today.\n", "text/plain")},
        headers=mira,
    )
    assert text.json()["mime"] == "text/markdown" and text.json()["title"] == "Tide tables"

    listing = client.get("/api/v1/assets", headers=mira).json()
    assert listing["total"] == 2
    assert client.get("/api/v1/assets", params={"kind": "text"}, headers=mira).json()["total"] == 1
    assert client.get("/api/v1/assets", params={"q": "TIDE"}, headers=mira).json()["total"] == 1
    assert client.get("/api/v1/assets", params={"year": 2022}, headers=mira).json()["total"] == 1

    edit = client.patch(
        f"/api/v1/assets/{asset['id']}",
        json={
            "title": "Harbour at dawn",
            "published_on": "2022-05-01",
            "tags": ["Sea", "harbour", "sea"],
            "publication_urls": ["https://mira.example.com/harbour"],
        },
        headers=mira,
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["tags"] == ["sea", "harbour"] or sorted(edit.json()["tags"]) == ["harbour", "sea"]
    assert edit.json()["published_on"] == "2022-05-01"
    assert client.get("/api/v1/assets", params={"tag": "sea"}, headers=mira).json()["total"] == 1
    assert client.get("/api/v1/assets", params={"licensed": False}, headers=mira).json()["total"] == 2
    bad = client.patch(f"/api/v1/assets/{asset['id']}", json={"publication_urls": ["ftp://x"]}, headers=mira)
    assert bad.status_code == 422 and "publication URL" in bad.json()["detail"]

    # Another creator cannot see it; an operator can.
    assert client.get(f"/api/v1/assets/{asset['id']}", headers=_auth(tokens["jonas"])).status_code == 404
    assert (
        client.get("/api/v1/assets", params={"creator": "mira"}, headers=_auth(tokens["jonas"])).status_code
        == 403
    )
    assert client.get(f"/api/v1/assets/{asset['id']}", headers=_auth(tokens["operator"])).status_code == 200

    assert client.delete(f"/api/v1/assets/{asset['id']}", headers=mira).status_code == 204
    assert client.get(f"/api/v1/assets/{asset['id']}", headers=mira).status_code == 404
    assert client.get("/api/v1/assets", headers=mira).json()["total"] == 1
    assert len(_media_files(settings)) == 2  # soft delete keeps the file


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("blob.bin", bytes(range(256)) * 16, 415, "unsupported_media"),
        ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 50, 422, "corrupt_media"),
        ("empty.txt", b"", 422, "empty_file"),
    ],
)
def test_refused_uploads_store_nothing(  # type: ignore[no-untyped-def]
    client: TestClient,
    tokens: dict[str, str],
    db: Session,
    settings,
    name: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    response = client.post(
        "/api/v1/assets",
        files={"file": (name, content, "application/octet-stream")},
        headers=_auth(tokens["mira"]),
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert db.scalar(select(func.count(Asset.id))) == 0
    assert _media_files(settings) == []
    assert not list((settings.data_dir / "tmp").glob("*")) if (settings.data_dir / "tmp").exists() else True


def test_upload_size_limit(settings, tokens: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fairtrain.app import create_app

    app = create_app(settings.model_copy(update={"max_upload_bytes": 10_000}))
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/assets",
            files={"file": ("big.txt", b"word " * 5000, "text/plain")},
            headers=_auth(tokens["mira"]),
        )
        assert response.status_code == 413
    app.state.engine.dispose()


def test_catalog_pages_upload_browse_bulk_edit(
    client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    log_in(client, "mira@demo.example.com", "demo-creator-harbour-17")
    page = client.get("/catalog")
    assert page.status_code == 200 and "0 assets" in page.text
    upload = client.post(
        "/catalog/upload",
        data={"csrf_token": csrf(client, "/catalog")},
        files=[
            ("files", ("one.jpg", _jpeg(tmp_path, 1), "image/jpeg")),
            ("files", ("two.jpg", _jpeg(tmp_path, 2), "image/jpeg")),
            ("files", ("bad.bin", b"\x00\x01" * 100, "application/octet-stream")),
        ],
    )
    assert upload.status_code == 200
    assert upload.text.count('data-testid="asset-card"') == 2
    assert (
        "not a supported" in upload.text.lower()
        or "unsupported" in upload.text.lower()
        or "bad.bin" in upload.text
    )
    ids = [chunk.split('"', 1)[0] for chunk in upload.text.split('name="asset_ids" value="')[1:]]
    thumb = client.get(f"/catalog/assets/{ids[0]}/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    asset_page = client.get(f"/catalog/assets/{ids[0]}")
    assert "phash64" in asset_page.text and "pdq256" in asset_page.text
    bulk = client.post(
        "/catalog/bulk",
        data={
            "csrf_token": csrf(client, "/catalog"),
            "asset_ids": ids,
            "published_on": "2023-01-15",
            "add_tags": "coast",
        },
        follow_redirects=False,
    )
    assert bulk.status_code == 303
    filtered = client.get("/catalog", params={"tag": "coast"})
    assert "2 assets" in filtered.text and "published 2023-01-15" in filtered.text
    single_bad = client.post(
        "/catalog/upload",
        data={"csrf_token": csrf(client, "/catalog")},
        files=[("files", ("x.bin", b"\x00" * 64, "application/octet-stream"))],
    )
    assert single_bad.status_code == 415


def test_catalog_needs_a_creator(client: TestClient, tokens: dict[str, str]) -> None:
    log_in(client, "fan@demo.example.com", "demo-fan-meadow-63")
    assert client.get("/catalog").status_code == 403
    client.cookies.clear()
    assert client.get("/catalog", follow_redirects=False).status_code == 303


def test_licences_rightsholders_and_collections_api(
    client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    mira = _auth(tokens["mira"])
    asset_id = client.post(
        "/api/v1/assets", files={"file": ("a.jpg", _jpeg(tmp_path), "image/jpeg")}, headers=mira
    ).json()["id"]
    licence = client.post(
        f"/api/v1/assets/{asset_id}/licences",
        json={
            "licence_type": "non-exclusive",
            "licensee": "Stock Agency",
            "starts_on": "2024-01-01",
            "ends_on": "2026-12-31",
        },
        headers=mira,
    )
    assert licence.status_code == 201 and licence.json()["licences"][0]["licensee"] == "Stock Agency"
    backwards = client.post(
        f"/api/v1/assets/{asset_id}/licences",
        json={"licence_type": "x", "starts_on": "2025-01-01", "ends_on": "2024-01-01"},
        headers=mira,
    )
    assert backwards.status_code == 422 and "end before it starts" in backwards.json()["detail"]
    assert client.get("/api/v1/assets", params={"licensed": True}, headers=mira).json()["total"] == 1

    holders = [
        {"name": "Mira Okafor", "share_percent": "66.67", "creator": "mira"},
        {"name": "Sam Reed", "share_percent": "33.33"},
    ]
    ok = client.put(f"/api/v1/assets/{asset_id}/rightsholders", json=holders, headers=mira)
    assert ok.status_code == 200, ok.text
    assert [r["share_percent"] for r in ok.json()["rightsholders"]] == ["66.67", "33.33"]
    for bad, message in (
        ([{"name": "A", "share_percent": "50"}, {"name": "B", "share_percent": "49.99"}], "99.99 %"),
        ([{"name": "A", "share_percent": "100.001"}], "share_percent"),
        ([{"name": "A", "share_percent": "NaN"}], "share_percent"),
    ):
        response = client.put(f"/api/v1/assets/{asset_id}/rightsholders", json=bad, headers=mira)
        assert response.status_code == 422 and message in response.text
    assert len(client.get(f"/api/v1/assets/{asset_id}", headers=mira).json()["rightsholders"]) == 2

    created = client.post("/api/v1/collections", json={"slug": "harbours", "name": "Harbours"}, headers=mira)
    assert created.status_code == 201
    assert (
        client.post("/api/v1/collections", json={"slug": "harbours", "name": "x"}, headers=mira).status_code
        == 409
    )
    client.patch(f"/api/v1/assets/{asset_id}", json={"collections": ["harbours"]}, headers=mira)
    assert client.get("/api/v1/assets", params={"collection": "harbours"}, headers=mira).json()["total"] == 1
    missing = client.patch(f"/api/v1/assets/{asset_id}", json={"collections": ["nope"]}, headers=mira)
    assert missing.status_code == 404
    assert [c["slug"] for c in client.get("/api/v1/collections", headers=mira).json()] == ["harbours"]


def test_purge_removes_only_unused_files(
    db: Session, settings, tokens: dict[str, str], client: TestClient, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from fairtrain.catalog.service import purge_deleted

    mira = _auth(tokens["mira"])
    first = client.post(
        "/api/v1/assets", files={"file": ("a.jpg", _jpeg(tmp_path, 1), "image/jpeg")}, headers=mira
    )
    second = client.post(
        "/api/v1/assets", files={"file": ("b.jpg", _jpeg(tmp_path, 2), "image/jpeg")}, headers=mira
    )
    client.delete(f"/api/v1/assets/{first.json()['id']}", headers=mira)
    creator = accounts.get_creator(db, "mira")
    removed, freed = purge_deleted(db, creator=creator, store_root=settings.media_dir)
    assert removed == 1 and freed == first.json()["size"]
    remaining = _media_files(settings)
    assert [p.name for p in remaining] == [second.json()["sha256"]]


def test_asset_page_rights_forms(client: TestClient, tokens: dict[str, str], tmp_path: Path) -> None:
    asset_id = client.post(
        "/api/v1/assets",
        files={"file": ("a.jpg", _jpeg(tmp_path), "image/jpeg")},
        headers=_auth(tokens["mira"]),
    ).json()["id"]
    log_in(client, "mira@demo.example.com", "demo-creator-harbour-17")
    page = f"/catalog/assets/{asset_id}"

    def post(path: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
        return client.post(
            f"{page}/{path}", data={"csrf_token": csrf(client, page), **data}, follow_redirects=False
        )

    assert post("rightsholders", {"holders": "Mira: 60\nSam Reed: 40.00"}).status_code == 303
    assert "Sam Reed: 40.00 %" in client.get(page).text
    bad = post("rightsholders", {"holders": "Mira: 60\nSam: 30"})
    assert bad.status_code == 422 and "90 %" in bad.text
    assert "Sam Reed: 40.00 %" in client.get(page).text  # unchanged
    assert post("licences", {"licence_type": "CC-BY-4.0", "licensee": "Anyone"}).status_code == 303
    assert "CC-BY-4.0 to Anyone" in client.get(page).text
    assert post("collections", {"new_collection": "Harbour Series"}).status_code == 303
    assert (
        client.get("/catalog", params={"collection": "harbour-series"}).text.count('data-testid="asset-card"')
        == 1
    )


def test_portfolio_page_and_exports(client: TestClient, tokens: dict[str, str], tmp_path: Path) -> None:
    mira = _auth(tokens["mira"])
    client.post("/api/v1/assets", files={"file": ("a.jpg", _jpeg(tmp_path, 1), "image/jpeg")}, headers=mira)
    client.post(
        "/api/v1/assets", files={"file": ("n.txt", b"one two three four five\n", "text/plain")}, headers=mira
    )
    log_in(client, "mira@demo.example.com", "demo-creator-harbour-17")
    page = client.get("/catalog/portfolio")
    assert page.status_code == 200
    assert "2 works" in page.text and "1 image" in page.text and "5 words" in page.text
    assert "0.0 % licensed" in page.text
    csv_export = client.get("/catalog/export.csv")
    assert csv_export.headers["content-disposition"] == 'attachment; filename="catalog-mira.csv"'
    assert csv_export.text.splitlines()[0].startswith("id,") and len(csv_export.text.splitlines()) == 3
    assert len(client.get("/catalog/export.json").json()) == 2
    assert client.get("/catalog/export.xml").status_code in (404, 422)
