from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session
from tests.licensing.helpers import NOW, World, terms

from fairtrain.accounts import service as accounts
from fairtrain.catalog import service as catalog
from fairtrain.errors import NotFound
from fairtrain.licensing.agreements import agreement_html, agreement_pdf, canonical_json, verify_agreement
from fairtrain.licensing.deals import Side, accept, get_deal, request_deal
from fairtrain.licensing.models import Deal
from fairtrain.licensing.offers import create_offer
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import Fee


def _deal(db: Session, world: World, **changes: object) -> Deal:
    seller = changes.pop("seller", world.guild)
    catalog.set_rightsholders(
        db, asset=world.photos[0], holders=[("Mira Jensen", 5000, world.mira.id), ("Sam <Lee>", 5000, None)]
    )
    offer = create_offer(
        db,
        seller=seller,
        title="Guild training pool",
        terms=terms(**changes),
        selection=Selection(all=True),  # type: ignore[arg-type]
    )
    deal = request_deal(db, offer_version=offer.current, org=world.org, now=NOW)
    accept(db, deal=deal, side=Side.SELLER, now=NOW)
    db.commit()
    return deal


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_agreement_says_what_was_agreed(db: Session, world: World) -> None:
    deal = _deal(
        db,
        world,
        usages=["ai-train", "ai-input"],
        territories=["EU", "GB"],
        user_types=["commercial"],
        fee=Fee("royalty", currency="EUR", royalty_bp=1250, minimum_minor=100_000),
        duration_days=365,
        auto_renew=True,
        attribution="Includes works by members of The Guild",
        at_expiry="retain-models",
        deletion_days=45,
        distribution="mixed",
        distribution_items_bp=7000,
        governing_law="the Netherlands",
    )
    html = agreement_html(deal)
    assert hashlib.sha256(html.encode()).hexdigest() == deal.agreement_sha256
    for text in [
        f"Licence agreement {deal.id}",
        "The Guild",
        "Acme AI",
        "12.5 % of reported model revenue, at least EUR 1000.00 yearly",
        "AI training: training or fine-tuning",
        "Not licensed: search",
        "EU, GB",
        "commercial",
        f"From 2027-01-01T12:00:00Z until {(NOW + timedelta(days=365)):%Y-%m-%dT%H:%M:%SZ}",
        "renews automatically for further terms of 365 days",
        "Includes works by members of The Guild",
        "Within 45 days",
        "except models already trained",
        "70.00 % in proportion to the number of works",
        "governed by the law of the Netherlands",
        "must not reproduce the works",
        "must not imitate the style",
        deal.selection_sha256,
        deal.agreement.data_sha256,  # type: ignore[union-attr]
        "Sam &lt;Lee&gt; 50.00 %",  # escaped
    ]:
        assert text in html, text
    for row in deal.assets:
        assert row.asset_id in html and row.sha256 in html
    # Each rightsholder's share of the works by item count: 7 works, photo-0 split half and half.
    assert "Mira Jensen: 64.29 % (5 works)" in html  # 4.5 of 7
    assert "Ola: 28.57 % (2 works)" in html
    assert "Sam &lt;Lee&gt;: 7.14 % (1 works)" in html


def test_pdf_is_readable_and_carries_the_schedule(db: Session, world: World) -> None:
    deal = _deal(db, world)
    pdf = agreement_pdf(deal)
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == deal.agreement.pdf_sha256  # type: ignore[union-attr]
    text = _pdf_text(pdf)
    compact = text.replace("\n", " ")
    assert f"Licence agreement {deal.id}" in compact
    assert "USD 5000.00 once" in compact and "England and Wales" in compact
    for row in deal.assets:
        assert row.asset_id in text and row.sha256 in text
    assert PdfReader(io.BytesIO(pdf)).metadata.title == f"Licence agreement {deal.id}"  # type: ignore[union-attr]


def test_rendering_later_gives_the_same_hashes(db: Session, world: World) -> None:
    deal = _deal(db, world)
    stored = deal.agreement
    assert stored is not None
    first_html, first_pdf = agreement_html(deal), agreement_pdf(deal)
    # Time passes and the world changes: names, titles, membership. The agreement does not.
    accounts.update_creator(db, creator=world.ola, display_name="Ola Renamed")
    catalog.update_asset(db, asset=world.photos[1], title="A new title")
    accounts.remove_member(db, collective=world.guild, creator=world.ola)
    db.commit()
    db.expire_all()
    again = get_deal(db, deal.id)
    assert agreement_html(again) == first_html and agreement_pdf(again) == first_pdf
    assert verify_agreement(again)
    assert hashlib.sha256(canonical_json(again.agreement.data)).hexdigest() == stored.data_sha256  # type: ignore[union-attr]
    # Tampering with the stored data is detected.
    again.agreement.data = {**again.agreement.data, "fee": "USD 1.00 once"}  # type: ignore[union-attr]
    assert not verify_agreement(again)


def test_a_deal_not_accepted_has_no_agreement(db: Session, world: World) -> None:
    offer = create_offer(db, seller=world.mira, title="x", terms=terms(), selection=Selection(all=True))
    deal = request_deal(db, offer_version=offer.current, org=world.org)
    with pytest.raises(NotFound):
        agreement_html(deal)
