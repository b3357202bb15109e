"""Backups that restore: `atumdesk backup` → wipe → `atumdesk restore` gives back every row of every
table and every attachment file; restore refuses what it must refuse and leaves nothing half done;
the dump holds every tenant's rows although every tenant table forces row-level security."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from atumdesk import settings as settings_mod
from atumdesk.attachments import stored_path
from atumdesk.backups import create as create_mod
from atumdesk.backups.archive import DUMP, MANIFEST, sha256_of
from atumdesk.backups.create import backup
from atumdesk.backups.restore import restore
from atumdesk.instance import Instance, pg_bindir
from tests.backup import (
    cli,
    database_exists,
    drop_database,
    settings_for,
    store_attachment_files,
    store_fingerprints,
    table_fingerprints,
    unschedule_cron,
)
from tests.support import Database, Org, build_org


@pytest.fixture
def world(db: Database, owner: psycopg.Connection, tmp_path: Path) -> tuple[Org, Org]:
    """Two organizations with a row in every tenant table, and the files of their attachments."""
    alpha, beta = build_org(owner, "alpha"), build_org(owner, "beta")
    assert store_attachment_files(owner, settings_for(db, tmp_path).attachments_dir) == 4
    return alpha, beta


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused command (no traceback, no progress noise)."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("atumdesk: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def archive_of(proc: subprocess.CompletedProcess[str]) -> Path:
    """The archive `atumdesk backup` printed."""
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.split("\t")[0])


def test_backup_wipe_restore_gives_back_every_row_and_every_attachment(
        db: Database, world: tuple[Org, Org], tmp_path: Path) -> None:
    alpha, _beta = world
    store = settings_for(db, tmp_path).attachments_dir
    rows_before, files_before = table_fingerprints(db), store_fingerprints(store)

    made = cli(db, tmp_path, "backup")
    archive = archive_of(made)
    assert made.stdout.rstrip().endswith("verification passed")
    assert archive.parent == tmp_path / "backups" and archive.name.startswith(f"atumdesk-{db.dbname}-")

    drop_database(db)
    shutil.rmtree(store)
    # The operator restores as root; the service's user owns the data directory and must be able to
    # read what the restore puts there.
    service_uid = 65534 if os.geteuid() == 0 else os.geteuid()
    os.chown(store.parent, service_uid, os.getegid())
    try:
        restored = cli(db, tmp_path, "restore", str(archive))
        assert restored.returncode == 0, restored.stderr
        assert restored.stdout.startswith(f"restored {db.dbname}: ")
        after = table_fingerprints(db)
        # The backup's own run row was written before its snapshot: the one difference, and the
        # restore records that this run succeeded, with this archive.
        assert after.pop("atum.backup_runs")[0] == rows_before.pop("atum.backup_runs")[0] + 1
        assert after == rows_before
        with db.connect("atum_owner") as conn:
            run = conn.execute("SELECT outcome, file, encode(sha256, 'hex') FROM atum.backup_runs").fetchall()
        assert run == [("succeeded", str(archive), sha256_of(archive))]
        assert store_fingerprints(store) == files_before and len(files_before) == 4
        assert {p.stat().st_uid for p in [store, *store.rglob("*")]} == {service_uid}
        # The roles work as before: the app sees its organization's tickets through RLS with a
        # session that was backed up, reporting reads the organizations granted to it.
        with db.acting_as(alpha.tokens["agent"]) as conn:
            assert {r["id"] for r in conn.execute("SELECT id FROM atum.tickets")} == {alpha.ticket_id,
                                                                                      alpha.other_ticket_id}
        with db.connect("atum_reporting") as conn:
            assert conn.execute("SELECT count(DISTINCT organization_id) FROM reporting.tickets").fetchone() == (2,)
    finally:
        unschedule_cron(db)


def test_the_dump_holds_every_tenants_rows_because_the_owner_bypasses_row_level_security(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], tmp_path: Path) -> None:
    settings = settings_for(db, tmp_path)
    result = backup(settings, verify=False)
    tables = result.manifest["tables"]
    for table in ("tickets", "ticket_comments", "users", "attachments", "organizations", "audit_log"):
        total = owner.execute(f"SELECT count(*) FROM atum.{table}").fetchone()[0]  # noqa: S608
        assert tables[f"atum.{table}"]["rows"] == total > 0
    assert {r["rows"] for t, r in tables.items() if t == "atum.organizations"} == {2}

    # Why it matters: a role that owns the tables' privileges but does not bypass RLS gets no
    # partial dump, it gets an error (pg_dump turns row_security off and PostgreSQL refuses the
    # COPY); the backup connects as atum_owner, which has BYPASSRLS.
    probe = f"atum_dump_probe_{db.dbname}"[:60]
    probe_url = make_conninfo(db.conninfo("atum_owner"), user=probe)
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{probe}" LOGIN NOBYPASSRLS IN ROLE atum_owner')
        try:
            dump = subprocess.run([str(pg_bindir() / "pg_dump"), "--format=custom", "--file=/dev/null",
                                   f"--dbname={probe_url}"], capture_output=True, text=True, check=False)
            # And `atumdesk backup` configured with such a role says why before pg_dump would.
            refused = cli(db, tmp_path, "backup", ATUM_OWNER_DATABASE_URL=probe_url)
        finally:
            admin.execute(f'DROP ROLE "{probe}"')
    assert dump.returncode != 0 and "row-level security" in dump.stderr
    assert refused.returncode == 2 and "does not bypass row-level security" in one_line_error(refused)
    assert owner.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone() == (True,)


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], tmp_path: Path) -> None:
    alpha, _ = world
    archive = backup(settings_for(db, tmp_path), verify=False).path
    later = owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id) VALUES (%s, %s, %s)"
                          " RETURNING id", [alpha.id, "Written after the backup", alpha.users["customer"]]).fetchone()

    refused = cli(db, tmp_path, "restore", str(archive))
    assert refused.returncode == 2
    assert "is not empty" in one_line_error(refused) and "--force" in one_line_error(refused)
    assert owner.execute("SELECT count(*) FROM atum.tickets WHERE id = %s", later).fetchone() == (1,)
    owner.close()

    restored = restore(settings_for(db, tmp_path), archive, force=True, schedule_cron=False)
    assert restored.database == db.dbname
    with db.connect("atum_owner") as conn:
        assert conn.execute("SELECT count(*) FROM atum.tickets WHERE id = %s", later).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM atum.tickets").fetchone() == (4,)


def _truncated(archive: Path, target: Path) -> Path:
    target.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    return target


def _flipped(archive: Path, target: Path) -> Path:
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        offset = tar.getmember(DUMP).offset_data + 100  # inside the dump's bytes
    data[offset] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def _not_a_backup(archive: Path, target: Path) -> Path:
    target.write_text("this is a shopping list, not a backup\n")
    return target


def _escaping_member(archive: Path, target: Path) -> Path:
    with tarfile.open(archive) as tar, tarfile.open(target, "w") as out:
        for member in tar.getmembers():
            out.addfile(member, tar.extractfile(member))
        evil = tarfile.TarInfo("../../etc/cron.d/evil")
        evil.size = 0
        out.addfile(evil)
    return target


def _manifest_altered(archive: Path, target: Path) -> Path:
    with tarfile.open(archive) as tar, tarfile.open(target, "w") as out:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if member.name == MANIFEST:
                assert handle is not None
                manifest = json.loads(handle.read())
                manifest["members"].pop(next(n for n in manifest["members"] if n.startswith("attachments/")))
                data = json.dumps(manifest).encode()
                member.size = len(data)
                handle = io.BytesIO(data)  # type: ignore[assignment]
            out.addfile(member, handle)
    return target


@pytest.mark.parametrize(("damage", "says"), [
    (_truncated, "cut short"),
    (_flipped, "does not match its checksum"),
    (_not_a_backup, "not a backup archive"),
    (_escaping_member, "unexpected member '../../etc/cron.d/evil'"),
    (_manifest_altered, "is not listed in the manifest"),
    (None, "no such file"),
])
def test_a_damaged_or_wrong_archive_is_refused_in_one_line_and_nothing_is_restored(
        db: Database, world: tuple[Org, Org], tmp_path: Path, damage: object, says: str) -> None:
    settings = settings_for(db, tmp_path)
    archive = backup(settings, verify=False).path
    bad = tmp_path / "bad.tar"
    if callable(damage):
        damage(archive, bad)
    drop_database(db)
    store = settings.attachments_dir
    for path in store.rglob("*"):
        if path.is_file():
            path.unlink()

    proc = cli(db, tmp_path, "restore", str(bad))
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert str(bad) in line and says in line and "nothing was restored" in line
    assert not database_exists(db)
    assert store_fingerprints(store) == {}
    assert not list(settings.data_dir.glob(".restore-*"))


def test_an_archive_of_a_newer_version_is_refused(db: Database, world: tuple[Org, Org], tmp_path: Path) -> None:
    archive = backup(settings_for(db, tmp_path), verify=False).path
    newer = tmp_path / "newer.tar"
    with tarfile.open(archive) as tar, tarfile.open(newer, "w") as out:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if member.name == MANIFEST:
                assert handle is not None
                manifest = json.loads(handle.read())
                manifest["versions"]["migrations"].append("9999.from-the-future")
                data = json.dumps(manifest).encode()
                member.size = len(data)
                handle = io.BytesIO(data)  # type: ignore[assignment]
            out.addfile(member, handle)
    drop_database(db)
    proc = cli(db, tmp_path, "restore", str(newer))
    assert proc.returncode == 2 and "newer ATUM DESK (migration 9999.from-the-future" in one_line_error(proc)
    assert not database_exists(db)


def test_an_attachment_missing_from_the_store_fails_the_backup_and_leaves_no_archive(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], tmp_path: Path) -> None:
    settings = settings_for(db, tmp_path)
    victim = next(p for p in settings.attachments_dir.rglob("*") if p.is_file())
    victim.unlink()
    proc = cli(db, tmp_path, "backup")
    assert proc.returncode == 2 and "missing from" in one_line_error(proc)
    assert list((tmp_path / "backups").iterdir()) == []
    run = owner.execute("SELECT outcome, error, file FROM atum.backup_runs").fetchall()
    assert len(run) == 1 and run[0][0] == "failed" and "missing from" in run[0][1] and run[0][2] is None


def test_the_archive_checksum_and_size_are_recorded(db: Database, owner: psycopg.Connection,
                                                    world: tuple[Org, Org], tmp_path: Path) -> None:
    result = backup(settings_for(db, tmp_path), verify=True)
    row = owner.execute("SELECT outcome, file, size_bytes, encode(sha256, 'hex'), verification, started_by"
                        " FROM atum.backup_runs WHERE id = %s", [result.run_id]).fetchone()
    assert row == ("succeeded", str(result.path), result.path.stat().st_size, sha256_of(result.path), "passed", "cli")
    manifest = result.manifest
    assert manifest["versions"]["migration_head"] == max(manifest["versions"]["migrations"])
    assert manifest["versions"]["postgresql"].startswith("15")
    stored = [p for p in settings_for(db, tmp_path).attachments_dir.rglob("*") if p.is_file()]
    assert manifest["attachments"] == {"files": 4, "bytes": sum(p.stat().st_size for p in stored)}


def test_uploads_during_a_backup_are_not_half_in_it(db: Database, owner: psycopg.Connection, world: tuple[Org, Org],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attachment stored and committed after the backup's snapshot (while pg_dump runs) is in
    neither the dump nor the archive's files; everything the dump references is in the archive."""
    alpha, _ = world
    settings = settings_for(db, tmp_path)
    real_dump = create_mod._pg_dump

    def upload_then_dump(*args: Any, **kwargs: Any) -> None:
        with db.connect("atum_owner", autocommit=True) as other:
            content = b"uploaded while the backup runs"
            path = stored_path(settings.attachments_dir, hashlib.sha256(content).hexdigest())
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            other.execute("INSERT INTO atum.attachments (organization_id, ticket_id, filename, content_type,"
                          " size_bytes, sha256) VALUES (%s, %s, 'late.txt', 'text/plain', %s, sha256(%s))",
                          [alpha.id, alpha.ticket_id, len(content), content])
        real_dump(*args, **kwargs)

    monkeypatch.setattr(create_mod, "_pg_dump", upload_then_dump)
    result = backup(settings, verify=True)
    assert result.verification == "passed"
    assert result.manifest["tables"]["atum.attachments"]["rows"] == 4
    assert result.manifest["attachments"]["files"] == 4
    assert owner.execute("SELECT count(*) FROM atum.attachments").fetchone() == (5,)

    owner.close()
    restore(settings, result.path, force=True, schedule_cron=False)
    with db.connect("atum_owner") as conn:
        hashes = [r[0] for r in conn.execute("SELECT encode(sha256, 'hex') FROM atum.attachments")]
    assert len(hashes) == 4 and all(stored_path(settings.attachments_dir, h).is_file() for h in hashes)


def test_restore_into_a_fresh_instance_brings_back_the_roles_and_their_grants(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], tmp_path: Path) -> None:
    """A new PostgreSQL cluster with nothing in it: the app and reporting roles work after the
    restore, and so does a BI role that was granted one organization's reports."""
    alpha, beta = world
    bi = f"bi_{db.dbname}"[:60]
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{bi}" LOGIN')
        try:
            owner.execute("SELECT api.grant_reporting(%s, %s)", [bi, alpha.id])
            archive = backup(settings_for(db, tmp_path), verify=False).path
        finally:
            admin.execute(f'DROP ROLE "{bi}"')

    root = Path(tempfile.mkdtemp(prefix="atum-fresh-"))
    root.chmod(0o755)
    instance = Instance(root / "pg", extra_settings={"fsync": "off", "max_connections": "20"})
    try:
        instance.init()
        instance.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")} | {"ATUM_DATA_DIR": str(root)}
        proc = subprocess.run([sys.executable, "-m", "atumdesk.cli", "restore", str(archive)], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        fresh = settings_mod.load({"ATUM_DATA_DIR": str(root)})
        source_store = settings_for(db, tmp_path).attachments_dir
        assert store_fingerprints(fresh.attachments_dir) == store_fingerprints(source_store)
        with psycopg.connect(fresh.conninfo("app")) as app:
            app.execute("SELECT api.authenticate(%s)", [beta.tokens["manager"]])
            assert {r[0] for r in app.execute("SELECT id FROM atum.tickets")} == {beta.ticket_id, beta.other_ticket_id}
        with psycopg.connect(make_conninfo(fresh.conninfo("app"), user=bi)) as reporting:
            seen = reporting.execute("SELECT DISTINCT organization_id FROM reporting.tickets").fetchall()
            assert seen == [(alpha.id,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reporting.execute("SELECT 1 FROM atum.tickets")
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)
