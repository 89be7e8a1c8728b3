"""XMP rights packets: written with lxml, read back by our parser and by Pillow's own XMP reader."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from fairtrain.errors import InvalidInput
from fairtrain.stamp.xmp import NS, RightsInfo, build_packet, extract_packet, parse_packet

INFO = RightsInfo(
    title="Harbour at dawn",
    creator="Mira Okafor",
    copyright_notice="© 2026 Mira Okafor. All rights reserved.",
    web_statement="https://example.org/@mira/license.xml",
    usage_terms="AI training permitted only under a licence",
    data_mining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",
    other_constraints="ai-train: licence required (0.02 USD per crawl).",
    credit="Mira Okafor (@mira)",
    asset_id="ast_0123456789abcdef",
    canary="ftc-0123456789abcdef",
)


def _jpeg(packet: bytes) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 90, 160)).save(out, "JPEG", xmp=packet)
    return out.getvalue()


def _png(packet: bytes) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode("utf-8"), zip=False)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 90, 160)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_packet_round_trips_every_field() -> None:
    assert parse_packet(build_packet(INFO)) == INFO


@pytest.mark.parametrize(("make", "mime"), [(_jpeg, "image/jpeg"), (_png, "image/png")])
def test_embedded_packet_reads_back_with_pillow(make, mime: str) -> None:  # type: ignore[no-untyped-def]
    data = make(build_packet(INFO))
    assert parse_packet(extract_packet(data, mime) or b"") == INFO
    with Image.open(io.BytesIO(data)) as image:
        xmp = image.getxmp()  # Pillow's reader (defusedxml), independent of ours
    description = xmp["xmpmeta"]["RDF"]["Description"]
    assert description["DataMining"] == INFO.data_mining
    assert description["WebStatement"] == INFO.web_statement
    assert description["creator"]["Seq"]["li"] == "Mira Okafor"
    assert description["rights"]["Alt"]["li"]["text"] == INFO.copyright_notice
    assert description["Marked"] == "True"


def test_packet_uses_the_iptc_plus_namespace() -> None:
    packet = build_packet(INFO)
    assert NS["plus"].encode() in packet
    assert b"<plus:DataMining>http://ns.useplus.org/ldf/vocab/DMI-" in packet
    assert packet.startswith(b"<?xpacket begin=") and packet.endswith(b'<?xpacket end="w"?>')


def test_attribute_form_written_by_other_tools_is_read() -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
        b'xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
        b'plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED" '
        b'xmpRights:WebStatement="https://a.example/terms"/></rdf:RDF></x:xmpmeta>'
    )
    info = parse_packet(packet)
    assert info.data_mining == "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"
    assert info.web_statement == "https://a.example/terms"
    assert info.creator is None


def test_entities_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>&ext;&b;</dc:creator>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    # Either refused or read without expansion; never the file's content, never the blown-up text.
    try:
        creator = parse_packet(bomb).creator or ""
    except InvalidInput:
        creator = ""
    assert "root:" not in creator
    assert "aaaaaaaaaa" not in creator


@pytest.mark.parametrize("packet", [b"", b"not xml at all", b"<x:xmpmeta><unclosed></x:xmpmeta>"])
def test_malformed_packets_are_refused_clearly(packet: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_packet(packet)


def test_files_without_xmp_have_no_packet() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    assert extract_packet(out.getvalue(), "image/png") is None
    assert extract_packet(b"garbage", "image/jpeg") is None
    assert extract_packet(b"%PDF-garbage", "application/pdf") is None
