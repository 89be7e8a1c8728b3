"""Text canaries: invisible to readers, found again in copies, excerpts and extracted text."""

from __future__ import annotations

import html.parser
import io
import unicodedata

import docx
import pytest

from fairtrain.errors import InvalidInput
from fairtrain.stamp.canary import (
    CANARY_PATTERN,
    canary_token,
    find_canaries,
    mark_docx,
    mark_html,
    mark_plain,
    zero_width,
)

KEY = b"k" * 32
TOKEN = canary_token("ast_0123456789abcdef", key=KEY)


def test_tokens_are_stable_per_asset_and_key() -> None:
    assert CANARY_PATTERN.fullmatch(TOKEN)
    assert canary_token("ast_0123456789abcdef", key=KEY) == TOKEN
    assert canary_token("ast_0123456789abcdeg", key=KEY) != TOKEN
    assert canary_token("ast_0123456789abcdef", key=b"other" * 8) != TOKEN


def test_zero_width_form_is_invisible_and_decodes() -> None:
    mark = zero_width(TOKEN)
    assert all(unicodedata.category(c) == "Cf" for c in mark)  # format characters: no glyph
    assert find_canaries(f"before{mark}after") == [TOKEN]
    assert find_canaries(unicodedata.normalize("NFKC", f"a{mark}b")) == [TOKEN]
    with pytest.raises(InvalidInput):
        zero_width("ftc-short")


def test_plain_text_carries_the_mark_in_every_paragraph() -> None:
    text = "First paragraph\ncontinues.\n\nSecond one.\n\n```\ncode stays untouched\n```\n\nThird."
    marked = mark_plain(text, TOKEN)
    visible = "".join(c for c in marked if unicodedata.category(c) != "Cf")
    assert visible == text
    paragraphs = marked.split("\n\n")
    assert all(zero_width(TOKEN) in p for p in paragraphs if not p.startswith("```"))
    assert zero_width(TOKEN) not in paragraphs[2]
    excerpt = paragraphs[3]
    assert find_canaries(excerpt) == [TOKEN]


def test_markdown_header_goes_on_top() -> None:
    marked = mark_plain("# Title\n\nBody.", TOKEN, header="<!-- licence -->\n")
    assert marked.startswith("<!-- licence -->\n# Title")


class _Visible(html.parser.HTMLParser):
    """Text a browser renders: skips <head> and elements with the hidden attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("meta", "link", "br", "img", "hr", "input"):
            return
        if self.skip or tag == "head" or any(k == "hidden" for k, _ in attrs):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def test_html_gets_head_tags_hidden_token_and_zero_width_marks() -> None:
    page = (
        b"<!doctype html><html><head><title>T</title></head>"
        b"<body><h1>T</h1><p>One.</p><p>Two.</p></body></html>"
    )
    marked = mark_html(page, TOKEN, head='<meta name="tdm-reservation" content="1">\n')
    text = marked.decode()
    assert '<head>\n<meta name="tdm-reservation" content="1">' in text
    assert f'<span hidden aria-hidden="true" translate="no">{TOKEN}</span>' in text
    assert text.count(zero_width(TOKEN)) == 3
    parser = _Visible()
    parser.feed(text)
    shown = "".join(parser.parts)
    assert TOKEN not in shown
    assert "".join(c for c in shown if unicodedata.category(c) != "Cf").strip() == "TOne.Two."
    assert find_canaries(text) == [TOKEN]


def test_html_fragment_without_head_or_paragraphs() -> None:
    marked = mark_html(b"just words", TOKEN, head="<meta name=x>\n").decode()
    assert marked.startswith("<head>")
    assert find_canaries(marked) == [TOKEN]


def test_docx_carries_token_in_properties_and_runs() -> None:
    document = docx.Document()
    document.add_paragraph("A paragraph of the essay.")
    document.add_paragraph("Another paragraph.")
    buffer = io.BytesIO()
    document.save(buffer)
    marked = docx.Document(
        io.BytesIO(mark_docx(buffer.getvalue(), TOKEN, title="E", creator="M", rights="R"))
    )
    assert marked.core_properties.identifier == TOKEN
    assert marked.core_properties.author == "M"
    assert all(find_canaries(p.text) == [TOKEN] for p in marked.paragraphs)
    with pytest.raises(InvalidInput):
        mark_docx(b"not a zip", TOKEN, title="E", creator="M", rights="R")
