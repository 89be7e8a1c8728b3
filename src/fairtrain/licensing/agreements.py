"""Licence agreements: rendered from an accepted deal as HTML (the canonical document) and PDF.

At acceptance the agreement's data (parties, shares, terms, the schedule of works) is frozen as JSON and the
SHA-256 of the data, of the HTML and of the PDF are recorded. Rendering uses nothing but that stored data
(no clock, fixed PDF dates and ids), so rendering again at any later time gives byte-identical documents:
either side proves what was agreed by hashing its copy. A changed layout is a new template version; old
agreements keep rendering with the version they were made with.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import defaultdict
from datetime import datetime
from fractions import Fraction
from typing import Any, cast
from xml.sax.saxutils import escape

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from fairtrain.accounts.models import Collective, CreatorProfile, User
from fairtrain.errors import NotFound
from fairtrain.licensing.models import Agreement, Deal
from fairtrain.licensing.selection import Selection
from fairtrain.licensing.terms import FeeModel, Terms
from fairtrain.rights.policy import CONCRETE_USAGES

__all__ = [
    "TEMPLATE_VERSION",
    "USAGE_LABELS",
    "agreement_data",
    "agreement_html",
    "agreement_pdf",
    "canonical_json",
    "record_agreement",
    "render_html",
    "render_pdf",
    "verify_agreement",
]

TEMPLATE_VERSION = 1
USAGE_LABELS = {
    "search": "search: indexing the works to show them in search results (search)",
    "ai-input": "AI input: feeding the works to an AI model at run time, e.g. retrieval, grounding or "
    "summaries (ai-input)",
    "ai-index": "AI indexing: building indexes or embeddings of the works for AI systems (ai-index)",
    "ai-train": "AI training: training or fine-tuning AI models on the works (ai-train)",
}
USER_LABELS = {
    "commercial": "commercial",
    "non-commercial": "non-commercial",
    "education": "educational",
    "government": "governmental",
    "personal": "personal",
}


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _percent(value: Fraction) -> str:
    """Two decimals, half up: for reading only; money is split by the ledger's ``allocate``."""
    hundredths = value * 10_000
    rounded = int(hundredths + Fraction(1, 2))
    return f"{rounded // 100}.{rounded % 100:02d} %"


def _payment_schedule(terms: Terms) -> str:
    fee, days = terms.fee, terms.payment_due_days
    period = {"monthly": "month", "yearly": "year"}.get(fee.interval or "", "period")
    match FeeModel(fee.model):
        case FeeModel.FLAT:
            return f"The fee is invoiced on acceptance and due within {days} days of the invoice."
        case FeeModel.RECURRING:
            return (
                f"The fee is invoiced in advance at the start of each {period} of the term, the first at its "
                f"start, each due within {days} days of its invoice."
            )
        case FeeModel.ROYALTY:
            return (
                f"The Licensee reports its model revenue for each {period} within {days} days of its end; "
                f"the royalty (and any shortfall against the minimum guarantee) is invoiced on the report "
                f"and due within {days} days of the invoice."
            )
        case FeeModel.PER_CRAWL:
            return (
                "Each request made under a licence token is metered; the requests of each calendar month are "
                f"invoiced after its end and due within {days} days of the invoice."
            )
        case FeeModel.PER_USE:
            return (
                "The Licensee reports each use; the uses of each calendar month are invoiced after its end "
                f"and due within {days} days of the invoice."
            )
        case FeeModel.ATTRIBUTION | FeeModel.FREE:
            return "No payment is due."


def _distribution(terms: Terms) -> str:
    if terms.distribution == "items":
        return "in proportion to the number of works of each creator in the schedule"
    if terms.distribution == "usage":
        return "in proportion to the metered use of each creator's works"
    weight = Fraction(terms.distribution_items_bp or 0, 10_000)
    return (
        f"{_percent(weight)} in proportion to the number of works of each creator and "
        f"{_percent(1 - weight)} in proportion to the metered use of each creator's works"
    )


def _licensor(session: Session, deal: Deal) -> dict[str, Any]:
    if deal.creator_id is not None:
        creator = session.get(CreatorProfile, deal.creator_id)
        assert creator is not None
        return {
            "kind": "creator",
            "name": creator.legal_name or creator.display_name,
            "display_name": creator.display_name,
            "handle": creator.handle,
            "acting_for": None,
        }
    collective = session.get(Collective, deal.collective_id)
    assert collective is not None
    operator = session.get(User, collective.operator_id)
    return {
        "kind": "collective",
        "name": collective.name,
        "display_name": collective.name,
        "handle": collective.slug,
        "acting_for": "its member creators, through its operator"
        + (f" ({operator.email})" if operator is not None else ""),
    }


def agreement_data(session: Session, deal: Deal) -> dict[str, Any]:
    """Everything the agreement says, as JSON-ready values; taken from the deal once, at acceptance."""
    terms = Terms.from_dict(deal.terms)
    org = deal.org
    shares: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    works: dict[tuple[str, str], int] = defaultdict(int)
    schedule = []
    count = len(deal.assets)
    for row in deal.assets:
        holders = []
        for holder in row.rightsholders:
            key = (str(holder["name"]), str(holder.get("creator_id") or ""))
            shares[key] += Fraction(int(holder["share_bp"]), 10_000 * count)
            works[key] += 1
            holders.append(f"{holder['name']} {_percent(Fraction(int(holder['share_bp']), 10_000))}")
        schedule.append(
            {
                "n": row.position,
                "asset_id": row.asset_id,
                "sha256": row.sha256,
                "title": row.title,
                "kind": row.kind,
                "creator": f"{row.creator_name} (@{row.creator_handle})",
                "rightsholders": "; ".join(holders),
            }
        )
    rightsholders = [
        {"name": name, "works": works[(name, cid)], "share": _percent(share)}
        for (name, cid), share in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    renewal = f"{deal.term_seconds // 86_400} days" if deal.term_seconds else None
    return {
        "template_version": TEMPLATE_VERSION,
        "agreement_id": deal.id,
        "offer": {"id": deal.offer_id, "version": deal.offer_version.version, "title": deal.offer.title},
        "accepted_at": _iso(deal.accepted_at),
        "licensor": _licensor(session, deal),
        "licensee": {
            "id": org.id,
            "name": org.name,
            "contact_name": org.contact_name,
            "contact_email": org.contact_email,
            "billing_email": org.billing_email,
        },
        "rightsholders": rightsholders,
        "terms": terms.as_dict(),
        "permitted": [USAGE_LABELS[u] for u in terms.usages],
        "not_permitted": [USAGE_LABELS[u] for u in CONCRETE_USAGES if u not in terms.usages],
        "user_types": [USER_LABELS[u] for u in terms.user_types],
        "territories": list(terms.territories),
        "term": {
            "start": _iso(deal.starts_at),
            "end": _iso(deal.ends_at),
            "auto_renew": terms.auto_renew,
            "renewal": renewal,
        },
        "fee": terms.fee.describe(),
        "payment_schedule": _payment_schedule(terms),
        "distribution": _distribution(terms) if deal.collective_id is not None else None,
        "selection": Selection.from_dict(deal.offer_version.selection).describe(),
        "asset_count": count,
        "selection_sha256": deal.selection_sha256,
        "schedule": schedule,
    }


# --- rendering -----------------------------------------------------------------------------------------


def _sections(data: dict[str, Any], *, sha256: str) -> list[tuple[str, str]]:
    """The agreement's wording (template version 1) as (h1 | h2 | p | li, text) pairs: the one text that the
    HTML template and the PDF both lay out. A new wording is a new template version beside this one."""
    terms = data["terms"]
    licensor, licensee, term = data["licensor"], data["licensee"], data["term"]
    out: list[tuple[str, str]] = [
        ("h1", f"Licence agreement {data['agreement_id']}"),
        (
            "p",
            f"Made on {data['accepted_at']} under offer {data['offer']['id']} version "
            f"{data['offer']['version']} ({data['offer']['title']}).",
        ),
        ("h2", "1. Parties"),
        (
            "p",
            f"Licensor: {licensor['name']}"
            + (f", acting for {licensor['acting_for']}" if licensor["acting_for"] else "")
            + f" ({licensor['kind']} {licensor['handle']}).",
        ),
        (
            "p",
            f"Licensee: {licensee['name']} ({licensee['id']}), contact {licensee['contact_name']} "
            f"<{licensee['contact_email']}>, billing <{licensee['billing_email']}>.",
        ),
        ("p", "Rightsholders and their share of the works by item count:"),
    ]
    out += [("li", f"{h['name']}: {h['share']} ({h['works']} works)") for h in data["rightsholders"]]
    out += [
        ("h2", "2. Licensed content"),
        (
            "p",
            f"The {data['asset_count']} works listed in the Schedule ({data['selection']}), identified by "
            f"their SHA-256; the list's digest is {data['selection_sha256']}.",
        ),
        ("h2", "3. Permitted uses"),
    ]
    out += [("li", text) for text in data["permitted"]]
    users = ", ".join(data["user_types"]) if data["user_types"] else "any"
    where = ", ".join(data["territories"]) if data["territories"] else "worldwide"
    out += [
        (
            "p",
            f"By users of type: {users}. Territory: {where}. "
            + ("The licence is exclusive." if terms["exclusive"] else "The licence is non-exclusive."),
        ),
        ("h2", "4. Prohibited uses"),
    ]
    out += [("li", f"Not licensed: {text}") for text in data["not_permitted"]]
    if terms["no_verbatim"]:
        out.append(("li", "Outputs must not reproduce the works, or substantial parts of them, verbatim."))
    if terms["no_style_imitation"]:
        out.append(("li", "Outputs must not imitate the style of a named creator of the works on request."))
    out.append(("li", "The works may not be sublicensed, resold or redistributed as such."))
    renew = (
        f" It renews automatically for further terms of {term['renewal']} unless either party gives "
        "notice of non-renewal."
        if term["auto_renew"]
        else ""
    )
    out += [
        ("h2", "5. Term"),
        (
            "p",
            f"From {term['start']} " + (f"until {term['end']}." if term["end"] else "without end.") + renew,
        ),
        ("h2", "6. Fees and payment"),
        ("p", f"Fee: {data['fee']}. {data['payment_schedule']}"),
    ]
    if data["distribution"]:
        out.append(("p", f"The Licensor shares the fees among its creators {data['distribution']}."))
    out += [
        ("h2", "7. Attribution"),
        ("p", terms["attribution"] or "No attribution is required."),
        ("h2", "8. Data at expiry"),
        (
            "p",
            f"Within {terms['deletion_days']} days after the end of the licence the Licensee deletes every "
            "copy of the works and every index, embedding or dataset derived from them"
            + (
                ", except models already trained on them, which it may keep"
                if terms["at_expiry"] == "retain-models"
                else ""
            )
            + ", and sends the Licensor a certificate of deletion signed by an officer.",
        ),
        ("h2", "9. Audit"),
        (
            "p",
            f"On {terms['audit_notice_days']} days' notice, once a year, the Licensor may audit the "
            "Licensee's records of its use of the works."
            if terms["audit"]
            else "No audit rights.",
        ),
        ("h2", "10. Warranties"),
        (
            "p",
            "The Licensor warrants that it holds, or is authorised by the rightsholders to grant, the rights "
            "licensed in the scheduled works. The Licensee warrants that it uses the works only as "
            "permitted here and keeps records of that use. Nothing else is warranted.",
        ),
        ("h2", "11. Governing law"),
        (
            "p",
            f"This agreement is governed by the law of {terms['governing_law']}, whose courts have "
            "exclusive jurisdiction.",
        ),
        ("p", f"Agreement data SHA-256: {sha256}"),
        ("h2", "Schedule: licensed works"),
    ]
    return out


def _blocks(data: dict[str, Any], *, sha256: str) -> list[tuple[str, Any]]:
    """Consecutive list items gathered into one ("ul", [items]) block."""
    blocks: list[tuple[str, Any]] = []
    for kind, text in _sections(data, sha256=sha256):
        if kind == "li":
            if blocks and blocks[-1][0] == "ul":
                blocks[-1][1].append(text)
            else:
                blocks.append(("ul", [text]))
        else:
            blocks.append((kind, text))
    return blocks


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("fairtrain.licensing", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_html(data: dict[str, Any]) -> str:
    """The canonical agreement document (UTF-8 HTML), from the stored data only."""
    template = _environment().get_template(f"agreement_v{data['template_version']}.html")
    return template.render(a=data, blocks=_blocks(data, sha256=_sha256(canonical_json(data))))


def render_pdf(data: dict[str, Any]) -> bytes:
    """The same agreement as PDF (reportlab, ``invariant``: fixed dates and document id)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.lib.utils import simpleSplit
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

    styles = getSampleStyleSheet()
    body = cast(ParagraphStyle, styles["BodyText"])
    h1, h2 = cast(ParagraphStyle, styles["Title"]), cast(ParagraphStyle, styles["Heading2"])
    story: list[Any] = []

    def para(text: str, style: ParagraphStyle = body) -> None:
        story.append(Paragraph(escape(text), style))

    for kind, text in _sections(data, sha256=_sha256(canonical_json(data))):
        if kind == "h1":
            para(text, h1)
        elif kind == "h2":
            para(text, h2)
        else:
            para("• " + text if kind == "li" else text)
    story.append(Spacer(1, 4 * mm))
    rows: list[list[Any]] = [["No.", "Work", "SHA-256", "Rightsholders"]]
    widths = [10 * mm, 48 * mm, 90 * mm, 32 * mm]
    pad = 12  # the cells' left and right padding, in points

    def wrap(text: str, width: float) -> str:
        return "\n".join(simpleSplit(text, "Helvetica", 7, width - pad))

    # Plain strings wrapped here rather than Paragraphs: a schedule of thousands of works lays out fast.
    for item in data["schedule"]:
        work = "\n".join(wrap(part, widths[1]) for part in (item["asset_id"], item["title"], item["creator"]))
        rows.append([str(item["n"]), work, item["sha256"], wrap(item["rightsholders"], widths[3])])
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7, 8.5),
                ("FONT", (2, 1), (2, -1), "Courier", 6, 7.5),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    story.append(table)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Licence agreement {data['agreement_id']}",
        author=data["licensor"]["name"],
        subject=f"Licence of {data['asset_count']} works to {data['licensee']['name']}",
        creator="fairtrain",
        invariant=1,
    )
    document.build(story)
    return buffer.getvalue()


# --- recording and proving -----------------------------------------------------------------------------


def record_agreement(session: Session, *, deal: Deal, now: datetime) -> Agreement:
    """Freeze the agreement of a just-accepted deal and record its hashes."""
    data = agreement_data(session, deal)
    html = render_html(data)
    pdf = render_pdf(data)
    agreement = Agreement(
        template_version=TEMPLATE_VERSION,
        data=data,
        data_sha256=_sha256(canonical_json(data)),
        html_sha256=_sha256(html.encode()),
        pdf_sha256=_sha256(pdf),
        created_at=now,
    )
    deal.agreement = agreement
    session.flush()
    return agreement


def _agreement(deal: Deal) -> Agreement:
    if deal.agreement is None:
        raise NotFound(f"deal {deal.id} has no agreement: it was never accepted")
    return deal.agreement


def agreement_html(deal: Deal) -> str:
    return render_html(_agreement(deal).data)


def agreement_pdf(deal: Deal) -> bytes:
    return render_pdf(_agreement(deal).data)


def verify_agreement(deal: Deal) -> bool:
    """Whether rendering the stored agreement again gives exactly the documents hashed at acceptance."""
    agreement = _agreement(deal)
    return (
        _sha256(canonical_json(agreement.data)) == agreement.data_sha256
        and _sha256(render_html(agreement.data).encode()) == agreement.html_sha256
        and _sha256(render_pdf(agreement.data)) == agreement.pdf_sha256
    )
