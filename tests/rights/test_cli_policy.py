from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fairtrain.cli import app

runner = CliRunner()


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_policy_show_and_set(env: Path) -> None:
    shown = _run("policy", "show")
    assert "ai-train" in shown and "licence" in shown and "default" in shown
    licence = (
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
    )
    assert "creator" in _run(*licence, "--currency", "eur")
    shown = _run("policy", "show", "--creator", "mira")
    assert "250.00 EUR" in shown and "training" in shown
    assert "unchanged" in _run(*licence, "--currency", "EUR")  # the currency code is normalised
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


def test_signals_export_writes_every_file(env: Path) -> None:
    import json
    import re
    import xml.etree.ElementTree as ET

    _run(
        "policy", "set", "ai-train", "licence", "--payment", "training", "--price", "100", "--currency", "USD"
    )
    out_dir = env / "signals"
    printed = _run("signals", "export", "--out", str(out_dir), "--site-name", "Mira's Studio")
    names = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()}
    assert names == {
        "robots.txt",
        "ai.txt",
        "license.xml",
        ".well-known/tdmrep.json",
        ".well-known/tdm/site.json",
        ".well-known/tdm/@mira.json",
        "@mira/license.xml",
        "server/nginx.conf",
        "server/Caddyfile",
        "server/.htaccess",
        "terms-ai.txt",
        "headers.txt",
        "head.html",
    }
    assert str(out_dir / "robots.txt") in printed
    assert isinstance(json.loads((out_dir / ".well-known/tdmrep.json").read_text()), list)
    ET.fromstring((out_dir / "license.xml").read_text())
    nginx = (out_dir / "server/nginx.conf").read_text()
    agents = re.search(r'"~\*\((.*)\)" 1;', nginx).group(1)  # type: ignore[union-attr]
    assert "GPTBot" in agents.split("|") and "Googlebot" not in agents.split("|")
    assert re.search(
        agents, "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", re.IGNORECASE
    )
    assert r"^/(robots\.txt|ai\.txt|license\.xml|\.well-known/)" in nginx
    htaccess = (out_dir / "server/.htaccess").read_text()
    assert "RewriteRule .* - [F,L]" in htaccess and "RewriteCond %{REQUEST_URI} !^/(robots" in htaccess
    assert (
        "not path /robots.txt /ai.txt /license.xml /.well-known/*"
        in (out_dir / "server/Caddyfile").read_text()
    )
    terms = (out_dir / "terms-ai.txt").read_text()
    assert "Mira's Studio" in terms and "100.00 USD" in terms and "Article 4(3)" in terms
    assert "tdm-reservation: 1" in (out_dir / "headers.txt").read_text()
