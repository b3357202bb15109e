-- Run by `atumdesk migrate` as a superuser inside the application database, before the migrations.
-- Idempotent: extensions, database-level privileges.
CREATE SCHEMA IF NOT EXISTS extensions;
COMMENT ON SCHEMA extensions IS 'Extensions (pgcrypto). Kept out of the application schemas.';
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO atum_owner;

-- Nobody but the owner creates objects; the public schema is not used.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO atum_owner;  -- yoyo keeps its bookkeeping tables there

DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I OWNER TO atum_owner', current_database());
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO atum_app, atum_reporting', current_database());
    EXECUTE format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO atum_owner', current_database());
END
$$;
