"""`atumdesk deploy-check`: looks at an operator's production set-up and says in plain words what is
wrong, one line per finding.

Each check is a small function of a :class:`Target` (the settings plus where nginx and its files
are) that returns findings; ``error`` findings make the command exit 1, ``warning`` findings are
worth a look but do not. The checks read what is really there — file modes and owners, the PEM
files, the nginx site as rendered from deploy/nginx/atumdesk.conf, PostgreSQL's catalog and
pg_cron's run history — and never change anything. Run it as root after every change of the set-up
(docs/operations.md): root can read the TLS key and run ``nginx -t``.
"""

from __future__ import annotations

import argparse
import glob
import grp
import ipaddress
import os
import pwd
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from atumdesk.db import connect, first_line
from atumdesk.errors import AtumError
from atumdesk.settings import Settings

#: What the app allows on top of ATUM_ATTACHMENT_MAX_BYTES for the multipart framing (api/attachments.py).
MULTIPART_OVERHEAD = 64 * 1024
#: Places that are web roots on a Debian host whatever the nginx configuration says.
CONVENTIONAL_WEB_ROOTS = (Path("/var/www"), Path("/usr/share/nginx/html"))
CERT_ERROR_DAYS = 7
CERT_WARNING_DAYS = 30
UPLOAD_LOCATION = "~ ^/api/v1/tickets/[0-9]+/attachments$"


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    level: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def error(message: str) -> Finding:
    """A finding that makes deploy-check fail."""
    return Finding("error", message)


def warning(message: str) -> Finding:
    """A finding worth a look that does not fail deploy-check."""
    return Finding("warning", message)


# --- a small reader of nginx configuration -----------------------------------------------------


@dataclass
class Directive:
    """One nginx directive: its name, arguments and, for a block, the directives inside."""

    name: str
    args: list[str]
    children: list[Directive] = field(default_factory=list)
    source: str = ""

    def find(self, name: str) -> Iterator[Directive]:
        """Directives called ``name`` anywhere below this one (depth first)."""
        for child in self.children:
            if child.name == name:
                yield child
            yield from child.find(name)


_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|([{};])|([^\s{};"'#]+)""")


def _tokens(text: str) -> Iterator[str]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read nginx configuration near {text[pos:pos + 40]!r}")
        pos = m.end()
        if m.group(1) is not None or m.group(2) is not None:
            yield "\0" + (m.group(1) if m.group(1) is not None else m.group(2))  # quoted: never syntax
        elif m.group(3) or m.group(4):
            yield m.group(3) or m.group(4)


def parse_nginx(text: str, source: str = "", *, include_root: Path | None = None, depth: int = 0) -> Directive:
    """The directive tree of an nginx configuration; ``include`` is followed (relative paths from
    ``include_root``) when that is given."""
    root = Directive("", [], source=source)
    stack = [root]
    words: list[str] = []
    for token in _tokens(text):
        if token in ("{", ";", "}") and not token.startswith("\0"):
            if token == "}":
                if words or len(stack) == 1:
                    raise ValueError(f"{source}: unbalanced '}}'")
                stack.pop()
                continue
            if not words:
                raise ValueError(f"{source}: '{token}' without a directive")
            node = Directive(words[0], words[1:], source=source)
            words = []
            if node.name == "include" and token == ";" and include_root is not None and depth < 8:
                for name in sorted(glob.glob(str(include_root / node.args[0]) if node.args else "")):
                    included = Path(name)
                    sub = parse_nginx(included.read_text(encoding="utf-8", errors="replace"), str(included),
                                      include_root=include_root, depth=depth + 1)
                    stack[-1].children.extend(sub.children)
                continue
            stack[-1].children.append(node)
            if token == "{":
                stack.append(node)
        else:
            words.append(token.lstrip("\0"))
    if len(stack) != 1 or words:
        raise ValueError(f"{source}: a block or directive is not closed")
    return root


def _value(node: Directive, name: str) -> str | None:
    for child in node.children:
        if child.name == name and child.args:
            return child.args[0]
    return None


def _size(text: str) -> int | None:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


# --- what is checked ---------------------------------------------------------------------------


@dataclass
class Target:
    """The set-up under examination."""

    settings: Settings
    #: The site rendered from deploy/nginx/atumdesk.conf (None: not behind nginx here).
    nginx_site: Path | None = None
    #: nginx's main configuration (for `nginx -t` and the web roots of every site).
    nginx_conf: Path | None = None
    #: nginx's prefix (-p), for configurations outside /etc/nginx (tests).
    nginx_prefix: Path | None = None
    #: Who reads certificate and key (nginx's master: root under systemd).
    nginx_master_user: str = "root"
    #: Who reads attachment files through X-Accel-Redirect (nginx's workers).
    nginx_worker_user: str = "www-data"
    #: The settings file of the systemd units (holds database passwords, perhaps the secret key).
    env_file: Path | None = None
    check_database: bool = True
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _site: Directive | None = field(default=None, repr=False)

    def site(self) -> Directive | None:
        """The parsed nginx site, or None when there is none."""
        if self._site is None and self.nginx_site is not None and self.nginx_site.is_file():
            self._site = parse_nginx(self.nginx_site.read_text(encoding="utf-8", errors="replace"),
                                     str(self.nginx_site))
        return self._site

    def app_server(self) -> Directive | None:
        """The site's `server` block that proxies to the app (the one with ssl_certificate)."""
        site = self.site()
        if site is None:
            return None
        for server in site.find("server"):
            if _value(server, "ssl_certificate"):
                return server
        return None


def _user(name: str) -> tuple[int, set[int]] | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = {g.gr_gid for g in grp.getgrall() if name in g.gr_mem} | {entry.pw_gid}
    return entry.pw_uid, groups


def _may(user: tuple[int, set[int]], st: os.stat_result, want: int) -> bool:
    """Whether the user's uid and groups get the ``want`` bits (4 read, 1 search) of this file."""
    uid, gids = user
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool((st.st_mode >> 6) & want == want)
    if st.st_gid in gids:
        return bool((st.st_mode >> 3) & want == want)
    return bool(st.st_mode & want == want)


def readable_by(path: Path, user_name: str) -> str | None:
    """None if ``user_name`` can read ``path`` (and search every folder above it); else why not."""
    user = _user(user_name)
    if user is None:
        return f"there is no user {user_name}"
    path = path.absolute()
    # The folders on the way, of the name as written and of the file a symbolic link leads to.
    folders = dict.fromkeys([*reversed(path.parents), *reversed(path.resolve().parents)])
    for folder in folders:
        try:
            st = folder.stat()
        except OSError as exc:
            return f"{folder}: {exc.strerror}"
        if not _may(user, st, 1):
            return f"{user_name} cannot enter {folder} ({_describe(st)})"
    try:
        st = path.stat()
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    want = 5 if stat.S_ISDIR(st.st_mode) else 4
    if not _may(user, st, want):
        return f"{user_name} cannot read {path} ({_describe(st)})"
    return None


def _describe(st: os.stat_result) -> str:
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"mode {stat.S_IMODE(st.st_mode):04o}, {owner}:{group}"


def check_tls_files(t: Target) -> list[Finding]:
    """The certificate and key exist, nginx can read them, the key is private and not encrypted,
    the pair matches, the certificate names the server and is not about to expire."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    server = t.app_server()
    if server is None:
        return []
    cert_path = Path(_value(server, "ssl_certificate") or "")
    key_path = Path(_value(server, "ssl_certificate_key") or "")
    found: list[Finding] = []
    for what, path in (("certificate", cert_path), ("key", key_path)):
        why = readable_by(path, t.nginx_master_user)
        if why is not None:
            found.append(error(f"nginx cannot read its TLS {what} {path}: {why}"))
    if found:
        return found
    st = key_path.stat()
    if st.st_mode & 0o007:
        found.append(error(f"the TLS key {key_path} can be read by every user ({_describe(st)}): "
                           f"chmod 0640 {key_path} and chown root:ssl-cert (or root:root with 0600)"))
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        return [*found, error(f"the TLS certificate {cert_path} is not a PEM certificate: {first_line(exc)}")]
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except TypeError:
        return [*found, error(f"the TLS key {key_path} is protected by a passphrase: nginx would wait for it at "
                              "every start; store it without one (openssl pkey -in KEY -out KEY.plain)")]
    except (OSError, ValueError) as exc:
        return [*found, error(f"the TLS key {key_path} is not a PEM private key: {first_line(exc)}")]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (cert.public_key().public_bytes(serialization.Encoding.DER, public)
            != key.public_key().public_bytes(serialization.Encoding.DER, public)):
        found.append(error(f"the TLS key {key_path} does not belong to the certificate {cert_path}: "
                           "nginx refuses to start with this pair"))
    left = cert.not_valid_after_utc - t.now
    if left <= timedelta(0):
        found.append(error(f"the TLS certificate {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}"))
    elif left <= timedelta(days=CERT_ERROR_DAYS):
        found.append(error(f"the TLS certificate {cert_path} expires in {left.days} day(s) "
                           f"({cert.not_valid_after_utc:%Y-%m-%d}): renew it now"))
    elif left <= timedelta(days=CERT_WARNING_DAYS):
        found.append(warning(f"the TLS certificate {cert_path} expires in {left.days} days "
                             f"({cert.not_valid_after_utc:%Y-%m-%d}): is renewal automatic?"))
    names = [n for n in (_value(server, "server_name") or "",) if n and n != "_"]
    try:
        dns = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    for name in names:
        if not any(_name_matches(pattern, name) for pattern in dns):
            found.append(error(f"the TLS certificate {cert_path} is not valid for {name} "
                               f"(it names {', '.join(dns) or 'no DNS name'})"))
    return found


def _name_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower(), name.lower()
    if pattern.startswith("*."):
        return name.count(".") == pattern.count(".") and name.endswith(pattern[1:])
    return pattern == name


def _web_roots(t: Target) -> list[Path]:
    """Folders nginx publishes: every root and alias outside an `internal` location."""
    roots = list(CONVENTIONAL_WEB_ROOTS)
    trees = []
    if t.nginx_conf is not None and t.nginx_conf.is_file():
        trees.append(parse_nginx(t.nginx_conf.read_text(encoding="utf-8", errors="replace"), str(t.nginx_conf),
                                 include_root=t.nginx_conf.parent))
    site = t.site()
    if site is not None:
        trees.append(site)

    def walk(node: Directive, internal: bool) -> None:
        here = internal or any(c.name == "internal" for c in node.children)
        for child in node.children:
            if child.name in ("root", "alias") and child.args and not here:
                roots.append(Path(child.args[0]))
            walk(child, here)

    for tree in trees:
        walk(tree, False)
    return roots


def check_data_dir(t: Target) -> list[Finding]:
    """The data directory and the attachment store are private and outside every web root."""
    found: list[Finding] = []
    data = t.settings.data_dir.resolve()
    for root in _web_roots(t):
        root = root.resolve()
        if data == root or data.is_relative_to(root) or root.is_relative_to(data):
            found.append(error(f"the data directory {data} (ATUM_DATA_DIR) is inside the web root {root}: "
                               "attachments and the secret key could be downloaded; move it (e.g. /var/lib/atumdesk)"))
    for folder in (data, t.settings.attachments_dir):
        try:
            st = folder.stat()
        except FileNotFoundError:
            if folder == data:
                found.append(error(f"the data directory {data} (ATUM_DATA_DIR) does not exist"))
            continue
        if st.st_mode & 0o007:
            found.append(error(f"{folder} is open to every user ({_describe(st)}): chmod o-rwx {folder}"))
        elif st.st_mode & 0o020:
            found.append(error(f"{folder} can be written by its group ({_describe(st)}): chmod g-w {folder}"))
    key = data / "secret.key"
    if "ATUM_SECRET_KEY" not in os.environ and key.exists():
        st = key.stat()
        if st.st_mode & 0o077:
            found.append(error(f"the secret key {key} can be read by others than its owner ({_describe(st)}): "
                               f"chmod 0600 {key}"))
    if t.env_file is not None and t.env_file.exists():
        st = t.env_file.stat()
        if st.st_mode & 0o007:
            found.append(error(f"the settings file {t.env_file} (database passwords) can be read by every user "
                               f"({_describe(st)}): chmod 0640 {t.env_file}, owned by root:atumdesk"))
    return found


def check_backup_dir(t: Target) -> list[Finding]:
    """The backup directory exists, the service (the data directory's owner) can write it, and
    nobody else can read it: an archive holds every organization's data."""
    backups = t.settings.backup_dir
    try:
        st, data = backups.stat(), t.settings.data_dir.stat()
    except FileNotFoundError as exc:
        return [error(f"{exc.filename} does not exist: create it for the service, e.g. "
                      f"install -d -o atumdesk -g atumdesk -m 0750 {exc.filename}")]
    found: list[Finding] = []
    if st.st_mode & 0o007:
        found.append(error(f"the backup directory {backups} is open to every user ({_describe(st)}): "
                           f"chmod o-rwx {backups}"))
    try:
        service: str | None = pwd.getpwuid(data.st_uid).pw_name
    except KeyError:
        service = None
    user = _user(service) if service else None
    if user is not None and not _may(user, st, 3):
        found.append(error(f"the service user {service} cannot write the backup directory {backups} "
                           f"({_describe(st)}): the daily backup would fail"))
    return found


def check_attachments_location(t: Target) -> list[Finding]:
    """X-Accel-Redirect is wired both ways, to the real store, and nginx's workers can read it;
    uploads are allowed as large as the app's limit."""
    server = t.app_server()
    if server is None:
        return []
    found: list[Finding] = []
    prefix = t.settings.accel_redirect_prefix
    internal = {loc.args[-1].rstrip("/"): loc for loc in server.find("location")
                if loc.args and any(c.name == "internal" for c in loc.children)}
    if prefix is None:
        if internal:
            found.append(warning("ATUM_ACCEL_REDIRECT_PREFIX is not set: the app streams every download itself "
                                 f"instead of handing it to nginx's location {next(iter(internal))}"))
    elif prefix not in internal:
        found.append(error(f"ATUM_ACCEL_REDIRECT_PREFIX={prefix} but the nginx site has no internal location "
                           f"{prefix}/: every download would fail"))
    else:
        alias = Path(_value(internal[prefix], "alias") or "/nonexistent").resolve()
        store = t.settings.attachments_dir.resolve()
        if alias != store:
            found.append(error(f"nginx serves {prefix}/ from {alias}, but the attachment store is {store}"))
        elif store.exists():
            why = readable_by(store, t.nginx_worker_user)
            if why is not None:
                found.append(error(f"nginx's workers ({t.nginx_worker_user}) cannot read the attachment store: "
                                   f"{why}; add them to its group (usermod -aG atumdesk {t.nginx_worker_user}) "
                                   "and restart nginx"))
    wanted = t.settings.attachment_max_bytes + MULTIPART_OVERHEAD
    uploads = [loc for loc in server.find("location") if " ".join(loc.args) == UPLOAD_LOCATION]
    raw = _value(uploads[0], "client_max_body_size") if uploads else _value(server, "client_max_body_size")
    limit = _size(raw or "1m")
    if limit is not None and limit != 0 and limit < wanted:
        found.append(error(f"nginx accepts uploads up to {raw or '1m'} but the app allows {wanted} bytes "
                           f"(ATUM_ATTACHMENT_MAX_BYTES + 64 KiB): raise client_max_body_size in the location "
                           "of the upload route"))
    return found


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_app_settings(t: Target) -> list[Finding]:
    """Where the app listens, which proxies it trusts, the public address."""
    s = t.settings
    found: list[Finding] = []
    behind_nginx = t.app_server() is not None
    if not _loopback(s.http_host):
        if not s.trusted_proxies:
            found.append(error(f"the app listens on {s.http_host}:{s.http_port} (ATUM_HOST), reachable without a "
                               "proxy: set ATUM_HOST=127.0.0.1 and put nginx in front"))
        else:
            found.append(warning(f"the app listens on {s.http_host}:{s.http_port}: make sure only the proxy "
                                 "can reach that port"))
    if s.public_url is None:
        found.append(error(f"ATUM_PUBLIC_URL is not set: links in mail would point at {s.base_url}"))
    elif not s.public_url.startswith("https://"):
        found.append(error(f"ATUM_PUBLIC_URL={s.public_url} is not https: sign-in cookies and links would travel "
                           "in clear text"))
    if behind_nginx:
        if not s.trusted_proxies:
            found.append(error("ATUM_TRUSTED_PROXIES is not set but nginx is in front: the app would take every "
                               "client for nginx (one sign-in throttle for all) and refuse cookie sign-ins "
                               "over HTTPS; set ATUM_TRUSTED_PROXIES=127.0.0.1"))
        elif not any(ipaddress.ip_address("127.0.0.1") in n for n in s.trusted_proxies) and _loopback(s.http_host):
            found.append(error("ATUM_TRUSTED_PROXIES does not include 127.0.0.1, where nginx connects from"))
        server = t.app_server()
        names = (_value(server, "server_name") or "") if server else ""
        if s.public_url and names and s.public_url.split("//", 1)[-1].split("/")[0].split(":")[0] != names:
            found.append(error(f"ATUM_PUBLIC_URL={s.public_url} does not name the nginx server {names}"))
    return found


def check_nginx_syntax(t: Target) -> list[Finding]:
    """`nginx -t` accepts the configuration (when nginx is installed)."""
    nginx = shutil.which("nginx") or (Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return [] if t.nginx_site is None else [warning("nginx is not installed on this host")]
    if os.geteuid() != 0 and t.nginx_prefix is None:
        return [warning("nginx -t was skipped: it needs root (run deploy-check as root)")]
    cmd = [str(nginx), "-t", "-q"]
    if t.nginx_prefix is not None:
        cmd += ["-p", str(t.nginx_prefix)]
    if t.nginx_conf is not None:
        cmd += ["-c", str(t.nginx_conf)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if "[emerg]" in line or "[crit]" in line]
        detail = (lines or (result.stderr + result.stdout).strip().splitlines() or ["no output"])[0]
        detail = re.sub(r"^\S+ \S+ \[\w+\] \d+#\d+: ", "", detail)  # time, level and pid
        hint = " (remove /etc/nginx/sites-enabled/default)" if "duplicate default server" in detail else ""
        return [error(f"nginx -t fails: {detail}{hint}")]
    return []


def check_migrations(t: Target) -> list[Finding]:
    """Every migration of this checkout is applied (as the app sees it, through api.health())."""
    from atumdesk.migrate import migration_ids

    s = t.settings
    try:
        with connect(s.conninfo("app"), "the app (ATUM_DATABASE_URL)") as conn:
            row = conn.execute("SELECT api.health()").fetchone()
    except AtumError as exc:
        return [error(str(exc))]
    except psycopg.Error as exc:
        return [error(f"the database {s.database_name} is not migrated ({first_line(exc)}): run `atumdesk migrate`")]
    applied = set((row[0] if row else {}).get("migrations", []))
    missing = [m for m in migration_ids() if m not in applied]
    if missing:
        return [error(f"{len(missing)} migration(s) not applied to {s.database_name} ({', '.join(missing[:3])}"
                      f"{' …' if len(missing) > 3 else ''}): run `atumdesk migrate` before starting the new version")]
    return []


def check_pg_cron(t: Target) -> list[Finding]:
    """pg_cron is preloaded and installed, our jobs are scheduled, and none failed in 24 hours."""
    from atumdesk import admin
    from atumdesk.queries import query

    s = t.settings
    try:
        with connect(s.conninfo("admin"), "the superuser (ATUM_ADMIN_DATABASE_URL)") as conn:
            row = conn.execute(query("cron_database")).fetchone()
    except AtumError as exc:
        return [error(f"{exc}; the pg_cron checks need it")]
    cron_db, preloaded = (row[0], row[1]) if row else (None, False)
    if not preloaded or not cron_db:
        return [error("pg_cron is not preloaded: put deploy/postgresql/atumdesk.conf in "
                      "/etc/postgresql/15/main/conf.d/ and restart PostgreSQL")]
    try:
        rows = admin.cron_status(s)
    except AtumError as exc:
        if "cron.job" in str(exc) or "does not exist" in str(exc):
            return [error(f"the pg_cron extension is missing from the database {cron_db}: run `atumdesk migrate`")]
        return [error(f"cannot read pg_cron's jobs: {exc}")]
    return judge_cron(rows, s.database_name)


def judge_cron(rows: list[dict[str, object]], database: str) -> list[Finding]:
    """Findings from `atumdesk cron`'s rows: no job at all, inactive jobs, jobs that failed in 24 hours."""
    if not rows:
        return [error(f"no pg_cron jobs are scheduled for the database {database}: run `atumdesk migrate`")]
    found: list[Finding] = []
    for r in rows:
        if not r.get("active", True):
            found.append(error(f"the pg_cron job {r['jobname']} is inactive"))
        failures = int(str(r.get("failures_24h") or 0))
        if failures:
            last = " ".join(str(r.get("return_message") or "").split())[:160]
            tail = f" (last: {last})" if last and r.get("status") == "failed" else ""
            found.append(error(f"the pg_cron job {r['jobname']} failed {failures} time(s) in 24 hours{tail}: "
                               "see `atumdesk cron`"))
    return found


CHECKS: list[Callable[[Target], list[Finding]]] = [
    check_tls_files, check_nginx_syntax, check_attachments_location, check_app_settings, check_data_dir,
    check_backup_dir,
]
DATABASE_CHECKS: list[Callable[[Target], list[Finding]]] = [check_migrations, check_pg_cron]


def run_checks(t: Target) -> list[Finding]:
    """Every check's findings, in a stable order."""
    found: list[Finding] = []
    if t.nginx_site is not None and not t.nginx_site.is_file():
        found.append(warning(f"no nginx site at {t.nginx_site}: the checks of TLS and the proxy were skipped "
                             "(--nginx-site names another file)"))
        t.nginx_site = None
    for check in CHECKS + (DATABASE_CHECKS if t.check_database else []):
        try:
            found.extend(check(t))
        except PermissionError as exc:
            found.append(error(f"{check.__name__.removeprefix('check_').replace('_', ' ')}: cannot read "
                               f"{exc.filename}: run deploy-check as root"))
        except (OSError, ValueError) as exc:
            found.append(error(f"{check.__name__.removeprefix('check_').replace('_', ' ')}: {first_line(exc)}"))
    return found


def _worker_user(conf: Path | None) -> str:
    """The `user` of nginx's main configuration (Debian: www-data)."""
    if conf is not None and conf.is_file():
        try:
            tree = parse_nginx(conf.read_text(encoding="utf-8", errors="replace"), str(conf))
            user = _value(tree, "user")
            if user:
                return user
        except ValueError:
            pass
    return "www-data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `atumdesk deploy-check`."""
    p.add_argument("--nginx-site", type=Path, default=Path("/etc/nginx/sites-enabled/atumdesk"),
                   help="the site rendered from deploy/nginx/atumdesk.conf (default: %(default)s)")
    p.add_argument("--nginx-conf", type=Path, default=Path("/etc/nginx/nginx.conf"),
                   help="nginx's main configuration, for nginx -t and the web roots (default: %(default)s)")
    p.add_argument("--nginx-prefix", type=Path, default=None, help="nginx's prefix (-p), when not the default")
    p.add_argument("--nginx-worker-user", default=None,
                   help="the user of nginx's workers (default: `user` of --nginx-conf, else www-data)")
    p.add_argument("--env-file", type=Path, default=Path("/etc/atumdesk/atumdesk.env"),
                   help="the settings file of the systemd units (default: %(default)s)")
    p.add_argument("--no-database", action="store_true", help="skip the checks that connect to PostgreSQL")


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run every check, print one line per finding, return 1 if any is an error."""
    target = Target(settings=settings, nginx_site=args.nginx_site, nginx_conf=args.nginx_conf,
                    nginx_prefix=args.nginx_prefix,
                    nginx_worker_user=args.nginx_worker_user or _worker_user(args.nginx_conf),
                    env_file=args.env_file, check_database=not args.no_database)
    found = run_checks(target)
    for finding in found:
        print(finding)
    errors = sum(f.level == "error" for f in found)
    warnings = len(found) - errors
    if not found:
        print("deploy-check: everything checked is in order")
    else:
        print(f"deploy-check: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0
