"""Fixtures for the catalogue's CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fairtrain.cli import app


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """CLI environment on this test's database, with the creator @mira (legal name Mira Jensen)."""
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAIRTRAIN_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["creators", "create", "mira", "--legal-name", "Mira Jensen"])
    assert result.exit_code == 0, result.output
    return tmp_path
