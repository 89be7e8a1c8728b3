"""Access logs of sites hosted elsewhere, read into the crawler analytics (``fairtrain logs import``).

Two formats:

- ``combined``: the nginx/Apache "combined" log format, read with a strict pattern::

      203.0.113.9 - - [20/Nov/2026:12:00:00 +0000] "GET /a.jpg HTTP/1.1" 200 5120 "-" "Mozilla/5.0 ..."

  Fields a server appends after the user agent (nginx configs often add some) are ignored.
- ``json``: one JSON object per line, with the field names CDNs and servers commonly use (Cloudflare
  Logpush's ``ClientIP``, ``ClientRequestUserAgent``, ``ClientRequestPath``/``ClientRequestURI``,
  ``EdgeResponseStatus``, ``EdgeResponseBytes``, ``EdgeStartTimestamp``; nginx's ``remote_addr``,
  ``http_user_agent``, ``request_uri``, ``status``, ``body_bytes_sent``, ``time_iso8601``; and plain ``ip``,
  ``user_agent``, ``path``, ``status``, ``bytes``, ``time``/``timestamp``). Times are RFC 3339 strings or
  Unix epochs in seconds, milliseconds, microseconds or nanoseconds.

Gzip files are read as they are. A line that does not parse is counted and reported with its number; it
never stops the import. Each line is classified like a live request, from its User-Agent and address
(``identity.identify`` with the installed IP prefix lists; no reverse DNS, which would look up today's DNS
for old requests), and checked against a robots.txt for violations.

Importing the same file twice would count it twice, so each import is recorded by the file's SHA-256 in
``<data_dir>/log-imports.json``: a finished file is refused (``--force`` imports it again), an interrupted
one resumes after the last batch written.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, get_args
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from fairtrain.db.engine import transaction
from fairtrain.errors import Conflict, InvalidInput
from fairtrain.gateway.analytics import Hit, RobotsRules, record_hits
from fairtrain.gateway.classes import ClientClass, Outcome, crawler_class
from fairtrain.gateway.identity import identify
from fairtrain.gateway.prefixes import PrefixLists
from fairtrain.rights.crawlers import CrawlerRegistry

__all__ = [
    "BATCH_SIZE",
    "LOG_FORMATS",
    "PREFIX_LISTS_DIR",
    "STATE_FILE",
    "AlreadyImported",
    "BadLine",
    "Classifier",
    "ImportReport",
    "ImportState",
    "LogFormat",
    "LogRecord",
    "file_digest",
    "import_log",
    "outcome_of",
    "parse_combined",
    "parse_json_line",
]

LogFormat = Literal["combined", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)
STATE_FILE = "log-imports.json"
PREFIX_LISTS_DIR = "prefixes"
"""Where the operators' published IP prefix lists are installed, under the data directory."""
BATCH_SIZE = 2000
MAX_REPORTED_BAD_LINES = 20
_SOURCE = re.compile(r"[a-z0-9][a-z0-9._-]{0,15}")


class BadLine(ValueError):
    """A log line that does not parse; the message says what is wrong with it."""


class AlreadyImported(Conflict):
    """This file (by content) was imported before."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What an access-log line says about one request."""

    at: datetime
    ip: str
    user_agent: str
    target: str
    """The request target: the path with its query string."""
    status: int
    bytes: int


# --- combined format -------------------------------------------------------------------------------------

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_COMBINED = re.compile(
    r"(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "
    rf"{_QUOTED} (?P<status>\d{{3}}) (?P<bytes>\d+|-) {_QUOTED} {_QUOTED}(?: .*)?"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_CLF_TIME = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")


def _unescape(text: str) -> str:
    """Undo the servers' escaping inside quoted fields: nginx writes ``\\x22``, Apache ``\\"``."""
    if "\\" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if len(code) == 3 and code[0] == "x" else code

    return _ESCAPE.sub(one, text)


def _clf_time(text: str) -> datetime:
    match = _CLF_TIME.fullmatch(text)
    if match is None or match.group(2) not in _MONTHS:
        raise BadLine(f"time {text!r} is not like 20/Nov/2026:12:00:00 +0000")
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        local = datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=timezone(offset)
        )
    except ValueError as exc:
        raise BadLine(f"time {text!r}: {exc}") from None
    return local.astimezone(UTC)


def _target(request: str) -> str:
    """``GET /a?b HTTP/1.1`` -> ``/a?b``; an absolute-form target (proxies) gives its path."""
    parts = request.split(" ")
    if len(parts) not in (2, 3) or not parts[0].isalpha() or not parts[1]:
        raise BadLine(f"request {request[:80]!r} is not METHOD TARGET PROTOCOL")
    return _path_of(parts[1])


def _path_of(target: str) -> str:
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/"):
        raise BadLine(f"request target {target[:80]!r} is not a path")
    return target


def parse_combined(line: str) -> LogRecord:
    """One line of the combined log format (``BadLine`` says why it is not one)."""
    match = _COMBINED.fullmatch(line.rstrip("\r\n"))
    if match is None:
        raise BadLine("not in the combined log format")
    ip, when, request, status, size, _referer, agent = match.groups()
    return LogRecord(
        at=_clf_time(when),
        ip=ip,
        user_agent=_unescape(agent),
        target=_target(_unescape(request)),
        status=int(status),
        bytes=0 if size == "-" else int(size),
    )


# --- JSON lines ------------------------------------------------------------------------------------------

_IP_FIELDS = ("ClientIP", "remote_addr", "ip", "client_ip", "clientIp", "c-ip")
_AGENT_FIELDS = ("ClientRequestUserAgent", "user_agent", "http_user_agent", "userAgent", "ua")
_PATH_FIELDS = ("ClientRequestURI", "request_uri", "ClientRequestPath", "path", "uri", "url")
_REQUEST_FIELDS = ("request",)  # nginx's $request: "GET /a HTTP/1.1"
_STATUS_FIELDS = ("EdgeResponseStatus", "status", "status_code", "response_status")
_BYTES_FIELDS = ("EdgeResponseBytes", "bytes", "body_bytes_sent", "bytes_sent", "response_bytes")
_TIME_FIELDS = (
    "EdgeStartTimestamp",
    "time",
    "timestamp",
    "time_iso8601",
    "@timestamp",
    "datetime",
    "time_local",
)


def _first(data: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None and value != "":
            return value
    return None


def _epoch(value: float) -> datetime:
    # Seconds until the year 5138; larger numbers are finer units (Cloudflare's default is nanoseconds).
    for scale in (1, 1_000, 1_000_000, 1_000_000_000):
        if abs(value) < 1e11 * scale:
            if isinstance(value, int):  # exact: a float has no room for nanoseconds since 1970
                seconds, rest = divmod(value, scale)
                micros = rest * 1_000_000 // scale
                return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)
            return datetime.fromtimestamp(value / scale, UTC)
    raise BadLine(f"time {value!r} is too large for an epoch")


def _json_time(value: Any) -> datetime:
    if isinstance(value, bool):
        raise BadLine(f"time {value!r} is not a time")
    if isinstance(value, int | float):
        return _epoch(value)
    if not isinstance(value, str):
        raise BadLine(f"time {value!r} is not a time")
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _epoch(float(text) if "." in text else int(text))
    if _CLF_TIME.fullmatch(text):
        return _clf_time(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadLine(f"time {text!r} is neither RFC 3339 nor an epoch") from None
    if parsed.tzinfo is None:
        raise BadLine(f"time {text!r} has no time zone")
    return parsed.astimezone(UTC)


def _json_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise BadLine(f"{what} {value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == "-":
        return 0
    raise BadLine(f"{what} {value!r} is not a number")


def parse_json_line(line: str) -> LogRecord:
    """One JSON object of a JSON-lines access log (``BadLine`` names the missing or bad field)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise BadLine("not a JSON object")
    when = _first(data, _TIME_FIELDS)
    if when is None:
        raise BadLine(f"no time (one of {', '.join(_TIME_FIELDS)})")
    target = _first(data, _PATH_FIELDS)
    if target is None and (request := _first(data, _REQUEST_FIELDS)) is not None:
        target = _target(str(request))
    if target is None:
        raise BadLine(f"no path (one of {', '.join(_PATH_FIELDS + _REQUEST_FIELDS)})")
    status = _first(data, _STATUS_FIELDS)
    if status is None:
        raise BadLine(f"no status (one of {', '.join(_STATUS_FIELDS)})")
    code = _json_int(status, "status")
    if not 100 <= code <= 599:
        raise BadLine(f"status {code} is not an HTTP status")
    query = data.get("ClientRequestQuery")  # Cloudflare gives the query apart from ClientRequestPath
    path = _path_of(str(target))
    if isinstance(query, str) and query and "?" not in path:
        path += query if query.startswith("?") else f"?{query}"
    size = _first(data, _BYTES_FIELDS)
    return LogRecord(
        at=_json_time(when),
        ip=str(_first(data, _IP_FIELDS) or ""),
        user_agent=str(_first(data, _AGENT_FIELDS) or ""),
        target=path,
        status=code,
        bytes=0 if size is None else _json_int(size, "bytes"),
    )


_PARSERS: dict[LogFormat, Callable[[str], LogRecord]] = {"combined": parse_combined, "json": parse_json_line}


# --- classifying -----------------------------------------------------------------------------------------


def outcome_of(status: int) -> Outcome:
    """What a logged status meant: 2xx/3xx served, 401/402 a licence or price asked, anything else refused."""
    if 200 <= status < 400:
        return "served"
    if status in (401, 402):
        return "quoted"
    return "refused"


@dataclass
class Classifier:
    """Turns log records into analytics hits, the way the gateway classifies live requests."""

    registry: CrawlerRegistry
    prefixes: PrefixLists
    robots: RobotsRules | None
    creator_id: str = ""
    source: str = "import"

    def hit(self, record: LogRecord) -> Hit:
        identity = identify(
            record.user_agent, record.ip, registry=self.registry, prefixes=self.prefixes, resolver=None
        )
        client_class: ClientClass = crawler_class(identity) or "anonymous"
        crawler = identity.crawler or ""
        violation = (
            bool(crawler) and self.robots is not None and self.robots.disallows(crawler, record.target)
        )
        return Hit(
            at=record.at,
            source=self.source,
            creator_id=self.creator_id,
            crawler=crawler,
            operator=identity.operator or "",
            purpose=identity.purpose or "",
            client_class=client_class,
            outcome=outcome_of(record.status),
            path=unquote(record.target.split("?", 1)[0]) or "/",
            bytes=record.bytes,
            violation=violation,
        )


# --- which files were imported ---------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    """SHA-256 of the file as stored (a gzip file and its plain text are different files)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ImportState:
    """``<data_dir>/log-imports.json``: per file digest, how far its import got (written atomically)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{self.path} is unreadable ({exc}); move it away to start afresh") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise InvalidInput(f"{self.path} is not a fairtrain log-import record; move it away")
        files: dict[str, dict[str, Any]] = data["files"]
        return files

    def get(self, digest: str) -> dict[str, Any] | None:
        return self.load().get(digest)

    def put(self, digest: str, entry: dict[str, Any]) -> None:
        files = self.load()
        files[digest] = entry
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            tmp.write_text(json.dumps({"version": 1, "files": files}, indent=2, sort_keys=True) + "\n")
            tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)


# --- the import ------------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    path: str
    digest: str
    lines: int = 0
    """Lines read in this run (after any resumed part)."""
    imported: int = 0
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    """The first bad lines: (line number, why)."""
    resumed_from: int = 0
    """Lines skipped because an interrupted import had written them already."""
    classes: Counter[str] = field(default_factory=Counter)
    crawlers: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None


@contextlib.contextmanager
def _open_log(path: Path) -> Iterator[tuple[IO[str], IO[bytes]]]:
    """The file as text lines, gzip or not (by its magic number), and the raw file for progress."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        binary: gzip.GzipFile | BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        # Log lines are mostly ASCII; a stray byte must not end the import.
        with io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="") as text:
            yield text, raw


def _check_source(source: str) -> str:
    if source == "gateway" or _SOURCE.fullmatch(source) is None:
        raise InvalidInput(
            f"source {source!r} must be 1-16 lower-case letters, digits, '.', '_' or '-', and not 'gateway'"
        )
    return source


def import_log(
    factory: sessionmaker[Session],
    *,
    path: Path,
    log_format: LogFormat,
    classifier: Classifier,
    state: ImportState,
    force: bool = False,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Read an access log into the analytics, committing every ``batch_size`` lines.

    ``on_progress(bytes_read, bytes_total)`` is called after each batch. Raises ``AlreadyImported`` for a
    file imported before (unless ``force``); resumes a file whose import was interrupted.
    """
    if log_format not in _PARSERS:
        raise InvalidInput(f"unknown log format {log_format!r}; choose one of {', '.join(LOG_FORMATS)}")
    _check_source(classifier.source)
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    parse = _PARSERS[log_format]
    digest = file_digest(path)
    entry = state.get(digest)
    skip = 0
    if entry is not None and not force:
        if entry.get("complete"):
            raise AlreadyImported(
                f"{path} was imported on {entry.get('finished_at', '?')} (as {entry.get('path')}); "
                "importing it again would count its requests twice; use --force to do it anyway"
            )
        skip = int(entry.get("lines_done", 0))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    record = {
        "path": str(path.resolve()),
        "format": log_format,
        "source": classifier.source,
        "creator_id": classifier.creator_id,
        "started_at": (entry or {}).get("started_at", started) if skip else started,
        "lines_done": skip,
        "complete": False,
    }
    report = ImportReport(path=str(path), digest=digest, resumed_from=skip)
    total = path.stat().st_size
    batch: list[Hit] = []
    number = 0

    def flush() -> None:
        with transaction(factory) as session:
            record_hits(session, batch)
        report.imported += len(batch)
        batch.clear()
        record["lines_done"] = number
        state.put(digest, record)

    with _open_log(path) as (lines, raw):
        for number, line in enumerate(lines, start=1):
            if number <= skip:
                continue
            report.lines += 1
            if not line.strip():
                continue
            try:
                hit = classifier.hit(parse(line))
            except BadLine as exc:
                report.bad += 1
                if len(report.bad_lines) < MAX_REPORTED_BAD_LINES:
                    report.bad_lines.append((number, str(exc)))
                continue
            batch.append(hit)
            report.classes[hit.client_class] += 1
            if hit.crawler:
                report.crawlers[hit.crawler] += 1
            if hit.violation:
                report.violations[hit.crawler] += 1
            report.first = hit.at if report.first is None else min(report.first, hit.at)
            report.last = hit.at if report.last is None else max(report.last, hit.at)
            if len(batch) >= batch_size:
                flush()
                if on_progress is not None:
                    on_progress(raw.tell(), total)
        flush()
    record.update(complete=True, finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
    state.put(digest, record)
    if on_progress is not None:
        on_progress(total, total)
    return report
