"""`atumdesk deploy-check` on real set-ups: a sound one passes, and each broken one — a key with
the wrong mode, a pair that does not match, a data directory in a web root, a missing migration, a
failing pg_cron job — is named in one plain line."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from atumdesk import PROJECT_ROOT
from atumdesk.deploy_check import Finding, Target, judge_cron, parse_nginx, run_checks
from atumdesk.migrate import cron_job_name, migration_ids
from atumdesk.settings import Settings, load
from tests.conftest import CRON_DATABASE
from tests.ops.nginx import (
    NGINX,
    TEMPLATE,
    WORKER_USER,
    data_dir,
    main_conf,
    make_root,
    renderer,
    self_signed,
    site_values,
    web_build,
)
from tests.support import Database

SERVER = "helpdesk.test"


@dataclass
class SetUp:
    """A production-like set-up in a temporary folder: TLS files, the rendered nginx site, the data
    directory, the settings file; ``target()`` points deploy-check at it."""

    root: Path
    db: Database
    dbname: str
    cert: Path
    key: Path
    data: Path
    dist: Path
    site: Path
    conf: Path
    env_file: Path
    env: dict[str, str]

    def settings(self, **changes: str | None) -> Settings:
        env = {**self.env, **{k: v for k, v in changes.items() if v is not None}}
        for name in (k for k, v in changes.items() if v is None):
            env.pop(name, None)
        return load(env)

    def target(self, **changes: str | None) -> Target:
        worker = WORKER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        return Target(settings=self.settings(**changes), nginx_site=self.site, nginx_conf=self.conf,
                      nginx_prefix=self.conf.parent, nginx_worker_user=worker, env_file=self.env_file)

    def render(self, cert: Path | None = None, key: Path | None = None) -> None:
        values = site_values(self.root, 18080, 18443, 8080, cert or self.cert, key or self.key,
                             self.data / "attachments", self.dist)
        self.site.write_text(renderer().render(TEMPLATE.read_text(), values))


def messages(found: list[Finding], level: str = "error") -> list[str]:
    return [f.message for f in found if f.level == level]


def only(found: list[Finding], *fragments: str) -> None:
    """Exactly one error per fragment, each naming it, and no other error."""
    errors = messages(found)
    assert len(errors) == len(fragments), errors
    for fragment in fragments:
        assert any(fragment in e for e in errors), (fragment, errors)


@pytest.fixture
def setup(db: Database) -> Iterator[SetUp]:
    root = make_root()
    try:
        (root / "tls").mkdir(mode=0o700)
        cert, key = self_signed(root / "tls", SERVER, days=90)
        data, dist = data_dir(root), web_build(root)
        (root / "nginx" / "temp").mkdir(parents=True)
        site, conf = root / "nginx" / "atumdesk.conf", root / "nginx" / "nginx.conf"
        conf.write_text(main_conf(root / "nginx", site))
        backups = root / "backups"
        backups.mkdir(mode=0o750)
        env_file = root / "atumdesk.env"
        env_file.write_text("ATUM_PUBLIC_URL=https://helpdesk.test\n")
        env_file.chmod(0o640)
        # The database pg_cron works for in the test cluster (its jobs are scheduled).
        dbname = CRON_DATABASE
        env = {"ATUM_DATA_DIR": str(data),
               "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=dbname),
               "ATUM_OWNER_DATABASE_URL": make_conninfo(db.settings.owner_database_url, dbname=dbname),
               "ATUM_ADMIN_DATABASE_URL": db.settings.admin_database_url,
               "ATUM_PUBLIC_URL": f"https://{SERVER}", "ATUM_TRUSTED_PROXIES": "127.0.0.1",
               "ATUM_ACCEL_REDIRECT_PREFIX": "/_attachments", "ATUM_BACKUP_DIR": str(backups)}
        s = SetUp(root, db, dbname, cert, key, data, dist, site, conf, env_file, env)
        s.render()
        yield s
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_sound_set_up_has_nothing_to_report(setup: SetUp) -> None:
    assert run_checks(setup.target()) == []


@pytest.mark.slow
def test_the_command_prints_one_line_per_finding_and_fails_on_errors(setup: SetUp) -> None:
    def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        worker = WORKER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        return subprocess.run(
            [sys.executable, "-m", "atumdesk.cli", "deploy-check", "--nginx-site", str(setup.site),
             "--nginx-conf", str(setup.conf), "--nginx-prefix", str(setup.conf.parent),
             "--nginx-worker-user", worker, "--env-file", str(setup.env_file)],
            cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)

    sound = deploy_check(setup.env)
    assert (sound.returncode, sound.stdout) == (0, "deploy-check: everything checked is in order\n"), sound.stderr
    setup.key.chmod(0o644)
    broken = deploy_check({**setup.env, "ATUM_PUBLIC_URL": f"http://{SERVER}"})
    assert broken.returncode == 1
    assert broken.stdout.splitlines() == [
        f"error: the TLS key {setup.key} can be read by every user ({_mode(setup.key)}): "
        f"chmod 0640 {setup.key} and chown root:ssl-cert (or root:root with 0600)",
        f"error: ATUM_PUBLIC_URL=http://{SERVER} is not https: sign-in cookies and links would travel in clear text",
        "deploy-check: 2 error(s), 0 warning(s)",
    ]


def _mode(path: Path) -> str:
    import grp

    st = path.stat()
    return f"mode {st.st_mode & 0o7777:04o}, {pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"


# --- TLS -------------------------------------------------------------------------------------------


def test_a_key_that_nginx_cannot_read(setup: SetUp) -> None:
    # nginx started as another user than root (or with its key on a private path) cannot load it.
    found = run_checks(replace(setup.target(), nginx_master_user="nobody"))
    assert any(f"nginx cannot read its TLS key {setup.key}" in e and "nobody cannot" in e for e in messages(found))


def test_a_key_every_user_can_read(setup: SetUp) -> None:
    setup.key.chmod(0o644)
    only(run_checks(setup.target()), f"the TLS key {setup.key} can be read by every user")


def test_a_key_of_another_certificate(setup: SetUp) -> None:
    _, other_key = self_signed(setup.root / "tls", "other.test")
    setup.render(cert=setup.cert, key=other_key)
    found = run_checks(setup.target())
    assert f"the TLS key {other_key} does not belong to the certificate {setup.cert}" in " ".join(messages(found))
    if NGINX.exists():  # nginx -t says the same in its words
        assert any(e.startswith("nginx -t fails:") for e in messages(found)), messages(found)


def test_a_certificate_for_another_name(setup: SetUp) -> None:
    other_cert, other_key = self_signed(setup.root / "tls", "other.test", days=90)
    setup.render(cert=other_cert, key=other_key)
    only(run_checks(setup.target()),
         f"the TLS certificate {other_cert} is not valid for {SERVER} (it names other.test)")


def test_a_certificate_about_to_expire_or_expired(setup: SetUp) -> None:
    soon = setup.target()
    soon.now = datetime.now(UTC) + timedelta(days=85)
    only(run_checks(soon), f"the TLS certificate {setup.cert} expires in")
    later = setup.target()
    later.now = datetime.now(UTC) + timedelta(days=70)
    assert messages(run_checks(later)) == []
    assert any("is renewal automatic?" in w for w in messages(run_checks(later), "warning"))
    gone = setup.target()
    gone.now = datetime.now(UTC) + timedelta(days=91)
    only(run_checks(gone), f"the TLS certificate {setup.cert} expired on")


def test_a_key_with_a_passphrase(setup: SetUp) -> None:
    locked = setup.root / "tls" / "locked.key"
    subprocess.run(["openssl", "pkey", "-in", str(setup.key), "-aes256", "-passout", "pass:secret",
                    "-out", str(locked)], check=True, capture_output=True)
    locked.chmod(0o600)
    setup.render(key=locked)
    found = messages(run_checks(setup.target()))
    assert any(f"the TLS key {locked} is protected by a passphrase" in e for e in found), found


# --- nginx -------------------------------------------------------------------------------------------


def test_a_site_nginx_refuses(setup: SetUp) -> None:
    if not NGINX.exists():
        pytest.skip("nginx is not installed")
    sound = setup.site.read_text()
    setup.site.write_text(sound.replace("server_tokens off;", "server_tokens of;", 1))
    only(run_checks(setup.target()), f'nginx -t fails: invalid value "of" in {setup.site}:')
    # Another site claiming the default server of the same address (Debian's default site, say).
    other = setup.conf.parent / "default"
    other.write_text("server { listen 127.0.0.1:18080 default_server; root /var/www/html; }\n")
    setup.site.write_text(f"{sound}include {other};\n")
    only(run_checks(setup.target()), "nginx -t fails: a duplicate default server for 127.0.0.1:18080 in "
                                     f"{other}:1 (remove /etc/nginx/sites-enabled/default)")


def test_attachments_wired_wrongly_between_app_and_nginx(setup: SetUp) -> None:
    found = run_checks(setup.target(ATUM_ACCEL_REDIRECT_PREFIX=None))
    assert messages(found) == []
    assert messages(found, "warning") == ["ATUM_ACCEL_REDIRECT_PREFIX is not set: the app streams every download "
                                          "itself instead of handing it to nginx's location /_attachments"]
    only(run_checks(setup.target(ATUM_ACCEL_REDIRECT_PREFIX="/files")),
         "ATUM_ACCEL_REDIRECT_PREFIX=/files but the nginx site has no internal location /files/")
    elsewhere = setup.root / "elsewhere"
    (elsewhere / "attachments").mkdir(parents=True, mode=0o750)
    elsewhere.chmod(0o750)
    only(run_checks(setup.target(ATUM_DATA_DIR=str(elsewhere))),
         f"nginx serves /_attachments/ from {setup.data / 'attachments'}, but the attachment store is "
         f"{elsewhere / 'attachments'}")


def test_an_attachment_store_nginx_cannot_read(setup: SetUp) -> None:
    (setup.data / "attachments").chmod(0o700)
    target = replace(setup.target(), nginx_worker_user="nobody")
    if os.geteuid() == 0:
        os.chown(setup.data / "attachments", 0, 0)
    only(run_checks(target), "nginx's workers (nobody) cannot read the attachment store")


def test_an_upload_limit_above_what_nginx_lets_through(setup: SetUp) -> None:
    only(run_checks(setup.target(ATUM_ATTACHMENT_MAX_BYTES=str(100 * 1024 * 1024))),
         "nginx accepts uploads up to 26m but the app allows 104923136 bytes")


# --- the data directory -------------------------------------------------------------------------------


def test_a_data_directory_inside_a_web_root(setup: SetUp) -> None:
    published = setup.dist / "assets" / "data"
    (published / "attachments").mkdir(parents=True)
    for folder in (published, published / "attachments"):
        folder.chmod(0o750)
    found = messages(run_checks(setup.target(ATUM_DATA_DIR=str(published))))
    assert any(f"the data directory {published} (ATUM_DATA_DIR) is inside the web root {setup.dist / 'assets'}" in e
               for e in found), found


def test_loose_modes_on_the_data_directory_the_secret_key_and_the_settings(setup: SetUp) -> None:
    setup.data.chmod(0o755)
    (setup.data / "attachments").chmod(0o770)
    key = setup.data / "secret.key"
    key.write_text("c2VjcmV0\n")
    key.chmod(0o644)
    setup.env_file.chmod(0o644)
    only(run_checks(setup.target()),
         f"{setup.data} is open to every user", f"{setup.data / 'attachments'} can be written by its group",
         f"the secret key {key} can be read by others than its owner", f"the settings file {setup.env_file}")


def test_a_backup_directory_missing_open_or_not_writable_by_the_service(setup: SetUp) -> None:
    backups = setup.root / "backups"
    only(run_checks(setup.target(ATUM_BACKUP_DIR=str(setup.root / "nowhere"))),
         f"{setup.root / 'nowhere'} does not exist: create it for the service")
    backups.chmod(0o755)
    only(run_checks(setup.target()), f"the backup directory {backups} is open to every user")
    backups.chmod(0o550)
    if os.geteuid() == 0:
        os.chown(setup.data, pwd.getpwnam("nobody").pw_uid, -1)  # the service is whoever owns the data
    service = pwd.getpwuid(setup.data.stat().st_uid).pw_name
    only(run_checks(setup.target()), f"the service user {service} cannot write the backup directory {backups}")


# --- the app's settings --------------------------------------------------------------------------------


def test_settings_that_do_not_fit_a_proxied_https_site(setup: SetUp) -> None:
    only(run_checks(setup.target(ATUM_HOST="0.0.0.0", ATUM_TRUSTED_PROXIES=None)),
         "the app listens on 0.0.0.0:8080 (ATUM_HOST), reachable without a proxy",
         "ATUM_TRUSTED_PROXIES is not set but nginx is in front")
    only(run_checks(setup.target(ATUM_PUBLIC_URL=None)), "ATUM_PUBLIC_URL is not set")
    only(run_checks(setup.target(ATUM_PUBLIC_URL="https://desk.example.org")),
         "ATUM_PUBLIC_URL=https://desk.example.org does not name the nginx server helpdesk.test")
    only(run_checks(setup.target(ATUM_TRUSTED_PROXIES="10.0.0.0/8")),
         "ATUM_TRUSTED_PROXIES does not include 127.0.0.1")


# --- the database ---------------------------------------------------------------------------------------


def test_a_migration_that_is_not_applied(setup: SetUp, db: Database) -> None:
    last = migration_ids()[-1]
    with db.connect("atum_owner", autocommit=True) as owner:
        owner.execute("DELETE FROM public._yoyo_migration WHERE migration_id = %s", [last])
    only(run_checks(setup.target(ATUM_DATABASE_URL=db.conninfo("atum_app"))),
         f"1 migration(s) not applied to {db.dbname} ({last}): run `atumdesk migrate`",
         f"no pg_cron jobs are scheduled for the database {db.dbname}")


def test_a_database_that_cannot_be_reached(setup: SetUp, db: Database) -> None:
    found = messages(run_checks(setup.target(ATUM_DATABASE_URL=make_conninfo(db.conninfo("atum_app"),
                                                                             dbname="atum_missing"))))
    assert any(e.startswith("cannot connect to PostgreSQL as the app (ATUM_DATABASE_URL): ") for e in found), found


def test_a_pg_cron_job_that_fails(setup: SetUp, db: Database) -> None:
    admin = db.settings.admin_database_url
    with psycopg.connect(admin, autocommit=True) as conn:
        jobid = conn.execute("SELECT cron.schedule_in_database(%s, '0 0 1 1 *', 'SELECT 1/0', %s, 'atum_owner', true)",
                             [cron_job_name(db.dbname, "broken"), db.dbname]).fetchone()[0]
        try:
            conn.execute("INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status,"
                         " return_message, start_time, end_time)"
                         " VALUES (%s, nextval('cron.runid_seq'), %s, 'atum_owner', 'SELECT 1/0', 'failed',"
                         " 'ERROR:  division by zero', now() - interval '1 minute', now())", [jobid, db.dbname])
            found = run_checks(setup.target(ATUM_DATABASE_URL=db.conninfo("atum_app")))
        finally:
            conn.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", [jobid])
            conn.execute("SELECT cron.unschedule(%s::bigint)", [jobid])
    only(found, f"the pg_cron job {cron_job_name(db.dbname, 'broken')} failed 1 time(s) in 24 hours "
                "(last: ERROR: division by zero): see `atumdesk cron`")


def test_pg_cron_rows_are_judged_in_plain_words() -> None:
    assert [str(f) for f in judge_cron([], "atumdesk")] == [
        "error: no pg_cron jobs are scheduled for the database atumdesk: run `atumdesk migrate`"]
    assert [str(f) for f in judge_cron([{"jobname": "atum:atumdesk:x", "active": False, "failures_24h": 0}],
                                       "atumdesk")] == ["error: the pg_cron job atum:atumdesk:x is inactive"]


def test_the_nginx_reader_follows_includes_and_keeps_quoted_words(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "a.conf").write_text('server { root "/srv/my site"; location /x { internal; } }\n')
    tree = parse_nginx("http { include sites/*.conf; } # a comment\n", include_root=tmp_path)
    [server] = list(tree.find("server"))
    assert [(d.name, d.args) for d in server.children][:1] == [("root", ["/srv/my site"])]
    with pytest.raises(ValueError, match="not closed"):
        parse_nginx("http { server {")
