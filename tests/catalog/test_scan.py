from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts import service as accounts
from fairtrain.catalog import scan as scan_module
from fairtrain.catalog.models import Asset, AssetSource, AssetVersion, Scan, ScanError
from fairtrain.catalog.scan import run_scan
from fairtrain.catalog.service import scan_errors
from fairtrain.catalog.store import MediaStore, hash_file
from tests.catalog.media import essay, photo


@pytest.fixture
def creator_id(db: Session) -> str:
    creator = accounts.create_creator(db, handle="mira", display_name="Mira")
    db.commit()
    return creator.id


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "works"
    for i in range(4):
        photo(root / "photos" / f"harbour-{i}.jpg", seed=i, exif_date=f"2021:06:0{i + 1} 08:30:00")
    for i in range(3):
        essay(root / "writing" / f"essay-{i}.txt", seed=100 + i)
    return root


def _scan(factory: sessionmaker[Session], creator_id: str, root: Path, store: Path | None, **kw):  # type: ignore[no-untyped-def]
    return run_scan(factory, creator_id=creator_id, roots=[root], store_root=store, **kw)


def _count(db: Session, model: type, *where) -> int:  # type: ignore[no-untyped-def]
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_first_scan_builds_a_complete_inventory(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path
) -> None:
    store = tmp_path / "media"
    before = {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()}
    summary = _scan(db_factory, creator_id, tree, store)
    assert summary.counts["new"] == 7 and not summary.counts["errors"]
    assets = {a.original_filename: a for a in db.scalars(select(Asset))}
    photo0 = assets["harbour-0.jpg"]
    assert (photo0.kind, photo0.mime, photo0.width, photo0.height) == ("image", "image/jpeg", 640, 480)
    assert photo0.created_source == "exif" and photo0.created_at is not None
    assert photo0.created_at.strftime("%Y-%m-%d %H:%M") == "2021-06-01 08:30"
    assert photo0.title == "harbour-0" and photo0.title_source == "filename"
    assert {f.algorithm for f in photo0.fingerprints} >= {"phash64", "dhash64", "pdq256"}
    text = assets["essay-0.txt"]
    assert text.kind == "text" and text.word_count == 300
    assert [f.algorithm for f in text.fingerprints] == ["minhash128"]
    assert text.created_source == "file-mtime"
    # Copied into the content store under its SHA-256; originals untouched.
    for asset in assets.values():
        assert MediaStore(store).path_for(asset.sha256).is_file()
        assert asset.storage == "copy"
    assert {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()} == before
    sha, _ = hash_file(tree / "photos" / "harbour-0.jpg")
    assert photo0.sha256 == sha
    scan = db.get(Scan, summary.scan_id)
    assert scan is not None and scan.status == "finished" and scan.counts["new"] == 7


def test_rescan_of_an_unchanged_tree_reads_no_file(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scan(db_factory, creator_id, tree, tmp_path / "media")

    def refuse(*args: object) -> None:
        raise AssertionError(f"re-scan opened {args[0]}")

    monkeypatch.setattr(scan_module, "analyse_worker", refuse)
    summary = _scan(db_factory, creator_id, tree, tmp_path / "media")
    assert summary.counts["unchanged"] == 7 and summary.counts["new"] == 0


def test_changed_moved_duplicated_and_missing_files(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path
) -> None:
    store = tmp_path / "media"
    _scan(db_factory, creator_id, tree, store)
    essay(tree / "writing" / "essay-0.txt", seed=999)  # edited
    (tree / "photos" / "harbour-1.jpg").rename(tree / "photos" / "renamed.jpg")  # moved
    (tree / "copy.jpg").write_bytes((tree / "photos" / "harbour-2.jpg").read_bytes())  # duplicate
    (tree / "writing" / "essay-2.txt").unlink()  # gone
    summary = _scan(db_factory, creator_id, tree, store)
    assert summary.counts["changed"] == 1
    assert summary.counts["moved"] == 1
    assert summary.counts["duplicate"] == 1
    assert summary.counts["missing"] == 1
    assert summary.counts["unchanged"] == 4
    assert _count(db, Asset) == 7  # nothing new, nothing deleted
    edited = db.scalar(select(Asset).where(Asset.original_filename == "essay-0.txt"))
    assert edited is not None and edited.version == 2
    assert _count(db, AssetVersion, AssetVersion.asset_id == edited.id) == 2
    moved = db.scalar(select(AssetSource).where(AssetSource.path.endswith("renamed.jpg")))
    assert moved is not None and moved.asset is not None and moved.asset.original_filename == "harbour-1.jpg"
    gone = db.scalar(select(AssetSource).where(AssetSource.path.endswith("essay-2.txt")))
    assert gone is not None and gone.missing_since is not None
    assert gone.asset is not None and gone.asset.deleted_at is None  # reported, never deleted


def test_broken_files_are_errors_and_the_scan_goes_on(
    db_factory, db: Session, creator_id: str, tmp_path: Path
) -> None:
    root = tmp_path / "mixed"
    good = photo(root / "good.jpg", seed=1)
    (root / "empty.txt").write_bytes(b"")
    (root / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (root / "garbage.jpg").write_bytes(os.urandom(4096))
    photo(root / "huge.jpg", seed=2, size=(1200, 1000))
    (root / "loop").symlink_to(root / "loop")
    (root / "dangling").symlink_to(root / "nowhere")
    (root / "self-dir").symlink_to(root)  # a folder link: not followed, no loop
    bad_name = os.fsencode(str(root)) + b"/caf\xe9.txt"
    Path(os.fsdecode(bad_name)).write_bytes(b"bad name but fine content\n")
    summary = _scan(db_factory, creator_id, root, tmp_path / "media", max_pixels=1_000_000)
    assert summary.counts["new"] == 1
    errors = {Path(e.path).name: e.code for e in db.scalars(select(ScanError))}
    assert errors == {
        "empty.txt": "empty_file",
        "truncated.jpg": "corrupt_media",
        "garbage.jpg": "unsupported_media",
        "huge.jpg": "media_too_large",
        "loop": "symlink_loop",
        "dangling": "unreadable",
        "caf\\xe9.txt": "bad_name",
    }
    creator = accounts.get_creator(db, "mira")
    assert len(scan_errors(db, creator=creator)) == 7


def test_a_killed_scan_resumes_without_duplicates(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scan_module.analyse_worker
    calls = 0

    def dies_after_three(*args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls > 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(scan_module, "analyse_worker", dies_after_three)
    monkeypatch.setattr(scan_module, "BATCH_FILES", 2)
    with pytest.raises(KeyboardInterrupt):
        _scan(db_factory, creator_id, tree, tmp_path / "media")
    # The first batch of two was committed; the third file's batch was not, and nothing of it is stored.
    assert _count(db, Asset) == 2
    assert _count(db, AssetSource) == 2
    assert db.scalar(select(Scan.status)) == "interrupted"
    monkeypatch.setattr(scan_module, "analyse_worker", real)
    summary = _scan(db_factory, creator_id, tree, tmp_path / "media")
    assert (summary.counts["unchanged"], summary.counts["new"]) == (2, 5)
    assert _count(db, Asset) == 7
    assert _count(db, AssetSource) == 7


def test_reference_mode_copies_nothing(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path
) -> None:
    summary = _scan(db_factory, creator_id, tree, None)
    assert summary.counts["new"] == 7
    assert {a.storage for a in db.scalars(select(Asset))} == {"reference"}
    assert not (tmp_path / "media").exists()


def test_parallel_scan_matches_a_serial_one(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path
) -> None:
    summary = _scan(db_factory, creator_id, tree, tmp_path / "media", workers=2)
    assert summary.counts["new"] == 7
    assert _count(db, Asset) == 7


def test_a_file_vanishing_mid_scan_is_an_error(
    db_factory, db: Session, creator_id: str, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = scan_module.analyse_worker
    victim = tree / "writing" / "essay-1.txt"

    def delete_first(path: str, *args):  # type: ignore[no-untyped-def]
        if path == str(victim):
            victim.unlink()
        return real(path, *args)

    monkeypatch.setattr(scan_module, "analyse_worker", delete_first)
    summary = _scan(db_factory, creator_id, tree, tmp_path / "media")
    assert summary.counts["new"] == 6 and summary.counts["errors"] == 1
    assert db.scalar(select(ScanError.code)) == "vanished"
