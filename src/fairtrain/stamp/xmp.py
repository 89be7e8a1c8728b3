"""XMP rights packets (IPTC Photo Metadata 2023.1, STANDARDS §6): built with lxml, read defensively.

A packet carries the creator, the copyright notice, the web statement of rights (the licence URL), the
IPTC ``plus:DataMining`` code the asset's effective policy maps to, ``plus:OtherConstraints`` when the code
points at it, and fairtrain's own asset id and canary so a copy can be traced. Pillow embeds the packet on
save (JPEG APP1, PNG iTXt ``XML:com.adobe.xmp``); pypdf puts it in a PDF's ``/Metadata`` stream.

Packets read from suspect files are untrusted: the parser resolves no entities, loads nothing from the
network and refuses huge trees.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from lxml import etree
from PIL import Image

from fairtrain.errors import InvalidInput

__all__ = ["NS", "RightsInfo", "build_packet", "extract_packet", "parse_packet"]

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "fairtrain": "https://fairtrain.org/ns/xmp/1.0/",
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_MAX_PACKET = 1024 * 1024


@dataclass(frozen=True)
class RightsInfo:
    """The rights fields fairtrain writes, and what a reader found (any field may be missing)."""

    title: str | None = None
    creator: str | None = None
    copyright_notice: str | None = None
    web_statement: str | None = None  # xmpRights:WebStatement: the licence URL
    usage_terms: str | None = None
    data_mining: str | None = None  # plus:DataMining vocabulary URI
    other_constraints: str | None = None
    credit: str | None = None
    asset_id: str | None = None  # fairtrain:AssetId
    canary: str | None = None  # fairtrain:Canary


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _lang_alt(parent: etree._Element, tag: str, text: str) -> None:
    alt = etree.SubElement(etree.SubElement(parent, tag), _q("rdf", "Alt"))
    item = etree.SubElement(alt, _q("rdf", "li"))
    item.set(_XML_LANG, "x-default")
    item.text = text


def build_packet(info: RightsInfo) -> bytes:
    """An XMP packet (with the ``<?xpacket?>`` wrapper and padding, so editors can update it in place)."""
    meta = etree.Element(_q("x", "xmpmeta"), nsmap={"x": NS["x"]})
    rdf = etree.SubElement(meta, _q("rdf", "RDF"), nsmap={"rdf": NS["rdf"]})
    desc = etree.SubElement(
        rdf,
        _q("rdf", "Description"),
        nsmap={k: v for k, v in NS.items() if k not in ("x", "rdf")},
    )
    desc.set(_q("rdf", "about"), "")
    if info.title:
        _lang_alt(desc, _q("dc", "title"), info.title)
    if info.creator:
        seq = etree.SubElement(etree.SubElement(desc, _q("dc", "creator")), _q("rdf", "Seq"))
        etree.SubElement(seq, _q("rdf", "li")).text = info.creator
    if info.copyright_notice:
        _lang_alt(desc, _q("dc", "rights"), info.copyright_notice)
    # Marked=True: "this is a rights-managed work", the flag Adobe apps show as "Copyrighted".
    etree.SubElement(desc, _q("xmpRights", "Marked")).text = "True"
    if info.web_statement:
        etree.SubElement(desc, _q("xmpRights", "WebStatement")).text = info.web_statement
    if info.usage_terms:
        _lang_alt(desc, _q("xmpRights", "UsageTerms"), info.usage_terms)
    if info.credit:
        etree.SubElement(desc, _q("photoshop", "Credit")).text = info.credit
    if info.data_mining:
        etree.SubElement(desc, _q("plus", "DataMining")).text = info.data_mining
    if info.other_constraints:
        _lang_alt(desc, _q("plus", "OtherConstraints"), info.other_constraints)
    if info.web_statement:
        bag = etree.SubElement(etree.SubElement(desc, _q("plus", "Licensor")), _q("rdf", "Seq"))
        licensor = etree.SubElement(bag, _q("rdf", "li"))
        licensor.set(_q("rdf", "parseType"), "Resource")
        if info.creator:
            etree.SubElement(licensor, _q("plus", "LicensorName")).text = info.creator
        etree.SubElement(licensor, _q("plus", "LicensorURL")).text = info.web_statement
    if info.asset_id:
        etree.SubElement(desc, _q("fairtrain", "AssetId")).text = info.asset_id
    if info.canary:
        etree.SubElement(desc, _q("fairtrain", "Canary")).text = info.canary
    body = etree.tostring(meta, encoding="utf-8", pretty_print=True)
    padding = (b" " * 99 + b"\n") * 20
    return (
        b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        + body
        + padding
        + b'<?xpacket end="w"?>'
    )


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


def _text(desc: etree._Element, prefix: str, name: str) -> str | None:
    """A simple property, as an element or an attribute; for Alt/Seq/Bag, the first (x-default) item."""
    attr = desc.get(_q(prefix, name))
    if attr is not None:
        return attr.strip() or None
    element = desc.find(_q(prefix, name))
    if element is None:
        return None
    items = element.findall(f".//{_q('rdf', 'li')}")
    if items:
        default = next((i for i in items if i.get(_XML_LANG) == "x-default"), items[0])
        return (default.text or "").strip() or None
    resource = element.get(_q("rdf", "resource"))
    return (resource or element.text or "").strip() or None


def parse_packet(packet: bytes) -> RightsInfo:
    """The rights fields of an XMP packet; raises ``InvalidInput`` when it is not XML (or far too big)."""
    if len(packet) > _MAX_PACKET:
        raise InvalidInput("the XMP packet is larger than 1 MiB")
    start = packet.find(b"<x:xmpmeta")
    if start < 0:
        start = packet.find(b"<rdf:RDF")
    end_tag = b"</x:xmpmeta>" if packet[start : start + 10] == b"<x:xmpmeta" else b"</rdf:RDF>"
    end = packet.find(end_tag, start)
    if start < 0 or end < 0:
        raise InvalidInput("no XMP metadata element in the packet")
    try:
        root = etree.fromstring(packet[start : end + len(end_tag)], parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"the XMP packet is not well-formed XML: {exc}") from None
    found: dict[str, str | None] = {}
    fields = {
        "title": ("dc", "title"),
        "creator": ("dc", "creator"),
        "copyright_notice": ("dc", "rights"),
        "web_statement": ("xmpRights", "WebStatement"),
        "usage_terms": ("xmpRights", "UsageTerms"),
        "data_mining": ("plus", "DataMining"),
        "other_constraints": ("plus", "OtherConstraints"),
        "credit": ("photoshop", "Credit"),
        "asset_id": ("fairtrain", "AssetId"),
        "canary": ("fairtrain", "Canary"),
    }
    # Properties may be spread over several rdf:Description elements; the first that has one wins.
    for desc in root.iter(_q("rdf", "Description")):
        for key, (prefix, name) in fields.items():
            if found.get(key) is None:
                found[key] = _text(desc, prefix, name)
    return RightsInfo(**found)


def extract_packet(data: bytes, mime: str) -> bytes | None:
    """The raw XMP packet embedded in an image or PDF, or None when there is none."""
    if mime == "application/pdf":
        return _pdf_packet(data)
    if not mime.startswith("image/"):
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if isinstance(packet, str):
        return packet.encode("utf-8")
    return packet if isinstance(packet, bytes) and packet else None


def _pdf_packet(data: bytes) -> bytes | None:
    from xml.parsers.expat import ExpatError

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        metadata = PdfReader(io.BytesIO(data)).xmp_metadata
        if metadata is None:
            return None
        packet = metadata.stream.get_data()
    except (PyPdfError, ExpatError, KeyError, ValueError, OSError):
        return None
    return packet if isinstance(packet, bytes) and packet else None
