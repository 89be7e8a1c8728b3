from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from fairtrain.config import InsecureSettings, Settings, load_secret_key

STRONG_KEY = "k" * 20 + "3fq9XvLz0pQw8Rt2YbNm"


def test_defaults_use_embedded_sqlite_in_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.data_dir == Path("fairtrain-data")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'fairtrain-data' / 'fairtrain.db'}"
    assert settings.cookie_secure is False


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FAIRTRAIN_BASE_URL", "https://art.example.org/")
    monkeypatch.setenv("FAIRTRAIN_LOGIN_MAX_FAILURES", "3")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.base_url == "https://art.example.org"
    assert settings.login_max_failures == 3
    assert settings.cookie_secure is True


def test_secure_cookie_can_be_forced(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, session_cookie_secure=True).cookie_secure is True
    assert (
        Settings(data_dir=tmp_path, base_url="https://x.example", session_cookie_secure=False).cookie_secure
        is False
    )


@pytest.mark.parametrize("url", ["ftp://x.example", "example.org", "http://"])
def test_base_url_must_be_absolute_http(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="base URL"):
        Settings(data_dir=tmp_path, base_url=url)


def test_secret_key_is_generated_once_with_private_permissions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = load_secret_key(settings)
    path = tmp_path / "data" / "secret_key"
    assert len(key) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert load_secret_key(settings) == key
    assert load_secret_key(Settings(data_dir=tmp_path / "other")) != key


def test_a_loose_secret_key_file_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("existing-key-value\n")
    (tmp_path / "secret_key").chmod(0o644)
    assert load_secret_key(Settings(data_dir=tmp_path)) == "existing-key-value"
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=STRONG_KEY)  # type: ignore[arg-type]
    assert load_secret_key(settings) == STRONG_KEY
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "needs FAIRTRAIN_SECRET_KEY"),
        ({"secret_key": "changeme"}, "default or shorter"),
        ({"secret_key": "short-but-not-default"}, "default or shorter"),
        ({"secret_key": STRONG_KEY, "base_url": "http://art.example.org"}, "https"),
    ],
)
def test_production_refuses_unsafe_values(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    values = {"base_url": "https://art.example.org", **overrides}
    with pytest.raises(InsecureSettings, match=message):
        Settings(mode="production", data_dir=tmp_path, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o702])
def test_production_refuses_a_data_dir_others_can_use(tmp_path: Path, mode: int) -> None:
    tmp_path.chmod(mode)
    with pytest.raises(InsecureSettings, match="other users"):
        Settings(mode="production", data_dir=tmp_path, secret_key=STRONG_KEY, base_url="https://a.example")  # type: ignore[arg-type]


def test_production_accepts_safe_values(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    settings = Settings(
        mode="production", data_dir=tmp_path, secret_key=STRONG_KEY, base_url="https://a.example"
    )  # type: ignore[arg-type]
    assert settings.cookie_secure is True
