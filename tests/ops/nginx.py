"""Debian's nginx in front of a real ``atumdesk serve``, both on loopback, for the operations tests.

The site is the shipped template, deploy/nginx/atumdesk.conf, rendered by the shipped renderer
(deploy/nginx/render_site.py) with test values: high loopback ports, a self-signed certificate made
with ``openssl`` for the name ``helpdesk.test``, and temporary folders for the web build and the
attachment store. Around it goes a minimal main configuration (what /etc/nginx/nginx.conf is in
production) that keeps the pid file, logs and temporary files in the test's folder; nginx runs
with that folder as its prefix, so no root is needed. Run as root, nginx's master switches its
workers to ``nobody``, who reads the attachment store through the group, exactly as www-data does
in production (docs/operations.md).

When nginx is missing the tests are skipped on a developer's machine and fail where
``ATUM_REQUIRE_OPS_TOOLS`` or ``CI`` is set (``make test`` sets the former and installs nginx).
"""

from __future__ import annotations

import grp
import importlib.util
import os
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from atumdesk import PROJECT_ROOT
from tests.serve import ServeProcess as AppServer
from tests.serve import free_port

NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "atumdesk.conf"
SITE_VALUES = PROJECT_ROOT / "deploy" / "nginx" / "site.env"
SERVER_NAME = "helpdesk.test"
#: The group whose members read the attachment store (production: atumdesk, with www-data in it).
WORKER_USER, WORKER_GROUP = "nobody", "nogroup"


def renderer() -> ModuleType:
    """deploy/nginx/render_site.py as a module (it is a script, not part of a package)."""
    path = PROJECT_ROOT / "deploy" / "nginx" / "render_site.py"
    spec = importlib.util.spec_from_file_location("atum_render_site", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def required() -> bool:
    """Whether a missing nginx is an error rather than a reason to skip."""
    return any(os.environ.get(name, "") not in ("", "0", "false") for name in ("ATUM_REQUIRE_OPS_TOOLS", "CI"))


def require_nginx() -> None:
    """Skip (or, where required, fail) when Debian's nginx is not installed."""
    if not NGINX.exists():
        reason = f"{NGINX} is missing (Debian package nginx; `make test` installs it)"
        if required():
            pytest.fail(f"nginx tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)


def self_signed(folder: Path, name: str = SERVER_NAME, days: int = 2, key_type: str = "ec") -> tuple[Path, Path]:
    """A certificate for ``name`` and its key, made by openssl; (certificate, key)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-sha256", "-days", str(days),
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key


def main_conf(prefix: Path, site: Path) -> str:
    """nginx.conf around the site: everything nginx writes stays under ``prefix``."""
    user = f"user {WORKER_USER} {WORKER_GROUP};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/temp/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {prefix}/access.log;
{temp}
    include {site};
}}
"""


class Nginx:
    """nginx with the rendered site under a prefix folder: ``start``, ``test`` (nginx -t), ``stop``."""

    def __init__(self, prefix: Path, values: Mapping[str, str]) -> None:
        self.prefix = prefix
        (prefix / "temp").mkdir(parents=True, exist_ok=True)
        self.site = prefix / "atumdesk.conf"
        self.site.write_text(renderer().render(TEMPLATE.read_text(encoding="utf-8"), values), encoding="utf-8")
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(main_conf(prefix, self.site), encoding="utf-8")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(NGINX), "-p", str(self.prefix), "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=60, check=False)

    def test(self) -> subprocess.CompletedProcess[str]:
        """nginx -t on the configuration."""
        return self._run("-t")

    def start(self) -> None:
        """Start the daemon: when the command returns, its sockets are bound and it answers."""
        result = self._run()
        if result.returncode != 0:
            raise RuntimeError(f"nginx did not start: {result.stderr}{self.error_log()}")

    def error_log(self) -> str:
        """What nginx logged (for failure messages)."""
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the daemon and wait until its master process is gone."""
        pid_file = self.prefix / "nginx.pid"
        try:
            pid = int(pid_file.read_text().strip())
            fd = os.pidfd_open(pid)
        except (OSError, ValueError):
            return
        try:
            self._run("-s", "stop")
            select.select([fd], [], [], 30)  # readable once the process has ended
        finally:
            os.close(fd)


class _Resolver(AbstractResolver):
    """Every name resolves to 127.0.0.1 (the test's DNS for helpdesk.test)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


@dataclass
class Front:
    """The site as its users reach it: nginx on two loopback ports in front of the app."""

    nginx: Nginx
    app: AppServer
    http_port: int
    https_port: int
    cert: Path
    key: Path
    root: Path
    data_dir: Path
    dist: Path

    @property
    def origin(self) -> str:
        """The HTTPS origin people use (what ATUM_PUBLIC_URL says)."""
        return f"https://{SERVER_NAME}:{self.https_port}"

    def ssl_context(self, server_hostname_check: bool = True) -> ssl.SSLContext:
        """A client context that trusts the test certificate (and nothing else)."""
        context = ssl.create_default_context(cafile=str(self.cert))
        context.check_hostname = server_hostname_check
        return context

    def session(self, keepalive: bool = False, **kwargs: Any) -> aiohttp.ClientSession:
        """An HTTP client whose DNS sends helpdesk.test to loopback and that trusts the test CA (a
        new connection per request unless ``keepalive``, which reuses up to 20)."""
        connector = aiohttp.TCPConnector(resolver=_Resolver(), ssl=self.ssl_context(), force_close=not keepalive,
                                         limit=20 if keepalive else 100)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(), **kwargs)

    def raw_https(self, request: bytes, server_name: str = SERVER_NAME) -> bytes:
        """Send bytes over TLS (SNI ``server_name``) and return what comes back until nginx closes."""
        context = self.ssl_context(server_hostname_check=False)
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=30) as raw, \
                context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(request)
            return _read_all(tls)

    def raw_http(self, request: bytes) -> bytes:
        """Send bytes over plain HTTP and return what comes back until nginx closes."""
        with socket.create_connection(("127.0.0.1", self.http_port), timeout=30) as sock:
            sock.sendall(request)
            return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def make_root() -> Path:
    """A folder for one front: nginx's prefix, the certificate, the app's data and the web build.
    Searchable by everyone (nginx's workers run as nobody when the tests run as root); what is
    inside is protected folder by folder."""
    root = Path(tempfile.mkdtemp(prefix="atum-nginx-"))
    root.chmod(0o711)
    return root


def data_dir(root: Path) -> Path:
    """The app's data directory: private, but its group (nginx's workers) may read the attachment
    store; setgid, so every folder and file the app creates in it has that group too."""
    data = root / "data"
    data.mkdir()
    attachments = data / "attachments"
    attachments.mkdir()
    if os.geteuid() == 0:
        gid = grp.getgrnam(WORKER_GROUP).gr_gid
        for folder in (data, attachments):
            os.chown(folder, 0, gid)
    data.chmod(0o2710)
    attachments.chmod(0o2750)
    return data


def web_build(root: Path) -> Path:
    """A small web build: the HTML shell and one hashed asset (what vite writes to web/dist)."""
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><html><head><script type="module" src="/assets/app-4f2a9c1e.js">'
                                     '</script></head><body><div id="root"></div></body></html>\n')
    (dist / "assets" / "app-4f2a9c1e.js").write_text("console.log('ATUM DESK');\n")
    for path in (dist, dist / "assets"):
        path.chmod(0o755)
    return dist


def site_values(front_root: Path, http_port: int, https_port: int, app_port: int, cert: Path, key: Path,
                attachments: Path, dist: Path) -> dict[str, str]:
    """The renderer's values for a test front (the same names as deploy/nginx/site.env)."""
    return {
        "SERVER_NAME": SERVER_NAME,
        "PUBLIC_ORIGIN": f"https://{SERVER_NAME}:{https_port}",
        "HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "TLS_CERTIFICATE": str(cert),
        "TLS_CERTIFICATE_KEY": str(key),
        "UPSTREAM": f"127.0.0.1:{app_port}",
        "WEB_ROOT": str(dist),
        "ATTACHMENTS_DIR": str(attachments),
    }


@pytest.fixture
def front(db: Any) -> Iterator[Front]:
    """nginx (the shipped site) in front of ``atumdesk serve`` on the test database, with
    X-Accel-Redirect downloads, nginx as the trusted proxy and the HTTPS public address set."""
    require_nginx()
    root = make_root()
    try:
        tls = root / "tls"
        tls.mkdir(mode=0o700)
        cert, key = self_signed(tls)
        data, dist = data_dir(root), web_build(root)
        http_port, https_port = free_port(), free_port()
        env = {"ATUM_DATA_DIR": str(data),
               "ATUM_DATABASE_URL": db.conninfo("atum_app"),
               "ATUM_OWNER_DATABASE_URL": db.conninfo("atum_owner"),
               "ATUM_TRUSTED_PROXIES": "127.0.0.1",
               "ATUM_ACCEL_REDIRECT_PREFIX": "/_attachments",
               "ATUM_PUBLIC_URL": f"https://{SERVER_NAME}:{https_port}",
               "ATUM_WEB_DIST": str(dist)}
        app = AppServer(env)
        try:
            nginx = Nginx(root / "nginx", site_values(root, http_port, https_port, app.port, cert, key,
                                                      data / "attachments", dist))
            app.wait_listening()
            nginx.start()
            try:
                yield Front(nginx, app, http_port, https_port, cert, key, root, data, dist)
            finally:
                nginx.stop()
        finally:
            app.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
