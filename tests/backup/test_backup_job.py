"""The nightly backup: pg_cron's entry queues a backup.run job, the worker runs it like
`atumdesk backup` and records the run; a backup that does not verify raises the alert (run row,
/metrics, /readyz); retention keeps what the settings say and nothing else is touched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from atumdesk.backups.archive import BackupError, sha256_of
from atumdesk.backups.create import backup, remove_stale
from atumdesk.backups.retention import prune, to_keep
from atumdesk.backups.verify import scratch_name, verify_archive
from jobs.registry import HANDLERS, Job, JobContext
from tests.api.client import run_api
from tests.backup import environment, settings_for, store_attachment_files
from tests.support import Database, Org, build_org


@pytest.fixture
def world(db: Database, owner: psycopg.Connection, tmp_path: Path) -> tuple[Org, Org]:
    """Two organizations with a row in every tenant table, and the files of their attachments."""
    alpha, beta = build_org(owner, "alpha"), build_org(owner, "beta")
    store_attachment_files(owner, settings_for(db, tmp_path).attachments_dir)
    return alpha, beta


def status(db: Database) -> dict[str, Any]:
    """api.backup_status() as the app role sees it (what /metrics and /readyz show)."""
    with db.connect("atum_app") as conn:
        row = conn.execute("SELECT api.backup_status()").fetchone()
    assert row is not None
    return dict(row[0])


def test_the_cron_entry_queues_a_job_the_worker_turns_into_a_verified_backup(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], tmp_path: Path) -> None:
    command = owner.execute("SELECT command FROM atum.cron_jobs() WHERE name = 'backup'").fetchone()
    assert command == ("SELECT atum.backup_enqueue()",)
    job_id = owner.execute(command[0]).fetchone()[0]
    assert owner.execute(command[0]).fetchone() == (None,)  # one pending backup at most
    assert status(db)["last_success_at"] is None

    env = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")} | environment(db, tmp_path)
    worker = subprocess.run([sys.executable, "-m", "atumdesk.cli", "worker", "--once"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert worker.returncode == 0, worker.stderr
    assert owner.execute("SELECT state FROM atum.jobs WHERE id = %s", [job_id]).fetchone() == ("succeeded",)

    run = owner.execute("SELECT started_by, job_id, outcome, file, size_bytes, encode(sha256, 'hex'), verification,"
                        " finished_at IS NOT NULL FROM atum.backup_runs").fetchall()
    assert len(run) == 1
    started_by, run_job, outcome, file, size, digest, verification, finished = run[0]
    archive = Path(file)
    assert (started_by, run_job, outcome, verification, finished) == ("job", job_id, "succeeded", "passed", True)
    assert archive.parent == tmp_path / "backups" and (size, digest) == (archive.stat().st_size, sha256_of(archive))
    facts = status(db)
    assert facts["last_success_size_bytes"] == size and facts["last_verification"] == "passed"
    assert facts["alert"] is False
    with psycopg.connect(db.settings.admin_database_url) as admin:
        left = admin.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'atumdesk_verify_%'").fetchone()
    assert left == (0,)


def _run_handler(db: Database, tmp_path: Path, job_id: int) -> None:
    settings = settings_for(db, tmp_path, ATUM_BACKUP_KEEP_DAILY="1", ATUM_BACKUP_KEEP_WEEKLY="1")
    context = JobContext(settings, "test-worker", logging.getLogger("atumdesk.job.backup.run"))
    HANDLERS["backup.run"](context, Job(job_id, "backup.run", None, {}, 1, 3))


def test_a_backup_that_does_not_verify_raises_the_alert_and_keeps_older_archives(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import jobs.backup

    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / f"atumdesk-{db.dbname}-20200101T023000Z.tar"
    old.write_bytes(b"an old archive")
    monkeypatch.setenv("ATUM_BACKUP_FAULT", "verify.lose_a_row")
    with pytest.raises(jobs.backup.VerificationFailed, match=r"ALERT: .* did not verify: .*atum\.backup_runs: 0 rows "
                                                             r"restored, 1 in the backup"):
        _run_handler(db, tmp_path, 42)

    row = owner.execute("SELECT outcome, verification, verification_error FROM atum.backup_runs").fetchone()
    assert row is not None and row[:2] == ("succeeded", "failed") and "atum.backup_runs" in row[2]
    facts = status(db)
    assert facts["alert"] is True and facts["last_verification"] == "failed"
    assert old.exists()  # no retention after a backup that did not verify
    with psycopg.connect(db.settings.admin_database_url) as admin:
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                             [scratch_name()]).fetchone() == (0,)

    async def scrape(api: Any) -> None:
        metrics = await api.call("GET", "/metrics")
        assert metric(metrics.body, "atumdesk_backup_verification_alert") == 1
        assert metric(metrics.body, "atumdesk_backup_last_verification_ok") == 0
        assert metric(metrics.body, "atumdesk_backup_last_size_bytes") == row_size(owner)
        assert metric(metrics.body, "atumdesk_backup_last_success_timestamp_seconds") > 0
        ready = await api.call("GET", "/readyz")
        assert ready.status == 200 and ready.body["checks"]["backups"].startswith("ALERT: the backup verification")

    run_api(db, scrape)

    # The next backup verifies: the alert clears, and retention prunes what the rule does not keep.
    monkeypatch.delenv("ATUM_BACKUP_FAULT")
    _run_handler(db, tmp_path, 43)
    assert status(db)["alert"] is False
    newest = owner.execute("SELECT file FROM atum.backup_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert [p.name for p in backups.iterdir()] == [Path(newest).name]  # one day, one week kept
    assert owner.execute("SELECT count(*) FROM atum.backup_runs WHERE pruned_at IS NOT NULL").fetchone() == (1,)


def metric(text: str, name: str) -> float:
    """The value of an unlabelled metric in the Prometheus text format."""
    values = [float(line.split()[1]) for line in text.splitlines() if line.split(" ")[0] == name]
    assert len(values) == 1, f"{name} not exposed once"
    return values[0]


def row_size(owner: psycopg.Connection) -> int:
    """Size of the last successful archive, as recorded."""
    return owner.execute("SELECT size_bytes FROM atum.backup_runs WHERE outcome = 'succeeded'"
                         " ORDER BY id DESC LIMIT 1").fetchone()[0]


def test_a_tampered_archive_fails_verification(db: Database, world: tuple[Org, Org], tmp_path: Path) -> None:
    settings = settings_for(db, tmp_path)
    archive = backup(settings, verify=False).path
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="the archive does not check out"):
        verify_archive(settings, archive)


def _name(db: str, moment: datetime) -> str:
    return f"atumdesk-{db}-{moment.strftime('%Y%m%dT%H%M%SZ')}.tar"


def test_retention_keeps_the_newest_of_each_recent_day_and_week() -> None:
    start = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)  # a Sunday
    # Sixty nights of backups, plus a second backup taken by hand on the last day.
    names = [_name("atumdesk", start + timedelta(days=d)) for d in range(60)]
    extra = _name("atumdesk", start + timedelta(days=59, hours=10))
    kept = to_keep([*names, extra, "notes.txt", _name("other", start)], "atumdesk", keep_daily=7, keep_weekly=4)
    newest_days = {_name("atumdesk", start + timedelta(days=d)) for d in range(53, 59)} | {extra}
    # ISO weeks (Monday to Sunday): the newest archive of each of the last four weeks is `extra`
    # (this week), day 56 (a Sunday, kept as a day already), and the Sundays before it.
    older_sundays = {_name("atumdesk", start + timedelta(days=d)) for d in (42, 49)}
    assert kept == newest_days | older_sundays
    assert len(kept) == 7 + 2


def test_retention_deletes_only_this_databases_archives(tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    for day in range(10):
        (tmp_path / _name("atumdesk", start + timedelta(days=day))).write_bytes(b"x")
    foreign = [tmp_path / "operator-notes.txt", tmp_path / _name("otherdb", start)]
    for path in foreign:
        path.write_bytes(b"keep me")
    deleted = prune(tmp_path, "atumdesk", keep_daily=3, keep_weekly=0)
    assert sorted(p.name for p in deleted) == [_name("atumdesk", start + timedelta(days=d)) for d in range(7)]
    assert all(p.exists() for p in foreign)
    assert len(list(tmp_path.iterdir())) == 3 + len(foreign)


def test_leftovers_of_an_interrupted_backup_are_removed_a_day_later(tmp_path: Path) -> None:
    partial = tmp_path / ".atumdesk-x-20260301T023000Z.tar.partial"
    work = tmp_path / ".work-123-7"
    work.mkdir()
    (work / "database.dump").write_bytes(b"half")
    partial.write_bytes(b"half")
    keep = [tmp_path / ".hidden-by-the-operator", tmp_path / "atumdesk-x-20260301T023000Z.tar"]
    for path in keep:
        path.write_bytes(b"x")
    assert remove_stale(tmp_path) == []  # an hour later they may still be in use
    gone = remove_stale(tmp_path, now=time.time() + 25 * 3600)
    assert sorted(gone) == sorted([partial, work])
    assert all(p.exists() for p in keep)
