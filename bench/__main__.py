"""``python -m bench [name ...]``: run every benchmark module (or the named ones) and print its figures."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version

__all__ = ["BENCHMARKS", "main"]

# Each module has a ``main() -> None`` that runs its measurements and prints them.
BENCHMARKS = ("http_shell", "scan", "watermark", "gateway", "analytics")


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"one of {', '.join(BENCHMARKS)} (default: all)"
    )
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    if unknown := sorted(set(names) - set(BENCHMARKS)):
        parser.error(f"unknown benchmark: {', '.join(unknown)}")

    print(
        f"fairtrain {version('fairtrain')} · Python {platform.python_version()} · {platform.system()} "
        f"{platform.machine()} · {os.cpu_count()} CPUs · uvicorn {version('uvicorn')} "
        f"(uvloop {_installed('uvloop')}, httptools {_installed('httptools')})"
    )
    for name in names:
        print(f"\n== {name} ==")
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"\n{name} took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
