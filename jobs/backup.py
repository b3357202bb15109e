"""The backup.run job: the nightly backup that pg_cron queues (atum.backup_enqueue, sql/80_cron.sql).

It runs exactly what `atumdesk backup` runs (atumdesk/backups/create.py): one archive of database,
roles and attachments in the backup directory, its verification in a scratch database, retention.
Every run is a row of atum.backup_runs either way.

Outcomes: a backup that could not be written fails the attempt (the job runs again after its
backoff, three attempts in all). A backup that was written but did not verify is an alert — recorded
on its run, shown on /metrics and /readyz — and fails the attempt too, so that another archive is
taken; the one that did not verify is kept for inspection (retention does not run after it).
"""

from __future__ import annotations

from atumdesk.backups.archive import BackupError
from atumdesk.backups.create import backup
from jobs.registry import Job, JobContext, handler

KIND = "backup.run"


class VerificationFailed(BackupError):
    """The archive was written but did not restore into the scratch database as it should."""


@handler(KIND)
def run(ctx: JobContext, job: Job) -> None:
    """One backup, verified, then retention (the same code as `atumdesk backup`)."""
    result = backup(ctx.settings, started_by="job", job_id=job.id, verify=True, progress=False,
                    say=ctx.log.info)
    ctx.log.info("backup %s: %d bytes, verification %s", result.path, result.size_bytes, result.verification,
                 extra={"backup_run_id": result.run_id, "file": str(result.path), "size_bytes": result.size_bytes,
                        "verification": result.verification, "pruned": [str(p) for p in result.pruned]})
    if result.verification == "failed":
        raise VerificationFailed(f"ALERT: backup {result.path.name} did not verify: {result.verification_error}")
