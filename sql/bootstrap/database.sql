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

-- Enum comparison compares two OIDs and can raise no error: it is leakproof, but PostgreSQL does
-- not mark it so. Under row-level security only leakproof operators may become index conditions,
-- so without this `status = 'NEW'` on a policy-protected table walks every row of the
-- organization instead of using the (organization_id, status, ...) index. Superuser only; the
-- flag lives in this database's catalog and is re-applied by every `atumdesk migrate`.
ALTER FUNCTION pg_catalog.enum_eq(anyenum, anyenum) LEAKPROOF;
ALTER FUNCTION pg_catalog.enum_ne(anyenum, anyenum) LEAKPROOF;
-- The same for the full-text match (tsvector @@ tsquery): it compares lexemes and raises nothing
-- that depends on the row, and without the flag knowledge base search under RLS cannot use its GIN
-- index (sql/72_kb.sql).
ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;

-- btree_gist: exclusion constraints that mix equality (calendar, weekday) with range overlap
-- (working hours must not overlap).
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA extensions;
