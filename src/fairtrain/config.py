"""Settings: one pydantic-settings class, read from ``FAIRTRAIN_*`` environment variables.

Nothing here runs at import time; callers build ``Settings()`` (or pass values in tests) and hand the
object to ``create_app`` or the CLI.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fairtrain.errors import InvalidInput
from fairtrain.money import check_currency, parse_amount

__all__ = ["InsecureSettings", "Settings", "load_secret_key"]

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_KEY_LENGTH = 32
# Values people copy from examples; refused in production.
_DEFAULT_SECRET_KEYS = frozenset({"", "changeme", "change-me", "secret", "dev", "development", "insecure"})


class InsecureSettings(RuntimeError):
    """A setting is unsafe for the mode the server runs in (raised as-is, not as a validation error)."""


class Settings(BaseSettings):
    """Every setting has a default and help text; docs/configuration.md lists each one."""

    model_config = SettingsConfigDict(env_prefix="FAIRTRAIN_", extra="ignore", validate_default=True)

    mode: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses unsafe values: a missing or default secret key, a data directory "
        "that other users can read or write, an http base URL.",
    )
    data_dir: Path = Field(
        Path("fairtrain-data"),
        description="Directory for the embedded SQLite database, the secret key and media files.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Default: SQLite file `fairtrain.db` in the data directory. "
        "PostgreSQL: `postgresql+psycopg://user:pass@host/db`.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL of this server, used in links, licence documents and cookie security.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs session cookies and tokens. Default: generated on first run and kept in "
        "`<data_dir>/secret_key` (mode 0600). Required in production.",
    )
    session_cookie_name: str = Field("fairtrain_session", description="Name of the session cookie.")
    session_max_age: int = Field(
        14 * 24 * 3600, gt=0, description="Lifetime of a session cookie, in seconds."
    )
    session_cookie_secure: bool | None = Field(
        None,
        description="Send the session cookie only over HTTPS. Default: on when the base URL is https.",
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted, in bytes; larger requests get 413.",
    )
    max_upload_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Largest media file accepted by web and API uploads, in bytes; larger uploads get 413.",
    )
    max_image_pixels: int = Field(
        100_000_000,
        gt=0,
        description="Images with more pixels than this are refused on import (decompression-bomb guard).",
    )
    password_min_length: int = Field(
        10, ge=8, description="Shortest password accepted (sign-up, password change, CLI)."
    )
    login_max_failures: int = Field(
        5, gt=0, description="Failed log-ins allowed per account and IP address within the window."
    )
    login_failure_window: int = Field(
        15 * 60, gt=0, description="Window for counting failed log-ins, in seconds; excess gets 429."
    )
    rsl_token_lifetime: int = Field(
        900,
        gt=0,
        le=86_400,
        description="Lifetime of an RSL licence token, in seconds. Resource servers verify tokens "
        "offline, so a revoked client or ended deal is refused by them within this time (and at "
        "introspection at once).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Server log level.")
    platform_fee_bp: int = Field(
        1500,
        ge=0,
        le=10_000,
        description="The platform's fee on licence income, in basis points (1500 = 15 %), taken from each "
        "creator's gross share of a paid invoice before it is credited.",
    )
    payout_minimum: str = Field(
        "50",
        description="Smallest balance paid out in a payout batch, in major units; smaller balances carry "
        "forward. One amount for every currency (`50` = 50.00 USD, 50 JPY), optionally followed by "
        "per-currency amounts: `50, JPY 5000, BHD 20`.",
    )
    bank_account_holder: str | None = Field(
        None, description="Account holder shown in bank-transfer payment instructions on invoices."
    )
    bank_iban: str | None = Field(
        None, description="IBAN shown in bank-transfer payment instructions on invoices."
    )
    bank_bic: str | None = Field(
        None, description="BIC shown in bank-transfer payment instructions on invoices."
    )
    bank_name: str | None = Field(
        None, description="Bank name shown in bank-transfer payment instructions on invoices."
    )

    gateway_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long each gateway worker keeps what it looked up about a work, a creator's policy, "
        "a licence token's client and deal, or a fan's subscriptions, in seconds. A change (a new price, "
        "a revoked client, a cancelled subscription) reaches every worker within this time.",
    )
    gateway_reverse_dns: bool = Field(
        True,
        description="Check crawlers that claim to be Googlebot, Bingbot and the like by forward-confirmed "
        "reverse DNS. Only requests naming such a crawler are looked up; humans never wait for DNS.",
    )
    gateway_scraper_fetches_per_minute: int = Field(
        30,
        ge=1,
        description="Full-size fetches a minute from one address, without a session, licence or known "
        "crawler name, after which the address is treated as a suspected scraper for ten minutes.",
    )
    gateway_preview_size: int = Field(
        800, ge=64, le=4096, description="Longest side of the public preview of an image, in pixels."
    )
    gateway_memory_cache_mb: int = Field(
        64,
        ge=0,
        le=65_536,
        description="Memory each gateway worker may use to keep the files it serves most (previews, "
        "protected derivatives) so that serving one reads no disk; files over 1 MiB are always read from "
        "disk. 0 turns it off.",
    )
    meter_flush_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often each gateway worker writes its crawler-analytics counters. Charges and "
        "licensed uses are written before their response is sent, never on this timer; a crash loses at "
        "most this long of analytics counts.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"base URL must be an absolute http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("payout_minimum")
    @classmethod
    def _check_payout_minimum(cls, value: str) -> str:
        _payout_minimums(value)
        return value

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.mode != "production":
            return self
        key = self.secret_key.get_secret_value() if self.secret_key else None
        if key is None:
            raise InsecureSettings("production mode needs FAIRTRAIN_SECRET_KEY to be set")
        if key.strip().lower() in _DEFAULT_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH:
            raise InsecureSettings(
                f"FAIRTRAIN_SECRET_KEY is a default or shorter than {MIN_SECRET_KEY_LENGTH} characters"
            )
        if urlsplit(self.base_url).scheme != "https":
            raise InsecureSettings("production mode needs an https FAIRTRAIN_BASE_URL")
        # The data dir holds the secret key, the database and unpublished works: owner (and group) only.
        if self.data_dir.exists() and self.data_dir.stat().st_mode & (stat.S_IROTH | stat.S_IWOTH):
            raise InsecureSettings(
                f"data directory {self.data_dir} is readable or writable by other users; chmod o-rwx it"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fairtrain.db').resolve()}"

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return urlsplit(self.base_url).scheme == "https"

    @property
    def media_dir(self) -> Path:
        """The content-addressed store of imported files."""
        return self.data_dir / "media"

    def payout_minimum_for(self, currency: str) -> int:
        """The payout minimum in ``currency``'s minor units (``InvalidInput`` if the setting cannot say)."""
        default, named = _payout_minimums(self.payout_minimum)
        code = check_currency(currency)
        if code in named:
            return named[code]
        try:
            return parse_amount(default, code)
        except InvalidInput as exc:
            raise InvalidInput(f"FAIRTRAIN_PAYOUT_MINIMUM {default!r} for {code}: {exc.message}") from None

    def ensure_data_dir(self) -> Path:
        """Create the data directory (mode 0700) if needed and return it."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.data_dir


def _payout_minimums(text: str) -> tuple[str, dict[str, int]]:
    """'50, JPY 5000' -> ('50', {'JPY': 5000}): the default amount and per-currency minor units."""
    default = "0"
    named: dict[str, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        words = entry.split()
        if len(words) == 1 and re.fullmatch(r"\d+(\.\d+)?", words[0]):
            default = words[0]
        elif len(words) == 2:
            try:
                code = check_currency(words[0])
                named[code] = parse_amount(words[1], code)
            except InvalidInput as exc:
                raise ValueError(f"payout minimum {entry!r}: {exc.message}") from None
        else:
            raise ValueError(
                f"payout minimum {entry!r} is neither an amount (50) nor a currency and amount (JPY 5000)"
            )
    return default, named


def load_secret_key(settings: Settings) -> str:
    """The configured key, else the one stored in the data dir, else a new one written there (0600)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.ensure_data_dir() / SECRET_KEY_FILE
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(0o600)
        return key
    key = secrets.token_urlsafe(48)
    # Write a private temporary file, then link it into place: link fails if another process won the
    # race, and nobody ever reads a half-written key.
    tmp = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
