"""``fairtrain scan``: import folders into a creator's catalogue, incrementally and resumably.

1. List the tree (names and ``stat`` only). A file whose size, mtime and inode match what the last scan
   recorded is unchanged and is not opened.
2. Every other file is probed, fingerprinted and hashed (and copied into the media store) in worker
   processes, a bounded number in flight, so memory does not grow with the tree.
3. Results are committed in small batches (64 files or one second). A scan killed at any point leaves only
   whole rows; the next scan skips what was committed and does the rest.
4. Files that were recorded under the scanned folders but are gone are marked missing, never deleted.
"""

from __future__ import annotations

import os
import stat as stat_module
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.analyse import Analysis, analyse_worker
from fairtrain.catalog.dupes import NearDuplicate, near_duplicates
from fairtrain.catalog.models import AssetSource, Scan
from fairtrain.catalog.service import (
    FileStat,
    ImportIndex,
    Outcome,
    path_key,
    record_import,
    record_scan_error,
)
from fairtrain.catalog.store import MediaStore
from fairtrain.db.base import utcnow
from fairtrain.db.engine import transaction
from fairtrain.errors import InvalidInput

__all__ = ["ScanProgress", "ScanSummary", "run_scan"]

BATCH_FILES = 64  # results per transaction, at most
BATCH_SECONDS = 1.0  # and at most this long between commits


@dataclass
class ScanSummary:
    scan_id: str
    counts: Counter[str] = field(default_factory=Counter)
    total_files: int = 0
    total_bytes: int = 0
    imported: set[str] = field(default_factory=set)  # assets new or changed in this scan
    near_duplicates: list[NearDuplicate] = field(default_factory=list)


class ScanProgress:
    """Hooks a front end (the CLI's progress bar) implements; the default does nothing."""

    def listed(self, files: int, total_bytes: int) -> None: ...

    def advanced(self, path: str, size: int, outcome: str) -> None: ...


@dataclass(frozen=True)
class _Listed:
    stat: FileStat | None
    display_path: str
    error: tuple[str, str] | None = None


def _display(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _walk(root: Path) -> Iterator[_Listed]:
    """Every file under ``root``, or an error entry for what cannot be read. Directory symlinks are not
    followed (no loops); file symlinks are, and a broken or looping one is reported."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield _Listed(None, _display(folder), ("unreadable", f"cannot list the folder: {exc.strerror}"))
            continue
        for entry in entries:
            path = entry.path
            shown = _display(path)
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                yield _Listed(None, shown, ("bad_name", "the file name is not valid UTF-8; rename it"))
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                    continue
                info = Path(path).stat()  # follows a file symlink
            except OSError as exc:
                reason = "symlink_loop" if exc.errno == 40 else "unreadable"
                yield _Listed(None, shown, (reason, exc.strerror or str(exc)))
                continue
            if stat_module.S_ISDIR(info.st_mode):
                continue  # a symlink to a folder: not followed
            if not stat_module.S_ISREG(info.st_mode):
                yield _Listed(None, shown, ("not_a_file", "not a regular file"))
                continue
            if info.st_size == 0:
                yield _Listed(None, shown, ("empty_file", "the file is empty"))
                continue
            yield _Listed(FileStat(path, info.st_size, info.st_mtime_ns, info.st_ino), shown)


def _known_sources(session: Session, creator_id: str) -> dict[str, tuple[int, int, int, int, bool]]:
    rows = session.execute(
        select(
            AssetSource.path,
            AssetSource.id,
            AssetSource.size,
            AssetSource.mtime_ns,
            AssetSource.inode,
            AssetSource.asset_id.is_not(None),
        ).where(AssetSource.creator_id == creator_id)
    )
    return {path: (sid, size, mtime, inode, has_asset) for path, sid, size, mtime, inode, has_asset in rows}


def run_scan(
    factory: sessionmaker[Session],
    *,
    creator_id: str,
    roots: list[Path],
    store_root: Path | None,
    workers: int = 1,
    max_pixels: int = 100_000_000,
    progress: ScanProgress | None = None,
) -> ScanSummary:
    """Scan ``roots`` for ``creator_id``. ``store_root`` None records paths instead of copying (reference)."""
    progress = progress or ScanProgress()
    for root in roots:
        if not root.is_dir():
            raise InvalidInput(f"{root} is not a folder")
    roots = [root.resolve() for root in roots]
    with transaction(factory) as session:
        creator = session.get(CreatorProfile, creator_id)
        if creator is None:
            raise InvalidInput(f"no creator {creator_id}")
        # A scan that was killed never finished: say so, its committed work stays.
        session.execute(
            update(Scan)
            .where(Scan.creator_id == creator_id, Scan.status == "running")
            .values(status="interrupted")
        )
        scan = Scan(
            creator_id=creator_id,
            roots=[str(r) for r in roots],
            storage="reference" if store_root is None else "copy",
        )
        session.add(scan)
        session.flush()
        summary = ScanSummary(scan_id=scan.id)
        known = _known_sources(session, creator_id)
        index = ImportIndex.load(session, creator_id)

    if store_root is not None:
        MediaStore(store_root).remove_orphaned_tmp()
    listed = [item for root in roots for item in _walk(root)]
    summary.total_files = len(listed)
    summary.total_bytes = sum(item.stat.size for item in listed if item.stat)
    progress.listed(summary.total_files, summary.total_bytes)

    unchanged_ids: list[int] = []
    todo: list[FileStat] = []
    with transaction(factory) as session:
        for item in listed:
            if item.error is not None:
                code, message = item.error
                record_scan_error(
                    session,
                    scan_id=summary.scan_id,
                    creator_id=creator_id,
                    path=item.display_path,
                    code=code,
                    message=message,
                )
                summary.counts["errors"] += 1
                progress.advanced(item.display_path, 0, "error")
                continue
            assert item.stat is not None
            seen = known.get(item.stat.path)
            if seen and seen[4] and seen[1:4] == (item.stat.size, item.stat.mtime_ns, item.stat.inode):
                unchanged_ids.append(seen[0])
                summary.counts[Outcome.UNCHANGED] += 1
                progress.advanced(item.stat.path, item.stat.size, Outcome.UNCHANGED)
            else:
                todo.append(item.stat)
        for start in range(0, len(unchanged_ids), 500):
            session.execute(
                update(AssetSource)
                .where(AssetSource.id.in_(unchanged_ids[start : start + 500]))
                .values(last_scan_id=summary.scan_id, missing_since=None)
            )

    batch = _Batch(factory)
    creator_row: CreatorProfile | None = None

    def record(file: FileStat, result: tuple[Analysis | None, str, str]) -> None:
        nonlocal creator_row
        analysis, code, message = result
        session = batch.session()
        if analysis is None:
            record_scan_error(
                session,
                scan_id=summary.scan_id,
                creator_id=creator_id,
                path=_display(file.path),
                code=code,
                message=message,
            )
            # Still seen: a known file that is now broken is not "missing".
            session.execute(
                update(AssetSource)
                .where(AssetSource.creator_id == creator_id, AssetSource.path_key == path_key(file.path))
                .values(last_scan_id=summary.scan_id)
            )
            outcome = "error"
            summary.counts["errors"] += 1
        else:
            if creator_row is None or batch.fresh:
                creator_row = session.get(CreatorProfile, creator_id)
            assert creator_row is not None
            asset, result_outcome = record_import(
                session,
                creator=creator_row,
                analysis=analysis,
                storage="reference" if store_root is None else "copy",
                filename=Path(file.path).name,
                stat=file,
                scan_id=summary.scan_id,
                index=index,
            )
            outcome = result_outcome.value
            summary.counts[outcome] += 1
            if result_outcome in (Outcome.NEW, Outcome.CHANGED):
                summary.imported.add(asset.id)
        batch.done_one()
        progress.advanced(file.path, file.size, outcome)

    store_arg = str(store_root) if store_root is not None else None
    try:
        if workers <= 1:
            for file in todo:
                record(file, analyse_worker(file.path, store_arg, max_pixels))
        else:
            _run_parallel(todo, workers, store_arg, max_pixels, record)
        batch.commit()
    except BaseException:
        batch.rollback()  # the unfinished batch is redone by the next scan
        with transaction(factory) as session:
            scan_row = session.get(Scan, summary.scan_id)
            assert scan_row is not None
            scan_row.status, scan_row.finished_at, scan_row.counts = (
                "interrupted",
                utcnow(),
                dict(summary.counts),
            )
        raise

    with transaction(factory) as session:
        now = utcnow()
        for source in session.scalars(
            select(AssetSource).where(
                AssetSource.creator_id == creator_id,
                AssetSource.missing_since.is_(None),
                (AssetSource.last_scan_id != summary.scan_id) | AssetSource.last_scan_id.is_(None),
            )
        ):
            if (
                any(Path(source.path).is_relative_to(root) for root in roots)
                and not Path(source.path).exists()
            ):
                source.missing_since = now
                summary.counts["missing"] += 1
        if summary.imported:
            summary.near_duplicates = near_duplicates(
                session, creator_id=creator_id, involving=summary.imported
            )
            summary.counts["near_duplicates"] = len(summary.near_duplicates)
        scan_row = session.get(Scan, summary.scan_id)
        assert scan_row is not None
        scan_row.status, scan_row.finished_at, scan_row.counts = "finished", now, dict(summary.counts)
    return summary


class _Batch:
    """Results committed a few at a time: a commit per file would cost more than reading the file.

    A batch closes after ``size`` files or ``seconds``, whichever comes first, so a crash loses at most
    that much finished-but-uncommitted work, which the next scan simply does again.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory, self.size, self.seconds = factory, BATCH_FILES, BATCH_SECONDS
        self._session: Session | None = None
        self._count = 0
        self._opened = 0.0
        self.fresh = True

    def session(self) -> Session:
        if self._session is None:
            self._session = self.factory()
            self._session.begin()
            self._count, self._opened, self.fresh = 0, time.monotonic(), True
        else:
            self.fresh = False
        return self._session

    def done_one(self) -> None:
        self._count += 1
        if self._count >= self.size or time.monotonic() - self._opened >= self.seconds:
            self.commit()

    def commit(self) -> None:
        if self._session is not None:
            try:
                self._session.commit()
            finally:
                self._session.close()
                self._session = None

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
            self._session.close()
            self._session = None


def _run_parallel(
    todo: list[FileStat],
    workers: int,
    store_arg: str | None,
    max_pixels: int,
    record: Callable[[FileStat, tuple[Analysis | None, str, str]], None],
) -> None:
    """Keep at most ``2 * workers`` files in flight, so memory stays flat however big the tree is."""
    import multiprocessing

    # spawn: the parent holds database connections and threads that a fork would copy.
    context = multiprocessing.get_context("spawn")
    pending: dict[Future[tuple[Analysis | None, str, str]], FileStat] = {}
    queue = iter(todo)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            for file in queue:
                pending[pool.submit(analyse_worker, file.path, store_arg, max_pixels)] = file
                if len(pending) >= 2 * workers:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        record(pending.pop(future), future.result())
            for future, file in list(pending.items()):
                record(file, future.result())
                del pending[future]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
