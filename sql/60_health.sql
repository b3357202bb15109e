-- Operator checks behind GET /readyz.

CREATE OR REPLACE FUNCTION api.health() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: reads yoyo's bookkeeping and the cron heartbeat, which the app role cannot.
-- Reveals nothing about tenants.
    SELECT jsonb_build_object(
        'migrations', coalesce((SELECT jsonb_agg(m.migration_id ORDER BY m.migration_id) FROM public._yoyo_migration m), '[]'),
        'cron_heartbeat_at', (SELECT h.beat_at FROM atum.cron_heartbeats h WHERE h.job_name = 'heartbeat'),
        'database_time', now())
$$;
COMMENT ON FUNCTION api.health() IS 'Readiness facts: applied migrations, last pg_cron heartbeat, database time. No tenant data.';
