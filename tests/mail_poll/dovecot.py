"""A real IMAP server for the mail tests and the IMAP benchmark: Debian's Dovecot, configured in a
temporary directory and listening on loopback only.

``running(root)`` writes a configuration under ``root``, makes a private certificate authority and a
server certificate for 127.0.0.1 with the ``cryptography`` package, starts ``/usr/sbin/dovecot -F``
and yields a ``Dovecot`` that knows its two ports (implicit TLS, like 993, and STARTTLS on the plain
port, like 143), its test user and the CA file a client must trust. At the end the server is
stopped and the directory removed.

Dovecot's master process normally starts as root and drops privileges per service. Here it always
runs as one unprivileged account instead, every service included: as the caller when the tests run
as an ordinary user, and as Dovecot's own system user (``dovecot``, or ``ATUM_DOVECOT_OS_USER``)
when they run as root — the same reason atumdesk/instance.py runs PostgreSQL as ``postgres``. So
``default_internal_user`` and ``default_login_user`` name that account, no service chroots, and
the mail files belong to it. Messages are delivered with APPEND over IMAP, as a mail server's
delivery agent would hand them over, so nothing in the maildir ever belongs to anyone else.
"""

from __future__ import annotations

import contextlib
import datetime
import imaplib
import ipaddress
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOVECOT = Path("/usr/sbin/dovecot")
HOST = "127.0.0.1"
USERNAME = "helpdesk@example.test"
PASSWORD = "imap-test-password"
#: A second account whose password is not ASCII (IMAP LOGIN cannot carry it; AUTHENTICATE PLAIN can).
UNICODE_USERNAME = "kundendienst@example.test"
UNICODE_PASSWORD = "Grüße-für-IMAP"
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class Account:
    """The operating-system account every Dovecot process runs as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_server(cls) -> Account:
        """The caller, or Dovecot's unprivileged system user when the caller is root."""
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
        else:
            name = os.environ.get("ATUM_DOVECOT_OS_USER", "dovecot")
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                raise RuntimeError(f"running as root, Dovecot needs an unprivileged user and {name!r} does not "
                                   "exist: install dovecot-imapd or set ATUM_DOVECOT_OS_USER") from None
            if entry.pw_uid == 0:
                raise RuntimeError(f"ATUM_DOVECOT_OS_USER={name!r} is root")
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)


@dataclass
class Dovecot:
    """A running Dovecot: where it listens, who may log in, and the CA that signed its certificate."""

    root: Path
    imaps_port: int
    imap_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]
    host: str = HOST
    username: str = USERNAME
    password: str = PASSWORD

    def client(self) -> imaplib.IMAP4_SSL:
        """A logged-in IMAP client over implicit TLS that trusts the test CA (the test's own eyes)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        conn = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context, timeout=10)
        if self.password.isascii():
            conn.login(self.username, self.password)
        else:  # LOGIN carries ASCII only
            credentials = f"\0{self.username}\0{self.password}".encode()
            conn.authenticate("PLAIN", lambda _challenge: credentials)
        return conn

    @contextlib.contextmanager
    def session(self) -> Iterator[imaplib.IMAP4_SSL]:
        """``client()`` that logs out at the end."""
        conn = self.client()
        try:
            yield conn
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver raw messages into ``folder`` (APPEND, unread), creating the folder if needed."""
        with self.session() as conn:
            if folder != "INBOX":
                conn.create(_quoted(folder))  # NO when it exists already: fine
            for raw in messages:
                typ, data = conn.append(_quoted(folder), "", None, raw)
                if typ != "OK":
                    raise RuntimeError(f"APPEND to {folder} failed: {data!r}")

    def flags(self, folder: str = "INBOX") -> dict[str, set[str]]:
        """The flags of every message in ``folder``, by Message-ID (deleted ones included)."""
        found: dict[str, set[str]] = {}
        with self.session() as conn:
            typ, data = conn.select(_quoted(folder), readonly=True)
            if typ != "OK" or data[0] == b"0":
                return found
            typ, data = conn.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            for item in data:
                if not isinstance(item, tuple):
                    continue
                meta, header = item
                flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
                message_id = re.search(rb"<[^>]+>", header)
                if message_id:
                    found[message_id.group().decode()] = set((flags.group(1) if flags else b"").decode().split())
        return found

    def folder_exists(self, folder: str) -> bool:
        """Whether ``folder`` exists for the test user."""
        with self.session() as conn:
            typ, data = conn.list('""', _quoted(folder))
            return typ == "OK" and any(item for item in data if item)

    def log(self) -> str:
        """Dovecot's log so far (for failure messages)."""
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _quoted(name: str) -> str:
    """An IMAP quoted string (folder names with spaces or slashes; ASCII only in these tests)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def make_certificates(directory: Path, *, common_name: str = "ATUM DESK test CA") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it: (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.crt", directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


CONFIG = """\
# Written by tests/mail_poll/dovecot.py: a throwaway IMAP server on loopback.
base_dir = {root}/run
state_dir = {root}/state
instance_name = atum-test-{imaps_port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
listen = {host}
protocols = imap
ssl = yes
ssl_cert = <{root}/server.crt
ssl_key = <{root}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_fsync = never
maildir_very_dirty_syncs = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
  default_fields = home={root}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
  process_min_avail = 1
}}
service anvil {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
service submission-login {{
  chroot =
}}
service imap-urlauth-login {{
  chroot =
}}
service auth {{
  user = {user}
}}
service auth-worker {{
  user = {user}
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
"""


@contextlib.contextmanager
def running(root: Path | None = None) -> Iterator[Dovecot]:
    """A Dovecot in ``root`` (a new temporary directory when None), stopped and removed at the end."""
    if not DOVECOT.is_file():
        raise RuntimeError(f"{DOVECOT} not found: install dovecot-imapd (make test does)")
    made = root is None
    root = Path(tempfile.mkdtemp(prefix="atum-dovecot-")) if root is None else root
    account = Account.for_server()
    server: Dovecot | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "home"):
            (root / sub).mkdir(exist_ok=True)
        ca_file, _, key_file = make_certificates(root)
        key_file.chmod(0o600)
        (root / "users").write_text(f"{USERNAME}:{PASSWORD}::::::\n{UNICODE_USERNAME}:{UNICODE_PASSWORD}::::::\n",
                                    encoding="utf-8")
        imaps_port, imap_port = free_port(), free_port()
        config = root / "dovecot.conf"
        config.write_text(CONFIG.format(root=root, host=HOST, user=account.name,
                                        group=_group_name(account.gid), uid=account.uid, gid=account.gid,
                                        imap_port=imap_port, imaps_port=imaps_port))
        _hand_over(root, account)
        as_root = os.geteuid() == 0
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)], cwd="/", stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=(root / "dovecot.stderr").open("wb"),
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            user=account.uid if as_root else None, group=account.gid if as_root else None,
            extra_groups=[] if as_root else None,
        )
        server = Dovecot(root, imaps_port, imap_port, ca_file, process)
        _wait_until_listening(server)
        yield server
    finally:
        if server is not None:
            server.stop()
        if made:
            shutil.rmtree(root, ignore_errors=True)


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _hand_over(root: Path, account: Account) -> None:
    """Make the tree the server's (as root; an ordinary caller already owns it). The directory must
    be reachable for that account: mkdtemp's 0700 is opened to 0755 (the key stays 0600)."""
    root.chmod(0o755)
    if os.geteuid() != 0:
        return
    for path in [root, *root.rglob("*")]:
        os.chown(path, account.uid, account.gid)


def _wait_until_listening(server: Dovecot) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            stderr = (server.root / "dovecot.stderr").read_text(errors="replace")
            raise RuntimeError(f"dovecot exited with status {server.process.returncode}: {stderr}{server.log()}")
        try:
            with socket.create_connection((server.host, server.imap_port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"dovecot did not answer within {START_TIMEOUT:.0f} s: {server.log()}")
