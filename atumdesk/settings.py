"""One settings object, read from the environment, with defaults that point at the embedded instance.

Every command and the server read their configuration here and nowhere else. Values are validated
when they are read, so a typo in a URL is reported at start-up with the variable's name.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from atumdesk import PROJECT_ROOT
from atumdesk.db import first_line
from atumdesk.errors import SettingsError

APP_ROLE = "atum_app"
OWNER_ROLE = "atum_owner"
REPORTING_ROLE = "atum_reporting"
DEFAULT_DATABASE = "atumdesk"


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _conninfo(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        conninfo_to_dict(raw)
    except Exception as exc:  # psycopg raises ProgrammingError with libpq's text
        raise SettingsError(f"{name} is not a valid PostgreSQL connection string: {first_line(exc)}") from None
    return raw


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(env: dict[str, str], name: str) -> tuple[Network, ...]:
    raw = env.get(name) or ""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an IP address or network "
                                "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)


def _location(env: dict[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+/?", raw):
        raise SettingsError(f"{name} must be a URL path such as /_attachments, got {raw!r}")
    return raw.rstrip("/")


def _choice(env: dict[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or default).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _domain(env: dict[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip().lower()
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", raw) or len(raw) > 253:
        raise SettingsError(f"{name} must be a domain name such as helpdesk.example.com, got {raw!r}")
    return raw


def _address(env: dict[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip()
    if not re.fullmatch(r"[^@\s<>]+@[A-Za-z0-9.-]+", raw):
        raise SettingsError(f"{name} must be a plain e-mail address such as helpdesk@example.com, got {raw!r}")
    return raw


def _public_url(env: dict[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", raw):
        raise SettingsError(f"{name} must be an http(s) URL such as https://help.example.com, got {raw!r}")
    return raw.rstrip("/")


def _file(env: dict[str, str], name: str) -> Path | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"{name}: no such file {raw!r}")
    return path


def _directory(env: dict[str, str], name: str) -> Path | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise SettingsError(f"{name} must be an absolute path such as /var/backups/atumdesk, got {raw!r}")
    return path


@dataclass(frozen=True)
class Settings:
    """Where the data lives, how to reach PostgreSQL, and how to serve HTTP."""

    data_dir: Path
    database_url: str
    owner_database_url: str
    admin_database_url: str
    pg_port: int
    http_host: str
    http_port: int
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (nginx on the same host, say).
    trusted_proxies: tuple[Network, ...] = field(default=())
    attachment_max_bytes: int = 25 * 1024 * 1024
    db_pool_size: int = 10
    db_wait_seconds: int = 10
    # nginx location that serves the attachment store internally (X-Accel-Redirect); None: the app
    # streams attachment downloads itself.
    accel_redirect_prefix: str | None = None
    # Outbound mail (the worker's SMTP relay) and the identity of our messages.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    # Envelope sender and From: address of notifications, and the domain of our Message-IDs (mail
    # coming back with such a Message-ID, or with our X-Loop header, is our own and is dropped).
    mail_from: str = "helpdesk@localhost"
    mail_domain: str = "atumdesk.localhost"
    # Extra CA bundle for IMAP and SMTP servers with a private CA (certificates are always verified).
    mail_ca_file: Path | None = None
    # Larger raw messages are not parsed: the ticket gets a note that the message was too large.
    mail_max_bytes: int = 40 * 1024 * 1024
    # Where people reach the web app (links in notifications); None: http://ATUM_HOST:ATUM_PORT.
    public_url: str | None = None
    # Backups (atumdesk/backups): where archives go (None: <data dir>/backups) and how many the
    # retention keeps after each successful backup: the newest of each of the last N days that have
    # one, and of each of the last M ISO weeks.
    backup_dir_setting: Path | None = None
    backup_keep_daily: int = 7
    backup_keep_weekly: int = 4

    @property
    def backup_dir(self) -> Path:
        """Where `atumdesk backup` and the daily backup job write archives (ATUM_BACKUP_DIR)."""
        return self.backup_dir_setting or self.data_dir / "backups"

    @property
    def base_url(self) -> str:
        """The web app's address for links in mail: ATUM_PUBLIC_URL, else where `serve` listens."""
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def database_name(self) -> str:
        """The application database named by ATUM_DATABASE_URL."""
        return str(conninfo_to_dict(self.database_url).get("dbname") or DEFAULT_DATABASE)

    @property
    def pg_root(self) -> Path:
        """The embedded cluster's folder: data, socket and server log (owned by the server's user)."""
        return self.data_dir / "pg"

    @property
    def socket_dir(self) -> Path:
        """The embedded cluster's socket directory (it listens on no TCP port)."""
        return self.pg_root / "run"

    @property
    def attachments_dir(self) -> Path:
        """Content-addressed attachment store, outside any web root."""
        return self.data_dir / "attachments"

    def conninfo(self, which: str = "app", **overrides: str | int | None) -> str:
        """The connection string for `app`, `owner` or `admin`, with optional overrides (e.g. dbname)."""
        base = {"app": self.database_url, "owner": self.owner_database_url, "admin": self.admin_database_url}
        try:
            url = base[which]
        except KeyError:
            raise ValueError(f"unknown connection kind {which!r}") from None
        return make_conninfo(url, **overrides) if overrides else url


def load(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the settings from the environment (``ATUM_*`` variables)."""
    env = dict(os.environ if environ is None else environ)
    data_dir = Path(env.get("ATUM_DATA_DIR") or PROJECT_ROOT / "var").expanduser().absolute()
    pg_port = _int(env, "ATUM_PG_PORT", 5432, 1, 65535)
    socket_dir = data_dir / "pg" / "run"

    def embedded(user: str, dbname: str) -> str:
        return make_conninfo(host=str(socket_dir), port=pg_port, user=user, dbname=dbname)

    database_url = _conninfo(env, "ATUM_DATABASE_URL", embedded(APP_ROLE, DEFAULT_DATABASE))
    dbname = str(conninfo_to_dict(database_url).get("dbname") or DEFAULT_DATABASE)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        owner_database_url=_conninfo(env, "ATUM_OWNER_DATABASE_URL", embedded(OWNER_ROLE, dbname)),
        admin_database_url=_conninfo(env, "ATUM_ADMIN_DATABASE_URL", embedded("postgres", "postgres")),
        pg_port=pg_port,
        http_host=env.get("ATUM_HOST") or "127.0.0.1",
        http_port=_int(env, "ATUM_PORT", 8080, 1, 65535),
        trusted_proxies=_networks(env, "ATUM_TRUSTED_PROXIES"),
        attachment_max_bytes=_int(env, "ATUM_ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024, 1, 10 * 1024**3),
        db_pool_size=_int(env, "ATUM_DB_POOL_SIZE", 10, 2, 500),
        db_wait_seconds=_int(env, "ATUM_DB_WAIT", 10, 1, 600),
        accel_redirect_prefix=_location(env, "ATUM_ACCEL_REDIRECT_PREFIX"),
        smtp_host=(env.get("ATUM_SMTP_HOST") or "").strip() or None,
        smtp_port=_int(env, "ATUM_SMTP_PORT", 587, 1, 65535),
        smtp_security=_choice(env, "ATUM_SMTP_SECURITY", "starttls", ("starttls", "tls", "none")),
        smtp_username=env.get("ATUM_SMTP_USERNAME") or None,
        smtp_password=env.get("ATUM_SMTP_PASSWORD") or None,
        mail_from=_address(env, "ATUM_MAIL_FROM", "helpdesk@localhost"),
        mail_domain=_domain(env, "ATUM_MAIL_DOMAIN", "atumdesk.localhost"),
        mail_ca_file=_file(env, "ATUM_MAIL_CA_FILE"),
        mail_max_bytes=_int(env, "ATUM_MAIL_MAX_BYTES", 40 * 1024 * 1024, 1024, 1024**3),
        public_url=_public_url(env, "ATUM_PUBLIC_URL"),
        backup_dir_setting=_directory(env, "ATUM_BACKUP_DIR"),
        backup_keep_daily=_int(env, "ATUM_BACKUP_KEEP_DAILY", 7, 1, 3660),
        backup_keep_weekly=_int(env, "ATUM_BACKUP_KEEP_WEEKLY", 4, 0, 520),
    )
