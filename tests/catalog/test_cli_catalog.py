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


def test_scan_killed_with_sigkill_resumes_cleanly(env: Path, database_url: str) -> None:
    """A real ``kill -9`` in the middle of a scan, then the same command again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlalchemy import create_engine, text

    root = env / "works"
    total = 400  # enough that the first batch commits (after a second) long before the scan ends
    for i in range(total):
        photo(root / f"p{i:03d}.jpg", seed=i)
    command = [sys.executable, "-m", "fairtrain", "scan", str(root), "--creator", "mira", "--workers", "1"]
    engine = create_engine(database_url)

    def count(table: str) -> int:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)  # noqa: S608

    process = subprocess.Popen(
        command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while count("assets") == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the scan finished before it could be killed; make the tree bigger"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = count("assets")
    assert 0 < killed_at < total
    assert count("asset_sources") == killed_at  # whole rows only
    out = _run("scan", str(root), "--creator", "mira", "--workers", "1")
    assert f"{total - killed_at} new" in out and f"{killed_at} unchanged" in out
    assert count("assets") == total and count("asset_sources") == total and count("asset_versions") == total
    media = env / "data" / "media"
    stored = [p for p in media.rglob("*") if p.is_file() and p.parent.name != "tmp"]
    assert len(stored) == total
    assert not [p for p in (media / "tmp").glob("*") if p.is_file()]  # the killed writer's leftovers are gone
    engine.dispose()
