from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fairtrain.accounts import service as accounts
from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog import service as catalog
from fairtrain.catalog.exports import (
    EXPORT_FIELDS,
    export_rows,
    percent_1dp,
    portfolio,
    render_portfolio_text,
    share_percent,
    write_csv,
    write_json,
)
from fairtrain.catalog.models import Asset
from fairtrain.catalog.scan import run_scan
from fairtrain.cli import app
from tests.catalog.media import essay, photo

TODAY = date(2025, 6, 15)


@pytest.fixture
def creator(db: Session) -> CreatorProfile:
    creator = accounts.create_creator(db, handle="mira", display_name="Mira")
    db.commit()
    return creator


def _at(year: int, month: int, day: int) -> float:
    return datetime(year, month, day, 12, tzinfo=UTC).timestamp()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Three 2021 photos, one 2022 photo, two essays whose only date is their 2020 file time."""
    root = tmp_path / "works"
    for i in range(3):
        photo(root / f"harbour-{i}.jpg", seed=i, size=(160, 120), exif_date=f"2021:06:0{i + 1} 08:30:00")
    photo(root / "gull.jpg", seed=9, size=(160, 120), exif_date="2022:01:05 10:00:00")
    for i, words in enumerate((120, 80)):
        path = essay(root / f"essay-{i}.txt", seed=100 + i, words=words)
        os.utime(path, (_at(2020, 3, 1), _at(2020, 3, 1)))
    return root


def _scan(factory: sessionmaker[Session], creator: CreatorProfile, root: Path, store: Path | None) -> None:
    summary = run_scan(factory, creator_id=creator.id, roots=[root], store_root=store, workers=1)
    assert summary.counts["new"] > 0
    assert not summary.counts["errors"]


def _assets(db: Session) -> dict[str, Asset]:
    db.expire_all()
    return {a.original_filename: a for a in db.scalars(select(Asset))}


@pytest.fixture
def catalogue(
    db_factory: sessionmaker[Session], db: Session, creator: CreatorProfile, tree: Path, tmp_path: Path
) -> dict[str, Asset]:
    _scan(db_factory, creator, tree, tmp_path / "media")
    assets = _assets(db)
    catalog.create_collection(db, creator=creator, slug="harbour", name="Harbour")
    first = assets["harbour-0.jpg"]
    catalog.update_asset(
        db,
        asset=first,
        title="Harbour, morning",
        description="First light on the pier.",
        published_on=date(2021, 7, 1),
        publication_urls=["https://mira.example/harbour"],
        tags=["sea", "Morning"],
        collections=["harbour"],
    )
    catalog.set_rightsholders(db, asset=first, holders=[("Mira", 5_000, creator.id), ("Ana", 5_000, None)])
    catalog.add_licence(
        db,
        asset=first,
        licence_type="non-exclusive",
        licensee="Acme AI",
        starts_on=date(2025, 1, 1),
        ends_on=TODAY,  # the last day counts
        notes="training only",
    )
    catalog.add_licence(db, asset=assets["harbour-1.jpg"], licence_type="CC-BY-4.0")  # no end
    catalog.add_licence(  # ended yesterday
        db, asset=assets["gull.jpg"], licence_type="exclusive", ends_on=TODAY - timedelta(days=1)
    )
    catalog.add_licence(  # not started yet
        db, asset=assets["essay-0.txt"], licence_type="exclusive", starts_on=TODAY + timedelta(days=1)
    )
    catalog.set_rightsholders(
        db, asset=assets["essay-1.txt"], holders=[("Mira", 6_667, creator.id), ("Ana", 3_333, None)]
    )
    db.commit()
    return _assets(db)


def test_rows_hold_everything_the_catalogue_records(
    db: Session, creator: CreatorProfile, catalogue: dict[str, Asset], tree: Path
) -> None:
    rows = export_rows(db, creator=creator)
    assert len(rows) == 6
    assert all(tuple(row) == EXPORT_FIELDS for row in rows)
    row = next(r for r in rows if r["original_filename"] == "harbour-0.jpg")
    asset = catalogue["harbour-0.jpg"]
    assert row["id"] == asset.id
    assert (row["kind"], row["mime"], row["width"], row["height"]) == ("image", "image/jpeg", 160, 120)
    assert row["size"] == (tree / "harbour-0.jpg").stat().st_size
    assert row["sha256"] == asset.sha256 and row["version"] == 1
    assert (row["title"], row["title_source"]) == ("Harbour, morning", "user")
    assert row["description"] == "First light on the pier."
    assert (row["created_at"], row["created_source"]) == ("2021-06-01T08:30:00+00:00", "exif")
    assert row["published_on"] == "2021-07-01"
    assert row["publication_urls"] == ["https://mira.example/harbour"]
    assert (row["duration_ms"], row["word_count"]) == (None, None)
    assert row["storage"] == "copy"
    assert row["paths"] == [str((tree / "harbour-0.jpg").resolve())]
    assert row["tags"] == ["morning", "sea"]
    assert row["collections"] == ["harbour"]
    assert row["licences"] == [
        {
            "type": "non-exclusive",
            "licensee": "Acme AI",
            "starts_on": "2025-01-01",
            "ends_on": "2025-06-15",
            "notes": "training only",
        }
    ]
    assert row["rightsholders"] == [{"name": "Mira", "share": "50.00"}, {"name": "Ana", "share": "50.00"}]
    fingerprints = row["fingerprints"]
    assert isinstance(fingerprints, dict)
    assert {"phash64", "dhash64", "pdq256"} <= set(fingerprints)
    text = next(r for r in rows if r["original_filename"] == "essay-0.txt")
    assert (text["kind"], text["word_count"], text["created_source"]) == ("text", 120, "file-mtime")
    assert text["rightsholders"] == [] and text["tags"] == [] and text["published_on"] is None


def test_deleted_and_other_creators_assets_are_not_exported(
    db: Session, creator: CreatorProfile, catalogue: dict[str, Asset]
) -> None:
    catalog.delete_asset(db, asset=catalogue["gull.jpg"])
    other = accounts.create_creator(db, handle="ana", display_name="Ana")
    db.commit()
    assert "gull.jpg" not in {r["original_filename"] for r in export_rows(db, creator=creator)}
    assert export_rows(db, creator=other) == []


def test_json_export_round_trips(db: Session, creator: CreatorProfile, catalogue: dict[str, Asset]) -> None:
    rows = export_rows(db, creator=creator)
    buffer = io.StringIO()
    write_json(rows, buffer)
    assert json.loads(buffer.getvalue()) == rows
    assert buffer.getvalue().startswith('[\n  {\n    "collections"')  # indented, keys sorted


def test_csv_export_has_a_header_and_one_readable_line_per_asset(
    db: Session, creator: CreatorProfile, catalogue: dict[str, Asset]
) -> None:
    rows = export_rows(db, creator=creator)
    buffer = io.StringIO(newline="")
    write_csv(rows, buffer)
    reader = csv.DictReader(io.StringIO(buffer.getvalue(), newline=""))
    assert tuple(reader.fieldnames or ()) == EXPORT_FIELDS
    lines = list(reader)
    assert [line["id"] for line in lines] == [r["id"] for r in rows]
    line = next(x for x in lines if x["original_filename"] == "harbour-0.jpg")
    assert line["title"] == "Harbour, morning"  # the comma survives quoting
    assert line["tags"] == "morning | sea"
    assert line["rightsholders"] == "Mira 50.00 % | Ana 50.00 %"
    assert line["licences"] == "non-exclusive to Acme AI (2025-01-01 to 2025-06-15): training only"
    assert "phash64: " in line["fingerprints"] and " | " in line["fingerprints"]
    assert line["width"] == "160" and line["duration_ms"] == ""
    other = next(x for x in lines if x["original_filename"] == "harbour-1.jpg")
    assert other["licences"] == "CC-BY-4.0 (no start to open-ended)"


def test_portfolio_numbers(
    db: Session, creator: CreatorProfile, catalogue: dict[str, Asset], tree: Path
) -> None:
    p = portfolio(db, creator=creator, today=TODAY)
    assert p.assets == 6
    assert p.by_kind == {"image": 4, "text": 2}
    assert p.by_year == {"2020": {"text": 2}, "2021": {"image": 3}, "2022": {"image": 1}}
    assert p.total_bytes == sum(f.stat().st_size for f in tree.iterdir())
    assert (p.total_duration_ms, p.total_words) == (0, 200)
    assert p.earliest == datetime(2020, 3, 1, 12, tzinfo=UTC)
    assert p.latest == datetime(2022, 1, 5, 10, tzinfo=UTC)
    # In force on TODAY: harbour-0 (ends today) and harbour-1 (no end); not the ended or the future one.
    assert (p.licensed, p.licensed_percent) == (2, "33.3")
    assert p.co_owned == 2
    assert portfolio(db, creator=creator, today=TODAY + timedelta(days=1)).licensed == 2  # essay-0 starts
    text = render_portfolio_text(p)
    assert "@mira: 6 works" in text and "licensed now: 2 (33.3 %)" in text
    assert "2021: image 3" in text and "with co-rightsholders: 2" in text
    data = p.as_dict()
    assert data["earliest"] == "2020-03-01T12:00:00+00:00" and data["as_of"] == "2025-06-15"
    json.dumps(data)


def test_portfolio_of_an_empty_catalogue(db: Session, creator: CreatorProfile) -> None:
    p = portfolio(db, creator=creator, today=TODAY)
    assert (p.assets, p.licensed_percent, p.earliest, p.by_year) == (0, "0.0", None, {})
    assert "@mira: 0 works" in render_portfolio_text(p)


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (1, 3, "33.3"),
        (2, 3, "66.7"),
        (1, 8, "12.5"),
        (1, 16, "6.3"),
        (1, 2000, "0.1"),
        (0, 5, "0.0"),
        (7, 7, "100.0"),
    ],
)
def test_percent_is_exact_and_rounds_half_up(part: int, whole: int, expected: str) -> None:
    assert percent_1dp(part, whole) == expected


def test_share_percent() -> None:
    assert [share_percent(bp) for bp in (10_000, 5_000, 3_333, 1, 0)] == [
        "100.00",
        "50.00",
        "33.33",
        "0.01",
        "0.00",
    ]


# --- CLI -----------------------------------------------------------------------------------------------

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_export_and_portfolio(env: Path, tree: Path) -> None:
    _run("scan", str(tree), "--creator", "mira", "--workers", "1")
    rows = json.loads(_run("catalog", "export", "--creator", "mira", "--format", "json"))
    assert len(rows) == 6 and set(rows[0]) == set(EXPORT_FIELDS)
    lines = list(
        csv.DictReader(io.StringIO(_run("catalog", "export", "--creator", "mira", "--format", "csv")))
    )
    assert sorted(line["id"] for line in lines) == sorted(r["id"] for r in rows)
    target = env / "out" / "catalogue.csv"
    target.parent.mkdir()
    _run("catalog", "export", "--creator", "mira", "--format", "csv", "--out", str(target))
    with target.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    text = _run("catalog", "portfolio", "--creator", "mira")
    assert "@mira: 6 works" in text and "by kind: image 4, text 2" in text
    numbers = json.loads(_run("catalog", "portfolio", "--creator", "mira", "--json"))
    assert numbers["assets"] == 6 and numbers["by_year"]["2021"] == {"image": 3}


def test_cli_export_refuses_unknown_creator_and_format(env: Path) -> None:
    result = runner.invoke(app, ["catalog", "export", "--creator", "nobody", "--format", "csv"])
    assert result.exit_code == 1 and "no creator @nobody" in result.output
    result = runner.invoke(app, ["catalog", "export", "--creator", "mira", "--format", "xml"])
    assert result.exit_code == 2
