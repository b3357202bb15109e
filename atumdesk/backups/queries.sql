-- The SQL of backups, restore and verification (atumdesk/backups), by name.

-- run_start --
SELECT atum_private.backup_run_start(%(started_by)s, %(job_id)s) AS id

-- run_finish --
SELECT atum_private.backup_run_finish(%(id)s, %(succeeded)s, %(file)s, %(size_bytes)s, %(sha256)s, %(error)s)

-- run_verified --
SELECT atum_private.backup_run_verified(%(id)s, %(outcome)s, %(error)s)

-- runs_pruned --
SELECT atum_private.backup_runs_pruned(%(files)s::text[])

-- store_lock_shared --
-- Held for the whole backup in the snapshot's transaction: the orphan sweep (which takes it
-- exclusively) cannot delete a file while the archive is being written; uploads are not blocked.
SELECT pg_advisory_xact_lock_shared(atum.attachment_store_key())

-- export_snapshot --
SELECT pg_export_snapshot()

-- table_checksums --
SELECT table_name, row_count, checksum FROM atum_private.backup_table_checksums()

-- attachment_hashes --
-- Every stored file the snapshot references, with the size its rows say it has.
SELECT encode(a.sha256, 'hex') AS sha256, max(a.size_bytes) AS size_bytes
  FROM atum.attachments a GROUP BY a.sha256 ORDER BY 1

-- applied_migrations --
SELECT m.migration_id FROM public._yoyo_migration m ORDER BY 1

-- server_version --
SELECT current_setting('server_version') AS version, current_database() AS dbname

-- database_exists --
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %(name)s)

-- user_tables --
-- Tables outside the system's schemas: zero means an empty database a restore may replace.
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_%'

-- bypasses_rls --
-- pg_dump runs with row_security off: a role that RLS would filter gets an error instead of rows.
SELECT current_user AS role, r.rolbypassrls OR r.rolsuper AS bypasses
  FROM pg_roles r WHERE r.rolname = current_user

-- fault_lose_a_row --
-- Test-only fault (ATUM_BACKUP_FAULT=verify.lose_a_row): the scratch copy loses a row before it is
-- compared, as a broken restore would; the verification must report it.
DELETE FROM atum.backup_runs WHERE id = (SELECT max(id) FROM atum.backup_runs)
