"""Settings: read once from the environment into one typed object.

Every setting has a type, a default and an environment variable named
``KPI_<NAME>``; docs/configuration.md lists them (a test keeps it in step).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kpi_core.currencies import is_currency
from kpi_core.errors import ConfigError

SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _lower(raw: str) -> str:
    return raw.strip().lower()


def _currency(raw: str) -> str:
    return raw.strip().upper()


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _setting(default: Any, doc: str, parse: Any = str) -> Any:
    return field(default=default, metadata={"doc": doc, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """All configuration of one process. Build it with :meth:`from_env`."""

    data_dir: Path = _setting(Path("var"), "Directory for the SQLite database, secrets, reports and backups.", Path)
    database_url: str = _setting("", "SQLAlchemy database URL. Default: SQLite file kpi.sqlite3 in the data directory.")
    redis_url: str = _setting("", "Redis URL for background jobs and shared caches. Empty: in-process runner.")
    secret_key: str = _setting("", "Key that signs tokens. Required outside demo mode.")
    timezone: str = _setting("UTC", "The company's IANA time zone: periods, naive timestamps and display.")
    currency: str = _setting(
        "USD",
        "The company's currency (ISO 4217 code, such as USD, EUR or GBP): money on screen and in reports.",
        _currency,
    )
    demo: bool = _setting(False, "Demo mode: generates and keeps a secret key in the data directory.", _bool)
    strict_plugins: bool = _setting(False, "Make any plugin load problem fatal at start-up.", _bool)
    disabled_plugins: tuple[str, ...] = _setting((), "Comma-separated plugin names not to load.", _names)
    host: str = _setting("127.0.0.1", "Address `kpi serve` listens on.")
    port: int = _setting(8000, "Port `kpi serve` and `kpi demo` listen on.", int)
    log_level: str = _setting("INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.")
    max_content_length: int = _setting(20 * 1024 * 1024, "Largest request body in bytes (413 above it).", int)
    min_sample: int = _setting(10, "Fewest completed jobs in a scorecard window for a technician to be ranked.", int)
    status_min_sample: int = _setting(
        10,
        "Fewest facts (jobs, ratings, evaluations) in a KPI value's sample for it to get a green, amber or red "
        'status; below it the status is "insufficient" (too few jobs). A KPI may declare its own minimum.',
        int,
    )
    week_start: str = _setting(
        "monday",
        "First day of the week of relative ranges (week_to_date, last_week): monday, tuesday, ..., sunday.",
        _lower,
    )
    cache_ttl: int = _setting(
        86400,
        "Seconds a computed KPI answer, and each month's sums behind it, are kept (Redis when configured, "
        "else memory); changes to the data make new entries at once, for the months they touch. Each month's "
        "sums are also kept in the database, read after a restart or by another instance. 0: no cache, "
        "nothing kept or read (every answer computed from the facts).",
        int,
    )
    sums_retention_days: int = _setting(
        35,
        "Days a month's KPI sums kept in the database stay after they were last read; the daily retention job "
        "deletes older ones (and sums judged at an hour that has passed, after 3 hours).",
        int,
    )
    refresh_after_writes: int = _setting(
        2,
        "Seconds after an import or edit commits before the dashboard's KPI questions are recomputed in the "
        "background (changes within that time are taken together, and a refresh already queued is not "
        "queued again). 0: only the daily refresh.",
        int,
    )
    compress: bool = _setting(
        True,
        "Compress responses (zstd, brotli, gzip or deflate, as the client accepts) in the app. Turn it off "
        "behind a proxy that compresses, as the compose topology's nginx does.",
        _bool,
    )
    previous_secret_keys: tuple[str, ...] = _setting(
        (), "Comma-separated former secret keys: tokens they signed stay valid while keys rotate.", _names
    )
    access_token_minutes: int = _setting(15, "Lifetime of access tokens in minutes (1 to 15).", int)
    refresh_token_days: int = _setting(14, "Lifetime of refresh tokens in days.", int)
    cors_origins: tuple[str, ...] = _setting(
        (), "Comma-separated origins allowed to call the API from a browser (CORS). Empty: CORS off.", _names
    )
    login_attempts: int = _setting(
        5,
        "Failed logins allowed for one username from one client address in the throttle window; that pair then "
        "waits until its oldest failure leaves the window (the same username from elsewhere is not held up).",
        int,
    )
    login_user_attempts: int = _setting(
        20,
        "Failed logins for one username from all addresses together in the throttle window before each further "
        "attempt waits, twice as long each time from 1 second up to the window (guessing from many addresses).",
        int,
    )
    login_ip_attempts: int = _setting(
        100,
        "Failed logins from one client address for all usernames together in the throttle window before it "
        "waits: high, so that an office behind one shared address is not locked out.",
        int,
    )
    login_window_minutes: int = _setting(
        15,
        "Throttle window for failed logins, in minutes. Counts are in Redis when configured, else the database.",
        int,
    )
    backup_keep: int = _setting(14, "Backups kept in the data directory's backups folder; older ones are deleted.", int)
    report_retention_days: int = _setting(
        30, "Days finished and failed report runs and their files are kept; the daily retention job deletes older.", int
    )
    message_retention_days: int = _setting(
        180,
        "Days sent and failed messages (e-mail, webhooks) stay in the messages and delivery logs, with the .eml "
        "files written for them; the daily retention job deletes older ones. Messages still waiting stay.",
        int,
    )
    log_format: str = _setting("text", "Log format: text (one readable line) or json (one JSON object per line).")
    slow_request_ms: int = _setting(
        1000, "Requests slower than this many milliseconds are logged as slow (0: never).", int
    )
    metrics_allow: tuple[str, ...] = _setting(
        ("127.0.0.0/8", "::1/128"),
        "Comma-separated networks (CIDR) whose direct connections may read /metrics.",
        _names,
    )
    metrics_token: str = _setting("", "Bearer token that may read /metrics from any address. Empty: networks only.")
    proxy_hops: int = _setting(
        0, "Reverse proxies in front of the app whose X-Forwarded-For and -Proto are trusted (1 behind nginx).", int
    )
    web_workers: int = _setting(
        0, "gunicorn worker processes for `kpi serve`; 0 serves with waitress in one process.", int
    )
    public_url: str = _setting(
        "",
        "The address people open the app at, such as https://kpi.example.com: links in e-mail (the one-click "
        "unsubscribe) start with it. Empty: http://<KPI_HOST>:<KPI_PORT>.",
    )
    smtp_url: str = _setting(
        "",
        "Where e-mail goes: smtp://host:25 (plain, for a local relay), smtp+starttls://user:password@host:587 "
        "(STARTTLS required) or smtps://user:password@host:465 (TLS from the start). Empty: each message is "
        "written as an .eml file to the data directory's mail folder and listed on the admin page.",
    )
    mail_from: str = _setting(
        "Handyman KPI <kpi@localhost>",
        "The From address of e-mail, with an optional name: Handyman KPI <kpi@example.com>. Set it to an "
        "address your mail server may send from.",
    )
    webhook_allow_private: bool = _setting(
        False,
        "Allow webhook URLs on private, loopback and link-local addresses (10.x, 192.168.x, 127.0.0.1, ...). "
        "Off: they are refused, so that a webhook cannot reach into the network the app runs in.",
        _bool,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``KPI_*`` variables (``os.environ`` by default); overrides win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = env_name(spec.name)
            if spec.name in overrides:
                values[spec.name] = overrides[spec.name]
            elif name in environ:
                try:
                    values[spec.name] = spec.metadata["parse"](environ[name])
                except ValueError as exc:
                    raise ConfigError(f"{name}={environ[name]!r} is invalid: {exc}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"KPI_TIMEZONE={self.timezone!r} is not a known IANA time zone") from None
        if not is_currency(self.currency):
            raise ConfigError(
                f"KPI_CURRENCY={self.currency!r} is not an ISO 4217 currency code: use three capital letters such as "
                "USD, EUR or GBP"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"KPI_PORT={self.port} must be between 1 and 65535")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"KPI_LOG_LEVEL={self.log_level!r} must be DEBUG, INFO, WARNING or ERROR")
        if self.max_content_length <= 0 or self.min_sample < 1:
            raise ConfigError("KPI_MAX_CONTENT_LENGTH and KPI_MIN_SAMPLE must be positive")
        if self.status_min_sample < 0:
            raise ConfigError(f"KPI_STATUS_MIN_SAMPLE={self.status_min_sample} must be 0 or more")
        if self.week_start not in WEEKDAYS:
            raise ConfigError(f"KPI_WEEK_START={self.week_start!r} must be one of {', '.join(WEEKDAYS)}")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"KPI_REDIS_URL={self.redis_url!r} must start with redis://, rediss:// or unix://")
        if not 1 <= self.access_token_minutes <= 15:
            raise ConfigError(f"KPI_ACCESS_TOKEN_MINUTES={self.access_token_minutes} must be between 1 and 15")
        if self.refresh_token_days < 1 or self.login_window_minutes < 1:
            raise ConfigError("KPI_REFRESH_TOKEN_DAYS and KPI_LOGIN_WINDOW_MINUTES must be positive")
        if min(self.login_attempts, self.login_user_attempts, self.login_ip_attempts) < 1:
            raise ConfigError("KPI_LOGIN_ATTEMPTS, KPI_LOGIN_USER_ATTEMPTS and KPI_LOGIN_IP_ATTEMPTS must be positive")
        if self.backup_keep < 1:
            raise ConfigError(f"KPI_BACKUP_KEEP={self.backup_keep} must be at least 1")
        if self.report_retention_days < 1:
            raise ConfigError(f"KPI_REPORT_RETENTION_DAYS={self.report_retention_days} must be at least 1")
        if self.message_retention_days < 1:
            raise ConfigError(f"KPI_MESSAGE_RETENTION_DAYS={self.message_retention_days} must be at least 1")
        self._validate_observability()
        if self.secret_key and len(self.secret_key) < 32:
            raise ConfigError("KPI_SECRET_KEY must be at least 32 characters long")
        self._validate_notifications()

    def _validate_notifications(self) -> None:
        # KPI_SMTP_URL is read by the e-mail channel, which reports a bad one in the delivery log and on the
        # admin page (a mail problem must not keep the dashboard down).
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"KPI_PUBLIC_URL={self.public_url!r} must start with https:// (or http://)")
        if "@" not in self.mail_from:
            raise ConfigError(f"KPI_MAIL_FROM={self.mail_from!r} must be an e-mail address, such as kpi@example.com")

    def _validate_observability(self) -> None:
        if self.log_format not in {"text", "json"}:
            raise ConfigError(f"KPI_LOG_FORMAT={self.log_format!r} must be text or json")
        if self.slow_request_ms < 0 or self.web_workers < 0 or self.proxy_hops < 0:
            raise ConfigError("KPI_SLOW_REQUEST_MS, KPI_WEB_WORKERS and KPI_PROXY_HOPS must not be negative")
        for network in self.metrics_allow:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(f"KPI_METRICS_ALLOW: {network!r} is not a network such as 10.0.0.0/8") from None
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ConfigError("KPI_METRICS_TOKEN must be at least 16 characters long")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def week_start_day(self) -> int:
        """The first day of the week as a weekday number (Monday 0 ... Sunday 6)."""
        return WEEKDAYS.index(self.week_start)

    @property
    def effective_public_url(self) -> str:
        """The app's address for links that leave it (e-mail), without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kpi.sqlite3').resolve()}"

    def resolved_secret_key(self) -> str:
        """The signing key: configured, or in demo mode generated once and kept on disk."""
        if self.secret_key:
            return self.secret_key
        if not self.demo:
            raise ConfigError(
                "KPI_SECRET_KEY is not set. Set it to a long random string "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                "or run `kpi demo` for a local demo."
            )
        path = self.data_dir / SECRET_FILE_NAME
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: if two demo processes race, one key wins and both read it.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def env_name(setting: str) -> str:
    """The environment variable of a setting: ``database_url`` -> ``KPI_DATABASE_URL``."""
    return f"KPI_{setting.upper()}"


def documented_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting."""
    rows = []
    for spec in fields(Settings):
        default = spec.default
        shown = ",".join(default) if isinstance(default, tuple) else str(default)
        rows.append((env_name(spec.name), shown, spec.metadata["doc"]))
    return rows
