"""`fairtrain protect`, `verify`, `stamp settings` and `keys` from the command line."""

from __future__ import annotations

import io
import json
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


def test_protect_then_verify_copies(env: Path) -> None:
    folder = env / "works"
    photo(folder / "harbour.jpg", seed=31, size=(640, 480))
    essay(folder / "essay.txt", seed=3, words=200)
    _run("scan", str(folder), "--creator", "mira", "--workers", "1")
    out = _run("protect", "--creator", "mira")
    assert "2 protected, 0 unchanged, 0 skipped, 0 failed" in out
    assert "0 protected, 2 unchanged" in _run("protect", "--creator", "mira")

    reports = json.loads(_run("verify", "--json", str(folder / "harbour.jpg")))
    assert reports[0]["watermark"]["found"] is False  # the original was never marked
    asset_id = reports[0]["known_file"]["asset_id"]

    protected = sorted((env / "data" / "media").rglob("*"), key=lambda p: p.stat().st_mtime)
    images = [p for p in protected if p.is_file() and p.read_bytes()[:2] == b"\xff\xd8"]
    with Image.open(images[-1]) as image:
        copy = io.BytesIO()
        image.convert("RGB").resize((480, 360)).save(copy, "JPEG", quality=70)
    (env / "found.jpg").write_bytes(copy.getvalue())
    text = _run("verify", str(env / "found.jpg"))
    assert f"watermark: {asset_id}" in text and "@mira" in text

    again = _run("protect", "--force", asset_id)
    assert "1 protected" in again
    changed = _run("policy", "set", "ai-train", "deny", "--creator", "mira")
    assert "2 protected copies carry the old terms" in changed
    assert "2 protected, 0 unchanged" in _run("protect", "--creator", "mira")


def test_protect_arguments_are_checked(env: Path) -> None:
    result = runner.invoke(app, ["protect"])
    assert result.exit_code == 1 and "asset ids or --creator" in result.output
    result = runner.invoke(app, ["protect", "ast_0000000000000000"])
    assert result.exit_code == 1 and "no asset" in result.output
    result = runner.invoke(app, ["verify", str(env / "missing.jpg")])
    assert result.exit_code != 0


def test_stamp_settings_and_keys(env: Path) -> None:
    assert "visible watermark off" in _run("stamp", "settings", "--creator", "mira")
    out = _run(
        "stamp", "settings", "--creator", "mira", "--visible", "--text", "© Mira", "--position", "tile"
    )
    assert "visible watermark on: '© Mira', tile" in out
    result = runner.invoke(app, ["stamp", "settings", "--creator", "mira", "--opacity", "0"])
    assert result.exit_code == 1 and "opacity" in result.output
    root = _run("keys", "show")
    assert root.startswith("-----BEGIN CERTIFICATE-----")
    assert "new signing key" in _run("keys", "rotate", "--creator", "mira")
    assert "root CA rotated" in _run("keys", "rotate", "--root")
    assert _run("keys", "show") != root
    assert "new RSL token signing key" in _run("keys", "rotate", "--rsl")
    assert runner.invoke(app, ["keys", "rotate", "--rsl", "--root"]).exit_code == 1
