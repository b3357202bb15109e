-- Run by `atumdesk migrate` as a superuser (ATUM_ADMIN_DATABASE_URL), before the migrations.
-- Idempotent: creates the three roles of SPEC section 3 and (re)asserts their attributes.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'atum_owner') THEN
        CREATE ROLE atum_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'atum_app') THEN
        CREATE ROLE atum_app LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'atum_reporting') THEN
        CREATE ROLE atum_reporting LOGIN;
    END IF;
END
$$;

-- The owner runs migrations and the maintenance path (backups, retention): it bypasses RLS so
-- that pg_dump and data migrations see every row. It is never used by the HTTP layer.
ALTER ROLE atum_owner NOSUPERUSER NOCREATEROLE NOCREATEDB BYPASSRLS NOREPLICATION;
-- The app role owns nothing and bypasses nothing: every policy applies to it.
ALTER ROLE atum_app NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS NOREPLICATION NOINHERIT;
-- Reporting is read-only by default and sees only organizations granted to it (by RLS).
ALTER ROLE atum_reporting NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS NOREPLICATION NOINHERIT;
ALTER ROLE atum_reporting SET default_transaction_read_only = on;
-- api.grant_reporting (run by the owner) makes BI roles members of atum_reporting.
GRANT atum_reporting TO atum_owner WITH ADMIN OPTION;

COMMENT ON ROLE atum_owner IS 'ATUM DESK: owns the schema, runs migrations, backups, maintenance and the job worker (BYPASSRLS). Not used by the web app.';
COMMENT ON ROLE atum_app IS 'ATUM DESK: the API logs in as this role. Owns nothing, no BYPASSRLS: row-level security applies.';
COMMENT ON ROLE atum_reporting IS 'ATUM DESK: read-only access to the reporting schema, for BI tools; sees only organizations granted with api.grant_reporting.';
