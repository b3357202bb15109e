-- The job worker (jobs/worker.py, sql/61_jobs.sql): the indexes the claim, the crash recovery,
-- retention and the admins' list need, and the rules of the states.
--
-- States: queued (new) -> running (claimed) -> succeeded | failed | dead. A failed job waits for
-- its retry (run_after, exponential backoff) and is claimable again like a queued one, so the
-- runnable index covers both, and so does the dedupe index: while a mailbox poll waits for its
-- retry, pg_cron must not queue another poll of the same mailbox beside it.
-- depends: 0012.mail-messages

DROP INDEX atum.jobs_runnable_idx;
CREATE INDEX jobs_runnable_idx ON atum.jobs (run_after, id) WHERE state IN ('queued', 'failed');
COMMENT ON INDEX atum.jobs_runnable_idx IS 'Claiming takes the runnable job (queued, or failed and waiting for its retry) with the earliest run_after.';

DROP INDEX atum.jobs_dedupe_idx;
CREATE UNIQUE INDEX jobs_dedupe_idx ON atum.jobs (kind, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running', 'failed');
COMMENT ON INDEX atum.jobs_dedupe_idx IS 'At most one pending (queued, running or waiting for a retry) job per kind and dedupe key: periodic jobs are not queued twice.';

CREATE INDEX jobs_running_idx ON atum.jobs (id) WHERE state = 'running';
COMMENT ON INDEX atum.jobs_running_idx IS 'The running jobs, whose workers the crash recovery checks (a handful of rows).';

CREATE INDEX jobs_finished_idx ON atum.jobs (state, finished_at) WHERE state IN ('succeeded', 'dead');
COMMENT ON INDEX atum.jobs_finished_idx IS 'Retention (atum.jobs_purge) deletes finished jobs by age.';

-- The admins' list pages through an organization's jobs newest first; the foreign key to
-- organizations is served by the same index.
DROP INDEX atum.jobs_org_idx;
CREATE INDEX jobs_org_idx ON atum.jobs (organization_id, created_at, id) WHERE organization_id IS NOT NULL;
COMMENT ON INDEX atum.jobs_org_idx IS 'An organization''s jobs by age (GET /api/v1/admin/jobs).';

ALTER TABLE atum.jobs
    ADD CONSTRAINT jobs_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    ADD CONSTRAINT jobs_running_locked CHECK (state <> 'running' OR (locked_by IS NOT NULL AND locked_at IS NOT NULL)),
    ADD CONSTRAINT jobs_last_error_length CHECK (length(last_error) <= 2000);
COMMENT ON CONSTRAINT jobs_payload_object ON atum.jobs IS 'Handlers read named arguments from a JSON object.';
COMMENT ON CONSTRAINT jobs_running_locked ON atum.jobs IS 'A running job names the worker holding it, so that a crashed worker''s jobs can be found.';
COMMENT ON CONSTRAINT jobs_last_error_length ON atum.jobs IS 'The error is one line for admins, not a traceback (that goes to the worker log).';

COMMENT ON COLUMN atum.jobs.state IS 'queued (new), running (claimed by a worker), succeeded, failed (an attempt failed; runs again at run_after) or dead (gave up: permanent error or max_attempts reached; error kept).';
COMMENT ON COLUMN atum.jobs.run_after IS 'Not claimed before this time: the time asked for when queued, or the retry time after a failed attempt (exponential backoff).';
COMMENT ON COLUMN atum.jobs.attempts IS 'How many times it was claimed (a claim whose worker died counts too).';
COMMENT ON COLUMN atum.jobs.max_attempts IS 'After this many attempts a failure makes the job dead.';
COMMENT ON COLUMN atum.jobs.last_error IS 'One line (exception class and message) of the last failed attempt, for admins; kept after a later success.';
COMMENT ON COLUMN atum.jobs.locked_by IS 'The worker holding the running job, or that ran it last: <host>:<pid>/<backend pid>@<backend start, µs since 1970> (atum_private.job_worker_id).';
COMMENT ON COLUMN atum.jobs.locked_at IS 'When the worker claimed it (the last claim).';
COMMENT ON COLUMN atum.jobs.finished_at IS 'When it succeeded or died; NULL while pending.';

-- The worker logs in as the owner (it acts for every organization) and calls atum_private, not api.
COMMENT ON SCHEMA api IS 'Functions the HTTP layer calls (as atum_app). Stable signatures.';
COMMENT ON SCHEMA atum_private IS 'Owner-only functions: SECURITY DEFINER helpers (sessions, audit writer, internal tables access) and the job queue that the worker and pg_cron call. Not part of the API; atum_app may execute none of them.';
