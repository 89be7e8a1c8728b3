from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fairtrain.cli import app

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAIRTRAIN_DATABASE_URL", database_url)
    assert runner.invoke(app, ["creators", "create", "mira"]).exit_code == 0
    return tmp_path


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_policy_show_and_set(env: Path) -> None:
    shown = _run("policy", "show")
    assert "ai-train" in shown and "licence" in shown and "default" in shown
    assert "creator" in _run(
        "policy",
        "set",
        "ai-train",
        "licence",
        "--creator",
        "mira",
        "--payment",
        "training",
        "--price",
        "250",
        "--currency",
        "eur",
    )
    shown = _run("policy", "show", "--creator", "mira")
    assert "250.00 EUR" in shown and "training" in shown
    assert "unchanged" in _run(
        "policy",
        "set",
        "ai-train",
        "licence",
        "--creator",
        "mira",
        "--payment",
        "training",
        "--price",
        "250",
        "--currency",
        "EUR",
    )
    assert "site" in _run("policy", "set", "ai-all", "deny")
    assert "deny" in _run("policy", "show")
    assert "-> clear" in _run("policy", "set", "ai-all", "clear")
    assert "unknown action" in _run("policy", "set", "ai-train", "perhaps", code=1)
    assert "unknown usage" in _run("policy", "set", "ai-dream", "deny", code=1)
    assert "both --price and --currency" in _run(
        "policy", "set", "ai-train", "licence", "--price", "1", code=1
    )
    assert "name one scope" in _run(
        "policy", "set", "search", "deny", "--creator", "mira", "--collective", "x", code=1
    )
    assert "no creator @zed" in _run("policy", "set", "search", "deny", "--creator", "zed", code=1)
