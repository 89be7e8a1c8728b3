"""What the gateway knows about a work while serving it, and the files it serves.

Three files can stand for a work:

- the **preview**: a downsized JPEG of the protected derivative with the creator's handle stamped visibly on
  it, made once per derivative and kept under ``<data>/previews``; public for public and subscriber works;
- the **protected derivative** (``stamp``): full size, with rights metadata, C2PA manifest and invisible
  watermark; what subscribers, licensed clients and paying crawlers get. Made on first need when the creator
  has not protected the work yet;
- the **original**: only for its owner (and operators). Audio and video have no protected form yet: their
  full-size file is the original, served under the same rules as a derivative.

Facts about a work (access level, collections, policy, signal headers) are read once and kept for
``ttl`` seconds per worker, so a busy work costs no database query per request.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Generic, TypeVar

from PIL import Image, ImageOps
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts.models import CreatorProfile
from fairtrain.catalog.models import Asset
from fairtrain.catalog.service import asset_file
from fairtrain.rights.policy import EffectivePolicy, effective_policy
from fairtrain.rights.service import creator_signals
from fairtrain.rights.signals import html_tags, response_headers
from fairtrain.stamp.service import (
    IMAGE_MIMES,
    TEXT_MIMES,
    ProtectionContext,
    current_protection,
    protect_asset,
)
from fairtrain.stamp.visible import VisibleMark, apply_visible

__all__ = ["MEMORY_FILE_MAX_BYTES", "FileBodies", "ServedFile", "TTLCache", "Work", "WorkFiles", "load_work"]

log = logging.getLogger(__name__)
K = TypeVar("K")
# Refreshes of expired cache entries, shared by every cache of the process: a few threads, so thousands of
# entries expiring together queue up instead of starting a thread each.
_REFRESHERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fairtrain-cache")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A small thread-safe cache whose entries expire after ``ttl`` seconds (LRU beyond ``max_entries``).

    ``get(key, reload=...)`` serves an expired entry once more while ``reload`` runs on a thread of its own
    (one per key at a time) and replaces it: when a busy entry expires, the requests that need it go on
    at once instead of all querying the database together. An entry is never served more than
    ``max_stale`` seconds past its expiry.
    """

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        max_stale: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_stale = max_stale
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._reloading: set[K] = set()
        self._lock = threading.Lock()

    def get(self, key: K, *, reload: Callable[[], V | None] | None = None) -> V | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            expires, value = found
            now = self._clock()
            if expires > now:
                self._data.move_to_end(key)
                return value
            if reload is None or now - expires > self.max_stale:
                del self._data[key]
                return None
            if key in self._reloading:
                return value
            self._reloading.add(key)
        _REFRESHERS.submit(self._reload, key, reload)
        return value

    def _reload(self, key: K, reload: Callable[[], V | None]) -> None:
        try:
            value = reload()
        except Exception:
            log.exception("refreshing a gateway cache entry failed; it is served until it is too stale")
            with self._lock:
                self._reloading.discard(key)
            return
        with self._lock:
            self._reloading.discard(key)
            if value is None:
                self._data.pop(key, None)
        if value is not None:
            self.put(key, value)

    def put(self, key: K, value: V) -> V:
        if self.ttl <= 0:
            return value
        with self._lock:
            self._data[key] = (self._clock() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@dataclass(frozen=True, slots=True)
class Work:
    """One work as the door sees it."""

    id: str
    creator_id: str
    handle: str
    display_name: str
    title: str
    description: str
    kind: str
    mime: str
    access: str  # private | public | subscribers
    collection_ids: frozenset[str]
    sha256: str
    size: int
    width: int | None
    height: int | None
    policy: EffectivePolicy
    signal_headers: dict[str, str]
    html_tags: list[dict[str, str]]
    license_url: str
    # The signal headers as an ASGI server sends them, encoded once per work rather than once per request.
    raw_signal_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = tuple(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.signal_headers.items()
        )
        object.__setattr__(self, "raw_signal_headers", raw)

    @property
    def path(self) -> str:
        return f"/@{self.handle}/works/{self.id}"

    def media_path(self, variant: str) -> str:
        return f"/media/{self.id}/{variant}"


def load_work(session: Session, asset_id: str, *, base_url: str) -> Work | None:
    """The work with this id, or None when there is none (or it was deleted)."""
    asset = session.get(Asset, asset_id) if _plausible_id(asset_id) else None
    if asset is None or asset.deleted_at is not None:
        return None
    creator: CreatorProfile = asset.creator
    site, own = creator_signals(session, base_url=base_url, creator=creator)
    # The asset's own policy may be stricter than its creator's: the headers speak for the work served.
    own_for_work = type(own)(own.handle, own.display_name, effective_policy(session, asset=asset))
    return Work(
        id=asset.id,
        creator_id=creator.id,
        handle=creator.handle,
        display_name=creator.display_name,
        title=asset.title,
        description=asset.description,
        kind=asset.kind,
        mime=asset.mime,
        access=asset.access,
        collection_ids=frozenset(c.id for c in asset.collections),
        sha256=asset.sha256,
        size=asset.size,
        width=asset.width,
        height=asset.height,
        policy=own_for_work.policy,
        signal_headers=response_headers(site, own_for_work),
        html_tags=html_tags(site, own_for_work),
        license_url=f"{base_url.rstrip('/')}/@{creator.handle}/license.xml",
    )


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _plausible_id(asset_id: str) -> bool:
    """Cheap shape check before a lookup: ``ast_`` and lower-case base32 (no path tricks reach the DB)."""
    return asset_id.startswith("ast_") and 4 < len(asset_id) <= 32 and set(asset_id) <= _ID_CHARS


MEMORY_FILE_MAX_BYTES = 1 << 20  # larger files are always streamed from disk


class FileBodies:
    """The contents of the most-served small files, kept in memory (least recently used dropped beyond
    ``max_bytes``); thread-safe.

    Keyed by path *and* stat (size, modification time, inode): the store's files are content-addressed and
    never change, but should one be replaced, the new stat misses and the old bytes are never served."""

    def __init__(self, max_bytes: int, *, max_file_bytes: int = MEMORY_FILE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.max_file_bytes = min(max_file_bytes, max_bytes)
        self.size = 0
        self._data: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: Path, stat: os.stat_result) -> tuple[str, int, int, int]:
        return (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)

    def get(self, served: ServedFile) -> bytes | None:
        """The file's bytes if kept (never touches the disk)."""
        if served.stat is None or served.size > self.max_file_bytes:
            return None
        key = self._key(served.path, served.stat)
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self._data.move_to_end(key)
            return body

    def load(self, served: ServedFile) -> bytes | None:
        """Read a small file into memory (blocking: call it off the event loop); None when it is too large,
        gone, or changed since ``served.stat`` was taken."""
        if served.stat is None or served.size > self.max_file_bytes:
            return None
        found = self.get(served)
        if found is not None:
            return found
        try:
            with served.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                body = handle.read(self.max_file_bytes + 1)
        except OSError:
            return None
        key = self._key(served.path, served.stat)
        if self._key(served.path, stat) != key or len(body) != stat.st_size:
            return None  # replaced under us: let the disk path answer from the file as it is now
        with self._lock:
            if key not in self._data:
                self._data[key] = body
                self.size += len(body)
                while self.size > self.max_bytes:
                    _, dropped = self._data.popitem(last=False)
                    self.size -= len(dropped)
        return body


@dataclass(frozen=True, slots=True)
class ServedFile:
    path: Path
    media_type: str
    etag: str  # the content's SHA-256 (previews: the derivative's and the preview size)
    size: int
    # Taken once: the files are content-addressed and never change, so serving needs no stat per request.
    stat: os.stat_result | None = None
    last_modified: str = ""  # the stat's modification time as an HTTP date


class WorkFiles:
    """Finds (and makes, on first need) the files that stand for works; thread-safe, one per app."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        context: ProtectionContext,
        previews_dir: Path,
        preview_size: int,
        ttl: float,
        memory_bytes: int = 0,
    ) -> None:
        self._sessions = sessions
        self.bodies = FileBodies(memory_bytes)
        self.context = context
        self.previews_dir = previews_dir
        self.preview_size = preview_size
        self._files: TTLCache[tuple[str, str], ServedFile] = TTLCache(ttl)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def cached(self, asset_id: str, variant: str) -> ServedFile | None:
        """The file already found for a work and variant (no disk or database access), or None."""
        return self._files.get((asset_id, variant))

    def _lock(self, asset_id: str) -> threading.Lock:
        with self._locks_lock:
            if len(self._locks) > 10_000:
                self._locks.clear()
            return self._locks.setdefault(asset_id, threading.Lock())

    def full(self, work: Work) -> ServedFile | None:
        """The full-size file for people and clients allowed to see it (never the original of an image
        or text, which has a protected form)."""
        found = self._files.get((work.id, "full"))
        if found is not None:
            return found
        if work.mime not in IMAGE_MIMES + TEXT_MIMES:
            return self._remember(work.id, "full", self._original(work))
        with self._lock(work.id), self._sessions.begin() as session:
            protected = current_protection(session, work.id)
            if protected is None or not self.context.store.has(protected.sha256):
                asset = session.get(Asset, work.id)
                if asset is None:
                    return None
                protected = protect_asset(session, asset=asset, context=self.context).protected
            if protected is None:
                return None
            served = ServedFile(
                self.context.store.path_for(protected.sha256),
                protected.mime,
                protected.sha256,
                protected.size,
            )
        return self._remember(work.id, "full", served)

    def original(self, work: Work) -> ServedFile | None:
        found = self._files.get((work.id, "original"))
        return found if found is not None else self._remember(work.id, "original", self._original(work))

    def _original(self, work: Work) -> ServedFile | None:
        with self._sessions() as session:
            asset = session.get(Asset, work.id)
            path = asset_file(asset, store_root=self.context.media_dir) if asset is not None else None
        if path is None:
            return None
        return ServedFile(path, work.mime, work.sha256, work.size)

    def preview(self, work: Work) -> ServedFile | None:
        """The public preview of an image work (None for other kinds)."""
        if work.kind != "image" or work.mime not in IMAGE_MIMES:
            return None
        found = self._files.get((work.id, "preview"))
        if found is not None:
            return found
        full = self.full(work)
        if full is None:
            return None
        target = self.previews_dir / full.etag[:2] / f"{full.etag}-{self.preview_size}.jpg"
        if not target.is_file():
            with self._lock(work.id):
                if not target.is_file():
                    _make_preview(full.path, target, size=self.preview_size, handle=work.handle)
        served = ServedFile(
            target, "image/jpeg", f"{full.etag[:48]}-p{self.preview_size}", target.stat().st_size
        )
        return self._remember(work.id, "preview", served)

    def _remember(self, asset_id: str, variant: str, served: ServedFile | None) -> ServedFile | None:
        if served is None:
            return None
        try:
            stat = served.path.stat()
        except OSError:
            return None  # gone from the store: not servable, and not remembered
        modified = formatdate(stat.st_mtime, usegmt=True)
        served = ServedFile(served.path, served.media_type, served.etag, stat.st_size, stat, modified)
        self.bodies.load(served)  # this runs off the event loop already: serving it later reads no disk
        self._files.put((asset_id, variant), served)
        return served


def _make_preview(source: Path, target: Path, *, size: int, handle: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked at import
        with Image.open(source) as image:
            image.draft("RGB", (size * 2, size * 2))
            small = ImageOps.exif_transpose(image).convert("RGB")
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    marked = apply_visible(small, VisibleMark(text=f"@{handle} · preview", opacity=55, scale=40))
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")  # one per writer
    marked.convert("RGB").save(tmp, "JPEG", quality=82, optimize=True)
    tmp.replace(target)
