"""What the gateway's door costs per request, next to a bare Starlette app measured in the same run.

fairtrain runs as in production, ``uvicorn --factory fairtrain.app:create_app_from_env --workers N``, on a
fresh SQLite store (see ``site.py``); the baseline is ``bench.gateway.bare`` under the same uvicorn settings
and worker count. ``wrk`` loads one URL at a time on 127.0.0.1:

- (a) a licensed client fetches the ~100 KB protected photo with ``Authorization: License <token>``: the
  token is verified and every fetch is metered (a usage event committed before the response);
- (b) GPTBot's user agent from an address no prefix list vouches for: unverified, refused with 403;
- (c) a fan with a paid subscription fetches the same photo with their session cookie;

beside the bare app serving the same file with ``FileResponse`` (for a and c) and answering 403 (for b).
After each worker count the servers are stopped gracefully (their meters flush) and the usage events of (a)
are counted against the 200s wrk read. See ``bench/README.md`` for how to read the table.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.gateway.bare import FILE_ENV
from bench.gateway.site import FAN_EMAIL, LICENSE, PASSWORD, BenchSite, build_site, settings_for
from bench.gateway.wrk import WrkResult, run_wrk, wrk_path

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_COUNTS = (1, 2)
SECONDS_ENV = "FAIRTRAIN_BENCH_GATEWAY_SECONDS"
SECONDS = 10.0  # per measurement (the issue's -d10s)
WARMUP_SECONDS = 1.0  # opens every connection and fills the per-worker caches before the clock starts
THREADS, CONNECTIONS = 2, 32
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Targets from the issue: req/s as a share of the baseline's, and p99 at most this multiple of its p99.
TARGET_P99 = 2.0
GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot"
)
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)
CLIENT_UA = "AcmeCrawler/2.0 (+https://acme.example/crawler)"
WARMUP_CLIENT = "warm-up"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class GatewayBenchError(RuntimeError):
    """A server did not answer as the scenario says: the figures would not mean what they say."""


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    baseline: str  # "file" or "403": the bare app's route it is compared with
    status: int  # what every request must get
    target: float  # req/s as a share of the baseline's


SCENARIOS = (
    Scenario("a", "(a) licensed client, metered", "file", 200, 0.60),
    Scenario("b", "(b) unverified GPTBot, 403", "403", 403, 0.80),
    Scenario("c", "(c) subscribed fan", "file", 200, 0.60),
)
BASELINES = {"file": ("bare FileResponse", "/file", 200), "403": ("bare 403", "/forbidden", 403)}
# Not a baseline but a floor: fairtrain's own media route refusing an unknown variant (404) before the door
# is asked, through the same middleware and routing. What (b) costs beyond it is the door's.
SHELL = "fairtrain 404, door not asked"


@dataclass(frozen=True)
class Block:
    """Everything measured at one worker count."""

    workers: int
    scenarios: dict[str, WrkResult]
    baselines: dict[str, WrkResult]
    usage_events: int  # rows the licensed measurement (a) left in billing_usage_events
    licensed_counted: int  # the same fetches, as the crawler analytics counted them


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seconds() -> float:
    return float(os.environ.get(SECONDS_ENV, SECONDS))


@contextmanager
def _uvicorn(app: str, port: int, workers: int, env: Mapping[str, str]) -> Iterator[str]:
    """``uvicorn --factory app`` on 127.0.0.1:port; yields the base URL once /healthz answers 200, stops it
    with SIGTERM (uvicorn then runs the app's lifespan shutdown in every worker) when done."""
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", str(workers), "--log-level", "warning", "--no-access-log", "--ws", "none"),
    ]
    # This interpreter and fixed arguments; no shell. Its own session, so a hung server's workers can be
    # killed with it.
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=dict(env), start_new_session=True)  # noqa: S603
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(base_url=base_url, timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    raise GatewayBenchError(f"{app} exited during startup with code {process.returncode}")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise GatewayBenchError(f"{app} did not answer /healthz within {STARTUP_TIMEOUT:g} s")
                time.sleep(0.1)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this function started, workers included
            process.wait()


def _licence_token(base_url: str, client: tuple[str, str]) -> str:
    """A licence token from the running server's own licence endpoint (RSL OLP)."""
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    fields = {"grant_type": "client_credentials", "license": LICENSE, "resource": f"{base_url}/@mira/*"}
    reply = httpx.post(f"{base_url}/rsl/token", data=fields, headers={"Authorization": f"Basic {basic}"})
    if reply.status_code != 200:
        raise GatewayBenchError(f"/rsl/token answered {reply.status_code}: {reply.text}")
    token: str = reply.json()["access_token"]
    return token


def _fan_cookie(base_url: str, cookie_name: str) -> str:
    """The fan's session cookie, from logging in through the login form (with its CSRF token)."""
    with httpx.Client(base_url=base_url, headers={"User-Agent": BROWSER_UA}) as browser:
        form = _CSRF.search(browser.get("/login").text)
        if form is None:
            raise GatewayBenchError("the login page has no CSRF field")
        fields = {"email": FAN_EMAIL, "password": PASSWORD, "csrf_token": form.group(1)}
        reply = browser.post("/login", data=fields, follow_redirects=False)
        value = browser.cookies.get(cookie_name)
    if reply.status_code != 303 or not value:
        raise GatewayBenchError(f"logging the fan in answered {reply.status_code}")
    return f"{cookie_name}={value}"


def _probe(url: str, headers: Mapping[str, str], status: int, size: int | None) -> None:
    """One request before the load: the status (and the body, for a file) must be what the row claims."""
    reply = httpx.get(url, headers=dict(headers))
    if reply.status_code != status:
        raise GatewayBenchError(f"{url} answered {reply.status_code}, not {status}: {reply.text[:300]}")
    if size is not None and len(reply.content) != size:
        raise GatewayBenchError(f"{url} sent {len(reply.content)} bytes, not the {size}-byte photo")
    refusal = reply.headers.get("crawler-error")
    if status == 403 and "/media/" in url and refusal != "CrawlerForbidden":
        raise GatewayBenchError(f"{url} refused with crawler-error {refusal!r}, not CrawlerForbidden")


def _load(
    url: str, headers: Mapping[str, str], status: int, *, warmup: Mapping[str, str] | None = None
) -> WrkResult:
    """Warm up (with ``warmup``'s headers over ``headers``), then measure; every answer must be ``status``."""
    warm = {**headers, **(warmup or {})}
    run_wrk(url, headers=warm, seconds=WARMUP_SECONDS, threads=THREADS, connections=CONNECTIONS)
    result = run_wrk(url, headers=headers, seconds=_seconds(), threads=THREADS, connections=CONNECTIONS)
    refused = result.non_2xx
    if (status < 400 and refused) or (status >= 400 and refused != result.completed) or result.socket_errors:
        raise GatewayBenchError(
            f"{url}: {refused} of {result.completed} answers were 4xx/5xx and {result.socket_errors} socket "
            f"errors; every answer should have been {status}"
        )
    return result


def _count(database: Path, sql: str, *args: str) -> int:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        found = connection.execute(sql, args).fetchone()[0]
    return int(found or 0)


def _block(
    workers: int, site: BenchSite, database: Path, ports: tuple[int, int], env: Mapping[str, str]
) -> Block:
    fairtrain_env = {**env, "FAIRTRAIN_BASE_URL": f"http://127.0.0.1:{ports[0]}"}
    bare_env = {**env, FILE_ENV: str(site.derivative)}
    load_client = site.clients[f"load-{workers}"]
    scenarios: dict[str, WrkResult] = {}
    baselines: dict[str, WrkResult] = {}
    with (
        _uvicorn("fairtrain.app:create_app_from_env", ports[0], workers, fairtrain_env) as ours,
        _uvicorn("bench.gateway.bare:create_bare_app", ports[1], workers, bare_env) as bare,
    ):
        photo = f"{ours}/media/{site.asset_id}/full"
        warm = {"Authorization": f"License {_licence_token(ours, site.clients[WARMUP_CLIENT])}"}
        licensed = {"Authorization": f"License {_licence_token(ours, load_client)}", "User-Agent": CLIENT_UA}
        crawler = {"User-Agent": GPTBOT_UA}
        fan = {"Cookie": _fan_cookie(ours, env["FAIRTRAIN_SESSION_COOKIE_NAME"]), "User-Agent": BROWSER_UA}
        _probe(photo, {**licensed, **warm}, 200, site.derivative_bytes)  # the warm-up client: not counted
        _probe(photo, crawler, 403, None)
        _probe(photo, fan, 200, site.derivative_bytes)
        for _name, path, status in BASELINES.values():
            _probe(f"{bare}{path}", {}, status, site.derivative_bytes if status == 200 else None)
        shell = f"{ours}/media/{site.asset_id}/thumb"
        _probe(shell, {}, 404, None)

        # Baseline, then the rows compared with it, so each pair ran a moment apart.
        baselines["file"] = _load(f"{bare}/file", {}, 200)
        scenarios["a"] = _load(photo, licensed, 200, warmup=warm)
        scenarios["c"] = _load(photo, fan, 200)
        baselines["403"] = _load(f"{bare}/forbidden", {}, 403)
        scenarios["b"] = _load(photo, crawler, 403)
        baselines["shell"] = _load(shell, {}, 404)
    # Both servers have stopped: every request they took is finished and each worker's meter has closed,
    # writing its last analytics counters.
    usage = _count(database, "SELECT count(*) FROM billing_usage_events WHERE client_id = ?", load_client[0])
    counted = _count(
        database,
        "SELECT sum(licensed) FROM gateway_traffic_daily WHERE crawler = ?",
        f"client:{load_client[0]}",
    )
    return Block(workers, scenarios, baselines, usage, counted)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _row(name: str, workers: int, figures: WrkResult) -> str:
    return (
        f"{name:<31} {workers:>7} {figures.per_second:>8,.0f} {figures.p50_ms:>7.2f} {figures.p99_ms:>7.2f}"
    )


def _compared(scenario: Scenario, block: Block) -> str:
    ours, base = block.scenarios[scenario.key], block.baselines[scenario.baseline]
    share, slower = ours.per_second / base.per_second, ours.p99_ms / base.p99_ms
    share_target, p99_target = f"≥{scenario.target:.0%}", f"≤{TARGET_P99:g}×"
    return (
        f"{_row(scenario.name, block.workers, ours)}  {base.per_second:>10,.0f} {base.p99_ms:>8.2f}  "
        f"{share:>6.0%} {share_target:>6} {_verdict(share >= scenario.target)}  "
        f"{slower:>5.2f}× {p99_target:>5} {_verdict(slower <= TARGET_P99)}"
    )


def _metered(block: Block) -> str:
    """The usage events of (a) against wrk's 200s: none may be missing, and at most the requests wrk left
    in flight (served and metered by the server, never read by wrk) may be extra."""
    licensed = block.scenarios["a"]
    read = licensed.completed - licensed.non_2xx
    extra = block.usage_events - read
    ok = 0 <= extra <= licensed.in_flight and block.licensed_counted == block.usage_events
    workers = f"{block.workers} worker{'s' if block.workers > 1 else ''}"
    return (
        f"metered, {workers}: {block.usage_events:,} usage events for {read:,} 200s read by wrk "
        f"({extra:+,}; {licensed.in_flight} requests were in flight when wrk stopped); the analytics "
        f"counted {block.licensed_counted:,} licensed fetches · {_verdict(ok)}"
    )


def _print(blocks: list[Block]) -> None:
    print()
    print(
        f"{'':<31} {'workers':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}  "
        f"{'base req/s':>10} {'base p99':>8}  {'req/s':>6} {'target':>6} {'':4}  {'p99':>6} {'target':>5}"
    )
    for block in blocks:
        for key, name in [*((key, row[0]) for key, row in BASELINES.items()), ("shell", SHELL)]:
            print(_row(name, block.workers, block.baselines[key]))
        for scenario in SCENARIOS:
            print(_compared(scenario, block))
    print()
    for block in blocks:
        print(_metered(block))


def main() -> None:
    if wrk_path() is None:
        print("wrk is not installed (make bench installs Debian's wrk): the gateway benchmark is skipped")
        return
    seconds = _seconds()
    print(
        f"gateway: wrk -t{THREADS} -c{CONNECTIONS} -d{seconds:g}s --latency, after a {WARMUP_SECONDS:g} s "
        f"warm-up, against uvicorn with {' and '.join(map(str, WORKER_COUNTS))} workers on 127.0.0.1"
    )
    secret_key = secrets.token_urlsafe(48)
    ports = (_free_port(), _free_port())
    with tempfile.TemporaryDirectory(prefix="fairtrain-bench-gateway-") as tmp:
        root = Path(tmp)
        settings = settings_for(root, f"http://127.0.0.1:{ports[0]}", secret_key)
        started = time.perf_counter()
        names = [WARMUP_CLIENT, *(f"load-{n}" for n in WORKER_COUNTS)]
        site = build_site(settings, root, client_names=names)
        print(
            f"site ready in {time.perf_counter() - started:.1f} s: one subscribers-only photo, protected "
            f"derivative {site.derivative_bytes / 1000:.1f} kB"
        )
        env = {
            **os.environ,
            "FAIRTRAIN_DATA_DIR": str(settings.data_dir),
            "FAIRTRAIN_DATABASE_URL": settings.resolved_database_url,
            "FAIRTRAIN_SECRET_KEY": secret_key,
            "FAIRTRAIN_LOG_LEVEL": "warning",
            "FAIRTRAIN_GATEWAY_REVERSE_DNS": "false",
            "FAIRTRAIN_GATEWAY_SCRAPER_FETCHES_PER_MINUTE": "100000000",
            "FAIRTRAIN_SESSION_COOKIE_NAME": settings.session_cookie_name,
        }
        database = settings.data_dir / "fairtrain.db"
        blocks = [_block(workers, site, database, ports, env) for workers in WORKER_COUNTS]
    _print(blocks)
