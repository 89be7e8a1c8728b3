from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from fairtrain import __version__
from fairtrain.cli import app
from fairtrain.db.migrate import head_revision

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """A data dir and a migrated database (SQLite copy or a fresh PostgreSQL one) for the CLI."""
    data_dir = tmp_path / "cli-data"
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("FAIRTRAIN_DATABASE_URL", database_url)
    monkeypatch.setenv("FAIRTRAIN_NEW_PASSWORD", "cli-password-orchard-8")
    return data_dir


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") <= 2, result.output  # one clear line
    return result.output


def test_version_and_help() -> None:
    assert _ok("--version").strip() == f"fairtrain {__version__}"
    for command in ([], ["users"], ["creators"], ["collectives"], ["db"], ["licensees"], ["serve"], ["demo"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_init_on_a_fresh_sqlite_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.delenv("FAIRTRAIN_DATABASE_URL", raising=False)
    out = _ok("init")
    assert "migrated empty ->" in out
    assert (tmp_path / "fresh" / "fairtrain.db").exists()
    assert (tmp_path / "fresh" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert "already up to date" in _ok("init")
    assert f"current: {head_revision()}" in _ok("db", "current")


def test_commands_before_init_say_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.delenv("FAIRTRAIN_DATABASE_URL", raising=False)
    assert "run `fairtrain init`" in _fails("users", "list")
    assert not (tmp_path / "fresh" / "fairtrain.db").exists()


def test_bad_settings_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRTRAIN_BASE_URL", "not a url")
    assert "FAIRTRAIN_BASE_URL" in _fails("users", "list")
    monkeypatch.setenv("FAIRTRAIN_BASE_URL", "https://a.example")
    monkeypatch.setenv("FAIRTRAIN_MODE", "production")
    monkeypatch.delenv("FAIRTRAIN_SECRET_KEY", raising=False)
    assert "FAIRTRAIN_SECRET_KEY" in _fails("serve")


def test_users_create_list_grant(env: Path) -> None:
    assert "created ana@example.com" in _ok("users", "create", "Ana@Example.com", "--role", "fan")
    assert "already exists" in _fails("users", "create", "ana@example.com")
    assert "now has the licensee role" in _ok("users", "grant-role", "ana@example.com", "licensee")
    assert "already had" in _ok("users", "grant-role", "ana@example.com", "licensee")
    assert "unknown role" in _fails("users", "grant-role", "ana@example.com", "wizard")
    assert "no user with email" in _fails("users", "grant-role", "bob@example.com", "fan")
    listing = _ok("users", "list")
    assert "ana@example.com" in listing and "fan, licensee" in listing
    assert "password set" in _ok("users", "set-password", "ana@example.com")


def test_users_create_prompts_for_a_password(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAIRTRAIN_NEW_PASSWORD")
    result = runner.invoke(app, ["users", "create", "p@example.com"], input="password1234\npassword1234\n")
    assert result.exit_code == 1 and "too common" in result.output
    good = "prompted-secret-river-3"
    result = runner.invoke(app, ["users", "create", "p@example.com"], input=f"{good}\n{good}\n")
    assert result.exit_code == 0, result.output


def test_creators_and_collectives(env: Path) -> None:
    _ok("users", "create", "op@example.com")
    _ok("users", "create", "ana@example.com")
    assert "created @ana" in _ok(
        "creators", "create", "ana", "--name", "Ana Lima", "--email", "ana@example.com"
    )
    assert "created @ben" in _ok("creators", "create", "Ben")
    assert "is taken" in _fails("creators", "create", "ana")
    assert "handle must be" in _fails("creators", "create", "no way")
    listing = _ok("creators", "list")
    assert "@ana" in listing and "Ana Lima" in listing and "@ben" in listing
    assert "created collective" in _ok(
        "collectives", "create", "guild", "--name", "Guild", "--operator", "op@example.com"
    )
    assert "joined guild" in _ok("collectives", "add-member", "guild", "ana")
    assert "already a member" in _fails("collectives", "add-member", "guild", "ana")
    assert "no creator @zed" in _fails("collectives", "add-member", "guild", "zed")
    assert "no collective" in _fails("collectives", "add-member", "nope", "ana")
    assert "@ana" in _ok("collectives", "list")
    assert "left guild" in _ok("collectives", "remove-member", "guild", "ana")
    assert "not a member" in _fails("collectives", "remove-member", "guild", "ana")


def test_licensees(env: Path) -> None:
    _ok("users", "create", "dana@lab.example.com")
    assert "created organisation Lab" in _ok(
        "licensees", "create", "Lab", "--contact-name", "Dana", "--contact-email", "dana@lab.example.com"
    )
    assert "now acts for Lab" in _ok("licensees", "add-member", "Lab", "dana@lab.example.com")
    assert "no organisation" in _fails("licensees", "add-member", "Nope", "dana@lab.example.com")


def test_demo_is_idempotent_and_prints_logins(env: Path, database_url: str) -> None:
    first = _ok("demo")
    assert "demo seeded" in first and "demo-fan-meadow-63" in first and "/@mira" in first
    second = _ok("demo", "--if-empty")
    assert "demo already present" in second and "demo-fan-meadow-63" in second
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar() == 5
    engine.dispose()


def test_demo_if_empty_leaves_a_real_install_alone(env: Path) -> None:
    _ok("users", "create", "real@example.com")
    assert "not seeded" in _ok("demo", "--if-empty")


def test_demo_is_refused_in_production(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRTRAIN_MODE", "production")
    monkeypatch.setenv("FAIRTRAIN_SECRET_KEY", "p" * 48)
    monkeypatch.setenv("FAIRTRAIN_BASE_URL", "https://art.example.org")
    assert "refused in production" in _fails("demo")
