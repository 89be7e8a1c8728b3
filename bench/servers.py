"""Start a ``bench.serve`` child process, wait until it answers, stop it cleanly."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["running_server"]

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _read_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    line = process.stdout.readline()  # the child prints its port before anything slow can happen
    if not line.startswith("port "):
        process.kill()
        process.wait()
        raise RuntimeError(f"bench server did not report its port (exit code {process.poll()})")
    return int(line.split()[1])


def _wait_until_healthy(base_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"bench server exited during startup with code {process.returncode}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{base_url}/healthz did not answer 200 within {STARTUP_TIMEOUT} s")


@contextmanager
def running_server(kind: str, store: Path) -> Iterator[str]:
    """Serve ``kind`` ("fairtrain" or "baseline") from ``store`` on 127.0.0.1; yields the base URL."""
    # A fixed argv of this interpreter and module; no shell, no user input.
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench.serve", kind, str(store)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{_read_port(process)}"
        _wait_until_healthy(base_url, process)
        yield base_url
    finally:
        process.terminate()  # uvicorn shuts down gracefully on SIGTERM: lifespan end, engine disposed
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
