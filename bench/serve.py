"""Child process that serves one app for a benchmark: ``python -m bench.serve {fairtrain,baseline} ...``.

It binds 127.0.0.1 on a free port, prints ``port <n>`` on stdout, and serves until SIGTERM. Servers run in
their own process so the load generator and the server do not share one interpreter lock.
"""

from __future__ import annotations

import argparse
import secrets
import socket
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from bench.baseline import create_baseline_app
from fairtrain.app import create_app
from fairtrain.config import Settings

__all__ = ["main"]


def _build(kind: str, store: Path, base_url: str) -> ASGIApp:
    if kind == "baseline":
        return create_baseline_app(store / "baseline.db")
    settings = Settings(
        data_dir=store / "data",
        database_url=f"sqlite:///{store / 'fairtrain.db'}",
        secret_key=secrets.token_urlsafe(48),
        base_url=base_url,
    )
    return create_app(settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("kind", choices=["fairtrain", "baseline"])
    parser.add_argument("store", type=Path, help="directory holding the prepared SQLite store")
    args = parser.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = _build(args.kind, args.store, f"http://127.0.0.1:{port}")
    # The same server settings for both apps. No access log: it measures logging, not the app.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", ws="none", log_level="warning", access_log=False
    )
    print(f"port {port}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
