"""Media probing. Every test file is generated here; nothing is read from the network or a fixture dir."""

from __future__ import annotations

import io
import math
import re
import struct
import wave
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import docx
import mutagen.flac
import mutagen.id3
import mutagen.mp4
import pypdf
import pytest
from mutagen.ogg import OggPage
from PIL import Image

from fairtrain.catalog.probe import (
    DOCX_MIME,
    CorruptMedia,
    EmptyFile,
    MediaError,
    MediaTooLarge,
    Probe,
    UnsupportedMedia,
    probe_bytes,
    probe_file,
    sniff,
)
from fairtrain.errors import InvalidInput

# --- generators -----------------------------------------------------------------------------------------


def _jpeg(
    size: tuple[int, int] = (640, 480),
    *,
    description: str | None = None,
    taken: str | None = None,
    offset: str | None = None,
    orientation: int | None = None,
    xmp: bytes | None = None,
) -> bytes:
    image = Image.new("RGB", size)
    for x in range(0, size[0], 8):  # some structure, so the JPEG is not all one block
        image.paste((x % 256, 80, 160), (x, 0, x + 4, size[1]))
    exif = Image.Exif()
    if description is not None:
        exif[0x010E] = description
    if orientation is not None:
        exif[0x0112] = orientation
    exif_ifd = exif.get_ifd(0x8769)
    if taken is not None:
        exif_ifd[0x9003] = taken
    if offset is not None:
        exif_ifd[0x9011] = offset
    out = io.BytesIO()
    extra = {"xmp": xmp} if xmp is not None else {}
    image.save(out, "JPEG", exif=exif, quality=90, **extra)
    return out.getvalue()


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode != "1" else 1).save(out, fmt)
    return out.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A 1-bit PNG header claiming width×height pixels, with only the first rows of data: a few KB."""
    row = b"\x00" + bytes((width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(row * 100, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        samples = (round(12_000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
        writer.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
    return out.getvalue()


def _mp3(path: Path) -> None:
    """38 silent MPEG-1 layer III frames (128 kbit/s, 44.1 kHz, 26 ms each) behind an ID3v2.4 tag."""
    frame = bytes([0xFF, 0xFB, 0x90, 0xC0]) + bytes(417 - 4)
    path.write_bytes(frame * 38)
    tags = mutagen.id3.ID3()
    tags.add(mutagen.id3.TIT2(encoding=3, text="Song title"))
    tags.add(mutagen.id3.TDRC(encoding=3, text="2021-05-01T10:20:30"))
    tags.add(mutagen.id3.COMM(encoding=3, lang="eng", desc="", text="Recorded live"))
    tags.save(path)


def _flac(path: Path) -> None:
    """A FLAC header whose STREAMINFO says 1 s of 44.1 kHz mono, and Vorbis comments; no audio frames."""
    rate, channels, bits, samples = 44_100, 1, 16, 44_100
    packed = (rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | samples
    info = struct.pack(">HH", 4096, 4096) + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    path.write_bytes(b"fLaC" + b"\x80" + len(info).to_bytes(3, "big") + info)
    flac = mutagen.flac.FLAC(path)
    flac["title"] = "Flac title"
    flac["date"] = "2020-02-03"
    flac.save()


def _ogg_vorbis(seconds: int = 2, rate: int = 44_100) -> bytes:
    """Vorbis identification and comment headers in Ogg pages, and a last page at ``seconds``."""
    ident = b"\x01vorbis" + struct.pack("<IBIiii", 0, 1, rate, 0, 128_000, 0) + b"\xb8\x01"
    entry = b"TITLE=Ogg title"
    comment = (
        b"\x03vorbis" + struct.pack("<I", 4) + b"test" + struct.pack("<II", 1, len(entry)) + entry + b"\x01"
    )
    pages = []
    for sequence, (packets, position) in enumerate(
        [([ident], 0), ([comment, b"\x05vorbis" + bytes(10)], 0), ([bytes(100)], rate * seconds)]
    ):
        page = OggPage()
        page.serial, page.sequence, page.position, page.packets = 1, sequence, position, packets
        page.first, page.last = sequence == 0, sequence == 2
        pages.append(page.write())
    return b"".join(pages)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _mp4(
    *, created: datetime, seconds: float = 2.5, size: tuple[int, int] = (1920, 1080), rotated: bool = False
) -> bytes:
    """ftyp, moov (mvhd + one video trak) and a small mdat: enough structure for a container probe."""
    since_1904 = int((created - datetime(1904, 1, 1, tzinfo=UTC)).total_seconds())
    duration = round(seconds * 1000)
    identity = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    quarter = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        struct.pack(">4sIIII", b"\0\0\0\0", since_1904, since_1904, 1000, duration)
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + identity
        + bytes(24)
        + struct.pack(">I", 2),
    )
    tkhd = _box(
        b"tkhd",
        struct.pack(">4sIIIII", b"\0\0\0\x03", since_1904, since_1904, 1, 0, duration)
        + bytes(8)
        + bytes(8)
        + (quarter if rotated else identity)
        + struct.pack(">II", size[0] << 16, size[1] << 16),
    )
    mdhd = _box(b"mdhd", struct.pack(">4sIIII", bytes(4), since_1904, since_1904, 1000, duration) + bytes(4))
    hdlr = _box(b"hdlr", bytes(4) + bytes(4) + b"vide" + bytes(12) + b"Video\0")
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr))
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    return ftyp + _box(b"moov", mvhd + trak) + _box(b"mdat", bytes(256))


def _pdf(*, title: str, created: str) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title, "/CreationDate": created, "/Subject": "A blank page"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx(*, title: str = "Ship log", created: datetime | None = None) -> bytes:
    document = docx.Document()
    document.add_heading("Chapter one", level=1)
    document.add_paragraph("Tuesday: wind from the north, 12 knots.")
    document.add_paragraph("Wednesday — calm.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "port"
    table.rows[0].cells[1].text = "starboard"
    properties = document.core_properties
    properties.title = title
    properties.comments = "Notes from the crossing"
    properties.created = created or datetime(2019, 7, 14, 9, 30, tzinfo=UTC)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _without_core_properties(package: bytes) -> bytes:
    """The docx with docProps/core.xml removed, with its relationship and content-type entry."""
    source, out = zipfile.ZipFile(io.BytesIO(package)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "docProps/core.xml":
                continue
            if entry.filename in ("_rels/.rels", "[Content_Types].xml"):
                data = re.sub(rb"<[^<>]*core[^<>]*/>", b"", data)
            target.writestr(entry, data)
    return out.getvalue()


# --- images ---------------------------------------------------------------------------------------------


def test_jpeg_exif_title_and_time_with_offset(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(
        _jpeg((2400, 1600), description="Harbour at dawn", taken="2021:05:01 07:20:30", offset="+02:00")
    )

    probe = probe_file(path)

    assert (probe.kind, probe.mime) == ("image", "image/jpeg")
    assert probe.title == "Harbour at dawn"
    assert probe.created_at == datetime(2021, 5, 1, 5, 20, 30, tzinfo=UTC)
    assert probe.created_source == "exif"
    assert (probe.width, probe.height) == (2400, 1600)
    assert probe.image is not None
    assert probe.image.mode == "RGB"
    assert probe.image.size == (512, 341)
    assert probe.text is None
    assert probe.word_count is None


def test_exif_time_without_offset_is_utc() -> None:
    probe = probe_bytes(_jpeg(taken="2020:12:31 23:59:59"))

    assert probe.created_at == datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert probe.created_at.tzinfo is UTC
    assert probe.title is None


def test_unset_exif_time_and_camera_placeholder_are_ignored() -> None:
    probe = probe_bytes(_jpeg(description="OLYMPUS DIGITAL CAMERA", taken="0000:00:00 00:00:00"))

    assert (probe.title, probe.created_at, probe.created_source) == (None, None, None)


def test_exif_orientation_turns_the_thumbnail_and_the_size() -> None:
    probe = probe_bytes(_jpeg((400, 300), orientation=6))

    assert (probe.width, probe.height) == (300, 400)
    assert probe.image is not None
    assert probe.image.size == (300, 400)


def test_xmp_title_description_and_date() -> None:
    xmp = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
  xmp:CreateDate="2018-03-04T05:06:07-05:00">
<dc:title><rdf:Alt><rdf:li xml:lang="fr">Phare</rdf:li><rdf:li xml:lang="x-default">Lighthouse</rdf:li>
</rdf:Alt></dc:title>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Storm light</rdf:li></rdf:Alt></dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""

    probe = probe_bytes(_jpeg(xmp=xmp))

    assert probe.title == "Lighthouse"
    assert probe.description == "Storm light"
    assert probe.created_at == datetime(2018, 3, 4, 10, 6, 7, tzinfo=UTC)
    assert probe.created_source == "xmp"


def test_xmp_with_a_dtd_is_ignored() -> None:
    xmp = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'

    assert probe_bytes(_jpeg(xmp=xmp)).title is None


@pytest.mark.parametrize(
    ("fmt", "mode", "mime"),
    [
        ("PNG", "RGBA", "image/png"),
        ("PNG", "I;16", "image/png"),
        ("GIF", "P", "image/gif"),
        ("WEBP", "RGB", "image/webp"),
        ("TIFF", "CMYK", "image/tiff"),
    ],
)
def test_other_image_formats(fmt: str, mode: str, mime: str) -> None:
    probe = probe_bytes(_image(fmt, mode))

    assert (probe.kind, probe.mime, probe.width, probe.height) == ("image", mime, 64, 48)
    assert probe.image is not None
    assert probe.image.mode == "RGB"


def test_transparent_png_is_flattened_on_white() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(out, "PNG")

    probe = probe_bytes(out.getvalue())

    assert probe.image is not None
    assert probe.image.getpixel((5, 5)) == (255, 255, 255)


def test_truncated_jpeg_is_corrupt() -> None:
    data = _jpeg((800, 600))

    with pytest.raises(CorruptMedia, match="truncated") as caught:
        probe_bytes(data[: len(data) // 2])

    assert caught.value.code == "corrupt_media"


def test_png_bomb_is_refused_before_decoding() -> None:
    bomb = _png_bomb()
    assert len(bomb) < 10_000

    with pytest.raises(MediaTooLarge) as caught:
        probe_bytes(bomb, max_pixels=1_000_000)

    assert caught.value.status_code == 413
    assert caught.value.code == "media_too_large"


def test_png_bomb_beyond_pillows_own_limit_is_too_large_too() -> None:
    with pytest.raises(MediaTooLarge):
        probe_bytes(_png_bomb(), max_pixels=10**12)


def test_image_over_max_pixels_but_under_pillows_limit() -> None:
    with pytest.raises(MediaTooLarge, match="2000×2000"):
        probe_bytes(_png_bomb(2000, 2000), max_pixels=1_000_000)


def test_heic_without_the_plugin_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    Image.init()
    monkeypatch.delitem(Image.OPEN, "HEIF", raising=False)
    heic = _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + bytes(64)

    assert sniff(heic) == ("image", "image/heic")
    with pytest.raises(UnsupportedMedia, match="pillow-heif") as caught:
        probe_bytes(heic)
    assert caught.value.status_code == 415


def test_heic_photo_is_read_through_pillow_heif() -> None:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 120, 200)).save(out, "HEIF")
    probe = probe_bytes(out.getvalue(), filename="IMG_0001.HEIC")
    assert (probe.kind, probe.mime, probe.width, probe.height) == ("image", "image/heic", 96, 64)
    assert probe.image is not None and probe.image.mode == "RGB"


def test_damaged_png_is_corrupt() -> None:
    data = bytearray(_image("PNG"))
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches

    with pytest.raises(CorruptMedia):
        probe_bytes(bytes(data))


# --- audio and video ------------------------------------------------------------------------------------


def test_wav_duration(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    path.write_bytes(_wav(1.0))

    probe = probe_file(path)

    assert (probe.kind, probe.mime) == ("audio", "audio/wav")
    assert probe.duration_ms == pytest.approx(1000, abs=5)
    assert probe.image is None
    assert probe.text is None


def test_mp3_duration_and_id3_tags(tmp_path: Path) -> None:
    path = tmp_path / "song.bin"
    _mp3(path)

    probe = probe_file(path)

    assert (probe.kind, probe.mime) == ("audio", "audio/mpeg")
    assert probe.duration_ms == pytest.approx(993, abs=30)
    assert probe.title == "Song title"
    assert probe.description == "Recorded live"
    assert probe.created_at == datetime(2021, 5, 1, 10, 20, 30, tzinfo=UTC)
    assert probe.created_source == "id3"


def test_flac_duration_and_vorbis_comments(tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    _flac(path)

    probe = probe_file(path)

    assert (probe.kind, probe.mime, probe.duration_ms) == ("audio", "audio/flac", 1000)
    assert probe.title == "Flac title"
    assert probe.created_at == datetime(2020, 2, 3, tzinfo=UTC)
    assert probe.created_source == "vorbis"


def test_ogg_vorbis() -> None:
    probe = probe_bytes(_ogg_vorbis(seconds=2))

    assert (probe.kind, probe.mime, probe.duration_ms, probe.title) == (
        "audio",
        "audio/ogg",
        2000,
        "Ogg title",
    )
    assert probe.created_at is None


def test_mp4_size_duration_and_creation_time() -> None:
    created = datetime(2022, 8, 9, 10, 11, 12, tzinfo=UTC)

    probe = probe_bytes(_mp4(created=created, seconds=2.5))

    assert (probe.kind, probe.mime) == ("video", "video/mp4")
    assert (probe.width, probe.height) == (1920, 1080)
    assert probe.duration_ms == 2500
    assert probe.created_at == created
    assert probe.created_source == "container"


def test_mp4_portrait_phone_video_and_title(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(_mp4(created=datetime(2023, 1, 2, tzinfo=UTC), rotated=True))
    tags = mutagen.mp4.MP4(path)
    tags["\xa9nam"] = ["Clip title"]
    tags.save()

    probe = probe_file(path)

    assert (probe.width, probe.height) == (1080, 1920)
    assert probe.title == "Clip title"


def test_mpeg_audio_without_an_id3_tag_is_sniffed_by_its_frame_header() -> None:
    frame = bytes([0xFF, 0xFB, 0x90, 0xC0]) + bytes(413)

    assert sniff(frame * 4) == ("audio", "audio/mpeg")
    assert sniff(b"\xff\xf1\x50\x80" + bytes(64)) is None  # ADTS AAC shares the sync word


def test_quicktime_and_webm_are_sniffed() -> None:
    mov = _box(b"ftyp", b"qt  " + bytes(4) + b"qt  ") + bytes(32)
    webm = b"\x1a\x45\xdf\xa3" + b"\x93\x42\x82\x84webm" + bytes(32)

    assert sniff(mov) == ("video", "video/quicktime")
    assert sniff(webm) == ("video", "video/webm")
    assert probe_bytes(webm) == Probe(kind="video", mime="video/webm")


def test_mp4_without_a_movie_header_is_corrupt() -> None:
    with pytest.raises(CorruptMedia):
        probe_bytes(_box(b"ftyp", b"isom" + bytes(4) + b"isom") + _box(b"mdat", bytes(64)))


# --- documents ------------------------------------------------------------------------------------------


def test_pdf_metadata_of_a_blank_page() -> None:
    probe = probe_bytes(_pdf(title="Annual report", created="D:20210501102030+02'00'"), filename="x.txt")

    assert (probe.kind, probe.mime) == ("text", "application/pdf")
    assert probe.title == "Annual report"
    assert probe.description == "A blank page"
    assert probe.created_at == datetime(2021, 5, 1, 8, 20, 30, tzinfo=UTC)
    assert probe.created_source == "pdf"
    assert probe.word_count == 0
    assert probe.text == ""


def test_damaged_pdf_is_corrupt() -> None:
    with pytest.raises(CorruptMedia, match="PDF"):
        probe_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)


def test_docx_core_properties_and_text(tmp_path: Path) -> None:
    path = tmp_path / "log.docx"
    # python-docx writes the wall-clock time with a "Z" whatever the tzinfo, so give it UTC.
    path.write_bytes(_docx(created=datetime(2019, 7, 14, 9, 30, tzinfo=UTC)))

    probe = probe_file(path)

    assert (probe.kind, probe.mime) == ("text", DOCX_MIME)
    assert probe.title == "Ship log"
    assert probe.description == "Notes from the crossing"
    assert probe.created_at == datetime(2019, 7, 14, 9, 30, tzinfo=UTC)
    assert probe.created_source == "docx"
    assert probe.text is not None
    assert "Wednesday — calm." in probe.text
    assert "starboard" in probe.text
    # Chapter one / Tuesday: wind from the north, 12 knots. / Wednesday calm. / port starboard; "—" has no
    # letter or digit, so it is not a word.
    assert probe.word_count == 2 + 7 + 2 + 2


def test_docx_without_core_properties_gets_no_invented_title() -> None:
    probe = probe_bytes(_without_core_properties(_docx()))

    assert probe.mime == DOCX_MIME
    assert (probe.title, probe.description, probe.created_at) == (None, None, None)


def test_zip_that_is_not_a_docx_is_unsupported() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")

    assert sniff(out.getvalue()) is None
    with pytest.raises(UnsupportedMedia):
        probe_bytes(out.getvalue())


def test_docx_whose_document_part_is_past_the_head(tmp_path: Path) -> None:
    source, out = zipfile.ZipFile(io.BytesIO(_docx())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        target.writestr("customXml/padding.xml", "<a/>" + " " * 20_000)
        for entry in source.infolist():
            target.writestr(entry.filename, source.read(entry))
    path = tmp_path / "late.docx"
    path.write_bytes(out.getvalue())

    assert sniff(out.getvalue()[:8192]) is None
    assert probe_file(path).title == "Ship log"


# --- text -----------------------------------------------------------------------------------------------


def test_html_title_description_and_visible_text() -> None:
    page = b"""\xef\xbb\xbf  <!DOCTYPE html><html><head><title> Tide  tables </title>
<meta name="description" content="When to sail"><style>p { color: red }</style>
<script>var hidden = "not words";</script></head>
<body><h1>High&nbsp;water</h1><p>At <b>six</b> o&#39;clock.</p></body></html>"""

    probe = probe_bytes(page, filename="page.md")

    assert (probe.kind, probe.mime) == ("text", "text/html")
    assert probe.title == "Tide tables"
    assert probe.description == "When to sail"
    assert probe.text == "High water\nAt six o'clock."  # str.split() counts NBSP as space
    assert probe.word_count == 5


def test_markdown_title_skips_code_fences(tmp_path: Path) -> None:
    path = tmp_path / "notes.markdown"
    path.write_text("```sh\n# not a heading\n```\n\n#Nor this\n# Sailing notes #\n\nBring a *coat*.\n")

    probe = probe_file(path)

    assert (probe.kind, probe.mime) == ("text", "text/markdown")
    assert probe.title == "Sailing notes"
    # sh, not, a, heading, #Nor, this, Sailing, notes, Bring, a, *coat*: a bare # or ``` is no word
    assert probe.word_count == 11


def test_markdown_content_under_another_name_is_plain_text() -> None:
    assert probe_bytes(b"# Title\n", filename="notes.txt").mime == "text/plain"


def test_plain_utf8_text() -> None:
    text = "Ça va? Grüße aus Köln — 東京 2024 !!"

    probe = probe_bytes(text.encode())

    assert (probe.kind, probe.mime, probe.title) == ("text", "text/plain", None)
    assert probe.text == text
    assert probe.word_count == 7


def test_utf16_with_bom() -> None:
    probe = probe_bytes("\ufeffhello there\r\nworld".encode("utf-16-le"))

    assert (probe.text, probe.word_count) == ("hello there\nworld", 3)


def test_text_named_jpg_is_text(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_text("not a photo at all")

    assert probe_file(path).kind == "text"


@pytest.mark.parametrize("start", [b"BM is a bitmap magic", b"ID3 is an MP3 tag", b"FWS is Flash's"])
def test_text_that_starts_like_a_magic_number_is_text(start: bytes) -> None:
    assert sniff(start) == ("text", "text/plain")


def test_sniff_head_cut_inside_a_character_is_still_text() -> None:
    data = ("é" * 5000).encode()

    assert sniff(data[:8191]) == ("text", "text/plain")


def test_invalid_utf8_after_the_head_is_corrupt() -> None:
    with pytest.raises(CorruptMedia, match="utf-8"):
        probe_bytes(b"a" * 10_000 + b"\xff\xfe\xfd")


# --- refusals and the file itself -----------------------------------------------------------------------


def test_binary_blob_is_unsupported() -> None:
    blob = bytes(range(256)) * 8

    assert sniff(blob) is None
    with pytest.raises(UnsupportedMedia) as caught:
        probe_bytes(blob)
    assert caught.value.code == "unsupported_media"


def test_known_but_unsupported_type_names_it() -> None:
    with pytest.raises(UnsupportedMedia, match="image/bmp"):
        probe_bytes(_image("BMP"))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.touch()

    with pytest.raises(EmptyFile) as caught:
        probe_file(path)
    assert caught.value.code == "empty_file"
    with pytest.raises(EmptyFile):
        probe_bytes(b"")


def test_errors_are_invalid_input() -> None:
    for error in (UnsupportedMedia, CorruptMedia, MediaTooLarge, EmptyFile):
        assert issubclass(error, MediaError)
        assert issubclass(error, InvalidInput)
    assert CorruptMedia.status_code == EmptyFile.status_code == 422


def test_probing_never_changes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    data = _jpeg(description="x", taken="2021:01:01 00:00:00", orientation=6)
    path.write_bytes(data)
    before = path.stat()

    probe_file(path)

    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == before.st_mtime_ns
