"""Durable, batched metering: every licensed use and every pay-per-crawl charge, and the analytics counters.

Two kinds of record, with two promises:

- **Acknowledged work** — a licensed use (``billing_usage_events``) or a charge (``billing_crawl_charges``).
  :meth:`Meter.record` returns only once the record is committed; the gateway sends the response (with
  ``crawler-charged``) after that, so an acknowledged charge is never lost, whatever crashes later. The writes
  are *group commits*: one writer thread takes everything queued since its last commit and writes it in one
  transaction, so a thousand concurrent requests cost one commit, not a thousand, and no request waits for
  more than the commit in progress plus its own. If the commit fails, every request in it gets an error
  (503) and nothing was charged. Each record carries its request id, unique in its table, so a batch that is
  retried never counts twice.
- **Counters** — requests, refusals, quotes, bytes and paths for the crawler analytics. These are added up in
  memory as they come (an :class:`~fairtrain.gateway.analytics.Tally`: one entry per day, crawler, class and
  path, not per request) and written every ``flush_seconds`` (and at shutdown), a handful of rows at a time.
  A crash loses at most that long of counts, and never a charge or a licensed use.

On SQLite the writer's connection commits with ``synchronous=FULL``: a commit survives a power cut, not only a
crash of the process. One meter per worker process; it owns a daemon thread and is closed by the app's
lifespan (``close`` writes what is left).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.db.base import utcnow
from fairtrain.gateway.analytics import Hit, Tally, record_tally
from fairtrain.licensing.billing import UsageEventDraft, record_usage_events
from fairtrain.licensing.billing_models import CrawlCharge

__all__ = ["ChargeDraft", "Meter", "MeterUnavailable"]

log = logging.getLogger(__name__)


class MeterUnavailable(Exception):
    """The record could not be committed: the request must fail (503) and nothing is charged."""


@dataclass(frozen=True, slots=True)
class ChargeDraft:
    """One pay-per-crawl charge, as the gateway decides it (see :class:`CrawlCharge`)."""

    request_id: str
    org_id: str
    crawler_account_id: str | None
    crawler: str
    creator_id: str
    asset_id: str
    path: str
    price_micros: int
    currency: str
    bytes: int
    occurred_at: Any  # datetime, aware UTC


@dataclass(slots=True)
class _Item:
    record: UsageEventDraft | ChargeDraft
    done: concurrent.futures.Future[None]


_STOP = object()
CHECKPOINT_SECONDS = 1.0
_FLUSH = object()


def _full_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=FULL")
    # No checkpoint inside a group commit (copying the log into the database and syncing it took ~0.1 s,
    # and every request waiting on that commit waited for it too): the meter's checkpointer thread does it.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class Meter:
    """One worker's meter: ``await record(...)`` for acknowledged work, ``count(hit)`` for counters."""

    def __init__(
        self,
        engine: Engine,
        *,
        flush_seconds: float = 1.0,
        max_batch: int = 2000,
        max_paths: int = 50_000,
    ) -> None:
        self._own_engine: Engine | None = None
        self._lock_path: Path | None = None
        if engine.dialect.name == "sqlite":
            # The writer's own connections commit durably (the app's other connections use NORMAL).
            engine = self._own_engine = _with_full_sync(engine)
            if engine.url.database and engine.url.database != ":memory:":
                self._lock_path = Path(f"{engine.url.database}.meter-lock")
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.max_paths = max_paths
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._tally = Tally(max_paths=max_paths)
        self._tally_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self.committed = 0  # acknowledged records written, for benchmarks and tests
        self.commits = 0
        self.hits_written = 0
        self.hits_dropped = 0  # counts lost to a failed write
        self.paths_dropped = 0  # hits left out of the per-path counts (too many distinct paths at once)

    # --- the request side -------------------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fairtrain-meter", daemon=True)
                self._thread.start()
                if self._own_engine is not None and self._checkpointer is None:
                    self._checkpointer = threading.Thread(
                        target=self._checkpoint, name="fairtrain-meter-checkpoint", daemon=True
                    )
                    self._checkpointer.start()

    def _checkpoint(self) -> None:
        """On SQLite: copy the write-ahead log into the database every second, beside the writer (a
        PASSIVE checkpoint waits for no reader or writer), so commits never do it themselves."""
        engine = self._own_engine
        assert engine is not None
        while not self._stopping.wait(CHECKPOINT_SECONDS):
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:
                log.exception("metering: a write-ahead log checkpoint failed; the next one will retry")

    def submit(self, record: UsageEventDraft | ChargeDraft) -> concurrent.futures.Future[None]:
        """Queue an acknowledged record; the future completes once it is committed (or fails)."""
        self._ensure_started()
        item = _Item(record, concurrent.futures.Future())
        self._queue.put(item)
        return item.done

    async def record(self, record: UsageEventDraft | ChargeDraft) -> None:
        """Commit ``record`` durably, sharing the commit with whatever else is queued; raises
        :class:`MeterUnavailable` when it could not be written."""
        await asyncio.wrap_future(self.submit(record))

    def count(self, hit: Hit, at: datetime | None = None) -> None:
        """Add one request to the analytics counters (written on the next flush); ``at``: when it came, if
        not ``hit.at`` (a request answered like an earlier one is counted like it)."""
        with self._tally_lock:
            self._tally.add(hit, at)
        self._ensure_started()

    def flush(self, timeout: float = 30.0) -> None:
        """Write everything queued and counted so far, and wait for it (tests, shutdown, benchmarks)."""
        self._ensure_started()
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((_FLUSH, done))
        done.result(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is left and stop the writer thread (a later record starts a new one)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            checkpointer, self._checkpointer = self._checkpointer, None
            if thread is not None:
                self._queue.put(_STOP)
                thread.join(timeout)
            if checkpointer is not None:
                self._stopping.set()
                checkpointer.join(timeout)
                self._stopping.clear()
        if self._own_engine is not None:
            self._own_engine.dispose()

    # --- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        next_hits = time.monotonic() + self.flush_seconds
        while True:
            wait = max(0.0, next_hits - time.monotonic())
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                first = None
            batch: list[_Item] = []
            flushes: list[concurrent.futures.Future[None]] = []
            stop = False
            pending = [first] if first is not None else []
            while len(batch) < self.max_batch:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for entry in pending:
                if entry is _STOP:
                    stop = True
                elif isinstance(entry, tuple) and entry[0] is _FLUSH:
                    flushes.append(entry[1])
                elif isinstance(entry, _Item):
                    batch.append(entry)
            if batch:
                self._commit(batch)
            if flushes or stop or time.monotonic() >= next_hits:
                self._write_counters()
                next_hits = time.monotonic() + self.flush_seconds
            for done in flushes:
                done.set_result(None)
            if stop:
                self._drain_after_stop()
                return

    def _drain_after_stop(self) -> None:
        rest: list[_Item] = []
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(entry, _Item):
                rest.append(entry)
            elif isinstance(entry, tuple) and entry[0] is _FLUSH:
                entry[1].set_result(None)
        if rest:
            self._commit(rest)
        self._write_counters()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        """A transaction of this meter. On SQLite, the workers' meters take turns through a lock file first:
        SQLite's own busy handler sleeps up to 100 ms between tries, which would stall every request
        waiting on a group commit whenever two workers commit at once; the file lock wakes the next one
        as soon as the other is done."""
        with contextlib.ExitStack() as stack:
            if self._lock_path is not None:
                handle = stack.enter_context(self._lock_path.open("a+b"))
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file is closed
            yield stack.enter_context(self._sessions.begin())

    def _commit(self, batch: list[_Item]) -> None:
        try:
            with self._writing() as session:
                usage = [item.record for item in batch if isinstance(item.record, UsageEventDraft)]
                charges = [item.record for item in batch if isinstance(item.record, ChargeDraft)]
                if usage:
                    record_usage_events(session, usage)
                if charges:
                    session.execute(insert(CrawlCharge), [_fields(charge) for charge in charges])
        except Exception as exc:
            log.exception("metering: a batch of %d records could not be committed", len(batch))
            error = MeterUnavailable(f"metering is unavailable: {type(exc).__name__}")
            for item in batch:
                item.done.set_exception(error)
            return
        self.committed += len(batch)
        self.commits += 1
        for item in batch:
            item.done.set_result(None)

    def _write_counters(self) -> None:
        with self._tally_lock:
            tally, self._tally = self._tally, Tally(max_paths=self.max_paths)
        if not tally.hits:
            return
        try:
            with self._writing() as session:
                record_tally(session, tally)
        except Exception:
            # Counters are best effort: keep serving, say so in the log, drop this batch.
            log.exception("metering: %d analytics counts could not be written", tally.hits)
            self.hits_dropped += tally.hits
            return
        self.hits_written += tally.hits
        self.paths_dropped += tally.paths_dropped


def _fields(charge: ChargeDraft) -> dict[str, Any]:
    fields = {name: getattr(charge, name) for name in ChargeDraft.__slots__}
    fields["created_at"] = utcnow()
    return fields


def _with_full_sync(engine: Engine) -> Engine:
    from fairtrain.db.engine import make_engine

    durable = make_engine(str(engine.url.render_as_string(hide_password=False)))
    event.listen(durable, "connect", _full_sync)
    return durable
