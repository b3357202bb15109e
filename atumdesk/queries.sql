-- Every query the Python tooling runs, in named blocks (-- name --), loaded by atumdesk/queries.py.

-- migrate_lock --
-- Held for the whole migration, so two `atumdesk migrate` runs queue instead of racing.
SELECT pg_advisory_lock(hashtext('atumdesk:migrate'))

-- migrate_unlock --
SELECT pg_advisory_unlock(hashtext('atumdesk:migrate'))

-- database_exists --
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s)

-- cron_database --
SELECT current_setting('cron.database_name', true) AS name,
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'shared_preload_libraries' AND setting ~ '(^|,)\s*pg_cron\s*(,|$)') AS preloaded

-- cron_extension_create --
CREATE EXTENSION IF NOT EXISTS pg_cron

-- cron_wanted_jobs --
SELECT name, schedule, command FROM atum.cron_jobs() ORDER BY name

-- cron_scheduled_jobs --
SELECT jobname, schedule, command, database, username, jobid FROM cron.job WHERE jobname LIKE %(prefix)s || '%%'

-- cron_schedule --
SELECT cron.schedule_in_database(%(jobname)s, %(schedule)s, %(command)s, %(database)s, 'atum_owner', true)

-- cron_unschedule --
-- By id: unscheduling by name only finds jobs of the calling role, and ours run as atum_owner.
SELECT cron.unschedule(%(jobid)s::bigint)

-- cron_status --
SELECT j.jobname, j.schedule, j.active, r.status, r.start_time, r.end_time, r.return_message,
       (SELECT count(*) FROM cron.job_run_details d WHERE d.jobid = j.jobid AND d.status = 'failed'
                                                     AND d.start_time > now() - interval '1 day') AS failures_24h
  FROM cron.job j
  LEFT JOIN LATERAL (SELECT * FROM cron.job_run_details d WHERE d.jobid = j.jobid
                      ORDER BY d.start_time DESC NULLS LAST LIMIT 1) r ON true
 WHERE j.jobname LIKE %(prefix)s || '%%'
 ORDER BY j.jobname

-- yoyo_comment --
DO $$
BEGIN
    IF to_regclass('public._yoyo_migration') IS NOT NULL THEN
        COMMENT ON TABLE public._yoyo_migration IS 'yoyo-migrations: which versioned migrations are applied.';
    END IF;
    IF to_regclass('public._yoyo_log') IS NOT NULL THEN
        COMMENT ON TABLE public._yoyo_log IS 'yoyo-migrations: history of applied and rolled-back migrations.';
    END IF;
    IF to_regclass('public._yoyo_version') IS NOT NULL THEN
        COMMENT ON TABLE public._yoyo_version IS 'yoyo-migrations: version of yoyo''s own bookkeeping tables.';
    END IF;
    IF to_regclass('public.yoyo_lock') IS NOT NULL THEN
        COMMENT ON TABLE public.yoyo_lock IS 'yoyo-migrations: lock row while migrations run.';
    END IF;
END
$$

-- org_create --
SELECT id, slug, name FROM atum.org_create(%(name)s, %(slug)s, %(time_zone)s)

-- user_create --
SELECT id, email, role::text FROM atum.user_create(%(org)s, %(email)s, %(role)s, %(name)s, %(password_hash)s)

-- pending_migrations --
SELECT count(*) FROM public._yoyo_migration

-- attachment_store_lock_exclusive --
-- The orphan sweep (atumdesk/attachments.py) holds the store lock exclusively while it decides;
-- uploads hold it shared (api.attachment_store_lock) from placing a file to committing its row.
SELECT pg_advisory_xact_lock(atum.attachment_store_key())

-- attachment_orphans --
-- Of the given SHA-256 values, those no attachment row of any organization references (the owner
-- bypasses row-level security; attachments_sha256_idx answers each one).
SELECT s.sha256 FROM unnest(%(candidates)s::bytea[]) AS s (sha256)
 WHERE NOT EXISTS (SELECT 1 FROM atum.attachments a WHERE a.sha256 = s.sha256)
