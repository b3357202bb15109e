-- Backups (SPEC 10): one row per run of `atumdesk backup` or of the daily backup.run job, with the
-- outcome of the verification that restores each archive into a scratch database. Instance-level,
-- not a tenant table: a backup holds every organization. Internal: written only by the owner (the
-- CLI and the worker) through atum_private functions (sql/76_backups.sql); the app reads a summary
-- through api.backup_status() for /metrics and /readyz. Not audited: operator bookkeeping, no
-- tenant data.
-- depends: 0016.mailbox-health

CREATE TABLE atum.backup_runs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    started_by          text NOT NULL CONSTRAINT backup_runs_started_by_known CHECK (started_by IN ('cli', 'job')),
    job_id              bigint,
    outcome             text NOT NULL DEFAULT 'running'
        CONSTRAINT backup_runs_outcome_known CHECK (outcome IN ('running', 'succeeded', 'failed')),
    file                text CONSTRAINT backup_runs_file_length CHECK (length(file) <= 4096),
    size_bytes          bigint CONSTRAINT backup_runs_size_nonnegative CHECK (size_bytes >= 0),
    sha256              bytea CONSTRAINT backup_runs_sha256_length CHECK (length(sha256) = 32),
    verification        text CONSTRAINT backup_runs_verification_known CHECK (verification IN ('passed', 'failed', 'skipped')),
    verified_at         timestamptz,
    verification_error  text CONSTRAINT backup_runs_verification_error_length CHECK (length(verification_error) <= 2000),
    error               text CONSTRAINT backup_runs_error_length CHECK (length(error) <= 2000),
    pruned_at           timestamptz,
    CONSTRAINT backup_runs_finished_when_done CHECK ((outcome = 'running') = (finished_at IS NULL)),
    CONSTRAINT backup_runs_file_when_succeeded CHECK (outcome <> 'succeeded' OR (file IS NOT NULL AND sha256 IS NOT NULL AND size_bytes IS NOT NULL))
);
CREATE INDEX backup_runs_started_idx ON atum.backup_runs (started_at);
ALTER TABLE atum.backup_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.backup_runs FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.backup_runs IS 'Internal, instance-level (no organization): every backup run (atumdesk backup, or the daily backup.run job queued by pg_cron) with its archive, checksum, outcome and verification. Written by the owner only (atum_private.backup_run_*); summarised for operators by api.backup_status() (/metrics, /readyz).';
COMMENT ON INDEX atum.backup_runs_started_idx IS 'The latest runs first (status, metrics).';
COMMENT ON COLUMN atum.backup_runs.id IS 'Run id.';
COMMENT ON COLUMN atum.backup_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN atum.backup_runs.finished_at IS 'When it ended, well or not (NULL while running).';
COMMENT ON COLUMN atum.backup_runs.started_by IS 'cli: `atumdesk backup`; job: the scheduled backup.run job.';
COMMENT ON COLUMN atum.backup_runs.job_id IS 'The backup.run job of atum.jobs (started_by job); no foreign key: jobs are purged after their retention, runs are kept.';
COMMENT ON COLUMN atum.backup_runs.outcome IS 'running, succeeded (the archive is complete and its checksum recorded) or failed (see error; no archive was left behind).';
COMMENT ON COLUMN atum.backup_runs.file IS 'The archive (absolute path on the host that ran the backup).';
COMMENT ON COLUMN atum.backup_runs.size_bytes IS 'Size of the archive.';
COMMENT ON COLUMN atum.backup_runs.sha256 IS 'SHA-256 of the whole archive file.';
COMMENT ON COLUMN atum.backup_runs.verification IS 'passed: restored into a scratch database with equal row counts and row checksums for every table; failed: an ALERT (see verification_error; shown on /metrics and /readyz); skipped: not verified (atumdesk backup --no-verify); NULL: not yet.';
COMMENT ON COLUMN atum.backup_runs.verified_at IS 'When the verification ended.';
COMMENT ON COLUMN atum.backup_runs.verification_error IS 'Why the verification failed, in one line (e.g. which table differs).';
COMMENT ON COLUMN atum.backup_runs.error IS 'Why the backup failed, in one line.';
COMMENT ON COLUMN atum.backup_runs.pruned_at IS 'When retention deleted the archive file (the row stays as history).';
