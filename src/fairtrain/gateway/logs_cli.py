"""``fairtrain logs …``: access logs of sites hosted elsewhere, into the crawler analytics (mounted by
``fairtrain.cli``)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from fairtrain.accounts import service as accounts
from fairtrain.commands import err, handles_errors, load_settings, open_engine, out
from fairtrain.db.engine import make_sessionmaker, transaction
from fairtrain.errors import InvalidInput
from fairtrain.gateway.analytics import RobotsRules, site_robots_rules
from fairtrain.gateway.logs import (
    PREFIX_LISTS_DIR,
    Classifier,
    ImportReport,
    ImportState,
    import_log,
)
from fairtrain.gateway.prefixes import PrefixLists
from fairtrain.rights.crawlers import CrawlerRegistry

__all__ = ["logs_app"]

logs_app = typer.Typer(
    help="Access logs of sites hosted elsewhere, read into the crawler analytics.", no_args_is_help=True
)


class _Format(enum.StrEnum):
    COMBINED = "combined"
    JSON = "json"


@logs_app.command("import")
@handles_errors
def import_command(
    file: Annotated[
        Path,
        typer.Argument(help="The access log (plain or gzip).", exists=True, dir_okay=False, readable=True),
    ],
    log_format: Annotated[
        _Format,
        typer.Option(
            "--format", help="combined: nginx/Apache combined log format; json: one JSON object per line."
        ),
    ] = _Format.COMBINED,
    robots: Annotated[
        Path | None,
        typer.Option(
            help="The robots.txt of the site the log is from (default: this site's own robots.txt).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    creator: Annotated[
        str | None, typer.Option(help="Count the requests as this creator's (their handle).")
    ] = None,
    source: Annotated[
        str, typer.Option(help="Name the requests are counted under, to tell sites apart (not 'gateway').")
    ] = "import",
    prefixes: Annotated[
        Path | None,
        typer.Option(
            help=f"Directory of crawler operators' IP prefix lists (default: <data dir>/{PREFIX_LISTS_DIR}).",
            file_okay=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Import a file that was imported before (counts it again).")
    ] = False,
) -> None:
    """Read an access log: classify each request by user agent and address, count robots.txt violations,
    and add it all to the crawler analytics. An interrupted import resumes when run again."""
    settings = load_settings()
    engine = open_engine(settings)
    factory = make_sessionmaker(engine)
    try:
        registry = CrawlerRegistry.current(settings.data_dir)
        with transaction(factory) as session:
            creator_id = accounts.get_creator(session, creator).id if creator else ""
            if robots is not None:
                try:
                    rules = RobotsRules(robots.read_text(encoding="utf-8", errors="replace"))
                except OSError as exc:
                    raise InvalidInput(f"cannot read {robots}: {exc}") from None
            else:
                rules = site_robots_rules(session, base_url=settings.base_url, registry=registry)
        classifier = Classifier(
            registry=registry,
            prefixes=PrefixLists.from_directory(prefixes or settings.data_dir / PREFIX_LISTS_DIR),
            robots=rules,
            creator_id=creator_id,
            source=source,
        )
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("import", total=file.stat().st_size)
            report = import_log(
                factory,
                path=file,
                log_format=log_format.value,
                classifier=classifier,
                state=ImportState(settings.ensure_data_dir()),
                force=force,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except KeyboardInterrupt:
        err.print("interrupted; the batches written are kept: run the same command again to go on")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()
    _print_report(report)


def _print_report(report: ImportReport) -> None:
    if report.resumed_from:
        out.print(f"resumed after line {report.resumed_from:,}, which an interrupted import had written")
    span = f", {report.first:%Y-%m-%d %H:%M} to {report.last:%Y-%m-%d %H:%M} UTC" if report.first else ""
    out.print(
        f"{escape(report.path)}: {report.imported:,} requests imported from {report.lines:,} lines{span}"
    )
    classes = Table("client class", Column("requests", justify="right"), title="By client class")
    for name, count in report.classes.most_common():
        classes.add_row(name, f"{count:,}")
    out.print(classes)
    if report.crawlers:
        crawlers = Table(
            "crawler",
            Column("requests", justify="right"),
            Column("robots.txt violations", justify="right"),
            title="Crawlers (top 15)",
        )
        for name, count in report.crawlers.most_common(15):
            crawlers.add_row(escape(name), f"{count:,}", f"{report.violations.get(name, 0):,}")
        out.print(crawlers)
    if report.bad:
        out.print(f"{report.bad:,} line{'' if report.bad == 1 else 's'} could not be read (not counted):")
        for number, reason in report.bad_lines:
            out.print(f"  line {number}: {escape(reason)}")
        if report.bad > len(report.bad_lines):
            out.print(f"  … and {report.bad - len(report.bad_lines):,} more")
