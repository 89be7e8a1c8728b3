"""Protecting assets end to end, and verifying copies of them: on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Asset
from fairtrain.config import Settings
from fairtrain.errors import InvalidInput, NotFound
from fairtrain.rights.policy import Rule, Scope, set_rule
from fairtrain.stamp.models import ProtectedFile
from fairtrain.stamp.service import (
    ProtectionContext,
    assets_to_protect,
    pack_asset_id,
    protect_asset,
    unpack_asset_id,
    update_settings,
)
from fairtrain.stamp.verify import verify_bytes
from tests.catalog.media import essay, photo

PROHIBITED_TRAINING = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING"
LINKED = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEELINKEDRIGHTSEXPR"


@pytest.fixture
def context(settings: Settings) -> ProtectionContext:
    return ProtectionContext.from_settings(settings)


@pytest.fixture
def mira(db: Session) -> CreatorProfile:
    creator = accounts.create_creator(db, handle="mira", display_name="Mira Okafor")
    db.commit()
    return creator


def _import(db: Session, settings: Settings, creator: CreatorProfile, path: Path) -> Asset:
    asset, _ = catalog.import_upload(
        db,
        creator=creator,
        path=path,
        filename=path.name,
        store_root=settings.media_dir,
        max_pixels=settings.max_image_pixels,
    )
    db.commit()
    return asset


def _bytes(context: ProtectionContext, row: ProtectedFile) -> bytes:
    return context.store.path_for(row.sha256).read_bytes()


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_asset_ids_pack_into_the_watermark_payload() -> None:
    assert unpack_asset_id(pack_asset_id("ast_0123456789abcdef")) == "ast_0123456789abcdef"
    with pytest.raises(InvalidInput):
        pack_asset_id("usr_0123456789abcdef")
    with pytest.raises(InvalidInput):
        pack_asset_id("ast_0123456789abcdeI")


def test_protected_image_carries_watermark_xmp_and_trusted_c2pa(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    asset = _import(db, settings, mira, photo(tmp_path / "harbour.jpg", seed=7, size=(800, 600)))
    original = context.store.path_for(asset.sha256).read_bytes()
    outcome = protect_asset(db, asset=asset, context=context)
    db.commit()
    assert outcome.status == "protected" and outcome.protected is not None
    row = outcome.protected
    assert row.steps == ["watermark", "xmp", "c2pa"]
    assert row.mime == "image/jpeg" and row.sha256 != asset.sha256
    assert context.store.path_for(asset.sha256).read_bytes() == original  # the original is untouched

    report = verify_bytes(db, _bytes(context, row), filename="harbour-protected.jpg", context=context)
    assert report.known_file is not None and report.known_file.asset_id == asset.id
    assert report.watermark is not None and report.watermark.found
    assert report.watermark.payload_asset_id == asset.id
    assert report.watermark.asset is not None and report.watermark.asset.creator_handle == "mira"
    assert report.manifest is not None and report.manifest.state == "trusted"
    assert report.manifest.training_mining["ai_training"] == {
        "use": "constrained",
        "constraint_info": "http://testserver/@mira/license.xml",
    }
    assert report.xmp is not None
    assert report.xmp.data_mining == LINKED
    assert report.xmp.web_statement == "http://testserver/@mira/license.xml"
    assert report.xmp.creator == "Mira Okafor" and report.xmp.asset_id == asset.id


def test_stripped_and_cropped_copies_are_traced_by_the_watermark(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    asset = _import(db, settings, mira, photo(tmp_path / "pier.jpg", seed=11, size=(800, 600)))
    row = protect_asset(db, asset=asset, context=context).protected
    assert row is not None
    db.commit()
    with Image.open(io.BytesIO(_bytes(context, row))) as image:
        protected = image.convert("RGB")
    # Re-encoding strips XMP and C2PA; the pixels still say whose it is.
    reencoded = verify_bytes(db, _jpeg(protected, 75), filename="copy.jpg", context=context)
    assert reencoded.manifest is not None and reencoded.manifest.state == "absent"
    assert reencoded.xmp is None
    assert reencoded.watermark is not None and reencoded.watermark.found
    assert reencoded.asset is not None and reencoded.asset.asset_id == asset.id
    # A 10 % crop is found again by re-syncing against the stored original.
    cropped = protected.crop((80, 60, 800, 600))
    report = verify_bytes(db, _jpeg(cropped, 90), filename="crop.jpg", context=context)
    assert report.watermark is not None and report.watermark.found
    assert report.watermark.payload_asset_id == asset.id


def test_unmarked_images_have_no_watermark(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    _import(db, settings, mira, photo(tmp_path / "a.jpg", seed=3))
    for seed in (3, 4):  # the (unprotected) original itself, and an unrelated image
        data = photo(tmp_path / f"x{seed}.jpg", seed=seed).read_bytes()
        report = verify_bytes(db, data, filename="x.jpg", context=context)
        assert report.watermark is not None and not report.watermark.found
        assert report.manifest is not None and report.manifest.state == "absent"


def test_policy_change_makes_the_derivative_stale(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    with Image.open(photo(tmp_path / "gull.jpg", seed=5, size=(400, 300))) as image:
        image.save(tmp_path / "gull.png")
    asset = _import(db, settings, mira, tmp_path / "gull.png")
    first = protect_asset(db, asset=asset, context=context)
    assert first.protected is not None and first.protected.mime == "image/png"
    assert protect_asset(db, asset=asset, context=context).status == "unchanged"
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-input", rule=Rule("allow"), changed_by=None)
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-index", rule=Rule("allow"), changed_by=None)
    set_rule(db, scope=Scope("creator", mira.id), usage="ai-train", rule=Rule("deny"), changed_by=None)
    second = protect_asset(db, asset=asset, context=context)
    db.commit()
    assert second.status == "protected" and second.protected is not None
    rows = db.scalars(select(ProtectedFile).where(ProtectedFile.asset_id == asset.id)).all()
    assert len(rows) == 2 and sum(r.superseded_at is None for r in rows) == 1
    report = verify_bytes(db, _bytes(context, second.protected), filename="gull.png", context=context)
    assert report.xmp is not None and report.xmp.data_mining == PROHIBITED_TRAINING
    assert report.manifest is not None
    assert report.manifest.training_mining["ai_training"]["use"] == "notAllowed"
    assert report.manifest.training_mining["ai_inference"]["use"] == "allowed"


def test_visible_watermark_setting_is_applied(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    asset = _import(db, settings, mira, photo(tmp_path / "tide.jpg", seed=9))
    update_settings(db, creator=mira, context=context, enabled=True, text="© Mira", opacity=70)
    outcome = protect_asset(db, asset=asset, context=context)
    assert outcome.protected is not None
    assert outcome.protected.steps == ["watermark", "visible", "xmp", "c2pa"]
    with pytest.raises(InvalidInput):
        update_settings(db, creator=mira, context=context, enabled=True, text="", opacity=70)


def test_texts_get_canaries_that_survive_excerpts(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    body = essay(tmp_path / "words.txt", seed=2, words=400).read_text().split()
    source = tmp_path / "essay.md"
    source.write_text(
        "# Harbour notes\n\n" + "\n\n".join(" ".join(body[i : i + 80]) for i in range(0, 400, 80))
    )
    asset = _import(db, settings, mira, source)
    outcome = protect_asset(db, asset=asset, context=context)
    db.commit()
    assert outcome.protected is not None and outcome.protected.canary
    marked = _bytes(context, outcome.protected).decode()
    assert marked.startswith("<!-- ©")
    excerpt = "\n\n".join(marked.split("\n\n")[1:3])
    report = verify_bytes(db, excerpt.encode(), filename="scraped.txt", context=context)
    assert [c.token for c in report.canaries] == [outcome.protected.canary]
    assert report.asset is not None and report.asset.asset_id == asset.id


def test_html_and_pdf_get_their_rights_metadata(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    page = tmp_path / "story.html"
    page.write_text(
        "<html><head><title>Story</title></head><body>"
        + "".join(f"<p>{'word ' * 60}paragraph {i}.</p>" for i in range(5))
        + "</body></html>"
    )
    html_asset = _import(db, settings, mira, page)
    html_row = protect_asset(db, asset=html_asset, context=context).protected
    assert html_row is not None
    html = _bytes(context, html_row).decode()
    assert (
        '<link rel="license" type="application/rsl+xml" href="http://testserver/@mira/license.xml">' in html
    )
    assert '<meta name="tdm-reservation" content="1">' in html

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    pdf = io.BytesIO()
    writer.write(pdf)
    (tmp_path / "zine.pdf").write_bytes(pdf.getvalue())
    pdf_asset = _import(db, settings, mira, tmp_path / "zine.pdf")
    pdf_row = protect_asset(db, asset=pdf_asset, context=context).protected
    db.commit()
    assert pdf_row is not None and pdf_row.steps == ["xmp", "canary"]
    report = verify_bytes(db, _bytes(context, pdf_row), filename="zine.pdf", context=context)
    assert report.xmp is not None and report.xmp.data_mining == LINKED
    assert report.xmp.canary == pdf_row.canary
    assert report.canaries and report.canaries[0].asset is not None
    assert report.canaries[0].asset.asset_id == pdf_asset.id


def test_missing_original_fails_without_a_trace(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    asset = _import(db, settings, mira, photo(tmp_path / "gone.jpg", seed=12))
    path = context.store.path_for(asset.sha256)
    path.chmod(0o600)
    path.unlink()
    outcome = protect_asset(db, asset=asset, context=context)
    assert outcome.status == "failed" and "original" in outcome.detail
    assert db.scalar(select(ProtectedFile)) is None


def test_bad_files_are_refused_clearly(db: Session, context: ProtectionContext, mira: CreatorProfile) -> None:
    with pytest.raises(InvalidInput):
        verify_bytes(db, b"", filename="empty.jpg", context=context)
    with pytest.raises(InvalidInput):
        verify_bytes(db, b"\xff\xd8\xff\xe0" + b"\x00" * 64, filename="broken.jpg", context=context)


def test_selection_by_creator_collection_and_ids(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    a = _import(db, settings, mira, photo(tmp_path / "a.jpg", seed=21))
    b = _import(db, settings, mira, photo(tmp_path / "b.jpg", seed=22))
    catalog.create_collection(db, creator=mira, slug="harbour", name="Harbour")
    catalog.update_asset(db, asset=b, collections=["harbour"])
    db.commit()
    group = catalog.get_collection(db, creator=mira, slug="harbour")
    assert {x.id for x in assets_to_protect(db, creator=mira)} == {a.id, b.id}
    assert [x.id for x in assets_to_protect(db, creator=mira, collection=group)] == [b.id]
    assert [x.id for x in assets_to_protect(db, asset_ids=[a.id])] == [a.id]
    with pytest.raises(NotFound, match="no asset"):
        assets_to_protect(db, asset_ids=["ast_0000000000000000"])


def test_protected_files_read_back_by_independent_readers(
    db: Session, settings: Settings, context: ProtectionContext, mira: CreatorProfile, tmp_path: Path
) -> None:
    """What `protect` writes, read with c2pa-python's own Reader and Pillow's XMP reader, not our code."""
    import json

    import c2pa

    asset = _import(db, settings, mira, photo(tmp_path / "rope.jpg", seed=17, size=(640, 480)))
    row = protect_asset(db, asset=asset, context=context).protected
    assert row is not None
    data = _bytes(context, row)
    anchors = context.keyring.trust_anchors_pem().decode("ascii")
    for trust, expected in (({}, "Valid"), ({"trust": {"trust_anchors": anchors}}, "Trusted")):
        settings_dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}, **trust}
        with (
            c2pa.Context.from_dict(settings_dict) as c2pa_context,
            c2pa.Reader("image/jpeg", io.BytesIO(data), None, c2pa_context) as reader,
        ):
            store = json.loads(reader.json())
        assert store["validation_state"] == expected
        manifest = store["manifests"][store["active_manifest"]]
        labels = {a["label"]: a["data"] for a in manifest["assertions"]}
        assert labels["cawg.training-mining"]["entries"]["cawg.ai_training"]["use"] == "constrained"
        assert labels["c2pa.training-mining"]["entries"]["c2pa.ai_training"]["use"] == "constrained"
    with Image.open(io.BytesIO(data)) as image:
        description = image.getxmp()["xmpmeta"]["RDF"]["Description"]
    assert description["DataMining"] == LINKED
    assert description["WebStatement"] == "http://testserver/@mira/license.xml"
    assert description["creator"]["Seq"]["li"] == "Mira Okafor"
