"""Identify a file's media type from its content and read its metadata, for the catalogue import.

The type comes from the bytes, never from the file name: the name only tells markdown from plain text. Every
failure is a named :class:`MediaError`; files are only ever read.
"""

from __future__ import annotations

import codecs
import html.parser
import io
import re
import struct
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Literal

import docx
import docx.document
import filetype  # type: ignore[import-untyped]
import mutagen
import mutagen._vorbis  # VCommentDict, the Vorbis comments of FLAC and Ogg, has no public home
import mutagen.flac
import mutagen.id3
import mutagen.mp3
import mutagen.mp4
import mutagen.ogg
import mutagen.oggflac
import mutagen.oggopus
import mutagen.oggspeex
import mutagen.oggtheora
import mutagen.oggvorbis
import mutagen.wave
import pypdf
import pypdf.errors
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from PIL import Image, UnidentifiedImageError

from fairtrain.errors import InvalidInput

__all__ = [
    "DOCX_MIME",
    "CorruptMedia",
    "EmptyFile",
    "Kind",
    "MediaError",
    "MediaTooLarge",
    "Probe",
    "UnsupportedMedia",
    "probe_bytes",
    "probe_file",
    "sniff",
]

Kind = Literal["image", "text", "audio", "video"]

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SNIFF_BYTES = 8192
# Long side of Probe.image. It only feeds the fingerprints, which work at 512 px (fingerprints.py); decoding
# and shrinking straight to that size is most of a scan's cost saved (bench/scan).
THUMBNAIL_SIZE = 512
MAX_TEXT_BYTES = 64 * 1024 * 1024  # plain text, markdown and HTML are read whole
MAX_DOCX_BYTES = 256 * 1024 * 1024  # uncompressed size of a docx's parts (zip bombs)
_MAX_MOOV_BYTES = 64 * 1024 * 1024

# What filetype reports (it knows more types than we accept) → our (kind, MIME).
_FILETYPE_MIMES: dict[str, tuple[Kind, str]] = {
    "image/jpeg": ("image", "image/jpeg"),
    "image/png": ("image", "image/png"),
    "image/apng": ("image", "image/png"),
    "image/gif": ("image", "image/gif"),
    "image/webp": ("image", "image/webp"),
    "image/tiff": ("image", "image/tiff"),
    "image/heic": ("image", "image/heic"),
    "video/mp4": ("video", "video/mp4"),
    "video/quicktime": ("video", "video/quicktime"),
    "video/webm": ("video", "video/webm"),
    "audio/mp4": ("audio", "audio/mp4"),
}
_PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/tiff": "TIFF",
    "image/heic": "HEIF",  # only present when the pillow-heif plugin has been registered
}
_MARKDOWN_SUFFIXES = (".md", ".markdown")

try:  # HEIC/HEIF (phone photos): the pillow-heif plugin ships libheif in its wheel
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - a dependency; kept optional so a broken wheel only loses HEIC
    pass


class MediaError(InvalidInput):
    code = "media_error"


class UnsupportedMedia(MediaError):
    status_code = 415
    code = "unsupported_media"


class CorruptMedia(MediaError):
    code = "corrupt_media"


class MediaTooLarge(MediaError):
    status_code = 413
    code = "media_too_large"


class EmptyFile(MediaError):
    code = "empty_file"


@dataclass(frozen=True)
class Probe:
    kind: Kind
    mime: str
    title: str | None = None
    description: str | None = None
    created_at: datetime | None = None  # timezone-aware UTC
    created_source: str | None = None  # "exif", "xmp", "id3", "vorbis", "pdf", "docx" or "container"
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    word_count: int | None = None
    text: str | None = None  # text kinds only: the plain text, for fingerprinting
    image: Image.Image | None = None  # images only: RGB, upright, long side <= THUMBNAIL_SIZE


# A source is a path (read lazily, by seeking) or the whole file in memory.
_Source = Path | bytes


@contextmanager
def _open(source: _Source) -> Iterator[IO[bytes]]:
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    else:
        with source.open("rb") as fp:
            yield fp


def _read_all(source: _Source, *, limit: int) -> bytes:
    with _open(source) as fp:
        data = fp.read(limit + 1)
    if len(data) > limit:
        raise MediaTooLarge(f"the file is larger than {limit // (1024 * 1024)} MiB")
    return data


# --- sniffing -------------------------------------------------------------------------------------------


def sniff(head: bytes, *, filename: str = "") -> tuple[Kind, str] | None:
    """Kind and MIME type of a file from its first bytes (about 8 KiB), or None when not one we accept.

    ``filename`` only tells markdown from plain text. A docx is recognised here when its first ZIP entries
    are in ``head``; :func:`probe_file` also reads the ZIP directory.
    """
    if not head:
        return None
    if found := _sniff_binary(head):
        return found
    if (kinded := filetype.match(head)) is not None and kinded.mime in _FILETYPE_MIMES:
        return _FILETYPE_MIMES[kinded.mime]
    if (text := _decode_head(head)) is not None:
        return "text", _text_mime(text, filename)
    # After the text check: a UTF-16 byte order mark (FF FE) is also a valid MPEG audio frame header.
    if _is_mpeg_audio_frame(head):
        return "audio", "audio/mpeg"
    # Anything else filetype knows (BMP, AVIF, EXE, ...) is not media we catalogue.
    return None


def _sniff_binary(head: bytes) -> tuple[Kind, str] | None:
    if head.startswith(b"%PDF-"):
        return "text", "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return ("text", DOCX_MIME) if _zip_head_has_document(head) else None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac"
    if head.startswith(b"OggS"):
        # The first page holds the first stream's identification header.
        return ("video", "video/ogg") if head[28:35] == b"\x80theora" else ("audio", "audio/ogg")
    if _is_id3(head):
        return "audio", "audio/mpeg"
    return None


def _is_id3(head: bytes) -> bool:
    # "ID3", major version 2-4, revision, flags, four syncsafe size bytes; checked in full so that a text
    # file starting with "ID3" stays text.
    return (
        len(head) >= 10
        and head.startswith(b"ID3")
        and head[3] in (2, 3, 4)
        and head[4] != 0xFF
        and all(b < 0x80 for b in head[6:10])
    )


def _is_mpeg_audio_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    # ADTS (AAC) shares the sync word but has layer 0; it is not MP3.
    return version != 0b01 and layer != 0 and bitrate not in (0, 0xF) and rate != 0b11


def _zip_head_has_document(head: bytes) -> bool:
    """Whether the local file headers in ``head`` (or a whole small ZIP) name ``word/document.xml``."""
    offset = 0
    while head.startswith(b"PK\x03\x04", offset) and offset + 30 <= len(head):
        (flags,) = struct.unpack_from("<H", head, offset + 6)
        (compressed,) = struct.unpack_from("<I", head, offset + 18)
        name_len, extra_len = struct.unpack_from("<HH", head, offset + 26)
        if head[offset + 30 : offset + 30 + name_len] == b"word/document.xml":
            return True
        if flags & 0x08:  # the sizes follow the data, so the next header cannot be found from here
            break
        offset += 30 + name_len + extra_len + compressed
    return _zip_has_document(_zip_entries(io.BytesIO(head)))


def _zip_entries(fp: IO[bytes]) -> list[zipfile.ZipInfo] | None:
    """The ZIP's directory (read from its end, not the whole file), or None when it is not a readable ZIP."""
    try:
        with zipfile.ZipFile(fp) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None


def _zip_has_document(entries: list[zipfile.ZipInfo] | None) -> bool:
    return entries is not None and any(entry.filename == "word/document.xml" for entry in entries)


def _decode_head(head: bytes) -> str | None:
    """``head`` as text when it is UTF-8 (or UTF-16 with a BOM) without NUL characters, else None."""
    codec = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        # final=False: the head may end inside a multi-byte character.
        text = codecs.getincrementaldecoder(codec)().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _text_mime(text: str, filename: str) -> str:
    start = text.lstrip("\ufeff \t\r\n\f").lower()
    if start.startswith(("<!doctype html", "<html")):
        return "text/html"
    if filename.lower().endswith(_MARKDOWN_SUFFIXES):
        return "text/markdown"
    return "text/plain"


def _describe_unsupported(head: bytes) -> str:
    known = filetype.match(head)
    if known is not None:
        return f"{known.mime} files cannot be catalogued; send an image, text, audio or video file"
    return "the file's type was not recognised; send an image, text, audio or video file"


# --- entry points ---------------------------------------------------------------------------------------


def probe_file(path: Path, *, max_pixels: int = 100_000_000) -> Probe:
    """Identify ``path`` from its content and read its metadata. The file is only read, never changed.

    An unreadable path raises the ``OSError`` as is: that is not a property of the media.
    """
    with path.open("rb") as fp:
        head = fp.read(SNIFF_BYTES)
    return _probe(path, head, filename=path.name, max_pixels=max_pixels)


def probe_bytes(data: bytes, *, filename: str = "", max_pixels: int = 100_000_000) -> Probe:
    """:func:`probe_file` for a file already in memory; ``filename`` only tells markdown from plain text."""
    return _probe(data, data[:SNIFF_BYTES], filename=filename, max_pixels=max_pixels)


def _probe(source: _Source, head: bytes, *, filename: str, max_pixels: int) -> Probe:
    if not head:
        raise EmptyFile("the file is empty")
    found = sniff(head, filename=filename)
    if found is None and head.startswith(b"PK\x03\x04"):
        # A docx whose document part is not among the first entries: ask the ZIP directory.
        with _open(source) as fp:
            if _zip_has_document(_zip_entries(fp)):
                found = ("text", DOCX_MIME)
    if found is None:
        raise UnsupportedMedia(_describe_unsupported(head))
    kind, mime = found
    if kind == "image":
        return _probe_image(source, mime, max_pixels=max_pixels)
    if mime == "application/pdf":
        return _probe_pdf(source)
    if mime == DOCX_MIME:
        return _probe_docx(source)
    if kind == "text":
        return _probe_text(source, mime)
    if mime in ("video/mp4", "video/quicktime", "audio/mp4"):
        return _probe_mp4(source, kind, mime)
    if mime == "video/webm":
        # Neither mutagen nor Pillow reads Matroska, and we do not run ffmpeg.
        return Probe(kind="video", mime=mime)
    return _probe_audio(source, kind, mime)


# --- shared helpers -------------------------------------------------------------------------------------


def _clean(value: object) -> str | None:
    """A metadata string, stripped, or None when it is missing or blank."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _to_utc(moment: datetime) -> datetime:
    """Naive times are taken to be UTC (the metadata did not say otherwise)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_iso(text: str | None) -> datetime | None:
    """An ISO 8601 / W3CDTF date-time as UTC; a date alone is midnight. A bare year or month is too vague."""
    if not text:
        return None
    text = text.strip()
    if len(text) < 10:
        return None
    try:
        return _to_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _word_count(text: str) -> int:
    return sum(1 for token in text.split() if any(char.isalnum() for char in token))


# --- images ---------------------------------------------------------------------------------------------

_CORRUPT_IMAGE = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, zlib.error)
# Cameras write these into ImageDescription when the person wrote nothing.
_PLACEHOLDER_DESCRIPTIONS = frozenset(
    {"OLYMPUS DIGITAL CAMERA", "SONY DSC", "DIGITAL CAMERA", "DCIM", "DEFAULT", "SAMSUNG", "DSC"}
)
_EXIF_IFD = 0x8769
_IMAGE_DESCRIPTION, _XP_TITLE, _XP_COMMENT, _XP_SUBJECT = 0x010E, 0x9C9B, 0x9C9C, 0x9C9F
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_OFFSET_TIME_ORIGINAL, _OFFSET_TIME_DIGITIZED = 0x9011, 0x9012


def _probe_image(source: _Source, mime: str, *, max_pixels: int) -> Probe:
    pillow_format = _PILLOW_FORMATS[mime]
    Image.init()
    if pillow_format not in Image.OPEN:
        raise UnsupportedMedia("HEIC images need the pillow-heif plugin, which this server does not have")
    with _open(source) as fp, warnings.catch_warnings():
        # Pillow warns above its own global MAX_IMAGE_PIXELS (about 89 Mpx), which is below our default:
        # our max_pixels is the limit that counts, checked below before any pixel is decoded. Pillow still
        # raises DecompressionBombError at twice its limit; that becomes MediaTooLarge too.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fp, formats=[pillow_format])
        except Image.DecompressionBombError as exc:
            raise MediaTooLarge(f"the image has too many pixels: {exc}") from None
        except UnidentifiedImageError:
            raise CorruptMedia(f"the file starts like {mime} but Pillow cannot read it") from None
        except _CORRUPT_IMAGE as exc:
            raise CorruptMedia(f"the image is damaged: {exc}") from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise MediaTooLarge(f"the image is {width}×{height} pixels, more than {max_pixels:,}")
            meta = _image_metadata(image)
            try:
                if pillow_format == "JPEG":
                    # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, still at least the thumbnail size.
                    image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                # Truncated files raise here as long as ImageFile.LOAD_TRUNCATED_IMAGES is False (Pillow's
                # default, which this module leaves alone rather than change a process-wide setting).
                image.load()
                thumbnail = _thumbnail(image, meta.orientation)
            except Image.DecompressionBombError as exc:
                raise MediaTooLarge(f"the image has too many pixels: {exc}") from None
            except _CORRUPT_IMAGE as exc:
                raise CorruptMedia(f"the image is damaged: {exc}") from None
    upright_width, upright_height = _upright_size(width, height, meta.orientation)
    return Probe(
        kind="image",
        mime=mime,
        title=meta.title,
        description=meta.description,
        created_at=meta.created_at,
        created_source=meta.created_source,
        width=upright_width,
        height=upright_height,
        image=thumbnail,
    )


def _upright_size(width: int, height: int, orientation: int | None) -> tuple[int, int]:
    # EXIF orientations 5-8 turn the picture a quarter: people see it the other way round.
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _thumbnail(image: Image.Image, orientation: int | None) -> Image.Image:
    """A new RGB image, upright, long side <= THUMBNAIL_SIZE: shrink first (BOX, after libjpeg's draft),
    so the mode conversions and the rotation run on the small picture."""
    scale = min(1.0, THUMBNAIL_SIZE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(size, Image.Resampling.BOX) if size != image.size else image.copy()
    if small.mode.startswith("I;16"):
        # 16-bit grey: scale to 8 bits instead of letting convert() clip everything above 255 to white.
        small = small.convert("I").point(lambda value: value / 256).convert("L")
    has_alpha = small.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = small.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = small if small.mode == "RGB" else small.convert("RGB")
    if orientation in _UPRIGHT:
        rgb = rgb.transpose(_UPRIGHT[orientation])
    return rgb


@dataclass(frozen=True)
class _ImageMeta:
    title: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    created_source: str | None = None
    orientation: int | None = None


def _image_metadata(image: Image.Image) -> _ImageMeta:
    """EXIF and XMP, best effort: damaged metadata is missing metadata, not a damaged image."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow warns about corrupt EXIF and carries on
        try:
            exif = image.getexif()
            exif_ifd = dict(exif.get_ifd(_EXIF_IFD))
            ifd0 = dict(exif)
        except (*_CORRUPT_IMAGE, KeyError, TypeError):
            exif_ifd, ifd0 = {}, {}
    xmp = _parse_xmp(image.info.get("xmp"))

    description_tag = _clean(ifd0.get(_IMAGE_DESCRIPTION))
    if description_tag and description_tag.upper() in _PLACEHOLDER_DESCRIPTIONS:
        description_tag = None
    title = xmp.title or _xp_string(ifd0.get(_XP_TITLE)) or description_tag
    description = xmp.description or _xp_string(ifd0.get(_XP_COMMENT)) or _xp_string(ifd0.get(_XP_SUBJECT))
    if description == title:
        description = None

    created_at, created_source = None, None
    for date_tag, offset_tag in (
        (_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL),
        (_DATETIME_DIGITIZED, _OFFSET_TIME_DIGITIZED),
    ):
        if moment := _exif_datetime(exif_ifd.get(date_tag), exif_ifd.get(offset_tag)):
            created_at, created_source = moment, "exif"
            break
    else:
        if xmp.created_at is not None:
            created_at, created_source = xmp.created_at, "xmp"
    orientation = ifd0.get(0x0112)
    return _ImageMeta(
        title=title,
        description=description,
        created_at=created_at,
        created_source=created_source,
        orientation=orientation if isinstance(orientation, int) else None,
    )


def _xp_string(value: object) -> str | None:
    """Windows' XP* tags: UTF-16LE in a BYTE array (Pillow hands back bytes or a tuple of ints)."""
    if isinstance(value, tuple):
        try:
            value = bytes(value)
        except (TypeError, ValueError):
            return None
    if not isinstance(value, bytes):
        return _clean(value)
    return _clean(value.decode("utf-16-le", "replace"))


def _exif_datetime(value: object, offset: object) -> datetime | None:
    text = _clean(value)
    if text is None:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")  # the zone is applied below
    except ValueError:
        return None  # includes the "0000:00:00 00:00:00" some cameras write when the clock is unset
    zone = _clean(offset)
    if zone and (match := re.fullmatch(r"([+-])(\d{2}):(\d{2})", zone)):
        sign = 1 if match[1] == "+" else -1
        delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
        return moment.replace(tzinfo=timezone(sign * delta)).astimezone(UTC)
    return moment.replace(tzinfo=UTC)


# --- XMP ------------------------------------------------------------------------------------------------

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_XMP_DATES = (
    ("http://ns.adobe.com/photoshop/1.0/", "DateCreated"),
    ("http://ns.adobe.com/exif/1.0/", "DateTimeOriginal"),
    ("http://ns.adobe.com/xap/1.0/", "CreateDate"),
)
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class _Xmp:
    title: str | None = None
    description: str | None = None
    created_at: datetime | None = None


def _parse_xmp(packet: object) -> _Xmp:
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if not isinstance(packet, bytes) or not packet.strip():
        return _Xmp()
    packet = packet.strip(b"\x00 \t\r\n")
    # XMP never needs a DTD; refusing one rules out entity expansion attacks whatever expat version we run.
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return _Xmp()
    try:
        root = ET.fromstring(packet)  # noqa: S314 - no DTD, so no entities to expand (checked above)
    except ET.ParseError:
        return _Xmp()
    created_at = None
    for namespace, name in _XMP_DATES:
        if created_at := _parse_iso(_xmp_value(root, namespace, name)):
            break
    return _Xmp(
        title=_xmp_value(root, _DC, "title"),
        description=_xmp_value(root, _DC, "description"),
        created_at=created_at,
    )


def _xmp_value(root: ET.Element, namespace: str, name: str) -> str | None:
    tag = f"{{{namespace}}}{name}"
    for element in root.iter(f"{{{_RDF}}}Description"):
        if (value := _clean(element.get(tag))) is not None:
            return value
    for element in root.iter(tag):
        items = list(element.iter(f"{{{_RDF}}}li"))
        if not items:
            if (value := _clean(element.text)) is not None:
                return value
            continue
        # A language alternative: the x-default entry, else the first one.
        items.sort(key=lambda item: item.get(_XML_LANG) != "x-default")
        for item in items:
            if (value := _clean(item.text)) is not None:
                return value
    return None


# --- text, HTML, markdown -------------------------------------------------------------------------------


def _decode_text(data: bytes) -> str:
    codec = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise CorruptMedia(
            f"the text is not valid {exc.encoding} at byte {exc.start}: {exc.reason}"
        ) from None
    if "\x00" in text:
        raise CorruptMedia("the text contains NUL characters, so it is not plain text")
    return text.replace("\r\n", "\n")


def _probe_text(source: _Source, mime: str) -> Probe:
    text = _decode_text(_read_all(source, limit=MAX_TEXT_BYTES))
    title = description = None
    if mime == "text/html":
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        text, title, description = parser.text(), parser.title(), parser.description
    elif mime == "text/markdown":
        title = _markdown_title(text)
    return Probe(
        kind="text", mime=mime, title=title, description=description, word_count=_word_count(text), text=text
    )


_MARKDOWN_H1 = re.compile(r" {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
_MARKDOWN_FENCE = re.compile(r" {0,3}(```|~~~)")


def _markdown_title(text: str) -> str | None:
    """The first level-one ATX heading (``# Title``) outside fenced code blocks."""
    fence: str | None = None
    for line in text.splitlines():
        if opening := _MARKDOWN_FENCE.match(line):
            if fence is None:
                fence = opening[1]
            elif opening[1] == fence:
                fence = None
            continue
        if fence is None and (heading := _MARKDOWN_H1.fullmatch(line)):
            return _clean(heading[1])
    return None


class _HtmlText(html.parser.HTMLParser):
    """Visible text, the <title> and the meta description of an HTML document."""

    _SKIPPED = frozenset({"script", "style", "template", "noscript", "svg"})
    _BLOCKS = frozenset(
        {
            "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
            "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
            "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._title: list[str] = []
        self._skipping = 0
        self._in_title = False
        self.description: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta" and self.description is None:
            values = dict(attrs)
            if (values.get("name") or "").lower() == "description":
                self.description = _clean(values.get("content"))
        if tag in self._BLOCKS:
            self._parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self._SKIPPED:  # <svg/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        if tag in self._BLOCKS:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        (self._title if self._in_title else self._parts).append(data)

    def title(self) -> str | None:
        return _clean(" ".join("".join(self._title).split()))

    def text(self) -> str:
        lines = ("".join(self._parts)).splitlines()
        return "\n".join(" ".join(line.split()) for line in lines if line.strip())


# --- PDF ------------------------------------------------------------------------------------------------

_CORRUPT_PDF = (
    pypdf.errors.PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    RecursionError,
    struct.error,
    zlib.error,
    OSError,
    EOFError,
)


def _probe_pdf(source: _Source) -> Probe:
    with _open(source) as fp, warnings.catch_warnings():
        # pypdf warns about problems it recovers from; what it cannot recover from it raises.
        warnings.simplefilter("ignore", pypdf.errors.PdfReadWarning)
        try:
            reader = pypdf.PdfReader(fp)
            if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
                raise UnsupportedMedia("the PDF is protected by a password")
            info = reader.metadata
            title = _clean(info.title) if info is not None else None
            description = _clean(info.subject) if info is not None else None
            try:
                created = info.creation_date if info is not None else None
            except ValueError:  # a malformed date is a missing date
                created = None
            text = "\n".join(page.extract_text() for page in reader.pages)
        except pypdf.errors.DependencyError as exc:
            raise UnsupportedMedia(f"the PDF cannot be read here: {exc}") from None
        except pypdf.errors.FileNotDecryptedError:
            raise UnsupportedMedia("the PDF is protected by a password") from None
        except _CORRUPT_PDF as exc:
            raise CorruptMedia(f"the PDF is damaged: {exc or type(exc).__name__}") from None
    return Probe(
        kind="text",
        mime="application/pdf",
        title=title,
        description=description,
        created_at=_to_utc(created) if created is not None else None,
        created_source="pdf" if created is not None else None,
        word_count=_word_count(text),
        text=text,
    )


# --- docx -----------------------------------------------------------------------------------------------


def _probe_docx(source: _Source) -> Probe:
    with _open(source) as fp:
        entries = _zip_entries(fp)
        if entries is None:
            raise CorruptMedia("the Word document is not a readable ZIP archive")
        if sum(entry.file_size for entry in entries) > MAX_DOCX_BYTES:
            raise MediaTooLarge(
                f"the Word document unpacks to more than {MAX_DOCX_BYTES // (1024 * 1024)} MiB"
            )
        fp.seek(0)
        try:
            document = docx.Document(fp)
            text = _docx_text(document)
            meta = _docx_metadata(document)
        except ValueError as exc:
            if "is not a Word file" in str(exc):  # e.g. a macro-enabled .docm or a template
                raise UnsupportedMedia(f"the Word document cannot be read: {exc}") from None
            raise CorruptMedia(f"the Word document is damaged: {exc}") from None
        except (PackageNotFoundError, KeyError, SyntaxError, zipfile.BadZipFile, zlib.error, OSError) as exc:
            # lxml's XMLSyntaxError is a SyntaxError
            raise CorruptMedia(f"the Word document is damaged: {exc or type(exc).__name__}") from None
    title, description, created = meta
    return Probe(
        kind="text",
        mime=DOCX_MIME,
        title=title,
        description=description,
        created_at=created,
        created_source="docx" if created is not None else None,
        word_count=_word_count(text),
        text=text,
    )


def _docx_text(document: docx.document.Document) -> str:
    lines: list[str] = []

    def walk(blocks: Iterator[object]) -> None:
        for block in blocks:
            if isinstance(block, Table):
                for row in block.rows:
                    seen: list[object] = []
                    for cell in row.cells:
                        # A merged cell comes back once for each grid column it spans.
                        if any(cell._tc is other for other in seen):
                            continue
                        seen.append(cell._tc)
                        walk(cell.iter_inner_content())
            else:
                lines.append(getattr(block, "text", ""))

    walk(document.iter_inner_content())
    return "\n".join(lines)


def _docx_metadata(document: docx.document.Document) -> tuple[str | None, str | None, datetime | None]:
    # python-docx invents core properties (title "Word Document", modified now) when a file has none, so
    # look for the part before asking for them.
    package = document.part.package
    if not any(rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES for rel in package.rels.values()):
        return None, None, None
    properties = document.core_properties
    created = properties.created
    return (
        _clean(properties.title),
        _clean(properties.comments) or _clean(properties.subject),
        _to_utc(created) if created is not None else None,
    )


# --- audio ----------------------------------------------------------------------------------------------

_CORRUPT_AUDIO = (mutagen.MutagenError, struct.error, ValueError, EOFError, IndexError, OverflowError)
_OGG_TYPES: list[type[mutagen.FileType]] = [
    mutagen.oggvorbis.OggVorbis,
    mutagen.oggopus.OggOpus,
    mutagen.oggflac.OggFLAC,
    mutagen.oggspeex.OggSpeex,
    mutagen.oggtheora.OggTheora,
]


def _probe_audio(source: _Source, kind: Kind, mime: str) -> Probe:
    # mutagen is only partly annotated: its loaders and tag containers are used through Any.
    loader: Callable[..., Any] = _AUDIO_LOADERS.get(mime, _load_ogg)
    with _open(source) as fp:
        try:
            audio = loader(fp)
        except _CORRUPT_AUDIO as exc:
            raise CorruptMedia(f"the {mime} file is damaged: {exc or type(exc).__name__}") from None
    if audio is None:
        raise UnsupportedMedia(
            "the Ogg stream holds no codec we can read (Vorbis, Opus, FLAC, Speex, Theora)"
        )
    if isinstance(audio, mutagen.oggtheora.OggTheora):
        kind, mime = "video", "video/ogg"
    title, description, created, created_source = _audio_tags(audio.tags)
    return Probe(
        kind=kind,
        mime=mime,
        title=title,
        description=description,
        created_at=created,
        created_source=created_source,
        duration_ms=_duration_ms(audio),
    )


def _load_ogg(fp: IO[bytes]) -> Any:
    # mutagen picks the codec from the first page.
    return mutagen.File(fp, options=_OGG_TYPES)


_AUDIO_LOADERS: dict[str, Callable[..., Any]] = {
    "audio/wav": mutagen.wave.WAVE,
    "audio/flac": mutagen.flac.FLAC,
    "audio/mpeg": mutagen.mp3.MP3,
}


def _duration_ms(media: Any) -> int | None:
    length = getattr(media.info, "length", None)
    if not isinstance(length, int | float) or length <= 0:
        return None
    return round(length * 1000)


_Tags = tuple[str | None, str | None, datetime | None, str | None]


def _audio_tags(tags: Any) -> _Tags:
    if isinstance(tags, mutagen.id3.ID3):
        return _id3_tags(tags)
    if isinstance(tags, mutagen.mp4.MP4Tags):
        # ©day is the release date more often than the recording time; the movie header gives the latter.
        return _first_value(tags, "\xa9nam"), _first_value(tags, "desc", "\xa9cmt"), None, None
    if isinstance(tags, mutagen._vorbis.VCommentDict):  # FLAC and Ogg
        created = _parse_iso(_first_value(tags, "date"))
        title = _first_value(tags, "title")
        return title, _first_value(tags, "description", "comment"), created, "vorbis" if created else None
    return None, None, None, None


def _first_value(tags: Any, *names: str) -> str | None:
    for name in names:
        for value in tags.get(name) or []:
            if (text := _clean(value)) is not None:
                return text
    return None


def _first_text(frames: list[Any]) -> str | None:
    for frame in frames:
        for value in getattr(frame, "text", []):
            if (text := _clean(str(value))) is not None:
                return text
    return None


def _id3_tags(tags: Any) -> _Tags:
    title = _first_text(tags.getall("TIT2"))
    # The comment without a description is the general one.
    comments = sorted(tags.getall("COMM"), key=lambda frame: getattr(frame, "desc", "") != "")
    description = _first_text(comments)
    # mutagen turns ID3v2.3 TYER/TDAT/TIME into a v2.4 TDRC when it loads a tag.
    created = _parse_iso(_first_text(tags.getall("TDRC")))
    return title, description, created, "id3" if created else None


# --- MP4 / QuickTime ------------------------------------------------------------------------------------

_MP4_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)
_UNSET_BEFORE = datetime(1970, 1, 2, tzinfo=UTC)  # encoders write 0 (1904) or the Unix epoch when unset


def _probe_mp4(source: _Source, kind: Kind, mime: str) -> Probe:
    with _open(source) as fp:
        try:
            media: Any = _load_mp4(fp)
        except _CORRUPT_AUDIO:
            media = None  # the movie header below still tells what it can
        header = _movie_header(fp)
    if media is None and header is None:
        raise CorruptMedia(f"the {mime} file has no readable movie header (moov)")
    title, description, _, _ = _audio_tags(media.tags if media is not None else None)
    duration = _duration_ms(media) if media is not None else None
    created = None
    width = height = None
    if header is not None:
        duration = duration or header.duration_ms
        created = header.created_at
        width, height = header.width, header.height
    return Probe(
        kind=kind,
        mime=mime,
        title=title,
        description=description,
        created_at=created,
        created_source="container" if created is not None else None,
        width=width if kind == "video" else None,
        height=height if kind == "video" else None,
        duration_ms=duration,
    )


_load_mp4: Callable[..., Any] = mutagen.mp4.MP4


@dataclass(frozen=True)
class _MovieHeader:
    created_at: datetime | None
    duration_ms: int | None
    width: int | None
    height: int | None


def _boxes(fp: IO[bytes], start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes between ``start`` and ``end``."""
    position = start
    while position + 8 <= end:
        fp.seek(position)
        header = fp.read(8)
        if len(header) < 8:
            return
        size, box_type = struct.unpack(">I4s", header)
        header_size = 8
        if size == 1:
            large = fp.read(8)
            if len(large) < 8:
                return
            (size,) = struct.unpack(">Q", large)
            header_size = 16
        elif size == 0:
            size = end - position
        if size < header_size or position + size > end:
            return  # truncated or damaged: stop rather than guess
        yield box_type, position + header_size, position + size
        position += size


def _find_box(fp: IO[bytes], start: int, end: int, box_type: bytes) -> tuple[int, int] | None:
    for found, payload_start, payload_end in _boxes(fp, start, end):
        if found == box_type:
            return payload_start, payload_end
    return None


def _movie_header(fp: IO[bytes]) -> _MovieHeader | None:
    """Creation time and duration from ``moov/mvhd``, picture size from the first video track's ``tkhd``."""
    fp.seek(0, io.SEEK_END)
    found = _find_box(fp, 0, fp.tell(), b"moov")  # seeks over mdat, never reads it
    if found is None or found[1] - found[0] > _MAX_MOOV_BYTES:
        return None
    fp.seek(found[0])
    moov = io.BytesIO(fp.read(found[1] - found[0]))
    end = len(moov.getbuffer())
    created = duration = width = height = None
    try:
        for box_type, start, stop in _boxes(moov, 0, end):
            moov.seek(start)
            payload = moov.read(stop - start)
            if box_type == b"mvhd":
                created, duration = _parse_mvhd(payload)
            elif box_type == b"trak" and width is None and (size := _video_track_size(moov, start, stop)):
                width, height = size
    except struct.error:
        pass  # keep what was read before the damage
    return _MovieHeader(created_at=created, duration_ms=duration, width=width, height=height)


def _parse_mvhd(payload: bytes) -> tuple[datetime | None, int | None]:
    if payload[0] == 1:
        created, _, timescale, duration = struct.unpack_from(">QQIQ", payload, 4)
    else:
        created, _, timescale, duration = struct.unpack_from(">IIII", payload, 4)
    moment = _MP4_EPOCH + timedelta(seconds=created)
    # QuickTime defines these as UTC; some cameras write local time, which we cannot tell apart.
    created_at = moment if moment >= _UNSET_BEFORE else None
    duration_ms = round(duration * 1000 / timescale) if timescale and duration != 2**32 - 1 else None
    return created_at, duration_ms


def _video_track_size(moov: IO[bytes], start: int, stop: int) -> tuple[int, int] | None:
    mdia = _find_box(moov, start, stop, b"mdia")
    hdlr = _find_box(moov, *mdia, b"hdlr") if mdia else None
    tkhd = _find_box(moov, start, stop, b"tkhd")
    if hdlr is None or tkhd is None:
        return None
    moov.seek(hdlr[0])
    if moov.read(12)[8:12] != b"vide":
        return None
    moov.seek(tkhd[0])
    payload = moov.read(tkhd[1] - tkhd[0])
    base = 36 if payload[0] == 1 else 24
    matrix = struct.unpack_from(">9i", payload, base + 16)
    width, height = (value >> 16 for value in struct.unpack_from(">II", payload, base + 52))
    if not width or not height:
        return None
    # A phone's portrait video is stored landscape with a quarter-turn matrix (a = d = 0).
    if matrix[0] == 0 and matrix[4] == 0:
        width, height = height, width
    return width, height
