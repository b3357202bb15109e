-- What pg_cron runs in this database. `atumdesk migrate` reads atum.cron_jobs() and makes pg_cron's
-- job list match it (cron.schedule_in_database from the database named by cron.database_name).
-- Jobs run as atum_owner in background workers (see deploy/postgresql/atumdesk.conf).

CREATE OR REPLACE FUNCTION atum.cron_heartbeat(p_job_name text) RETURNS void
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO atum.cron_heartbeats AS h (job_name, beat_at) VALUES (p_job_name, now())
    ON CONFLICT (job_name) DO UPDATE SET beat_at = excluded.beat_at, beats = h.beats + 1;
    SELECT pg_notify('atum_cron_heartbeat', p_job_name);
$$;
COMMENT ON FUNCTION atum.cron_heartbeat(text) IS 'Records that a pg_cron job ran (and notifies atum_cron_heartbeat); readiness checks look at the heartbeat job.';

CREATE OR REPLACE FUNCTION atum.sessions_purge(p_keep interval DEFAULT '30 days') RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM atum.sessions s
         WHERE greatest(s.expires_at, coalesce(s.revoked_at, s.expires_at)) < now() - p_keep
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION atum.sessions_purge(interval) IS 'Deletes sessions that ended more than p_keep ago; returns how many.';

CREATE OR REPLACE FUNCTION atum.sign_in_state_purge() RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Throttling windows long over (and not locked), Idempotency-Keys past their 24 hours, and
    -- password-reset and invitation tokens that expired or were used a week ago.
    WITH throttles AS (
        DELETE FROM atum.login_throttles t
         WHERE t.window_started_at < now() - interval '1 day' AND (t.locked_until IS NULL OR t.locked_until < now())
        RETURNING 1
    ), keys AS (
        DELETE FROM atum.idempotency_keys k WHERE k.created_at < now() - interval '24 hours' RETURNING 1
    ), tokens AS (
        DELETE FROM atum.user_tokens u
         WHERE coalesce(u.used_at, u.expires_at) < now() - interval '7 days' RETURNING 1
    )
    SELECT ((SELECT count(*) FROM throttles) + (SELECT count(*) FROM keys) + (SELECT count(*) FROM tokens))::integer
$$;
COMMENT ON FUNCTION atum.sign_in_state_purge() IS 'Deletes old sign-in throttling windows, expired Idempotency-Keys and used or expired user tokens; returns how many rows.';

CREATE OR REPLACE FUNCTION atum.request_contexts_purge() RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Rows of backends that are gone or idle: harmless (they never match a new transaction) but
    -- clutter that every policy lookup would step over. A backend that is still there writes its
    -- row again at its next authentication.
    WITH gone AS (
        DELETE FROM atum.request_contexts c
         WHERE c.transaction_started_at < now() - interval '1 hour'
            OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = c.backend_pid)
        RETURNING 1
    ), visitors AS (  -- the same for anonymous knowledge base visitors (sql/72_kb.sql)
        DELETE FROM atum.kb_visitor_contexts v
         WHERE v.transaction_started_at < now() - interval '1 hour'
            OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = v.backend_pid)
        RETURNING 1
    ), watchers AS (  -- and live watchers whose LISTEN connection ended (sql/66_live.sql)
        DELETE FROM atum.live_watchers w
         WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = w.listener_pid)
        RETURNING 1
    )
    SELECT ((SELECT count(*) FROM gone) + (SELECT count(*) FROM visitors) + (SELECT count(*) FROM watchers))::integer
$$;
COMMENT ON FUNCTION atum.request_contexts_purge() IS 'Deletes request contexts and knowledge base visitor contexts of ended backends or older than an hour, and live watchers of ended LISTEN connections; returns how many.';

CREATE OR REPLACE FUNCTION atum.tickets_auto_close() RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Run by pg_cron without a request context, so the state machine sees the system, which may
    -- close a RESOLVED ticket; the move is recorded in the status history like any other.
    WITH closed AS (
        UPDATE atum.tickets t SET status = 'CLOSED'
          FROM atum.organizations o
         WHERE t.status = 'RESOLVED' AND o.id = t.organization_id
           AND t.resolved_at < now() - make_interval(days => o.auto_close_days)
           AND t.resolved_at < now() - interval '1 day'  -- lets the partial index bound the scan
        RETURNING 1
    )
    SELECT count(*)::integer FROM closed
$$;
COMMENT ON FUNCTION atum.tickets_auto_close() IS 'Closes RESOLVED tickets the customer did not confirm within the organization''s auto_close_days; returns how many.';

CREATE OR REPLACE FUNCTION atum.cron_jobs() RETURNS TABLE (name text, schedule text, command text)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    VALUES
        ('heartbeat',      '* * * * *',  'SELECT atum.cron_heartbeat(''heartbeat'')'),
        ('sessions-purge', '17 3 * * *', 'SELECT atum.sessions_purge()'),
        ('request-contexts-purge', '* * * * *', 'SELECT atum.request_contexts_purge()'),
        ('sign-in-state-purge', '41 * * * *', 'SELECT atum.sign_in_state_purge()'),
        ('tickets-auto-close', '* * * * *', 'SELECT atum.tickets_auto_close()'),
        ('sla-sweep', '* * * * *', 'SELECT atum.sla_sweep()'),
        -- The job queue (sql/61_jobs.sql): crashed workers' jobs back in the queue within a
        -- minute even while no worker claims, and finished jobs deleted after their retention.
        ('jobs-reclaim', '* * * * *', 'SELECT atum_private.jobs_reclaim()'),
        ('jobs-purge', '29 * * * *', 'SELECT atum.jobs_purge()'),
        -- IMAP (sql/64_mail_poll.sql): a mail.poll job per active mailbox, one at a time per mailbox.
        ('mail-poll', '* * * * *', 'SELECT atum.mailbox_polls_enqueue()'),
        -- Reports (sql/74_reports.sql): ticket deltas into the navigation counts and report facts.
        ('reports-fold', '* * * * *', 'SELECT atum.reports_fold()'),
        -- Backups (sql/76_backups.sql): a backup.run job for the worker (dump, attachments,
        -- verification, retention), at a quiet hour.
        ('backup', '30 2 * * *', 'SELECT atum.backup_enqueue()')
$$;
COMMENT ON FUNCTION atum.cron_jobs() IS 'The pg_cron schedule of this database (UTC): name, cron expression, SQL. Synced by atumdesk migrate.';
