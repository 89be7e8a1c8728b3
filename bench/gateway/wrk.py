"""Run ``wrk`` (Debian's package) against one URL and read what it reports.

Requests/sec and the 50 % and 99 % latencies come from wrk's own report (``--latency``). A small Lua script
adds what the report leaves out: how many requests wrk sent, so that the requests still in flight when it
stopped are known, and the error counts by kind. The script keeps wrk's single prepared request (it only
counts before handing it out), so it adds one Lua call per request to the client and nothing to the server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkError", "WrkResult", "parse_report", "run_wrk", "wrk_path"]

_SCRIPT = """\
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  sent = 0
end
function request()
  sent = sent + 1
  return wrk.request()
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("sent")
  end
  local e = summary.errors
  io.write(string.format("BENCH sent=%d completed=%d status=%d connect=%d read=%d write=%d timeout=%d\\n",
    total, summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", re.MULTILINE)
_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_COMPLETED = re.compile(r"^\s*(\d+) requests in ([\d.]+\w+), ", re.MULTILINE)
_BENCH = re.compile(r"^BENCH (.*)$", re.MULTILINE)


class WrkError(RuntimeError):
    """wrk failed, or its report could not be read."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; ``non_2xx`` counts answers with a status of 400 or more
    (wrk's "Non-2xx or 3xx responses")."""

    per_second: float
    p50_ms: float
    p99_ms: float
    completed: int
    sent: int
    non_2xx: int
    socket_errors: int

    @property
    def in_flight(self) -> int:
        """Requests sent whose answer wrk had not read when the time was up."""
        return self.sent - self.completed


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _milliseconds(text: str) -> float:
    match = _TIME.match(text)
    if match is None:
        raise WrkError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_report(report: str) -> WrkResult:
    """Read wrk's ``--latency`` report, followed by the script's ``BENCH`` line."""
    percentiles = {int(p): _milliseconds(value) for p, value in _PERCENTILE.findall(report)}
    per_second = _PER_SECOND.search(report)
    completed = _COMPLETED.search(report)
    extra = _BENCH.search(report)
    if per_second is None or completed is None or extra is None or set(percentiles) != {50, 99}:
        raise WrkError(f"unreadable wrk report:\n{report}")
    counts = {key: int(value) for key, value in (pair.split("=") for pair in extra.group(1).split())}
    if counts["completed"] != int(completed.group(1)):
        raise WrkError(f"wrk's report and its summary disagree:\n{report}")
    return WrkResult(
        per_second=float(per_second.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        completed=counts["completed"],
        sent=counts["sent"],
        non_2xx=counts["status"],
        socket_errors=sum(counts[kind] for kind in ("connect", "read", "write", "timeout")),
    )


def run_wrk(
    url: str,
    *,
    headers: Mapping[str, str],
    seconds: float,
    threads: int = 2,
    connections: int = 32,
) -> WrkResult:
    """``wrk -t{threads} -c{connections} -d{seconds}s --latency`` with ``headers`` on every request."""
    wrk = wrk_path()
    if wrk is None:
        raise WrkError("wrk is not installed (make bench installs Debian's wrk)")
    with tempfile.TemporaryDirectory(prefix="fairtrain-wrk-") as tmp:
        script = Path(tmp) / "count.lua"
        script.write_text(_SCRIPT)
        command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        # wrk from PATH with arguments built here: no shell.
        done = subprocess.run(  # noqa: S603
            [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_report(done.stdout)
