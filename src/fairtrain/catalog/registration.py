"""US Copyright Office group registrations (STANDARDS §9): valid groups, their lists and deposit ZIPs.

``plan_groups`` picks a creator's works for one registration option, names every rule a work breaks (those
works stay out), and splits the rest into groups that meet the option's limits. Each group is written as a
list of works (CSV and XLSX, the columns the Office asks for) and a deposit ZIP whose entry names are the
list's file names; ``check_group`` re-checks a built group, and the ZIP, against every rule.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Literal, TextIO, get_args

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.exports import live_assets
from fairtrain.catalog.models import Asset
from fairtrain.catalog.store import MediaStore
from fairtrain.errors import FairtrainError

__all__ = [
    "COLUMNS",
    "LIST_NAME",
    "MAX_PHOTOS",
    "MAX_TEXTS",
    "MAX_WORDS",
    "MIN_TEXTS",
    "MIN_WORDS",
    "PHOTO_MIMES",
    "REGISTRATION_TYPES",
    "WINDOW_MONTHS",
    "DepositError",
    "Group",
    "RegistrationPlan",
    "RegistrationType",
    "Violation",
    "Work",
    "add_months",
    "check_group",
    "is_placeholder_title",
    "list_rows",
    "plan_groups",
    "write_deposit_zip",
    "write_list_csv",
    "write_list_xlsx",
]

RegistrationType = Literal["GRPPH", "GRUPH", "GRTX"]
REGISTRATION_TYPES: tuple[RegistrationType, ...] = get_args(RegistrationType)

# The Office's limits. Module constants, read at call time, so tests can lower them.
MAX_PHOTOS = 750  # GRPPH and GRUPH
MIN_TEXTS, MAX_TEXTS = 2, 50  # GRTX
MIN_WORDS, MAX_WORDS = 50, 17_500  # GRTX, per work
WINDOW_MONTHS = 3  # GRTX: all first published within this many calendar months
PHOTO_MIMES = frozenset({"image/jpeg", "image/gif", "image/tiff"})

LIST_NAME = "list.csv"  # the list, inside the deposit ZIP
COLUMNS: dict[RegistrationType, tuple[str, ...]] = {
    "GRPPH": ("No.", "Title", "File name", "Month/Year of publication"),
    "GRUPH": ("No.", "Title", "File name"),
    "GRTX": ("No.", "Title", "File name", "Publication date", "Word count"),
}
_KIND: dict[RegistrationType, str] = {"GRPPH": "image", "GRUPH": "image", "GRTX": "text"}

# Rule names, as reported per work.
RULE_MEDIA = "media type"
RULE_PUBLICATION = "publication date"
RULE_UNPUBLISHED = "unpublished"
RULE_AUTHOR = "one author and claimant"
RULE_TITLE = "title"
RULE_WORDS = "word count"
RULE_COUNT = "group size"
RULE_WINDOW = "date window"
RULE_FILE = "deposit file"

# Extensions a deposit file may keep from its original name, per MIME; the first is used otherwise.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe"),
    "image/gif": (".gif",),
    "image/tiff": (".tif", ".tiff"),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text"),
    "text/markdown": (".md", ".markdown"),
    "text/html": (".html", ".htm"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
}
_SLUG_MAX = 60
# Letters that NFKD does not split into a base letter and an accent.
_TRANSLITERATE = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss", "đ": "d", "Đ": "D"}
    | {"ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i"}
)
_SAFE_NAME = re.compile(r"\d{4}-[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]{1,8}")

# Titles that name no work: placeholders, camera and phone file names, bare numbers and timestamps.
_PLACEHOLDER = re.compile(
    r"(?:untitled|no[ _-]?title|unnamed|new[ _-](?:document|file)|document|image|photo|picture|scan)"
    r"(?:[ _-]*\(?\d+\)?)?",
    re.IGNORECASE,
)
_CAMERA_NAME = re.compile(
    r"(?:(?:img|dsc[nf]?|_dsc|dji|gopr|gp|mvimg|pxl|vid|wp|dcp|cimg|sam)[ _-]*\d{3,}|p\d{7})[\d _-]*"
    r"(?:[ _-]*(?:\(\d+\)|copy|edit(?:ed)?|final))*",
    re.IGNORECASE,
)
# Six or more digits and nothing else: a timestamp or counter ("20210601_083000"); "1984" stays a title.
_NUMBERS = re.compile(r"(?=(?:\D*\d){6})[\d _.:-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DepositError(FairtrainError):
    """A deposit could not be written as listed: a file is missing or changed, or the ZIP does not match."""

    code = "deposit_error"


@dataclass(frozen=True)
class Violation:
    """A rule a work breaks and what to do about it; ``asset_id`` is empty for a problem of the ZIP itself."""

    asset_id: str
    title: str
    rule: str
    message: str


@dataclass(frozen=True)
class Work:
    """One line of a registration list and the file behind it."""

    number: int
    asset_id: str
    title: str
    file_name: str
    mime: str
    sha256: str
    size: int
    storage: str  # copy: in the media store under sha256 | reference: at source_path
    source_path: str | None
    published_on: date | None
    word_count: int | None
    rightsholders: int  # how many are recorded; 0 means the creator alone
    claimant: str


@dataclass(frozen=True)
class Group:
    reg_type: RegistrationType
    number: int
    author: str
    claimant: str
    works: tuple[Work, ...]

    @property
    def name(self) -> str:
        return f"{self.reg_type}-{self.number}"

    @property
    def first_published(self) -> date | None:
        return min((w.published_on for w in self.works if w.published_on), default=None)

    @property
    def last_published(self) -> date | None:
        return max((w.published_on for w in self.works if w.published_on), default=None)


@dataclass(frozen=True)
class RegistrationPlan:
    reg_type: RegistrationType
    creator: str
    author: str
    groups: tuple[Group, ...]
    violations: tuple[Violation, ...]


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, clamped to the month's end (Nov 30 + 3 = Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_placeholder_title(title: str) -> bool:
    """True for titles that name no work: "", "Untitled 3", "IMG_1234", "DSC_0042", "20210601_083000"."""
    text = title.strip()
    return not text or any(p.fullmatch(text) for p in (_PLACEHOLDER, _CAMERA_NAME, _NUMBERS))


def _slug(title: str) -> str:
    text = unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
    text = text.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-") or "work"


def _extension(original_filename: str, mime: str) -> str:
    suffix = PurePosixPath(original_filename.replace("\\", "/")).suffix.lower()
    allowed = _EXTENSIONS.get(mime)
    if allowed is None:
        return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ".bin"
    return suffix if suffix in allowed else allowed[0]


def _file_name(number: int, title: str, original_filename: str, mime: str) -> str:
    """``0001-harbour-morning.jpg``: unique through the number, safe on every file system and in a ZIP."""
    return f"{number:04d}-{_slug(title)}{_extension(original_filename, mime)}"


# --- planning -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    asset: Asset
    source_path: str | None
    claimant: str


def _source_path(asset: Asset) -> str | None:
    """A current file with the asset's content, for works recorded by reference rather than copied."""
    for source in sorted(asset.sources, key=lambda s: s.path):
        if source.missing_since is None and source.sha256 == asset.sha256 and Path(source.path).is_file():
            return source.path
    return None


def _claimant(asset: Asset, creator: CreatorProfile, author: str) -> str:
    """The one rightsholder, or the author when none is recorded or the one is the creator."""
    if len(asset.rightsholders) == 1 and asset.rightsholders[0].creator_id != creator.id:
        return asset.rightsholders[0].name
    return author


def _title_problem(title: str) -> str | None:
    if is_placeholder_title(title):
        return "give the work a real title"
    if _CONTROL.search(title):
        return "remove the control characters from the title"
    return None


def _work_problems(
    reg_type: RegistrationType,
    *,
    title: str,
    mime: str,
    published_on: date | None,
    word_count: int | None,
    rightsholders: int,
) -> list[tuple[str, str]]:
    """(rule, message) for every rule one work breaks on its own."""
    problems: list[tuple[str, str]] = []
    if reg_type in ("GRPPH", "GRUPH") and mime not in PHOTO_MIMES:
        problems.append((RULE_MEDIA, "deposit must be JPEG, GIF or TIFF"))
    if reg_type == "GRPPH" and published_on is None:
        problems.append((RULE_PUBLICATION, "GRPPH needs the date of first publication; set published_on"))
    if reg_type == "GRUPH" and published_on is not None:
        problems.append((RULE_UNPUBLISHED, "published works cannot go in an unpublished group"))
    if reg_type == "GRTX":
        if published_on is None:
            problems.append((RULE_PUBLICATION, "GRTX needs the date of first online publication"))
        if word_count is None or not MIN_WORDS <= word_count <= MAX_WORDS:
            counted = "no word count" if word_count is None else f"{word_count:,} words"
            problems.append((RULE_WORDS, f"{counted}; GRTX takes works of {MIN_WORDS:,}–{MAX_WORDS:,} words"))
    if rightsholders > 1:
        problems.append((RULE_AUTHOR, "group registration needs one author and claimant"))
    if (message := _title_problem(title)) is not None:
        problems.append((RULE_TITLE, message))
    return problems


def _asset_violations(reg_type: RegistrationType, candidate: _Candidate) -> list[Violation]:
    asset = candidate.asset
    problems = _work_problems(
        reg_type,
        title=asset.title,
        mime=asset.mime,
        published_on=asset.published_on,
        word_count=asset.word_count,
        rightsholders=len(asset.rightsholders),
    )
    if asset.storage == "reference" and candidate.source_path is None:
        problems.append((RULE_FILE, "the file is no longer where it was scanned; re-scan its folder"))
    return [Violation(asset.id, asset.title, rule, message) for rule, message in problems]


def _partition_key(reg_type: RegistrationType, candidate: _Candidate) -> tuple[str, ...]:
    asset = candidate.asset
    if reg_type == "GRPPH":
        assert asset.published_on is not None
        return (candidate.claimant, f"{asset.published_on.year:04d}")  # one calendar year per group
    if reg_type == "GRTX":
        return (candidate.claimant, asset.mime)  # one deposit format per group
    return (candidate.claimant,)


def _order(candidate: _Candidate) -> tuple[str, str, str]:
    asset = candidate.asset
    published = asset.published_on.isoformat() if asset.published_on else ""
    created = asset.created_at.isoformat() if asset.created_at else ""
    return (published, created, asset.id)


def _chunks(reg_type: RegistrationType, members: Sequence[_Candidate]) -> list[list[_Candidate]]:
    """Consecutive runs that fit the option's count and, for GRTX, its publication window."""
    chunks: list[list[_Candidate]] = []
    current: list[_Candidate] = []
    for candidate in members:
        if current:
            full = len(current) >= (MAX_TEXTS if reg_type == "GRTX" else MAX_PHOTOS)
            outside = False
            if reg_type == "GRTX":
                first, this = current[0].asset.published_on, candidate.asset.published_on
                assert first is not None
                assert this is not None
                outside = not this < add_months(first, WINDOW_MONTHS)
            if full or outside:
                chunks.append(current)
                current = []
        current.append(candidate)
    if current:
        chunks.append(current)
    return chunks


def _group(reg_type: RegistrationType, number: int, author: str, members: Sequence[_Candidate]) -> Group:
    works = []
    for n, candidate in enumerate(members, start=1):
        asset = candidate.asset
        works.append(
            Work(
                number=n,
                asset_id=asset.id,
                title=asset.title,
                file_name=_file_name(n, asset.title, asset.original_filename, asset.mime),
                mime=asset.mime,
                sha256=asset.sha256,
                size=asset.size,
                storage=asset.storage,
                source_path=candidate.source_path if asset.storage == "reference" else None,
                published_on=asset.published_on,
                word_count=asset.word_count,
                rightsholders=len(asset.rightsholders),
                claimant=candidate.claimant,
            )
        )
    return Group(reg_type, number, author, members[0].claimant, tuple(works))


def plan_groups(
    session: Session, *, creator: CreatorProfile, reg_type: RegistrationType, author: str | None = None
) -> RegistrationPlan:
    """Split the creator's eligible works into valid groups; name every rule the others break.

    The author defaults to the creator's legal name, else the display name.
    """
    if reg_type not in REGISTRATION_TYPES:
        raise ValueError(f"unknown registration type {reg_type!r}")
    author = (author or creator.legal_name or creator.display_name).strip()
    violations: list[Violation] = []
    partitions: defaultdict[tuple[str, ...], list[_Candidate]] = defaultdict(list)
    for asset in live_assets(session, creator=creator):
        if asset.kind != _KIND[reg_type]:
            continue
        candidate = _Candidate(asset, _source_path(asset), _claimant(asset, creator, author))
        if problems := _asset_violations(reg_type, candidate):
            violations.extend(problems)
        else:
            partitions[_partition_key(reg_type, candidate)].append(candidate)
    groups: list[Group] = []
    for key in sorted(partitions):
        for chunk in _chunks(reg_type, sorted(partitions[key], key=_order)):
            if reg_type == "GRTX" and len(chunk) < MIN_TEXTS:
                violations.extend(
                    Violation(
                        c.asset.id,
                        c.asset.title,
                        RULE_COUNT,
                        f"GRTX needs {MIN_TEXTS}–{MAX_TEXTS} works first published within "
                        f"{WINDOW_MONTHS} months of each other; no other work fits with this one",
                    )
                    for c in chunk
                )
                continue
            groups.append(_group(reg_type, len(groups) + 1, author, chunk))
    return RegistrationPlan(reg_type, creator.handle, author, tuple(groups), tuple(violations))


# --- checking -----------------------------------------------------------------------------------------


def _count_problem(group: Group) -> str | None:
    count = len(group.works)
    if group.reg_type == "GRTX" and not MIN_TEXTS <= count <= MAX_TEXTS:
        return f"a GRTX group holds {MIN_TEXTS}–{MAX_TEXTS} works, this one {count}"
    if group.reg_type != "GRTX" and not 1 <= count <= MAX_PHOTOS:
        return f"a {group.reg_type} group holds up to {MAX_PHOTOS} photos, this one {count}"
    return None


def _window_problems(group: Group) -> Iterable[tuple[Work, str]]:
    dated = [w for w in group.works if w.published_on is not None]
    if not dated:
        return
    if group.reg_type == "GRPPH":
        years = Counter(w.published_on.year for w in dated if w.published_on)
        year = years.most_common(1)[0][0]
        for work in dated:
            if work.published_on and work.published_on.year != year:
                yield work, f"all photos of a GRPPH group are published in one year ({year})"
    elif group.reg_type == "GRTX":
        first = min(w.published_on for w in dated if w.published_on)
        end = add_months(first, WINDOW_MONTHS)
        for work in dated:
            if work.published_on and not work.published_on < end:
                yield work, f"published after {WINDOW_MONTHS} months from the group's first ({first})"


def _zip_problems(group: Group, deposit: Path) -> list[Violation]:
    names = [w.file_name for w in group.works]
    try:
        with zipfile.ZipFile(deposit) as archive:
            entries = archive.namelist()
            listed = _listed_names(archive.read(LIST_NAME)) if LIST_NAME in entries else None
    except (OSError, zipfile.BadZipFile) as exc:
        return [Violation("", "", RULE_FILE, f"cannot read the deposit {deposit}: {exc}")]
    problems = [
        Violation(w.asset_id, w.title, RULE_FILE, f"{w.file_name} is not in the deposit ZIP")
        for w in group.works
        if w.file_name not in entries
    ]
    for entry in entries:
        if entry != LIST_NAME and entry not in names:
            problems.append(Violation("", "", RULE_FILE, f"the deposit holds {entry}, which the list lacks"))
    if entries.count(LIST_NAME) != 1 or len(entries) != len(set(entries)):
        problems.append(
            Violation("", "", RULE_FILE, f"the deposit needs exactly one {LIST_NAME}, no repeats")
        )
    elif listed != names:
        problems.append(Violation("", "", RULE_FILE, f"the file names in {LIST_NAME} differ from the list"))
    return problems


def _listed_names(data: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    column = rows[0].index("File name") if rows and "File name" in rows[0] else None
    return [] if column is None else [row[column] for row in rows[1:] if len(row) > column]


def check_group(group: Group, *, deposit: Path | None = None) -> list[Violation]:
    """Every rule of the group's option, re-checked on the built group (and its deposit ZIP when given)."""
    violations: list[Violation] = []

    def add(work: Work, rule: str, message: str) -> None:
        violations.append(Violation(work.asset_id, work.title, rule, message))

    if not group.works:
        return [Violation("", "", RULE_COUNT, f"{group.name} holds no works")]
    if (message := _count_problem(group)) is not None:
        for work in group.works:
            add(work, RULE_COUNT, message)
    for work, message in _window_problems(group):
        add(work, RULE_WINDOW, message)
    formats = Counter(w.mime for w in group.works)
    names = Counter(w.file_name for w in group.works)
    for n, work in enumerate(group.works, start=1):
        for rule, message in _work_problems(
            group.reg_type,
            title=work.title,
            mime=work.mime,
            published_on=work.published_on,
            word_count=work.word_count,
            rightsholders=work.rightsholders,
        ):
            add(work, rule, message)
        if work.claimant != group.claimant:
            add(work, RULE_AUTHOR, f"claimant {work.claimant!r} is not the group's ({group.claimant!r})")
        if group.reg_type == "GRTX" and len(formats) > 1 and work.mime != formats.most_common(1)[0][0]:
            add(work, RULE_MEDIA, "a GRTX deposit is in one format")
        if work.number != n:
            add(work, RULE_FILE, f"numbered {work.number} in place {n}")
        if names[work.file_name] > 1:
            add(work, RULE_FILE, f"file name {work.file_name} is used more than once")
        if not _SAFE_NAME.fullmatch(work.file_name) or not work.file_name.startswith(f"{work.number:04d}-"):
            add(work, RULE_FILE, f"file name {work.file_name!r} is not of the form 0001-title.ext")
    if deposit is not None:
        violations.extend(_zip_problems(group, deposit))
    return violations


# --- writing ------------------------------------------------------------------------------------------


def list_rows(group: Group) -> list[list[str | int]]:
    """The list of works under its header, as the Office asks for it (dates as MM/YYYY or MM/DD/YYYY)."""
    rows: list[list[str | int]] = [list(COLUMNS[group.reg_type])]
    for work in group.works:
        row: list[str | int] = [work.number, work.title, work.file_name]
        # A missing date or count stays empty here; check_group names it.
        if group.reg_type == "GRPPH":
            row.append(f"{work.published_on:%m/%Y}" if work.published_on else "")
        elif group.reg_type == "GRTX":
            row.append(f"{work.published_on:%m/%d/%Y}" if work.published_on else "")
            row.append(work.word_count if work.word_count is not None else "")
        rows.append(row)
    return rows


def write_list_csv(group: Group, out: TextIO) -> None:
    """The list as CSV. Open ``out`` with ``newline=""`` when it is a file, as the csv module asks."""
    csv.writer(out).writerows(list_rows(group))


def write_list_xlsx(group: Group, path: Path) -> None:
    """The list as an Excel workbook: one sheet, the same header and rows as the CSV."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = group.name
    for r, row in enumerate(list_rows(group), start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                # openpyxl takes a string starting with "=" for a formula; a title is always text.
                cell.data_type = "s"
            if r == 1:
                cell.font = Font(bold=True)
    for letter, width in zip("ABCDE", (6, 50, 50, 26, 12), strict=False):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    workbook.save(path)


def _work_file(work: Work, store: MediaStore | None) -> Path:
    if work.storage == "reference":
        if work.source_path is None or not Path(work.source_path).is_file():
            raise DepositError(f"{work.title!r} ({work.asset_id}): its file is gone; re-scan its folder")
        return Path(work.source_path)
    if store is None:
        raise DepositError(f"{work.title!r} ({work.asset_id}) is kept in the media store; give the store")
    path = store.path_for(work.sha256)
    if not path.is_file():
        raise DepositError(f"{work.title!r} ({work.asset_id}): {path} is missing from the media store")
    return path


def _zip_info(name: str, day: date | None, *, compress: bool) -> zipfile.ZipInfo:
    # Entries carry the publication date (or the ZIP epoch), not the time of export: same input, same ZIP.
    when = (day.year, day.month, day.day, 0, 0, 0) if day and day.year >= 1980 else (1980, 1, 1, 0, 0, 0)
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def write_deposit_zip(group: Group, *, store: MediaStore | None, path: Path) -> None:
    """One file per work, named as in the list, plus the list as CSV; checked after writing.

    Each file is copied from the media store by SHA-256 (or from its current path when recorded by reference)
    and hashed on the way: a file that changed since the scan is refused, not deposited.
    """
    names = [w.file_name for w in group.works]
    if len(set(names)) != len(names) or LIST_NAME in names:
        raise DepositError(f"{group.name}: file names in the list are not unique")
    partial = path.with_name(path.name + ".part")
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for work in group.works:
                source = _work_file(work, store)
                # JPEG, GIF and TIFF are compressed already; text and PDF shrink.
                compress = not work.mime.startswith("image/")
                info = _zip_info(work.file_name, work.published_on, compress=compress)
                info.file_size = work.size
                digest = hashlib.sha256()
                with source.open("rb") as src, archive.open(info, "w", force_zip64=work.size >= 2**31) as dst:
                    while chunk := src.read(1024 * 1024):
                        digest.update(chunk)
                        dst.write(chunk)
                if digest.hexdigest() != work.sha256:
                    raise DepositError(
                        f"{work.title!r} ({work.asset_id}): {source} changed since it was catalogued; re-scan"
                    )
            listing = io.StringIO()
            write_list_csv(group, listing)
            archive.writestr(_zip_info(LIST_NAME, None, compress=True), listing.getvalue().encode("utf-8"))
        with zipfile.ZipFile(partial) as archive:
            entries = archive.namelist()
            listed = _listed_names(archive.read(LIST_NAME))
        if entries != [*names, LIST_NAME] or listed != names:
            raise DepositError(f"{group.name}: the deposit ZIP's entries do not match the list's file names")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
