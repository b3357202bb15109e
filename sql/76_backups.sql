-- Backups (SPEC 10; atumdesk/backups/, jobs/backup.py). pg_cron queues a backup.run job every
-- night (atum.backup_enqueue, sql/80_cron.sql); the worker runs the same code as `atumdesk backup`:
-- pg_dump of an exported snapshot, the attachments that snapshot references, the roles and a
-- manifest, in one archive; then a verification restores the archive into a scratch database and
-- compares atum_private.backup_table_checksums() of both. Every run is a row of atum.backup_runs,
-- written by the owner through the functions below; operators see a summary through
-- api.backup_status() (/metrics and /readyz).

CREATE OR REPLACE FUNCTION atum_private.backup_run_start(p_started_by text, p_job_id bigint DEFAULT NULL)
RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO atum.backup_runs (started_by, job_id) VALUES (p_started_by, p_job_id) RETURNING id
$$;
COMMENT ON FUNCTION atum_private.backup_run_start(text, bigint) IS 'Records that a backup run started (cli or job); returns its id. Committed before the dump''s snapshot is taken.';

CREATE OR REPLACE FUNCTION atum_private.backup_run_finish(p_id bigint, p_succeeded boolean, p_file text,
                                                         p_size_bytes bigint, p_sha256 bytea, p_error text)
RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE atum.backup_runs r
       SET outcome = CASE WHEN p_succeeded THEN 'succeeded' ELSE 'failed' END,
           finished_at = now(), file = p_file, size_bytes = p_size_bytes, sha256 = p_sha256,
           error = left(btrim(regexp_replace(p_error, '\s+', ' ', 'g')), 2000)
     WHERE r.id = p_id AND r.outcome = 'running'
$$;
COMMENT ON FUNCTION atum_private.backup_run_finish(bigint, boolean, text, bigint, bytea, text) IS 'Records the end of a backup run: its archive, size and SHA-256, or the error (one line).';

CREATE OR REPLACE FUNCTION atum_private.backup_run_verified(p_id bigint, p_outcome text, p_error text DEFAULT NULL)
RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE atum.backup_runs r
       SET verification = p_outcome, verified_at = now(),
           verification_error = left(btrim(regexp_replace(p_error, '\s+', ' ', 'g')), 2000)
     WHERE r.id = p_id
$$;
COMMENT ON FUNCTION atum_private.backup_run_verified(bigint, text, text) IS 'Records the verification of a run: passed, failed (an alert: /metrics, /readyz) or skipped, with the reason of a failure.';

CREATE OR REPLACE FUNCTION atum_private.backup_runs_pruned(p_files text[]) RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH pruned AS (
        UPDATE atum.backup_runs r SET pruned_at = now()
         WHERE r.file = ANY (p_files) AND r.pruned_at IS NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM pruned
$$;
COMMENT ON FUNCTION atum_private.backup_runs_pruned(text[]) IS 'Retention: marks the runs whose archives were deleted (the rows stay as history); returns how many.';

CREATE OR REPLACE FUNCTION atum_private.backup_table_checksums()
RETURNS TABLE (table_name text, row_count bigint, checksum text)
    LANGUAGE plpgsql STABLE
    -- Row text depends on these settings: fixed, so the source and a restored copy print rows alike.
    SET search_path = pg_catalog, pg_temp
    SET "TimeZone" = 'UTC'
    SET "DateStyle" = 'ISO, YMD'
    SET "IntervalStyle" = 'postgres'
    SET extra_float_digits = 3
    SET bytea_output = 'hex'
AS $$
-- Every ordinary table of the application's schemas (extensions' own tables excluded): its row
-- count and a checksum of its rows — the sum of the first 64 bits of each row's md5, so that it
-- needs no sort and constant memory on a million tickets, yet changes when any value of any row
-- changes. Run by the owner (BYPASSRLS: every organization's rows) in the backup's snapshot, and by
-- the verification in the scratch database the archive was restored into.
DECLARE
    v_table record;
BEGIN
    FOR v_table IN
        SELECT n.nspname, c.relname
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND c.relpersistence = 'p'
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'extensions', 'cron')
           AND n.nspname NOT LIKE 'pg\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
         ORDER BY n.nspname, c.relname
    LOOP
        table_name := v_table.nspname || '.' || v_table.relname;
        EXECUTE format('SELECT count(*), coalesce(sum((''x'' || left(md5(t::text), 16))::bit(64)::bigint), 0)::text'
                       ' FROM %I.%I AS t', v_table.nspname, v_table.relname)
           INTO row_count, checksum;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION atum_private.backup_table_checksums() IS 'Per table of the application: row count and an order-independent checksum of all rows (sum of 64-bit md5 prefixes). A backup records it in its manifest from the dump''s snapshot; the verification compares it with the restored copy.';

CREATE OR REPLACE FUNCTION atum.backup_enqueue() RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- One pending backup at most (dedupe key): a night whose backup is still running or waiting
    -- for its retry queues nothing more. Three attempts: a failure is retried twice with backoff.
    SELECT atum_private.job_enqueue('backup.run', '{}', NULL, 'backup', now(), 3)
$$;
COMMENT ON FUNCTION atum.backup_enqueue() IS 'pg_cron, daily: queues the backup.run job (dedupe key backup) that the worker runs like `atumdesk backup`; returns its id, or NULL when one is pending.';

CREATE OR REPLACE FUNCTION api.backup_status() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: atum.backup_runs is internal. Operator facts only (times, sizes, outcomes), no
-- tenant data and no file names: /metrics and /readyz may be reachable by monitoring systems.
    SELECT jsonb_build_object(
        'last_success_at', s.finished_at,
        'last_success_size_bytes', s.size_bytes,
        'last_run_at', l.started_at,
        'last_run_outcome', l.outcome,
        'last_verification', v.verification,
        'last_verified_at', v.verified_at,
        'last_verification_failed_at', (SELECT max(f.verified_at) FROM atum.backup_runs f WHERE f.verification = 'failed'),
        'alert', coalesce(v.verification = 'failed', false),
        'wal_archiving', jsonb_build_object(
            'archive_mode', current_setting('archive_mode'),
            'last_archived_at', a.last_archived_time,
            'last_failed_at', a.last_failed_time,
            'failed_count', a.failed_count))
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (SELECT r.finished_at, r.size_bytes FROM atum.backup_runs r
                          WHERE r.outcome = 'succeeded' ORDER BY r.finished_at DESC, r.id DESC LIMIT 1) s ON true
      LEFT JOIN LATERAL (SELECT r.started_at, r.outcome FROM atum.backup_runs r
                          ORDER BY r.started_at DESC, r.id DESC LIMIT 1) l ON true
      LEFT JOIN LATERAL (SELECT r.verification, r.verified_at FROM atum.backup_runs r
                          WHERE r.verification IN ('passed', 'failed')
                          ORDER BY r.verified_at DESC, r.id DESC LIMIT 1) v ON true
      CROSS JOIN pg_stat_archiver a
$$;
COMMENT ON FUNCTION api.backup_status() IS 'Operator facts for /metrics and /readyz: last successful backup (time, size), last run, last verification and whether it failed (alert), WAL archiving (archive_mode, last archived and failed segment times). No tenant data.';
