"""The crawler registry: every known AI agent and search engine, what it is for, and how to verify it.

Three layers, later ones winning by name (case-insensitively, as robots.txt matches user agents):

1. the built-in list shipped in the package (``data/crawlers.json``, see ``data/README.md``);
2. an installed list at ``<data_dir>/crawlers.json``, written by ``fairtrain crawlers update``, which replaces
   the built-in one whole;
3. the operator's own entries at ``<data_dir>/crawlers.local.json`` (``fairtrain crawlers add``).

A list is validated in full before it replaces anything, and files are replaced atomically, so a bad list or
an interrupted download never leaves the registry empty or half-written.

A user-agent string is only a hint (STANDARDS §3): the verification fields say how an operator lets you check
that a request really comes from its crawler. Nothing here touches the network except ``update_from`` with an
http(s) URL, which an operator runs on purpose.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fairtrain.config import Settings
from fairtrain.errors import InvalidInput, NotFound

__all__ = [
    "DOCUMENT_VERSION",
    "INSTALLED_FILE",
    "LOCAL_FILE",
    "PURPOSES",
    "Crawler",
    "CrawlerNotFound",
    "CrawlerRegistry",
    "InvalidCrawlerList",
    "Purpose",
    "add_local",
    "builtin_crawlers",
    "from_robots_json",
    "guess_purpose",
    "remove_local",
    "update_from",
    "validate_document",
]

Purpose = Literal["training", "ai-input", "search", "user-fetch", "unknown"]
PURPOSES: tuple[Purpose, ...] = get_args(Purpose)
DOCUMENT_VERSION = 1
INSTALLED_FILE = "crawlers.json"
LOCAL_FILE = "crawlers.local.json"
REGEX_PREFIX = "re:"
MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024
DOWNLOAD_TIMEOUT = 30.0
_MAX_REDIRECTS = 5
_ROBOTS_JSON_KEYS = frozenset({"operator", "respect", "function", "frequency", "description"})


class InvalidCrawlerList(InvalidInput):
    """A crawler list (file, download or entry) is not valid; the message names the bad entry."""


class CrawlerNotFound(NotFound):
    """No operator-added crawler has that name."""


class Crawler(BaseModel):
    """One agent: a robots.txt user-agent token and what is known about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, description="The user-agent token, as in robots.txt.")
    operator: str = Field("unknown", max_length=200, description="Who runs it.")
    purpose: Purpose = "unknown"
    respects_robots_txt: bool | None = Field(None, description="None: not known, or up to its users.")
    token_only: bool = Field(False, description="A robots.txt product token that no crawler sends.")
    description: str = Field("", max_length=2000)
    user_agent_patterns: list[str] = Field(
        default_factory=list,
        description="Tokens found in the User-Agent header (case-insensitive, whole words), or regular "
        "expressions prefixed `re:`. Default: the name.",
    )
    rdns_suffixes: list[str] = Field(default_factory=list, description="Forward-confirmed reverse DNS.")
    ip_prefix_list: str | None = Field(None, description="Name of the operator's published IP prefix list.")
    ip_prefix_list_url: str | None = Field(None, description="Where the operator publishes that list.")
    web_bot_auth: bool = Field(False, description="The operator documents Web Bot Auth request signing.")
    source: Literal["builtin", "operator"] = "builtin"

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in "\r\n\t#:") or not value.isprintable():
            raise ValueError("a name is a robots.txt user-agent token: no tabs, newlines, '#' or ':'")
        return value

    @field_validator("user_agent_patterns")
    @classmethod
    def _check_patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not value.strip():
                raise ValueError("a user-agent pattern is empty")
            if value.startswith(REGEX_PREFIX):
                try:
                    compiled = re.compile(value[len(REGEX_PREFIX) :], re.IGNORECASE)
                except re.error as exc:
                    raise ValueError(f"pattern {value!r} is not a valid regular expression: {exc}") from None
                if compiled.groups:
                    raise ValueError(f"pattern {value!r} has a capturing group; use (?:...)")
                if compiled.match(""):
                    raise ValueError(f"pattern {value!r} matches the empty string")
        return values

    @field_validator("rdns_suffixes")
    @classmethod
    def _check_rdns(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip().strip(".").lower() for v in values]
        for value in cleaned:
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", value):
                raise ValueError(f"{value!r} is not a domain name suffix")
        return cleaned

    @field_validator("ip_prefix_list_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme != "https":
            raise ValueError(f"{value!r} is not an https URL")
        return value

    @property
    def patterns(self) -> list[str]:
        return self.user_agent_patterns or [self.name]

    @property
    def verification(self) -> list[str]:
        """How a request can be verified, in words (empty: by user agent only)."""
        ways = []
        if self.web_bot_auth:
            ways.append("Web Bot Auth")
        if self.ip_prefix_list:
            ways.append(f"IP list {self.ip_prefix_list}")
        if self.rdns_suffixes:
            ways.append("rDNS " + ", ".join(self.rdns_suffixes))
        return ways


def _key(name: str) -> str:
    return name.casefold()


def _pattern_regex(pattern: str) -> str:
    if pattern.startswith(REGEX_PREFIX):
        return pattern[len(REGEX_PREFIX) :]
    # A token counts only as a whole word, and not as part of a host name: `Spider` must not match inside
    # `Baiduspider`, nor `OpenAI` inside the `+https://openai.com/gptbot` that GPTBot's header carries.
    return rf"(?<![A-Za-z0-9]){re.escape(pattern.strip())}(?![A-Za-z0-9]|\.[A-Za-z0-9])"


class CrawlerRegistry:
    """The merged crawler list, with one precompiled regular expression for matching User-Agent headers."""

    def __init__(self, crawlers: Iterable[Crawler]) -> None:
        by_key: dict[str, Crawler] = {}
        for crawler in crawlers:
            by_key[_key(crawler.name)] = crawler  # later entries win
        self._crawlers = sorted(by_key.values(), key=lambda c: _key(c.name))
        self._by_key = {_key(c.name): c for c in self._crawlers}
        self._owners: dict[str, Crawler] = {}
        alternatives: list[tuple[int, str, str, str | None]] = []
        for crawler in self._crawlers:
            if crawler.token_only and not crawler.user_agent_patterns:
                continue  # nothing sends it
            for pattern in crawler.patterns:
                group = f"p{len(self._owners)}"
                self._owners[group] = crawler
                regex = pattern.startswith(REGEX_PREFIX)
                needle = None if regex else pattern.strip().lower()
                alternatives.append((0 if regex else len(pattern), group, _pattern_regex(pattern), needle))
        # Longer tokens first, so at one position `Googlebot-Image` is tried before `Googlebot`.
        alternatives.sort(key=lambda item: -item[0])
        # One alternation over all ~200 tokens costs ~1.5 ms a header (every token is tried at every
        # position). Instead a plain substring test picks the few tokens that occur at all, and only their
        # expressions run; regex patterns have no literal to look for, so they always do.
        self._candidates = [
            (needle, group, re.compile(regex, re.IGNORECASE)) for _, group, regex, needle in alternatives
        ]

    @classmethod
    def load(cls, source: Settings | Path | str) -> CrawlerRegistry:
        """Built-in (or installed) list plus the operator's entries, from settings or a data directory."""
        data_dir = Path(source.data_dir if isinstance(source, Settings) else source)
        installed = data_dir / INSTALLED_FILE
        base = _read_list(installed) if installed.exists() else builtin_crawlers()
        local = data_dir / LOCAL_FILE
        return cls([*base, *(_read_list(local) if local.exists() else [])])

    @classmethod
    def current(cls, data_dir: Path) -> CrawlerRegistry:
        """``load``, reused while neither the installed nor the operator's file changes (for serving)."""

        def stamp(path: Path) -> int:
            try:
                return path.stat().st_mtime_ns
            except FileNotFoundError:
                return -1

        return _cached_registry(data_dir, stamp(data_dir / INSTALLED_FILE), stamp(data_dir / LOCAL_FILE))

    @property
    def crawlers(self) -> list[Crawler]:
        """Every entry, sorted by name."""
        return list(self._crawlers)

    def __len__(self) -> int:
        return len(self._crawlers)

    def __iter__(self) -> Iterator[Crawler]:
        return iter(self._crawlers)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._by_key

    def get(self, name: str) -> Crawler | None:
        return self._by_key.get(_key(name))

    def names(self) -> list[str]:
        return [c.name for c in self._crawlers]

    def by_purpose(self, purpose: Purpose) -> list[Crawler]:
        if purpose not in PURPOSES:
            raise InvalidInput(f"unknown purpose {purpose!r}; purposes are: {', '.join(PURPOSES)}")
        return [c for c in self._crawlers if c.purpose == purpose]

    def match(self, user_agent: str) -> Crawler | None:
        """The crawler a User-Agent header names; the longest (most specific) match wins, then the leftmost,
        then the longer token."""
        if not user_agent:
            return None
        lowered = user_agent.lower()
        best: tuple[int, int, int, str] | None = None  # (-length, start, order, group)
        for order, (needle, group, regex) in enumerate(self._candidates):
            if needle is not None and needle not in lowered:
                continue
            for found in regex.finditer(user_agent):
                key = (-(found.end() - found.start()), found.start(), order, group)
                if found.end() > found.start() and (best is None or key < best):
                    best = key
        return self._owners[best[3]] if best is not None else None


# --- reading and validating lists ----------------------------------------------------------------------


def builtin_crawlers() -> list[Crawler]:
    """The list shipped in the package."""
    return list(_builtin())


@functools.cache
def _builtin() -> tuple[Crawler, ...]:
    # Parsed once per process: entries are frozen, and the package data does not change under us.
    text = resources.files("fairtrain.rights").joinpath("data", INSTALLED_FILE).read_text(encoding="utf-8")
    return tuple(_parse_ours(json.loads(text), origin="the built-in crawler list"))


def _read_list(path: Path) -> list[Crawler]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCrawlerList(f"{path}: cannot read the crawler list: {exc}") from None
    return _parse_ours(data, origin=str(path))


def _is_robots_json(data: object) -> bool:
    return (
        isinstance(data, dict)
        and "crawlers" not in data
        and bool(data)
        and all(isinstance(v, dict) and _ROBOTS_JSON_KEYS & v.keys() for v in data.values())
    )


def validate_document(data: object) -> list[Crawler]:
    """Every crawler of a list document, or InvalidCrawlerList naming the first bad entry.

    Two formats: ours (``{"version": 1, "crawlers": [...]}``) and ai.robots.txt's ``robots.json``
    (``{"GPTBot": {"operator": ..., "respect": ..., ...}}``), which is converted by ``from_robots_json``.
    """
    if _is_robots_json(data):
        assert isinstance(data, dict)
        return from_robots_json(data, curated=builtin_crawlers())
    return _parse_ours(data, origin="crawler list")


def _parse_ours(data: object, *, origin: str) -> list[Crawler]:
    if not isinstance(data, dict) or not isinstance(data.get("crawlers"), list):
        raise InvalidCrawlerList(
            f"{origin}: expected an object with a 'crawlers' array (or ai.robots.txt robots.json)"
        )
    if data.get("version", DOCUMENT_VERSION) != DOCUMENT_VERSION:
        raise InvalidCrawlerList(f"{origin}: version {data.get('version')!r} is not supported")
    crawlers: list[Crawler] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["crawlers"], start=1):
        crawler = _parse_entry(entry, where=f"{origin}: entry {index}")
        key = _key(crawler.name)
        if key in seen:
            raise InvalidCrawlerList(
                f"{origin}: entry {index} ({crawler.name!r}) has the same name as entry {seen[key]}"
            )
        seen[key] = index
        crawlers.append(crawler)
    return crawlers


def _parse_entry(entry: object, *, where: str) -> Crawler:
    name = entry.get("name") if isinstance(entry, dict) else None
    label = f"{where} ({name!r})" if isinstance(name, str) and name else where
    if not isinstance(entry, dict):
        raise InvalidCrawlerList(f"{label}: expected an object, got {type(entry).__name__}")
    try:
        return Crawler.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "entry"
        message = first["msg"]
        if first["type"] == "literal_error" and field == "purpose":
            message = f"{first['input']!r} is not one of {', '.join(PURPOSES)}"
        raise InvalidCrawlerList(f"{label}: {field}: {message}") from None


# --- the ai.robots.txt format --------------------------------------------------------------------------

# Phrases of the list's `function`/`description` text, tried in this order. Training comes first: a crawler
# whose data may train models is a training crawler whatever else it does. When nothing fits: unknown.
_PURPOSE_RULES: tuple[tuple[Purpose, re.Pattern[str]], ...] = (
    (
        "training",
        re.compile(
            r"\btrain|\bllm training|machine learning model|datasets? for|ai data scrapers?\b|llm scraper",
            re.IGNORECASE,
        ),
    ),
    (
        "user-fetch",
        re.compile(
            r"user prompts?|prompted by a user|on behalf of|user[- ]initiated|user request|users? ask|"
            r"\bai agents\b|coding agents?",
            re.IGNORECASE,
        ),
    ),
    (
        "ai-input",
        re.compile(
            r"ai search|search result generation|ai data providers|\brag\b|answers|ai assistants?|grounding",
            re.IGNORECASE,
        ),
    ),
    ("search", re.compile(r"search engine|search crawler", re.IGNORECASE)),
)


def guess_purpose(function: str, description: str = "") -> Purpose:
    """Our purpose category for an ai.robots.txt entry, from its `function` text, else its description."""
    for text in (function, description):
        for purpose, pattern in _PURPOSE_RULES:
            if pattern.search(text):
                return purpose
    return "unknown"


def _respect(value: object) -> bool | None:
    text = str(value or "").strip().lower()
    if text.startswith("yes") or text.startswith("[yes]"):
        return True
    if text.startswith("no") or text.startswith("[no]"):
        return False
    return None  # "Unclear at this time", "At the discretion of its users"


_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _plain(value: object) -> str:
    return " ".join(_MARKDOWN_LINK.sub(r"\1", str(value or "")).split())


def _operator(value: object) -> str:
    text = _plain(value)
    if not text or text.lower().startswith(("unclear", "unknown")):
        return "unknown"
    return text[:200]


def from_robots_json(data: Mapping[str, Any], *, curated: Iterable[Crawler] = ()) -> list[Crawler]:
    """Convert ai.robots.txt's ``robots.json`` into crawlers.

    The list says who runs each agent, whether it obeys robots.txt and what it does; our purpose comes from
    ``guess_purpose``. Where ``curated`` (normally the built-in list) knows an agent, its purpose,
    verification and flags win, since they were checked by hand. Curated entries that the list does not
    mention (search engines, product tokens) are kept. Names differing only in case are one agent.
    """
    known = {_key(c.name): c for c in curated}
    result: dict[str, Crawler] = {}
    for index, (name, facts) in enumerate(data.items(), start=1):
        where = f"robots.json: entry {index} ({name!r})"
        if not isinstance(facts, dict):
            raise InvalidCrawlerList(f"{where}: expected an object, got {type(facts).__name__}")
        if _key(name) in result:
            continue
        function, description = _plain(facts.get("function")), _plain(facts.get("description"))
        fields: dict[str, Any] = {
            "name": name,
            "operator": _operator(facts.get("operator")),
            "purpose": guess_purpose(function, description),
            "respects_robots_txt": _respect(facts.get("respect")),
            "description": (description or function)[:2000],
        }
        if curated_entry := known.get(_key(name)):
            fields.update(
                curated_entry.model_dump(
                    include={
                        "purpose",
                        "token_only",
                        "user_agent_patterns",
                        "rdns_suffixes",
                        "ip_prefix_list",
                        "ip_prefix_list_url",
                        "web_bot_auth",
                    }
                )
            )
            if fields["operator"] == "unknown":
                fields["operator"] = curated_entry.operator
        result[_key(name)] = _parse_entry(fields, where=where)
    for key, crawler in known.items():
        result.setdefault(key, crawler)
    return sorted(result.values(), key=lambda c: _key(c.name))


# --- writing lists -------------------------------------------------------------------------------------


def _document(crawlers: Iterable[Crawler], **meta: str) -> dict[str, Any]:
    ordered = sorted(crawlers, key=lambda c: _key(c.name))
    return {
        "version": DOCUMENT_VERSION,
        **meta,
        "crawlers": [c.model_dump(mode="json", exclude_defaults=True) for c in ordered],
    }


def _write_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """Write to a temporary file in the same directory, then rename over the old file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _fetch(url: str, *, transport: httpx.BaseTransport | None) -> bytes:
    """GET a list, following redirects only within the same host, with a timeout and a size cap."""
    origin = urlsplit(url)
    with httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=False, transport=transport) as client:
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                    if response.is_redirect:
                        target = urljoin(url, response.headers.get("location", ""))
                        parts = urlsplit(target)
                        if parts.hostname != origin.hostname or parts.scheme not in {"http", "https"}:
                            raise InvalidCrawlerList(f"{url} redirects to another host ({target}); refused")
                        url = target
                        continue
                    if response.status_code != 200:
                        raise InvalidCrawlerList(f"{url} answered HTTP {response.status_code}")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_DOWNLOAD_BYTES:
                            raise InvalidCrawlerList(f"{url} is larger than {MAX_DOWNLOAD_BYTES:,} bytes")
                    return bytes(body)
            except httpx.HTTPError as exc:
                raise InvalidCrawlerList(f"cannot download {url}: {exc}") from None
    raise InvalidCrawlerList(f"{url}: more than {_MAX_REDIRECTS} redirects")


def update_from(
    source: str, *, data_dir: Path, transport: httpx.BaseTransport | None = None
) -> list[Crawler]:
    """Replace the installed list with one from a file or an http(s) URL, after validating all of it.

    On any error the installed list (or the built-in one) stays as it was. ``transport`` is for tests.
    """
    if urlsplit(source).scheme in {"http", "https"}:
        raw = _fetch(source, transport=transport)
        origin = source
    else:
        path = Path(source)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InvalidCrawlerList(f"cannot read {source}: {exc.strerror or exc}") from None
        origin = str(path)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCrawlerList(f"{origin} is not JSON: {exc}") from None
    try:
        crawlers = validate_document(data)
    except InvalidCrawlerList as exc:
        raise InvalidCrawlerList(f"{origin}: {exc.message}") from None
    if not crawlers:
        raise InvalidCrawlerList(f"{origin} lists no crawlers")
    meta = {"source": origin}
    if isinstance(data, dict) and isinstance(data.get("license"), str):
        meta["license"] = data["license"]
    _write_atomically(data_dir / INSTALLED_FILE, _document(crawlers, **meta))
    return crawlers


def _local(data_dir: Path) -> list[Crawler]:
    path = data_dir / LOCAL_FILE
    return _read_list(path) if path.exists() else []


def add_local(entry: Crawler | Mapping[str, Any], *, data_dir: Path) -> Crawler:
    """Add or replace one of the operator's own entries; it wins over any list entry of the same name."""
    fields = entry.model_dump() if isinstance(entry, Crawler) else dict(entry)
    crawler = _parse_entry({**fields, "source": "operator"}, where="new crawler")
    others = [c for c in _local(data_dir) if _key(c.name) != _key(crawler.name)]
    _write_atomically(data_dir / LOCAL_FILE, _document([*others, crawler]))
    return crawler


def remove_local(name: str, *, data_dir: Path) -> Crawler:
    """Remove one of the operator's own entries (a list entry it overrode shows again)."""
    local = _local(data_dir)
    found = next((c for c in local if _key(c.name) == _key(name)), None)
    if found is None:
        raise CrawlerNotFound(f"no operator-added crawler named {name!r}; only those can be removed")
    _write_atomically(data_dir / LOCAL_FILE, _document([c for c in local if c is not found]))
    return found


@lru_cache(maxsize=8)
def _cached_registry(data_dir: Path, _installed_mtime: int, _local_mtime: int) -> CrawlerRegistry:
    return CrawlerRegistry.load(data_dir)
