from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog import registration
from fairtrain.catalog import service as catalog
from fairtrain.catalog.models import Asset
from fairtrain.catalog.registration import (
    COLUMNS,
    LIST_NAME,
    DepositError,
    Group,
    RegistrationPlan,
    add_months,
    check_group,
    is_placeholder_title,
    plan_groups,
    write_deposit_zip,
    write_list_csv,
    write_list_xlsx,
)
from fairtrain.catalog.scan import run_scan
from fairtrain.catalog.store import MediaStore
from fairtrain.cli import app
from tests.catalog.media import essay, photo


@pytest.fixture
def creator(db: Session) -> CreatorProfile:
    creator = accounts.create_creator(db, handle="mira", display_name="Mira", legal_name="Mira Jensen")
    db.commit()
    return creator


def _scan(factory: sessionmaker[Session], creator: CreatorProfile, root: Path, store: Path | None) -> None:
    summary = run_scan(factory, creator_id=creator.id, roots=[root], store_root=store, workers=1)
    assert not summary.counts["errors"], summary.counts


def _assets(db: Session) -> dict[str, Asset]:
    db.expire_all()
    return {a.original_filename: a for a in db.scalars(select(Asset))}


def _photo(root: Path, name: str, seed: int) -> Path:
    return photo(root / name, seed=seed, size=(96, 64))


def _png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (96, 64), (seed * 40 % 256, 90, 160))
    image.paste((seed * 70 % 256, 20, 20), (10, 10, 50, 40))
    image.save(path, "PNG")
    return path


def _publish(db: Session, assets: dict[str, Asset], dates: Mapping[str, date | None]) -> None:
    for name, day in dates.items():
        catalog.update_asset(db, asset=assets[name], published_on=day)
    db.commit()


def _rules(plan: RegistrationPlan) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for v in plan.violations:
        found.setdefault(v.title, set()).add(v.rule)
    return found


def _assert_clean(plan: RegistrationPlan) -> None:
    grouped = [w.asset_id for g in plan.groups for w in g.works]
    assert len(grouped) == len(set(grouped))
    assert not set(grouped) & {v.asset_id for v in plan.violations}
    for group in plan.groups:
        assert check_group(group) == [], group.name


# --- published photos ----------------------------------------------------------------------------------


def test_grpph_groups_by_year_and_splits_at_the_limit(
    db_factory: sessionmaker[Session],
    db: Session,
    creator: CreatorProfile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "works"
    names = [f"harbour-{i}.jpg" for i in range(5)]
    for i, name in enumerate(names):
        _photo(root, name, seed=i)
    _scan(db_factory, creator, root, tmp_path / "media")
    days = [date(2021, 3, 1), date(2021, 12, 31), date(2021, 1, 15), date(2022, 5, 1), date(2022, 5, 2)]
    _publish(db, _assets(db), dict(zip(names, days, strict=True)))
    monkeypatch.setattr(registration, "MAX_PHOTOS", 2)

    plan = plan_groups(db, creator=creator, reg_type="GRPPH")

    assert plan.violations == () and plan.author == "Mira Jensen"
    assert [g.name for g in plan.groups] == ["GRPPH-1", "GRPPH-2", "GRPPH-3"]
    assert [[w.title for w in g.works] for g in plan.groups] == [
        ["harbour-2", "harbour-0"],  # 2021, by publication date
        ["harbour-1"],
        ["harbour-3", "harbour-4"],  # 2022
    ]
    assert [w.file_name for w in plan.groups[0].works] == ["0001-harbour-2.jpg", "0002-harbour-0.jpg"]
    assert all(g.author == g.claimant == "Mira Jensen" for g in plan.groups)
    _assert_clean(plan)
    assert registration.list_rows(plan.groups[2])[1] == [1, "harbour-3", "0001-harbour-3.jpg", "05/2022"]
    # With the real limit, one group per year.
    monkeypatch.setattr(registration, "MAX_PHOTOS", 750)
    assert [len(g.works) for g in plan_groups(db, creator=creator, reg_type="GRPPH").groups] == [3, 2]


def test_grpph_names_every_broken_rule(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    _photo(root, "harbour.jpg", seed=1)
    _photo(root, "unpublished.jpg", seed=2)
    _png(root / "drawing.png", seed=3)
    _photo(root, "IMG_1234.jpg", seed=4)
    _photo(root, "shared.jpg", seed=5)
    _photo(root, "mine-alone.jpg", seed=6)
    essay(root / "essay.txt", seed=7)  # not a photo: not considered at all
    _scan(db_factory, creator, root, tmp_path / "media")
    assets = _assets(db)
    published = {n: date(2023, 4, 1) for n in assets if n != "unpublished.jpg"}
    _publish(db, assets, published)
    catalog.set_rightsholders(
        db, asset=assets["shared.jpg"], holders=[("Mira", 5_000, creator.id), ("Ana", 5_000, None)]
    )
    catalog.set_rightsholders(db, asset=assets["mine-alone.jpg"], holders=[("Mira", 10_000, creator.id)])
    db.commit()

    plan = plan_groups(db, creator=creator, reg_type="GRPPH")

    assert _rules(plan) == {
        "unpublished": {"publication date"},
        "drawing": {"media type"},
        "IMG_1234": {"title"},
        "shared": {"one author and claimant"},
    }
    messages = {v.title: v.message for v in plan.violations}
    assert messages["drawing"] == "deposit must be JPEG, GIF or TIFF"
    assert messages["IMG_1234"] == "give the work a real title"
    assert messages["shared"] == "group registration needs one author and claimant"
    assert {v.asset_id for v in plan.violations} == {
        assets[n].id for n in ("unpublished.jpg", "drawing.png", "IMG_1234.jpg", "shared.jpg")
    }
    (group,) = plan.groups
    assert sorted(w.title for w in group.works) == ["harbour", "mine-alone"]
    _assert_clean(plan)
    # Fixing the title (and the rest) brings a work in.
    catalog.update_asset(db, asset=assets["IMG_1234.jpg"], title="Gulls at dusk")
    db.commit()
    (group,) = plan_groups(db, creator=creator, reg_type="GRPPH").groups
    assert "Gulls at dusk" in {w.title for w in group.works}


def test_a_sole_other_rightsholder_is_a_separate_claimant(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    for i in range(3):
        _photo(root, f"pier-{i}.jpg", seed=i)
    _scan(db_factory, creator, root, tmp_path / "media")
    assets = _assets(db)
    _publish(db, assets, dict.fromkeys(assets, date(2020, 2, 2)))
    catalog.set_rightsholders(db, asset=assets["pier-2.jpg"], holders=[("Harbour Press Ltd", 10_000, None)])
    db.commit()
    plan = plan_groups(db, creator=creator, reg_type="GRPPH", author="M. Jensen")
    assert sorted((g.claimant, len(g.works)) for g in plan.groups) == [
        ("Harbour Press Ltd", 1),
        ("M. Jensen", 2),
    ]
    assert {g.author for g in plan.groups} == {"M. Jensen"}
    _assert_clean(plan)


# --- unpublished photos --------------------------------------------------------------------------------


def test_gruph_refuses_published_photos(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    for i in range(3):
        _photo(root, f"mist-{i}.jpg", seed=i)
    _scan(db_factory, creator, root, tmp_path / "media")
    _publish(db, _assets(db), {"mist-1.jpg": date(2024, 1, 1)})

    plan = plan_groups(db, creator=creator, reg_type="GRUPH")

    (violation,) = plan.violations
    assert (violation.title, violation.rule) == ("mist-1", "unpublished")
    assert violation.message == "published works cannot go in an unpublished group"
    (group,) = plan.groups
    assert sorted(w.title for w in group.works) == ["mist-0", "mist-2"]
    assert registration.list_rows(group)[0] == ["No.", "Title", "File name"]
    _assert_clean(plan)


# --- short online literary works -----------------------------------------------------------------------


def test_grtx_word_counts_windows_and_group_sizes(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    dates = {
        "a.txt": date(2024, 1, 10),
        "b.txt": date(2024, 2, 1),
        "c.txt": date(2024, 4, 9),  # before Jan 10 + 3 months: with a and b
        "d.txt": date(2024, 4, 10),  # exactly 3 months after a: a new group
        "e.txt": date(2024, 7, 9),  # with d
        "f.txt": date(2024, 12, 1),  # alone: no partner within 3 months
        "short.txt": date(2024, 1, 11),
        "long.txt": date(2024, 1, 12),
        "edge-low.txt": date(2024, 1, 13),
        "unpublished.txt": None,
    }
    words = {"short.txt": 49, "long.txt": 17_501, "edge-low.txt": 50}
    for i, name in enumerate(dates):
        essay(root / name, seed=i, words=words.get(name, 200))
    _photo(root, "photo.jpg", seed=1)  # not a text: not considered
    _scan(db_factory, creator, root, tmp_path / "media")
    assets = _assets(db)
    assert assets["long.txt"].word_count == 17_501
    _publish(db, assets, dates)

    plan = plan_groups(db, creator=creator, reg_type="GRTX")

    assert _rules(plan) == {
        "short": {"word count"},
        "long": {"word count"},
        "f": {"group size"},
        "unpublished": {"publication date"},
    }
    assert [[w.title for w in g.works] for g in plan.groups] == [["a", "edge-low", "b", "c"], ["d", "e"]]
    first = plan.groups[0]
    rows = registration.list_rows(first)
    assert rows[0] == ["No.", "Title", "File name", "Publication date", "Word count"]
    assert rows[1] == [1, "a", "0001-a.txt", "01/10/2024", 200]
    assert rows[2][4] == 50
    _assert_clean(plan)


def test_grtx_splits_at_the_count_limit_and_needs_two(
    db_factory: sessionmaker[Session],
    db: Session,
    creator: CreatorProfile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "works"
    for i in range(3):
        essay(root / f"note-{i}.txt", seed=i, words=120)
    _scan(db_factory, creator, root, tmp_path / "media")
    assets = _assets(db)
    _publish(db, assets, {n: date(2023, 5, i + 1) for i, n in enumerate(sorted(assets))})
    assert [len(g.works) for g in plan_groups(db, creator=creator, reg_type="GRTX").groups] == [3]
    monkeypatch.setattr(registration, "MAX_TEXTS", 2)
    plan = plan_groups(db, creator=creator, reg_type="GRTX")
    assert [[w.title for w in g.works] for g in plan.groups] == [["note-0", "note-1"]]
    (violation,) = plan.violations
    assert (violation.title, violation.rule) == ("note-2", "group size")


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert add_months(date(2022, 11, 30), 3) == date(2023, 2, 28)
    assert add_months(date(2024, 10, 15), 3) == date(2025, 1, 15)


@pytest.mark.parametrize(
    "title",
    [
        *("", "  ", "Untitled", "untitled 3", "UNTITLED-2", "IMG_1234", "img-1234 (1)", "DSC_0042"),
        *(
            "DSCF1234",
            "_DSC1234",
            "P1010001",
            "PXL_20230101_123456789",
            "20210601_083000",
            "photo",
            "Scan 12",
        ),
    ],
)
def test_placeholder_titles(title: str) -> None:
    assert is_placeholder_title(title)


@pytest.mark.parametrize(
    "title", ["Harbour morning", "harbour-0", "p-0", "P-51 Mustang", "1984", "Img of the sea", "Untitled Sea"]
)
def test_real_titles(title: str) -> None:
    assert not is_placeholder_title(title)


# --- lists and deposits --------------------------------------------------------------------------------


def _zip_and_lists(group: Group, store: MediaStore | None, folder: Path) -> tuple[Path, list[list[str]]]:
    folder.mkdir(parents=True)
    with (folder / "list.csv").open("w", encoding="utf-8", newline="") as handle:
        write_list_csv(group, handle)
    write_list_xlsx(group, folder / "list.xlsx")
    write_deposit_zip(group, store=store, path=folder / "deposit.zip")
    with (folder / "list.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return folder / "deposit.zip", rows


def test_deposit_zip_and_lists_match_and_pass_their_own_checks(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    originals = {
        "Harbour, morning": _photo(root, "a.JPG", seed=1),
        "Harbour, morning ": _photo(root, "b.jpeg", seed=2),  # same title after trimming: same slug
        "Øresund bridge — 04:00": _photo(root, "c.jpg", seed=3),
        '=HYPERLINK("http://evil.example")': _photo(root, "d.jpg", seed=4),
    }
    _scan(db_factory, creator, root, tmp_path / "media")
    assets = _assets(db)
    for title, path in originals.items():
        catalog.update_asset(db, asset=assets[path.name], title=title, published_on=date(2022, 8, 1))
    db.commit()
    (group,) = plan_groups(db, creator=creator, reg_type="GRPPH").groups
    names = [w.file_name for w in group.works]
    assert [name[:5] for name in names] == ["0001-", "0002-", "0003-", "0004-"]
    assert sorted(name[5:] for name in names) == [
        "harbour-morning.jpeg",  # the original extension, lower-cased
        "harbour-morning.jpg",  # the same title again: unique through the number
        "hyperlink-http-evil-example.jpg",
        "oresund-bridge-04-00.jpg",
    ]

    deposit, rows = _zip_and_lists(group, MediaStore(tmp_path / "media"), tmp_path / "out" / group.name)

    assert rows[0] == list(COLUMNS["GRPPH"]) == ["No.", "Title", "File name", "Month/Year of publication"]
    assert [row[2] for row in rows[1:]] == names
    assert all(row[3] == "08/2022" for row in rows[1:])
    with zipfile.ZipFile(deposit) as archive:
        assert archive.namelist() == [*names, LIST_NAME]
        by_id = {assets[p.name].id: p for p in originals.values()}
        for work in group.works:
            assert archive.read(work.file_name) == by_id[work.asset_id].read_bytes()
        inner = list(csv.reader(io.StringIO(archive.read(LIST_NAME).decode("utf-8"), newline="")))
        assert inner == rows
    workbook = openpyxl.load_workbook(deposit.parent / "list.xlsx")
    sheet = workbook.active
    assert sheet is not None and sheet.title == "GRPPH-1"
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == list(COLUMNS["GRPPH"])
    assert [[str(v) for v in row] for row in cells] == rows
    formula = next(c for row in sheet.iter_rows() for c in row if str(c.value).startswith("="))
    assert formula.data_type == "s"  # a title, never a formula
    workbook.close()
    assert check_group(group, deposit=deposit) == []


def test_reference_deposits_read_the_current_file_and_refuse_a_changed_one(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    for i in range(3):
        essay(root / f"column-{i}.txt", seed=i, words=150)
    _scan(db_factory, creator, root, None)
    assets = _assets(db)
    _publish(db, assets, {n: date(2024, 3, 1 + i) for i, n in enumerate(sorted(assets))})
    (group,) = plan_groups(db, creator=creator, reg_type="GRTX").groups
    assert {w.storage for w in group.works} == {"reference"}

    deposit, _ = _zip_and_lists(group, None, tmp_path / "out")

    with zipfile.ZipFile(deposit) as archive:
        for work in group.works:
            original = root / f"{work.title}.txt"
            assert archive.read(work.file_name) == original.read_bytes()
    assert check_group(group, deposit=deposit) == []
    (root / "column-1.txt").write_text("rewritten since the scan\n", encoding="utf-8")
    with pytest.raises(DepositError, match="changed since it was catalogued"):
        write_deposit_zip(group, store=None, path=tmp_path / "again.zip")
    assert not (tmp_path / "again.zip").exists() and not (tmp_path / "again.zip.part").exists()
    (root / "column-1.txt").unlink()
    plan = plan_groups(db, creator=creator, reg_type="GRTX")
    assert _rules(plan) == {"column-1": {"deposit file"}}


def test_copied_works_need_the_store(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    _photo(root, "gull.jpg", seed=1)
    _scan(db_factory, creator, root, tmp_path / "media")
    _publish(db, _assets(db), {"gull.jpg": date(2020, 1, 1)})
    (group,) = plan_groups(db, creator=creator, reg_type="GRPPH").groups
    with pytest.raises(DepositError, match="media store"):
        write_deposit_zip(group, store=None, path=tmp_path / "deposit.zip")
    with pytest.raises(DepositError, match="missing from the media store"):
        write_deposit_zip(group, store=MediaStore(tmp_path / "elsewhere"), path=tmp_path / "deposit.zip")


def test_check_group_catches_a_broken_group_and_zip(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tmp_path: Path
) -> None:
    root = tmp_path / "works"
    for i in range(3):
        essay(root / f"piece-{i}.txt", seed=i, words=100)
    _scan(db_factory, creator, root, tmp_path / "media")
    assets = _assets(db)
    _publish(db, assets, {n: date(2024, 5, 1 + i) for i, n in enumerate(sorted(assets))})
    (group,) = plan_groups(db, creator=creator, reg_type="GRTX").groups
    deposit, _ = _zip_and_lists(group, MediaStore(tmp_path / "media"), tmp_path / "out")
    first, second, third = group.works

    late = dataclasses.replace(third, published_on=date(2024, 8, 1), title="Untitled")
    dup = dataclasses.replace(second, file_name=first.file_name)
    broken = dataclasses.replace(group, works=(first, dup, late))
    rules = {(v.asset_id, v.rule) for v in check_group(broken, deposit=deposit)}
    assert (third.asset_id, "date window") in rules
    assert (third.asset_id, "title") in rules
    assert (second.asset_id, "deposit file") in rules  # duplicate name, and its own name not in the list
    assert ("", "deposit file") in rules  # the ZIP holds a file the list lacks

    alone = dataclasses.replace(group, works=(first,))
    assert {v.rule for v in check_group(alone)} == {"group size"}

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(deposit) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            if name != second.file_name:
                target.writestr(name, source.read(name))
        target.writestr("extra.txt", b"not listed")
    problems = check_group(group, deposit=tampered)
    assert {(v.asset_id, v.rule) for v in problems} == {
        (second.asset_id, "deposit file"),
        ("", "deposit file"),
    }


# --- CLI -----------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_export_registration(env: Path, db: Session) -> None:
    root = env / "works"
    for i in range(3):
        _photo(root, f"tide-{i}.jpg", seed=i)
    _png(root / "sketch.png", seed=5)
    result = runner.invoke(app, ["scan", str(root), "--creator", "mira", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assets = _assets(db)
    _publish(
        db, assets, {"tide-0.jpg": date(2021, 5, 1), "tide-1.jpg": date(2021, 9, 30), "sketch.png": None}
    )
    out = env / "registration"

    result = runner.invoke(
        app, ["export", "registration", "--creator", "mira", "--type", "GRPPH", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert "GRPPH groups for Mira Jensen" in result.output
    assert "2021-05-01 – 2021-09-30" in result.output
    assert "tide-2" in result.output and "publication date" in result.output  # unpublished: left out
    assert "sketch" in result.output and "media type" in result.output
    folder = out / "GRPPH-1"
    assert sorted(p.name for p in folder.iterdir()) == ["deposit.zip", "list.csv", "list.xlsx"]
    with zipfile.ZipFile(folder / "deposit.zip") as archive:
        assert archive.namelist() == ["0001-tide-0.jpg", "0002-tide-1.jpg", LIST_NAME]
        assert archive.read(LIST_NAME) == (folder / "list.csv").read_bytes()

    again = runner.invoke(
        app, ["export", "registration", "--creator", "mira", "--type", "GRPPH", "--out", str(out)]
    )
    assert again.exit_code == 1 and "already holds GRPPH-1" in again.output

    none = runner.invoke(
        app, ["export", "registration", "--creator", "mira", "--type", "GRTX", "--out", str(out)]
    )
    assert none.exit_code == 1 and "no valid GRTX group" in none.output
    gruph = runner.invoke(
        app,
        [
            "export",
            "registration",
            "--creator",
            "mira",
            "--type",
            "GRUPH",
            "--out",
            str(out),
            "--author",
            "MJ",
        ],
    )
    assert gruph.exit_code == 0, gruph.output
    assert "GRUPH groups for MJ" in gruph.output and "unpublished" in gruph.output
    assert (out / "GRUPH-1" / "deposit.zip").is_file()
    bad = runner.invoke(
        app, ["export", "registration", "--creator", "mira", "--type", "GRXX", "--out", str(out)]
    )
    assert bad.exit_code == 2
