"""The gateway benchmark: the door's cost per request, next to a bare Starlette app (see ``run.py``).

The package stays light to import: ``bench.gateway.bare`` is what the baseline's uvicorn workers load.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    from bench.gateway.run import main as run

    run()
