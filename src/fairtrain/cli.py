"""The ``fairtrain`` command: one Typer app, the front door to everything."""

from __future__ import annotations

import enum
import io
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fairtrain import __version__
from fairtrain.accounts import service
from fairtrain.accounts.demo import DEMO_LOGINS, seed_demo
from fairtrain.accounts.models import Role, User
from fairtrain.catalog import exports as catalog_exports
from fairtrain.catalog import registration
from fairtrain.catalog import service as catalog_service
from fairtrain.catalog.dupes import exact_duplicates, near_duplicates
from fairtrain.catalog.scan import ScanProgress, run_scan
from fairtrain.catalog.store import MediaStore
from fairtrain.commands import database, err, handles_errors, load_settings, open_engine, out
from fairtrain.config import load_secret_key
from fairtrain.db.engine import make_sessionmaker, transaction
from fairtrain.db.migrate import current_revision, head_revision, upgrade
from fairtrain.errors import Conflict, InvalidInput
from fairtrain.gateway.cli import fans_app
from fairtrain.gateway.demo import seed_demo_works
from fairtrain.gateway.logs_cli import logs_app
from fairtrain.gateway.prefixes import PREFIX_DIR, PrefixLists, install_prefix_list
from fairtrain.ledger.cli import ledger_app
from fairtrain.licensing.billing_cli import billing_app
from fairtrain.licensing.cli import licensing_app
from fairtrain.rights.crawlers import CrawlerRegistry
from fairtrain.rights.crawlers import add_local as add_local_crawler
from fairtrain.rights.crawlers import remove_local as remove_local_crawler
from fairtrain.rights.crawlers import update_from as update_crawlers_from
from fairtrain.rights.policy import (
    CONCRETE_USAGES,
    SITE,
    Rule,
    Scope,
    effective_policy,
    format_micros,
    parse_price,
    set_rule,
)
from fairtrain.rights.service import export_signals, site_signals
from fairtrain.stamp.service import protected_asset_ids

__all__ = ["app", "main"]


app = typer.Typer(
    name="fairtrain",
    help="Protect creative work from AI scrapers, license it to AI companies, get paid.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)
creators_app = typer.Typer(help="Creator profiles.", no_args_is_help=True)
collectives_app = typer.Typer(help="Collectives and their members.", no_args_is_help=True)
licensees_app = typer.Typer(help="Licensee organisations (AI companies).", no_args_is_help=True)
catalog_app = typer.Typer(help="The catalogue of works: errors, duplicates, listings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(creators_app, name="creators")
app.add_typer(collectives_app, name="collectives")
app.add_typer(licensees_app, name="licensees")
app.add_typer(catalog_app, name="catalog")

_settings = load_settings
_engine = open_engine
_db = database


def _version(value: bool) -> None:
    if value:
        out.print(f"fairtrain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Settings come from FAIRTRAIN_* environment variables; see docs/configuration.md."""


# --- setup and serving ---------------------------------------------------------------------------------


@app.command()
@handles_errors
def init() -> None:
    """Create the data directory and secret key, and bring the database schema up to date."""
    settings = _settings()
    settings.ensure_data_dir()
    load_secret_key(settings)
    engine = _engine(settings, migrated=False)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    state = "already up to date" if before == after else f"migrated {before or 'empty'} -> {after}"
    out.print(f"data directory: {settings.data_dir.resolve()}")
    out.print(f"database: {_safe_url(settings.resolved_database_url)} ({state})")


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
@handles_errors
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (all of them by default)."""
    settings = _settings()
    engine = _engine(settings, migrated=False)
    try:
        upgrade(engine, revision)
        out.print(f"database at {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("current")
@handles_errors
def db_current() -> None:
    """Show the database's schema revision and the latest one this version knows."""
    settings = _settings()
    engine = _engine(settings, migrated=False)
    try:
        out.print(f"current: {current_revision(engine) or 'none'}  latest: {head_revision()}")
    finally:
        engine.dispose()


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes (development).")] = False,
) -> None:
    """Run the web server."""
    import uvicorn

    settings = _settings()
    load_secret_key(settings)  # create it once here, not in a race between workers
    engine = _engine(settings)
    engine.dispose()
    out.print(
        f"fairtrain {__version__} serving at [bold]http://{host}:{port}[/] (public URL {settings.base_url})"
    )
    uvicorn.run(
        "fairtrain.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_level=settings.log_level,
        proxy_headers=True,
    )


# --- users ---------------------------------------------------------------------------------------------


def _roles(values: list[str]) -> list[Role]:
    try:
        return [Role(v.lower()) for v in values]
    except ValueError:
        raise InvalidInput(
            f"unknown role in {values}; roles are: {', '.join(r.value for r in Role)}"
        ) from None


def _password_option(prompt: bool) -> str | None:
    """The password from FAIRTRAIN_NEW_PASSWORD, else asked for twice without echo."""
    if env := os.environ.get("FAIRTRAIN_NEW_PASSWORD"):
        return env
    if not prompt:
        return None
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
@handles_errors
def users_create(
    email: Annotated[str, typer.Argument(help="Email address (the log-in name).")],
    role: Annotated[
        list[str] | None, typer.Option("--role", "-r", help="Role to grant; repeat for several.")
    ] = None,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="Create without a password (cannot log in until one is set)."),
    ] = False,
) -> None:
    """Create a user. The password is read from FAIRTRAIN_NEW_PASSWORD or asked for."""
    roles = _roles(role or ["fan"])
    password = None if no_password else _password_option(prompt=True)
    with _db() as (settings, session):
        user = service.create_user(
            session,
            email=email,
            password=password,
            roles=roles,
            min_password_length=settings.password_min_length,
        )
        out.print(
            f"created {user.email} ({user.id}) with roles {', '.join(sorted(r.value for r in user.roles))}"
        )


@users_app.command("list")
@handles_errors
def users_list() -> None:
    """List users with their roles."""
    with _db() as (_, session):
        table = Table("id", "email", "roles", "creator", "created", "last log-in")
        for user in service.list_users(session):
            table.add_row(
                user.id,
                user.email,
                ", ".join(sorted(r.value for r in user.roles)),
                f"@{user.creator.handle}" if user.creator else "",
                f"{user.created_at:%Y-%m-%d %H:%M}",
                f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never",
            )
        out.print(table)


@users_app.command("grant-role")
@handles_errors
def users_grant_role(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[str, typer.Argument(help="operator, creator, fan or licensee.")],
) -> None:
    """Give a user a role."""
    (parsed,) = _roles([role])
    with _db() as (_, session):
        user = service.get_user_by_email(session, email)
        changed = service.grant_role(session, user=user, role=parsed)
        out.print(f"{user.email} {'now has' if changed else 'already had'} the {parsed.value} role")


@users_app.command("set-password")
@handles_errors
def users_set_password(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Set a user's password (ends their sessions). Read from FAIRTRAIN_NEW_PASSWORD or asked for."""
    password = _password_option(prompt=True)
    assert password is not None
    with _db() as (settings, session):
        user = service.get_user_by_email(session, email)
        service.set_password(
            session, user=user, password=password, min_password_length=settings.password_min_length
        )
        out.print(f"password set for {user.email}")


# --- creators ------------------------------------------------------------------------------------------


@creators_app.command("create")
@handles_errors
def creators_create(
    handle: Annotated[str, typer.Argument(help="Public handle: /@handle.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the handle).")] = None,
    email: Annotated[
        str | None, typer.Option(help="Attach to this existing user, who becomes a creator.")
    ] = None,
    legal_name: Annotated[
        str | None, typer.Option(help="Legal name, for agreements and registrations.")
    ] = None,
    bio: Annotated[str, typer.Option(help="Short public biography.")] = "",
) -> None:
    """Create a creator profile, optionally for an existing user."""
    with _db() as (_, session):
        user = service.get_user_by_email(session, email) if email else None
        creator = service.create_creator(
            session, handle=handle, display_name=name or handle, user=user, legal_name=legal_name, bio=bio
        )
        owner = f" for {user.email}" if user else ""
        out.print(f"created @{creator.handle} ({creator.id}){owner}")


@creators_app.command("list")
@handles_errors
def creators_list() -> None:
    """List creator profiles."""
    with _db() as (_, session):
        table = Table("id", "handle", "display name", "user", "created")
        for creator in service.list_creators(session, limit=100_000):
            table.add_row(
                creator.id,
                f"@{creator.handle}",
                creator.display_name,
                creator.user.email if creator.user else "",
                f"{creator.created_at:%Y-%m-%d}",
            )
        out.print(table)


# --- collectives ---------------------------------------------------------------------------------------


@collectives_app.command("create")
@handles_errors
def collectives_create(
    slug: Annotated[str, typer.Argument(help="Short name used in URLs.")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    operator: Annotated[str, typer.Option(help="Email of the user who runs it (gets the operator role).")],
    description: Annotated[str, typer.Option(help="What the collective is.")] = "",
) -> None:
    """Create a collective."""
    with _db() as (_, session):
        user = service.get_user_by_email(session, operator)
        collective = service.create_collective(
            session, slug=slug, name=name, operator=user, description=description
        )
        out.print(f"created collective {collective.slug} ({collective.id}) run by {user.email}")


@collectives_app.command("add-member")
@handles_errors
def collectives_add_member(
    slug: Annotated[str, typer.Argument(help="The collective.")],
    handle: Annotated[str, typer.Argument(help="The creator's handle.")],
) -> None:
    """Add a creator to a collective (records the join date)."""
    with _db() as (_, session):
        collective = service.get_collective(session, slug)
        creator = service.get_creator(session, handle)
        membership = service.add_member(session, collective=collective, creator=creator)
        out.print(f"@{creator.handle} joined {collective.slug} on {membership.joined_at:%Y-%m-%d}")


@collectives_app.command("remove-member")
@handles_errors
def collectives_remove_member(
    slug: Annotated[str, typer.Argument(help="The collective.")],
    handle: Annotated[str, typer.Argument(help="The creator's handle.")],
) -> None:
    """Record that a creator left a collective (their membership history is kept)."""
    with _db() as (_, session):
        collective = service.get_collective(session, slug)
        creator = service.get_creator(session, handle)
        membership = service.remove_member(session, collective=collective, creator=creator)
        assert membership.left_at is not None
        out.print(f"@{creator.handle} left {collective.slug} on {membership.left_at:%Y-%m-%d}")


@collectives_app.command("list")
@handles_errors
def collectives_list() -> None:
    """List collectives with their current members."""
    with _db() as (_, session):
        table = Table("id", "slug", "name", "operator", "members")
        for collective in service.list_collectives(session, limit=100_000):
            members = ", ".join(f"@{m.creator.handle}" for m in service.active_members(collective))
            table.add_row(collective.id, collective.slug, collective.name, collective.operator.email, members)
        out.print(table)


# --- licensee organisations ----------------------------------------------------------------------------


@licensees_app.command("create")
@handles_errors
def licensees_create(
    name: Annotated[str, typer.Argument(help="Organisation name.")],
    contact_name: Annotated[str, typer.Option(help="Person to contact.")],
    contact_email: Annotated[str, typer.Option(help="Contact email.")],
    billing_email: Annotated[
        str | None, typer.Option(help="Where invoices go (default: contact email).")
    ] = None,
) -> None:
    """Register a licensee organisation."""
    with _db() as (_, session):
        org = service.create_licensee_org(
            session,
            name=name,
            contact_name=contact_name,
            contact_email=contact_email,
            billing_email=billing_email or contact_email,
        )
        out.print(f"created organisation {org.name} ({org.id})")


@licensees_app.command("add-member")
@handles_errors
def licensees_add_member(
    name: Annotated[str, typer.Argument(help="Organisation name.")],
    email: Annotated[str, typer.Argument(help="User to add (gets the licensee role).")],
) -> None:
    """Add a user to a licensee organisation."""
    with _db() as (_, session):
        org = service.get_licensee_org(session, name)
        user = service.get_user_by_email(session, email)
        service.add_licensee_member(session, org=org, user=user)
        out.print(f"{user.email} now acts for {org.name}")


# --- catalogue ----------------------------------------------------------------------------------------


class _BarProgress(ScanProgress):
    """Rich progress bar over the bytes to read, with the file count beside it, rate and ETA."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.total_files = 0
        self.done_files = 0
        self.task = progress.add_task("listing files", total=None, files="")

    def listed(self, files: int, total_bytes: int) -> None:
        self.total_files = files
        self.progress.update(self.task, total=total_bytes, description="scanning", files=f"0/{files} files")

    def advanced(self, path: str, size: int, outcome: str) -> None:
        self.done_files += 1
        self.progress.update(self.task, advance=size, files=f"{self.done_files}/{self.total_files} files")


@app.command()
@handles_errors
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Folders to import.", exists=True, file_okay=False)],
    creator: Annotated[str, typer.Option("--creator", help="Handle of the creator who owns the works.")],
    reference: Annotated[
        bool,
        typer.Option("--reference", help="Record where files are instead of copying them into the store."),
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes; 0 means one per core.", min=0)] = 0,
) -> None:
    """Import folders into a creator's catalogue. Re-scans are incremental; an interrupted scan resumes."""
    with _db() as (settings, session):
        owner = service.get_creator(session, creator)
        owner_id, owner_handle = owner.id, owner.handle
    engine = _engine(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            summary = run_scan(
                make_sessionmaker(engine),
                creator_id=owner_id,
                roots=paths,
                store_root=None if reference else settings.media_dir,
                workers=workers or os.cpu_count() or 1,
                max_pixels=settings.max_image_pixels,
                progress=_BarProgress(bar),
            )
    except KeyboardInterrupt:
        err.print("scan interrupted; what was imported is kept, run the same command again to resume")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()
    counts = summary.counts
    names = ("new", "changed", "unchanged", "moved", "duplicate", "missing", "errors", "near_duplicates")
    parts = [f"{counts.get(k, 0)} {k.replace('_', ' ')}" for k in names]
    out.print(f"@{owner_handle}: {', '.join(parts)} (scan {summary.scan_id})")
    if counts.get("errors"):
        out.print(f"see the errors with `fairtrain catalog errors --creator {owner_handle}`")
    if counts.get("duplicate") or counts.get("near_duplicates"):
        out.print(f"see the duplicates with `fairtrain catalog dupes --creator {owner_handle}`")


@catalog_app.command("errors")
@handles_errors
def catalog_errors(
    creator: Annotated[str, typer.Option("--creator", help="Creator handle.")],
    all_scans: Annotated[
        bool, typer.Option("--all", help="Errors of every scan, not only the latest.")
    ] = False,
) -> None:
    """Files the latest scan could not import, with the reason."""
    with _db() as (_, session):
        owner = service.get_creator(session, creator)
        rows = catalog_service.scan_errors(session, creator=owner, latest_only=not all_scans)
        table = Table("path", "problem", "detail")
        for row in rows:
            table.add_row(row.path, row.code, row.message)
        out.print(table if rows else "no scan errors")


@catalog_app.command("dupes")
@handles_errors
def catalog_dupes(creator: Annotated[str, typer.Option("--creator", help="Creator handle.")]) -> None:
    """Exact duplicates (one file at several paths) and near duplicates (edited copies) in a catalogue."""
    with _db() as (_, session):
        owner = service.get_creator(session, creator)
        exact = exact_duplicates(session, creator_id=owner.id)
        near = near_duplicates(session, creator_id=owner.id)
        titles = {a.id: a.title for a in catalog_service.list_assets(session, creator=owner, limit=1_000_000)}
    if not exact and not near:
        out.print("no duplicates")
        return
    if exact:
        table = Table("asset", "title", "paths", title="Exact duplicates (same content)")
        for group in exact:
            table.add_row(group.asset_id, group.title, "\n".join(group.paths))
        out.print(table)
    if near:
        table = Table("asset", "title", "near", "title", "by", "score", title="Near duplicates")
        for pair in near:
            score = f"{pair.score:.2f}" if pair.algorithm == "minhash128" else f"{pair.score:g}"
            table.add_row(
                pair.asset_id,
                titles.get(pair.asset_id, ""),
                pair.other_id,
                titles.get(pair.other_id, ""),
                pair.algorithm,
                score,
            )
        out.print(table)


@catalog_app.command("purge")
@handles_errors
def catalog_purge(creator: Annotated[str, typer.Option("--creator", help="Creator handle.")]) -> None:
    """Remove from the media store the files of deleted assets that no live asset still uses."""
    with _db() as (settings, session):
        owner = service.get_creator(session, creator)
        removed, freed = catalog_service.purge_deleted(session, creator=owner, store_root=settings.media_dir)
    out.print(f"removed {removed} file{'s' if removed != 1 else ''}, {freed:,} bytes freed")


@catalog_app.command("list")
@handles_errors
def catalog_list(creator: Annotated[str, typer.Option("--creator", help="Creator handle.")]) -> None:
    """List a creator's assets."""
    with _db() as (_, session):
        owner = service.get_creator(session, creator)
        table = Table("id", "kind", "title", "created", "size", "sha256")
        for asset in catalog_service.list_assets(session, creator=owner, limit=1_000_000):
            created = f"{asset.created_at:%Y-%m-%d} ({asset.created_source})" if asset.created_at else ""
            table.add_row(asset.id, asset.kind, asset.title, created, f"{asset.size:,}", asset.sha256[:12])
        out.print(table)


# --- exports and copyright registration ---------------------------------------------------------------

export_app = typer.Typer(help="Exports for outside bodies: copyright registration.", no_args_is_help=True)
app.add_typer(export_app, name="export")


class _ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


class _RegistrationType(enum.StrEnum):
    GRPPH = "GRPPH"
    GRUPH = "GRUPH"
    GRTX = "GRTX"


@catalog_app.command("export")
@handles_errors
def catalog_export(
    creator: Annotated[str, typer.Option("--creator", help="Creator handle.")],
    fmt: Annotated[_ExportFormat, typer.Option("--format", help="csv (flat) or json (nested).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="File to write (default: standard output).")
    ] = None,
) -> None:
    """Every live asset with everything the catalogue records about it, as CSV or JSON."""
    with _db() as (_, session):
        owner = service.get_creator(session, creator)
        rows = catalog_exports.export_rows(session, creator=owner)
    buffer = io.StringIO(newline="")
    (catalog_exports.write_csv if fmt is _ExportFormat.CSV else catalog_exports.write_json)(rows, buffer)
    if out_file is None:
        sys.stdout.write(buffer.getvalue())
        return
    out_file.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    err.print(f"wrote {len(rows):,} assets to {out_file}")


@catalog_app.command("portfolio")
@handles_errors
def catalog_portfolio(
    creator: Annotated[str, typer.Option("--creator", help="Creator handle.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """A catalogue in numbers: works by kind and year, size, duration, words, licensed share, co-owned."""
    with _db() as (_, session):
        owner = service.get_creator(session, creator)
        summary = catalog_exports.portfolio(session, creator=owner)
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2, sort_keys=True) + "\n")
    else:
        out.print(catalog_exports.render_portfolio_text(summary), end="", markup=False)


def _span(group: registration.Group) -> str:
    first, last = group.first_published, group.last_published
    if first is None or last is None:
        return "unpublished"
    return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"


@export_app.command("registration")
@handles_errors
def export_registration(
    creator: Annotated[str, typer.Option("--creator", help="Creator handle.")],
    reg_type: Annotated[
        _RegistrationType,
        typer.Option(
            "--type",
            help="GRPPH (published photos), GRUPH (unpublished photos) or GRTX (short online texts).",
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Folder for the groups (TYPE-n/ inside).")
    ],
    author: Annotated[
        str | None, typer.Option(help="Author's name (default: the creator's legal or display name).")
    ] = None,
) -> None:
    """US Copyright Office group registration: per group a list (CSV, XLSX) and a deposit ZIP.

    Works that break a rule are left out and listed with the rule; the exit code is 1 only when no valid
    group could be formed.
    """
    kind: registration.RegistrationType = reg_type.value
    with _db() as (settings, session):
        owner = service.get_creator(session, creator)
        plan = registration.plan_groups(session, creator=owner, reg_type=kind, author=author)
    taken = sorted(out_dir.glob(f"{kind}-*")) if out_dir.is_dir() else []
    if plan.groups and taken:
        raise Conflict(f"{out_dir} already holds {taken[0].name}; choose another --out or remove it")
    store = MediaStore(settings.media_dir)
    table = Table("group", "works", "published", "folder", title=Text(f"{kind} groups for {plan.author}"))
    for group in plan.groups:
        folder = out_dir / group.name
        folder.mkdir(parents=True)
        with (folder / "list.csv").open("w", encoding="utf-8", newline="") as handle:
            registration.write_list_csv(group, handle)
        registration.write_list_xlsx(group, folder / "list.xlsx")
        registration.write_deposit_zip(group, store=store, path=folder / "deposit.zip")
        if problems := registration.check_group(group, deposit=folder / "deposit.zip"):
            raise registration.DepositError(f"{group.name} fails its own check: {problems[0].message}")
        table.add_row(str(group.number), f"{len(group.works):,}", _span(group), Text(str(folder)))
    if plan.groups:
        out.print(table)
    if plan.violations:
        problems_table = Table("asset", "title", "rule", "problem", title="Left out")
        for v in plan.violations:
            problems_table.add_row(v.asset_id, Text(v.title), v.rule, Text(v.message))
        out.print(problems_table)
    if not plan.groups:
        err.print(
            f"[bold red]error:[/] no valid {kind} group could be formed for @{plan.creator}", markup=True
        )
        raise typer.Exit(1)


# --- crawler registry ---------------------------------------------------------------------------------

crawlers_app = typer.Typer(help="The registry of known AI agents and search crawlers.", no_args_is_help=True)
app.add_typer(crawlers_app, name="crawlers")


class _Purpose(enum.StrEnum):
    TRAINING = "training"
    AI_INPUT = "ai-input"
    SEARCH = "search"
    USER_FETCH = "user-fetch"
    UNKNOWN = "unknown"


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


@crawlers_app.command("list")
@handles_errors
def crawlers_list(
    purpose: Annotated[
        _Purpose | None, typer.Option("--purpose", help="Only crawlers with this purpose.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON.")] = False,
) -> None:
    """List known crawlers: operator, purpose, whether they obey robots.txt, how to verify them."""
    registry = CrawlerRegistry.load(_settings())
    rows = registry.by_purpose(purpose.value) if purpose else list(registry)
    if as_json:
        payload = [c.model_dump(mode="json") for c in rows]
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table("name", "operator", "purpose", "robots.txt", "verification", title=f"{len(rows)} crawlers")
    for crawler in rows:
        name = Text(crawler.name + (" (token)" if crawler.token_only else ""))
        if crawler.source == "operator":
            name.append(" *", style="bold")
        table.add_row(
            name,
            Text(crawler.operator),
            crawler.purpose,
            _yes_no(crawler.respects_robots_txt),
            Text("; ".join(crawler.verification) or "user agent only"),
        )
    out.print(table)


@crawlers_app.command("update")
@handles_errors
def crawlers_update(
    source: Annotated[
        str,
        typer.Option(
            "--from", help="A crawler list file or http(s) URL (ours, or ai.robots.txt robots.json)."
        ),
    ],
) -> None:
    """Replace the installed crawler list after validating it; on any error the old list stays."""
    settings = _settings()
    crawlers = update_crawlers_from(source, data_dir=settings.ensure_data_dir())
    out.print(f"installed {len(crawlers)} crawlers from {source}")


@crawlers_app.command("add")
@handles_errors
def crawlers_add(
    name: Annotated[str, typer.Argument(help="The user-agent token, as in robots.txt.")],
    operator: Annotated[str, typer.Option("--operator", help="Who runs it.")],
    purpose: Annotated[_Purpose, typer.Option("--purpose", help="What it collects for.")],
    pattern: Annotated[
        list[str] | None,
        typer.Option("--pattern", help="User-Agent token (or `re:` regex) to recognise it; repeatable."),
    ] = None,
    rdns: Annotated[
        list[str] | None, typer.Option("--rdns", help="Reverse-DNS suffix that verifies it; repeatable.")
    ] = None,
    description: Annotated[str, typer.Option(help="What it does.")] = "",
) -> None:
    """Add (or replace) an entry of your own; it wins over a listed crawler of the same name."""
    settings = _settings()
    crawler = add_local_crawler(
        {
            "name": name,
            "operator": operator,
            "purpose": purpose.value,
            "user_agent_patterns": pattern or [],
            "rdns_suffixes": rdns or [],
            "description": description,
        },
        data_dir=settings.ensure_data_dir(),
    )
    out.print(f"added {crawler.name} ({crawler.purpose}, run by {crawler.operator})")


@crawlers_app.command("remove")
@handles_errors
def crawlers_remove(name: Annotated[str, typer.Argument(help="An entry added with `crawlers add`.")]) -> None:
    """Remove an entry you added (a listed crawler of the same name shows again)."""
    removed = remove_local_crawler(name, data_dir=_settings().data_dir)
    out.print(f"removed {removed.name}")


prefixes_app = typer.Typer(
    help="Crawler operators' published IP prefix lists, which verify crawlers that do not sign requests.",
    no_args_is_help=True,
)
crawlers_app.add_typer(prefixes_app, name="prefixes")


@prefixes_app.command("install")
@handles_errors
def prefixes_install(
    name: Annotated[str, typer.Argument(help="The list's name, as the crawler registry calls it.")],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="A file or http(s) URL (JSON as operators publish it, or one CIDR per line). Default: "
            "the URL the registry knows for this list.",
        ),
    ] = None,
) -> None:
    """Install or replace one prefix list after validating it; running servers pick it up within seconds."""
    settings = _settings()
    if source is None:
        registry = CrawlerRegistry.current(settings.data_dir)
        urls = {c.ip_prefix_list_url for c in registry if c.ip_prefix_list == name and c.ip_prefix_list_url}
        if not urls:
            err.print(f"the registry knows no URL for prefix list {name!r}; give one with --from")
            raise typer.Exit(2)
        source = sorted(urls)[0]
    prefixes = install_prefix_list(name, source, directory=settings.ensure_data_dir() / PREFIX_DIR)
    users = [c.name for c in CrawlerRegistry.current(settings.data_dir) if c.ip_prefix_list == name]
    out.print(f"installed {name}: {len(prefixes)} prefixes from {source}")
    out.print(f"verifies: {', '.join(users)}" if users else "no registered crawler uses this list yet")


@prefixes_app.command("list")
@handles_errors
def prefixes_list() -> None:
    """The installed lists, how many prefixes each holds, and the registry's lists not installed."""
    settings = _settings()
    lists = PrefixLists.from_directory(settings.data_dir / PREFIX_DIR)
    registry = CrawlerRegistry.current(settings.data_dir)
    wanted = sorted({c.ip_prefix_list for c in registry if c.ip_prefix_list})
    table = Table("list", "prefixes", "crawlers", "state", title="IP prefix lists")
    for name in sorted(set(wanted) | set(lists.names())):
        found = lists.get(name)
        current = found.current() if found is not None else None
        state = "not installed" if found is None else (found.error or "ok")
        crawlers = ", ".join(c.name for c in registry if c.ip_prefix_list == name)
        table.add_row(name, str(len(current)) if current is not None else "-", crawlers, Text(state))
    out.print(table)


# --- rights policy -------------------------------------------------------------------------------------

policy_app = typer.Typer(help="What AI may do with the works: one policy per site, collective, creator, ...")
app.add_typer(policy_app, name="policy")


def _scope(
    session: Session,
    *,
    creator: str | None,
    collective: str | None,
    collection: str | None,
    asset: str | None,
) -> Scope:
    if sum(x is not None for x in (collective, asset)) + (creator is not None and collection is None) > 1:
        raise InvalidInput(
            "name one scope: --creator, --collective, --collection (with --creator) or --asset"
        )
    if asset is not None:
        return Scope("asset", catalog_service.get_asset(session, asset).id)
    if collection is not None:
        if creator is None:
            raise InvalidInput("--collection needs --creator")
        owner = service.get_creator(session, creator)
        return Scope("collection", catalog_service.get_collection(session, creator=owner, slug=collection).id)
    if collective is not None:
        return Scope("collective", service.get_collective(session, collective).id)
    if creator is not None:
        return Scope("creator", service.get_creator(session, creator).id)
    return SITE


@policy_app.command("show")
@handles_errors
def policy_show(
    creator: Annotated[str | None, typer.Option(help="Creator handle.")] = None,
    asset: Annotated[str | None, typer.Option(help="Asset id.")] = None,
) -> None:
    """The effective policy (site, a creator's, or an asset's) and where each decision comes from."""
    with _db() as (_, session):
        owner = service.get_creator(session, creator) if creator else None
        item = catalog_service.get_asset(session, asset) if asset else None
        decisions = effective_policy(session, creator=owner, asset=item)
        table = Table("usage", "decision", "terms", "set at")
        for usage in CONCRETE_USAGES:
            decision = decisions[usage]
            rule = decision.rule
            terms = rule.payment or ""
            if rule.amount_micros is not None:
                terms += f" {format_micros(rule.amount_micros)} {rule.currency}"
            where = "default" if decision.default else f"{decision.scope.kind} {decision.scope.id}".strip()
            table.add_row(usage, rule.action, terms.strip(), where)
        out.print(table)


@policy_app.command("set")
@handles_errors
def policy_set(
    usage: Annotated[str, typer.Argument(help="search, ai-input, ai-index, ai-train, ai-all or all.")],
    action: Annotated[str, typer.Argument(help="allow, deny, licence, or clear (remove the rule).")],
    creator: Annotated[str | None, typer.Option(help="Creator handle (default scope: the site).")] = None,
    collective: Annotated[str | None, typer.Option(help="Collective slug.")] = None,
    collection: Annotated[str | None, typer.Option(help="Collection slug (with --creator).")] = None,
    asset: Annotated[str | None, typer.Option(help="Asset id.")] = None,
    payment: Annotated[str | None, typer.Option(help="RSL payment type, e.g. training, crawl, use.")] = None,
    price: Annotated[str | None, typer.Option(help="Exact decimal amount, e.g. 0.015.")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code, e.g. USD.")] = None,
    user_type: Annotated[
        list[str] | None, typer.Option("--user-type", help="Only for this user type.")
    ] = None,
    territory: Annotated[
        list[str] | None, typer.Option("--territory", help="Limit to a country or EU.")
    ] = None,
) -> None:
    """Set what one scope says about one usage; the change is recorded."""
    amount = None
    if price is not None or currency is not None:
        if price is None or currency is None:
            raise InvalidInput("a price needs both --price and --currency")
        amount, currency = parse_price(price, currency)
    rule = None
    if action != "clear":
        rule = Rule(
            action=action,
            payment=payment,
            amount_micros=amount,
            currency=currency,
            user_types=tuple(user_type or ()),
            territories=tuple(t.upper() for t in territory or ()),
        )
    with _db() as (_, session):
        scope = _scope(session, creator=creator, collective=collective, collection=collection, asset=asset)
        change = set_rule(session, scope=scope, usage=usage, rule=rule, changed_by=None)
        where = f"{scope.kind} {scope.id}".strip()
        out.print(f"{where}: {usage} -> {action}" if change else f"{where}: {usage} unchanged")
        stale = protected_asset_ids(session, scope=scope) if change else []
        if stale:
            out.print(
                f"{len(stale)} protected copies carry the old terms; `fairtrain protect` remakes them "
                "(`--creator H`, or their asset ids)"
            )


signals_app = typer.Typer(help="The policy's machine-readable signals.", no_args_is_help=True)
app.add_typer(signals_app, name="signals")


@signals_app.command("export")
@handles_errors
def signals_export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into (created if missing).")],
    site_name: Annotated[
        str, typer.Option(help="Name used in the files and the terms clause.")
    ] = "fairtrain",
) -> None:
    """Write robots.txt, ai.txt, tdmrep.json, license.xml, web-server snippets and a terms clause."""
    with _db() as (settings, session):
        site = site_signals(session, base_url=settings.base_url, site_name=site_name)
        crawlers = CrawlerRegistry.load(settings.data_dir).crawlers
        written = export_signals(site, crawlers, out_dir=out_dir)
    for path in written:
        out.print(str(path))


# --- protection ------------------------------------------------------------------------------------------

stamp_app = typer.Typer(help="Protected files: visible-watermark settings.", no_args_is_help=True)
keys_app = typer.Typer(
    help="The C2PA certificate authority and creators' signing keys.", no_args_is_help=True
)
app.add_typer(stamp_app, name="stamp")
app.add_typer(keys_app, name="keys")


@app.command()
@handles_errors
def protect(
    assets: Annotated[list[str] | None, typer.Argument(help="Asset ids to protect.")] = None,
    creator: Annotated[
        str | None, typer.Option("--creator", help="Protect all of this creator's works.")
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Only this collection (slug) of --creator.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo derivatives that are up to date.")] = False,
) -> None:
    """Write protected derivatives (watermark, XMP/IPTC, C2PA; canaries for text). Originals are untouched.

    Only stale derivatives are redone (after a policy, name or settings change), so it is cheap to re-run.
    Each asset is committed on its own: an interrupted run keeps what it finished.
    """
    from fairtrain.stamp.service import ProtectionContext, assets_to_protect, protect_asset

    if bool(assets) == bool(creator):
        raise InvalidInput("name asset ids or --creator, not both and not neither")
    if collection and not creator:
        raise InvalidInput("--collection needs --creator")
    settings = _settings()
    context = ProtectionContext.from_settings(settings)
    engine = _engine(settings)
    maker = make_sessionmaker(engine)
    counts: dict[str, int] = {}
    failures: list[str] = []
    try:
        with transaction(maker) as session:
            owner = service.get_creator(session, creator) if creator else None
            group = (
                catalog_service.get_collection(session, creator=owner, slug=collection)
                if owner and collection
                else None
            )
            selected = assets_to_protect(session, creator=owner, collection=group, asset_ids=assets or ())
            ids = [a.id for a in selected]
        with Progress(
            TextColumn("protecting"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("protect", total=len(ids))
            for asset_id in ids:
                with transaction(maker) as session:
                    outcome = protect_asset(
                        session,
                        asset=catalog_service.get_asset(session, asset_id),
                        context=context,
                        force=force,
                    )
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
                if outcome.status in ("failed", "skipped"):
                    failures.append(f"{asset_id}: {outcome.status}: {outcome.detail}")
                bar.advance(task)
    except KeyboardInterrupt:
        err.print("interrupted; finished assets are kept, run the same command again to go on")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()
    for line in failures:
        out.print(line)
    names = ("protected", "unchanged", "skipped", "failed")
    out.print(", ".join(f"{counts.get(k, 0)} {k}" for k in names))
    if counts.get("failed"):
        raise typer.Exit(1)


def _verify_lines(report: object) -> list[str]:
    from fairtrain.stamp.verify import VerifyReport

    assert isinstance(report, VerifyReport)
    lines = [f"{report.filename}: {report.mime}, {report.size:,} bytes, sha256 {report.sha256[:16]}…"]
    if report.known_file:
        lines.append(f"  identical file: {report.known_file.asset_id} by @{report.known_file.creator_handle}")
    if report.watermark is not None:
        mark = report.watermark
        if mark.found:
            owner = f"{mark.asset.title!r} by @{mark.asset.creator_handle}" if mark.asset else "unknown here"
            how = " after re-sync" if mark.resynced else ""
            lines.append(
                f"  watermark: {mark.payload_asset_id} ({owner}), confidence {mark.confidence:.2f}{how}"
            )
        else:
            lines.append("  watermark: none (the error-correcting code found no valid payload)")
    if report.manifest is not None:
        manifest = report.manifest
        lines.append(
            f"  C2PA: {manifest.state}" + (f", signed by {manifest.signer}" if manifest.signer else "")
        )
        for name, entry in sorted(manifest.training_mining.items()):
            lines.append(
                f"    {name}: {entry.get('use')}"
                + (f" ({entry['constraint_info']})" if entry.get("constraint_info") else "")
            )
        for error in manifest.errors:
            lines.append(f"    ! {error}")
    if report.xmp is not None:
        xmp = report.xmp
        fields = [
            ("creator", xmp.creator),
            ("copyright", xmp.copyright_notice),
            ("data mining", xmp.data_mining),
            ("constraints", xmp.other_constraints),
            ("web statement", xmp.web_statement),
            ("asset", xmp.asset_id),
        ]
        lines.append("  XMP: " + "; ".join(f"{k}: {v}" for k, v in fields if v))
    elif report.xmp_error:
        lines.append(f"  XMP: unreadable ({report.xmp_error})")
    for found in report.canaries:
        owner = f"{found.asset.asset_id} by @{found.asset.creator_handle}" if found.asset else "unknown here"
        lines.append(f"  canary {found.token}: {owner}")
    for match in report.matches:
        label = "near" if match.near else "far"
        lines.append(
            f"  {label} {match.algorithm} {match.score:g}: {match.asset.asset_id} {match.asset.title!r} "
            f"by @{match.asset.creator_handle}"
        )
    return lines


@app.command()
@handles_errors
def verify(
    files: Annotated[list[Path], typer.Argument(help="Files to check.", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Report the watermark, C2PA manifest, XMP rights, canaries and nearest catalogue works of each file."""
    import dataclasses

    from fairtrain.stamp.service import ProtectionContext
    from fairtrain.stamp.verify import verify_bytes

    reports = []
    with _db() as (settings, session):
        context = ProtectionContext.from_settings(settings)
        for path in files:
            if path.stat().st_size > settings.max_upload_bytes:
                raise InvalidInput(f"{path} is larger than the upload limit")
            reports.append(
                verify_bytes(
                    session,
                    path.read_bytes(),
                    filename=path.name,
                    context=context,
                    max_pixels=settings.max_image_pixels,
                )
            )
    if as_json:
        out.print_json(json.dumps([dataclasses.asdict(r) for r in reports], default=str))
        return
    for report in reports:
        for line in _verify_lines(report):
            out.print(line, markup=False)


@stamp_app.command("settings")
@handles_errors
def stamp_settings(
    creator: Annotated[str, typer.Option("--creator", help="The creator's handle.")],
    visible: Annotated[
        bool | None, typer.Option("--visible/--no-visible", help="Turn the visible watermark on or off.")
    ] = None,
    text: Annotated[str | None, typer.Option(help="Watermark text, e.g. '© Mira Okafor'.")] = None,
    logo: Annotated[
        Path | None,
        typer.Option(help="A logo image (PNG with transparency works best).", exists=True, dir_okay=False),
    ] = None,
    position: Annotated[
        str | None, typer.Option(help="bottom-right, bottom-left, top-right, top-left, center or tile.")
    ] = None,
    opacity: Annotated[int | None, typer.Option(help="Opacity in percent (1-100).")] = None,
    scale: Annotated[int | None, typer.Option(help="Width in percent of the image (2-100).")] = None,
) -> None:
    """Show or change a creator's visible watermark; run `fairtrain protect --creator H` afterwards."""
    from fairtrain.stamp.service import ProtectionContext, get_settings, update_settings

    with _db() as (settings, session):
        owner = service.get_creator(session, creator)
        row = get_settings(session, owner)
        if any(v is not None for v in (visible, text, logo, position, opacity, scale)):
            row = update_settings(
                session,
                creator=owner,
                context=ProtectionContext.from_settings(settings),
                enabled=row.visible_enabled if visible is None else visible,
                text=row.visible_text if text is None else text,
                logo=logo.read_bytes() if logo else None,
                position=position or row.visible_position,
                opacity=row.visible_opacity if opacity is None else opacity,
                scale=row.visible_scale if scale is None else scale,
            )
        state = "on" if row.visible_enabled else "off"
        what = "logo" if row.visible_logo_sha256 else repr(row.visible_text or "")
        out.print(
            f"@{owner.handle}: visible watermark {state}: {what}, {row.visible_position}, "
            f"{row.visible_opacity}% opacity, {row.visible_scale}% wide"
        )


@keys_app.command("show")
@handles_errors
def keys_show() -> None:
    """Print the installation's C2PA root certificate (PEM), as verifiers need it."""
    from fairtrain.stamp.service import ProtectionContext

    context = ProtectionContext.from_settings(_settings())
    out.print(context.keyring.root_certificate_pem().decode(), markup=False, end="")


@keys_app.command("rotate")
@handles_errors
def keys_rotate(
    creator: Annotated[str | None, typer.Option("--creator", help="Rotate this creator's key only.")] = None,
    root: Annotated[
        bool, typer.Option("--root", help="Rotate the root CA (old roots stay trusted).")
    ] = False,
    rsl: Annotated[
        bool,
        typer.Option("--rsl", help="Rotate the RSL licence-token signing key (old one published a while)."),
    ] = False,
) -> None:
    """Issue new keys. Derivatives signed with the old ones are redone by the next `fairtrain protect`."""
    from fairtrain.licensing.olp import rotate_signing_key
    from fairtrain.stamp.service import ProtectionContext

    if [bool(creator), root, rsl].count(True) != 1:
        raise InvalidInput("give one of --creator H, --root or --rsl")
    if rsl:
        kid = rotate_signing_key(_settings())
        out.print(
            f"new RSL token signing key {kid}; tokens signed with the old one stay valid until they expire"
        )
        return
    with _db() as (settings, session):
        context = ProtectionContext.from_settings(settings)
        if root:
            context.keyring.rotate_root()
            out.print("root CA rotated; creators' certificates are re-issued on next use")
        else:
            owner = service.get_creator(session, creator or "")
            context.keyring.rotate_creator(owner.id)
            out.print(f"@{owner.handle}: new signing key; run `fairtrain protect --creator {owner.handle}`")


# --- licensing and money: each package owns its commands --------------------------------------------------

app.add_typer(licensing_app, name="licensing")
app.add_typer(ledger_app, name="ledger")
app.add_typer(billing_app, name="billing")
app.add_typer(fans_app, name="fans")
app.add_typer(logs_app, name="logs")


# --- demo ----------------------------------------------------------------------------------------------


@app.command()
@handles_errors
def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Seed only when the database has no users yet.")
    ] = False,
) -> None:
    """Seed demo accounts (idempotent) and print their logins. Refused in production mode."""
    with _db() as (settings, session):
        if settings.mode == "production":
            raise InvalidInput("the demo has well-known passwords and is refused in production mode")
        has_users = bool(session.scalar(select(func.count(User.id))))
        demo_present = session.scalar(select(User.id).where(User.email == DEMO_LOGINS[0].email)) is not None
        if if_empty and has_users and not demo_present:
            out.print("database already has users; demo not seeded")
            return
        created = seed_demo(session, min_password_length=settings.password_min_length)
        works = seed_demo_works(session, settings)
        out.print("demo seeded" if created or works else "demo already present")
    out.print("\nDemo logins (fixed passwords: never use the demo on a public server):")
    for login in DEMO_LOGINS:
        page = f"  {settings.base_url}/@{login.handle}" if login.handle else ""
        out.print(f"  {login.role:<9} {login.email:<32} {login.password:<26}{page}")


def main() -> None:
    app()
