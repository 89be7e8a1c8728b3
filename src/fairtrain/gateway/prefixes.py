"""IP prefix lists that crawler operators publish, loaded from files, with an O(log n) lookup.

Two file formats, told apart by content, not by name:

- the JSON that Google, OpenAI, Bing, Apple, Perplexity and others publish::

      {"creationTime": "...",
       "prefixes": [{"ipv4Prefix": "66.249.64.0/27"}, {"ipv6Prefix": "2001:4860:4801:10::/64"}]}

- plain text: one CIDR prefix or single address per line; blank lines and ``#`` comments are ignored.

Nothing downloads a list at run time (DESIGN): ``install_prefix_list`` (``fairtrain crawlers prefixes
install``) fetches one only when an operator asks. A list is re-read when its file changes (size
or modification time), checked at most once per ``check_interval`` seconds; a file that fails to parse leaves
the previous list in force and its error in ``PrefixList.error``.
"""

from __future__ import annotations

import bisect
import contextlib
import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from fairtrain.errors import InvalidInput

__all__ = [
    "PREFIX_DIR",
    "SUFFIXES",
    "InvalidPrefixList",
    "PrefixDirectory",
    "PrefixList",
    "PrefixLists",
    "PrefixSet",
    "install_prefix_list",
    "parse_prefix_list",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PREFIX_DIR = "prefixes"  # <data>/prefixes/<name>.json: where installed lists live
SUFFIXES = (".json", ".txt")
"""File name endings ``PrefixLists.from_directory`` reads, each as ``<list name><suffix>``."""


class InvalidPrefixList(InvalidInput):
    """A prefix-list file cannot be read or parsed; the message names the file and the bad entry."""


def _ranges(networks: Iterable[IPNetwork]) -> tuple[list[int], list[int]]:
    """Sorted, merged, non-overlapping [start, end] integer ranges, as two parallel lists."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in networks)
    starts: list[int] = []
    ends: list[int] = []
    for start, end in spans:
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


class PrefixSet:
    """An immutable set of IPv4 and IPv6 prefixes; membership is a binary search per address family."""

    def __init__(self, networks: Iterable[IPNetwork] = ()) -> None:
        nets = list(networks)
        self._v4 = _ranges(n for n in nets if n.version == 4)
        self._v6 = _ranges(n for n in nets if n.version == 6)
        self.count = len(nets)

    def __len__(self) -> int:
        return self.count

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            try:
                address = ipaddress.ip_address(address.strip().split("%", 1)[0])
            except ValueError:
                return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:a.b.c.d from a dual-stack socket is the IPv4 client
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        starts, ends = self._v4 if address.version == 4 else self._v6
        value = int(address)
        index = bisect.bisect_right(starts, value) - 1
        return index >= 0 and value <= ends[index]


def _network(value: object, *, where: str) -> IPNetwork:
    if not isinstance(value, str):
        raise InvalidPrefixList(f"{where}: expected a prefix string, got {type(value).__name__}")
    try:
        # strict=False: a list that writes 66.249.64.1/27 means the /27 that holds it.
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as exc:
        raise InvalidPrefixList(f"{where}: {value!r} is not an IP prefix: {exc}") from None


def _parse_json(data: object, *, origin: str) -> list[IPNetwork]:
    if not isinstance(data, dict) or not isinstance(data.get("prefixes"), list):
        raise InvalidPrefixList(f"{origin}: expected an object with a 'prefixes' array")
    networks: list[IPNetwork] = []
    for index, entry in enumerate(data["prefixes"], start=1):
        where = f"{origin}: prefix {index}"
        if not isinstance(entry, dict):
            raise InvalidPrefixList(f"{where}: expected an object, got {type(entry).__name__}")
        found = [key for key in ("ipv4Prefix", "ipv6Prefix") if key in entry]
        if len(found) != 1:
            raise InvalidPrefixList(f"{where}: expected exactly one of 'ipv4Prefix' or 'ipv6Prefix'")
        network = _network(entry[found[0]], where=where)
        if network.version != (4 if found[0] == "ipv4Prefix" else 6):
            raise InvalidPrefixList(f"{where}: {entry[found[0]]!r} is not an IPv{found[0][3]} prefix")
        networks.append(network)
    return networks


def _parse_text(text: str, *, origin: str) -> list[IPNetwork]:
    networks: list[IPNetwork] = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            networks.append(_network(content, where=f"{origin}: line {number}"))
    return networks


def parse_prefix_list(text: str, *, origin: str = "prefix list") -> PrefixSet:
    """A ``PrefixSet`` from published JSON or a plain CIDR list; ``InvalidPrefixList`` names the bad entry."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidPrefixList(f"{origin}: not valid JSON: {exc}") from None
        networks = _parse_json(data, origin=origin)
    else:
        networks = _parse_text(text, origin=origin)
    if not networks:
        # An empty list would make every real crawler look spoofed; refuse it rather than swap it in.
        raise InvalidPrefixList(f"{origin}: lists no prefixes")
    return PrefixSet(networks)


@dataclass(frozen=True)
class _Loaded:
    prefixes: PrefixSet
    stamp: tuple[int, int]


class PrefixList:
    """One list file, re-read when it changes; the last good version stays in force when a new one is bad."""

    def __init__(
        self,
        path: Path | str,
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.check_interval = check_interval
        self._clock = clock
        self._loaded: _Loaded | None = None
        self._seen: tuple[int, int] | None = None  # stamp of the last file read, good or bad
        self._next_check = float("-inf")
        self._lock = threading.Lock()
        self.error: str | None = None
        """Why the newest version of the file was not loaded (None: it was)."""

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> PrefixSet:
        """Read the file now; raise ``InvalidPrefixList`` (keeping the old list) if it is missing or bad."""
        with self._lock:
            return self._read(self._stamp())

    def _read(self, stamp: tuple[int, int] | None) -> PrefixSet:
        self._seen = stamp
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.error = f"{self.path}: cannot read the prefix list: {exc}"
            raise InvalidPrefixList(self.error) from None
        try:
            prefixes = parse_prefix_list(text, origin=str(self.path))
        except InvalidPrefixList as exc:
            self.error = exc.message
            raise
        self._loaded = _Loaded(prefixes, stamp or (0, 0))
        self.error = None
        return prefixes

    def current(self) -> PrefixSet | None:
        """The list in force, re-read first if the file changed since the last check (None: never loaded)."""
        now = self._clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    self._next_check = now + self.check_interval
                    stamp = self._stamp()
                    if stamp is None:
                        self.error = f"{self.path}: no such file"
                    elif stamp != self._seen:
                        # On error the old list stays; the message is in self.error for status pages and logs.
                        with contextlib.suppress(InvalidPrefixList):
                            self._read(stamp)
        loaded = self._loaded
        return loaded.prefixes if loaded is not None else None

    def contains(self, address: str | IPAddress) -> bool | None:
        """Whether the address is listed; None when no version of the list could be loaded."""
        prefixes = self.current()
        return None if prefixes is None else address in prefixes


class PrefixLists:
    """Prefix lists by the name the crawler registry gives them (``Crawler.ip_prefix_list``)."""

    def __init__(self, lists: Mapping[str, PrefixList] | None = None) -> None:
        self._lists = {name.casefold(): prefix_list for name, prefix_list in (lists or {}).items()}

    @classmethod
    def from_directory(
        cls,
        directory: Path | str,
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> PrefixLists:
        """Every ``<name>.json`` / ``<name>.txt`` in a directory (a missing directory holds none).

        Files are found when this is called; edits to them are picked up later, new files by calling again.
        """
        lists: dict[str, PrefixList] = {}
        root = Path(directory)
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if path.suffix in SUFFIXES and path.is_file() and not path.name.startswith("."):
                    lists.setdefault(path.stem, PrefixList(path, check_interval=check_interval, clock=clock))
        return cls(lists)

    def names(self) -> list[str]:
        return sorted(self._lists)

    def get(self, name: str) -> PrefixList | None:
        return self._lists.get(name.casefold())

    def contains(self, name: str, address: str | IPAddress) -> bool | None:
        """Whether list ``name`` holds the address; None when that list is not configured or not loaded."""
        prefix_list = self.get(name)
        return None if prefix_list is None else prefix_list.contains(address)


class PrefixDirectory:
    """The prefix lists of a directory, re-scanned when files are added or removed (checked at most once per
    ``check_interval`` seconds), so ``fairtrain crawlers prefixes install`` reaches a running server."""

    def __init__(
        self,
        directory: Path | str,
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.check_interval = check_interval
        self._clock = clock
        self._next_check = float("-inf")
        self._seen: tuple[str, ...] | None = None
        self._lists = PrefixLists()
        self._lock = threading.Lock()

    def _names(self) -> tuple[str, ...]:
        try:
            return tuple(sorted(p.name for p in self.directory.iterdir() if p.suffix in SUFFIXES))
        except OSError:
            return ()

    def current(self) -> PrefixLists:
        now = self._clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    self._next_check = now + self.check_interval
                    names = self._names()
                    if names != self._seen:
                        self._seen = names
                        self._lists = PrefixLists.from_directory(
                            self.directory, check_interval=self.check_interval, clock=self._clock
                        )
        return self._lists


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_DOWNLOAD_BYTES = 5_000_000
DOWNLOAD_TIMEOUT = 20.0


def _download(url: str, *, transport: httpx.BaseTransport | None) -> str:
    """GET a published list: https or http, no redirects (a list must come from where the operator says),
    a timeout and a size cap."""
    try:
        with (
            httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False, transport=transport) as client,
            client.stream("GET", url, headers={"Accept": "application/json, text/plain"}) as response,
        ):
            if response.status_code != 200:
                raise InvalidPrefixList(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOWNLOAD_BYTES:
                    raise InvalidPrefixList(f"{url} is larger than {MAX_DOWNLOAD_BYTES:,} bytes")
    except httpx.HTTPError as exc:
        raise InvalidPrefixList(f"cannot download {url}: {exc}") from None
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPrefixList(f"{url} is not UTF-8 text") from None


def install_prefix_list(
    name: str, source: str, *, directory: Path, transport: httpx.BaseTransport | None = None
) -> PrefixSet:
    """Install (or replace) list ``name`` from a file or an http(s) URL, after validating all of it.

    Written atomically as ``<directory>/<name>.json`` or ``.txt`` (by content); on any error the installed
    list stays as it was. Running servers pick it up within a few seconds."""
    if not _NAME.match(name):
        raise InvalidPrefixList(f"{name!r} is not a list name (lower-case letters, digits and dashes)")
    if source.startswith(("http://", "https://")):
        text = _download(source, transport=transport)
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidPrefixList(f"cannot read {source}: {exc}") from None
    prefixes = parse_prefix_list(text, origin=source)
    suffix = ".json" if text.lstrip("\ufeff \t\r\n").startswith(("{", "[")) else ".txt"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for other in SUFFIXES:
        if other != suffix:
            (directory / f"{name}{other}").unlink(missing_ok=True)
    tmp = directory / f".{name}{suffix}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(directory / f"{name}{suffix}")
    return prefixes
