"""The docs keep up with the code: every setting documented, generated reference current, links valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fairtrain import docgen
from fairtrain.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
README = ROOT / "README.md"
CONFIGURATION = DOCS / "configuration.md"

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and [text](target "title"); images too. Autolinks <https://...> are absolute anyway.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docgen.generate()


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def _prose(text: str) -> str:
    """Markdown without code blocks and code spans, where link-like text is not a link."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
        slug = "".join(c for c in text.lower().replace(" ", "-") if c.isalnum() or c in "-_")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


# --- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_has_help_text_and_is_in_the_configuration_docs(name: str) -> None:
    field = Settings.model_fields[name]
    assert field.description and field.description.strip(), f"Settings.{name} has no description"
    variable = docgen.env_var(name)
    assert variable in CONFIGURATION.read_text(encoding="utf-8"), (
        f"{variable} is not documented in docs/configuration.md"
    )


def test_configuration_table_matches_the_code() -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    stale = [row for row in docgen.settings_rows() if row not in text]
    assert not stale, (
        "docs/configuration.md does not match the Settings class; after `make docs`, copy these rows "
        "from docs/reference/settings.md:\n" + "\n".join(stale)
    )


# --- generated reference -------------------------------------------------------------------------------


def test_generated_reference_is_current(generated: dict[str, str]) -> None:
    for name, content in generated.items():
        path = REFERENCE / name
        assert path.is_file(), f"docs/reference/{name} is missing: run make docs"
        assert path.read_text(encoding="utf-8") == content, f"docs/reference/{name} is stale: run make docs"
    extra = sorted({p.name for p in REFERENCE.iterdir()} - set(generated))
    assert not extra, f"docs/reference holds files docgen does not write: {extra}"


def test_docgen_is_deterministic(generated: dict[str, str]) -> None:
    assert docgen.generate() == generated


def test_docgen_writes_the_reference_into_a_directory(
    tmp_path: Path, generated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = tmp_path / "reference"
    assert docgen.main([str(outdir)]) == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in outdir.iterdir()} == generated
    assert docgen.main([str(outdir)]) == 0
    assert capsys.readouterr().out.count("up to date") == len(generated)


def test_docgen_needs_exactly_one_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert docgen.main([]) == 2
    assert "usage: python -m fairtrain.docgen OUTDIR" in capsys.readouterr().err


def test_cli_reference_lists_every_command(generated: dict[str, str]) -> None:
    for path in ("fairtrain serve", "fairtrain db upgrade", "fairtrain users create", "fairtrain demo"):
        assert f"`{path}`" in generated["cli.md"]
    assert "--workers" in generated["cli.md"]


# --- README and links ----------------------------------------------------------------------------------


def test_readme_quick_start_is_make_run_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Quick start' section"
    section = match.group(1)
    assert "make run" in section
    assert "make test" in section


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto: ...
            continue
        file_part, _, fragment = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and destination.suffix == ".md" and fragment not in _anchors(destination):
            broken.append(f"{target} (no heading #{fragment})")
    assert not broken, f"broken links in {path.relative_to(ROOT)}: {broken}"
