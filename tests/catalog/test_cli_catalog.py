from __future__ import annotations

from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from fairtrain.cli import app
from tests.catalog.media import essay, photo

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_scan_reports_new_errors_and_near_duplicates(env: Path) -> None:
    root = env / "works"
    original = photo(root / "a.jpg", seed=7)
    with Image.open(original) as image:
        image.resize((320, 240)).save(root / "a-small.jpg", quality=60)  # an edited copy
    essay(root / "b.txt", seed=1)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = _run("scan", str(root), "--creator", "mira", "--workers", "1")
    assert "3 new" in out and "1 errors" in out and "1 near duplicates" in out
    assert (env / "data" / "media").is_dir()
    again = _run("scan", str(root), "--creator", "mira", "--workers", "1")
    assert "3 unchanged" in again and "0 new" in again
    errors = _run("catalog", "errors", "--creator", "mira")
    assert "broken.jpg" in errors
    dupes = _run("catalog", "dupes", "--creator", "mira")
    assert "Near duplicates" in dupes and "phash64" in dupes
    listing = _run("catalog", "list", "--creator", "mira")
    assert "a-small" in listing and "b" in listing


def test_scan_refuses_unknown_creator(env: Path) -> None:
    (env / "empty").mkdir()
    result = runner.invoke(app, ["scan", str(env / "empty"), "--creator", "nobody"])
    assert result.exit_code == 1
    assert "no creator @nobody" in result.output


def test_purge_command(env: Path) -> None:
    root = env / "works"
    photo(root / "a.jpg", seed=1)
    _run("scan", str(root), "--creator", "mira", "--workers", "1")
    assert "removed 0 files" in _run("catalog", "purge", "--creator", "mira")
