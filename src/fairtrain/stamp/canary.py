"""Text canaries: a unique identifier per asset that readers never see but copies carry along.

Two forms, because dataset pipelines clean text in different ways:

- a zero-width form: the token's bits as U+200B/U+200C between two U+2060 word joiners, placed in every
  paragraph (so an excerpt still carries it); renders as nothing, survives copy and paste, and is kept by
  Unicode normalisation (NFC/NFKC leave these code points alone);
- a plain form, ``ftc-`` and 16 base32 characters: in HTML as a ``hidden`` element (not rendered, not in the
  accessibility tree, but kept by naive text extraction), in PDF/DOCX metadata and the XMP packet.

The token is an HMAC of the asset id under the installation's key, so re-protecting an asset gives the same
token (copies made before a policy change still match) and nobody can mint a token for someone else's asset.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re

from fairtrain.errors import InvalidInput

__all__ = [
    "CANARY_PATTERN",
    "canary_token",
    "find_canaries",
    "mark_docx",
    "mark_html",
    "mark_plain",
    "zero_width",
]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
CANARY_PATTERN = re.compile(r"\bftc-([0-9a-hjkmnp-tv-z]{16})\b")
_JOIN, _ZERO, _ONE = "\u2060", "\u200b", "\u200c"
_ZW_PATTERN = re.compile(f"{_JOIN}([{_ZERO}{_ONE}]{{80}}){_JOIN}")


def canary_token(asset_id: str, *, key: bytes) -> str:
    digest = hmac.new(key, b"fairtrain canary\x00" + asset_id.encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:10], "big")
    return "ftc-" + "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(16)))


def _bits(token: str) -> str:
    value = 0
    for char in token.removeprefix("ftc-"):
        value = value << 5 | _ALPHABET.index(char)
    return format(value, "080b")


def zero_width(token: str) -> str:
    """The token as invisible characters."""
    if not CANARY_PATTERN.fullmatch(token):
        raise InvalidInput(f"{token!r} is not a canary token")
    return _JOIN + _bits(token).translate({ord("0"): _ZERO, ord("1"): _ONE}) + _JOIN


def find_canaries(text: str) -> list[str]:
    """Every distinct token in ``text``, in either form, in order of first appearance."""
    found: dict[str, None] = {}
    hits: list[tuple[int, str]] = [(m.start(), "ftc-" + m.group(1)) for m in CANARY_PATTERN.finditer(text)]
    for match in _ZW_PATTERN.finditer(text):
        value = int(match.group(1).translate({ord(_ZERO): "0", ord(_ONE): "1"}), 2)
        token = "ftc-" + "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(16)))
        hits.append((match.start(), token))
    for _, token in sorted(hits):
        found.setdefault(token, None)
    return list(found)


_FENCE = re.compile(r"^\s*(```|~~~)")


def mark_plain(text: str, token: str, *, header: str | None = None) -> str:
    """Plain text or Markdown: the zero-width token at the end of each paragraph's first line (never inside
    a code block), and an optional header (e.g. a Markdown comment) on top."""
    mark = zero_width(token)
    lines = text.split("\n")
    in_fence = False
    start_of_paragraph = True
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            start_of_paragraph = False
            continue
        if not line.strip():
            start_of_paragraph = True
            continue
        if start_of_paragraph and not in_fence and not line.startswith(("    ", "\t")):
            stripped = line.rstrip("\r")
            lines[i] = stripped + mark + line[len(stripped) :]
        start_of_paragraph = False
    marked = "\n".join(lines)
    if mark not in marked:  # nothing paragraph-like (e.g. all code): still carry it once
        marked = mark + marked
    return (header + marked) if header else marked


_HEAD_OPEN = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)
_HTML_OPEN = re.compile(rb"<html(\s[^>]*)?>", re.IGNORECASE)
_BODY_CLOSE = re.compile(rb"</body\s*>", re.IGNORECASE)
_PARAGRAPH_OPEN = re.compile(rb"<(p|li|h[1-6]|blockquote|td)(\s[^>]*)?>", re.IGNORECASE)


def mark_html(data: bytes, token: str, *, head: str) -> bytes:
    """HTML: ``head`` (meta/link tags) first in ``<head>``, the zero-width token at the start of every
    paragraph-like element, and the plain token in a ``hidden`` element at the end of the body."""
    mark = zero_width(token).encode("utf-8")
    head_bytes = head.encode("utf-8")
    if match := _HEAD_OPEN.search(data):
        data = data[: match.end()] + b"\n" + head_bytes + data[match.end() :]
    elif match := _HTML_OPEN.search(data):
        data = data[: match.end()] + b"\n<head>\n" + head_bytes + b"</head>" + data[match.end() :]
    else:
        data = b"<head>\n" + head_bytes + b"</head>\n" + data
    data, count = _PARAGRAPH_OPEN.subn(lambda m: m.group(0) + mark, data)
    hidden = f'<span hidden aria-hidden="true" translate="no">{token}</span>'.encode()
    if (closes := list(_BODY_CLOSE.finditer(data))) and count:
        last = closes[-1]
        return data[: last.start()] + hidden + b"\n" + data[last.start() :]
    return data + (b"" if count else mark) + b"\n" + hidden + b"\n"


def mark_docx(data: bytes, token: str, *, title: str, creator: str, rights: str) -> bytes:
    """Word documents: core properties carry the creator, rights statement and plain token; the first run
    of every paragraph carries the zero-width one."""
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(f"not a readable Word document: {exc}") from None
    props = document.core_properties
    props.title = props.title or title
    props.author = creator
    props.identifier = token
    props.comments = rights
    mark = zero_width(token)
    for paragraph in document.paragraphs:
        if paragraph.runs and paragraph.text.strip():
            paragraph.runs[0].text = mark + paragraph.runs[0].text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
