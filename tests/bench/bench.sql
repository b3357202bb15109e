-- The SQL of the benchmarks (tests/bench), in named blocks (-- name --) loaded with atumdesk.queries.

-- server_version --
SELECT current_setting('server_version') AS version

-- settle --
-- After a bulk load: visibility map and statistics up to date, so that autovacuum does not start
-- on the measured tables halfway through the timings.
VACUUM (ANALYZE) atum.tickets, atum.users, atum.sessions

-- checkpoint --
CHECKPOINT

-- pick_organizations --
-- Organizations spread evenly over the id range, the showcase organization always among them; per
-- organization a staff user (its first agent) and a customer (the requester of its latest ticket).
WITH orgs AS (
    SELECT o.id, o.slug, ntile(%(count)s) OVER (ORDER BY o.id) AS bucket, o.slug = 'demo' AS is_demo
      FROM atum.organizations o
     WHERE EXISTS (SELECT 1 FROM atum.tickets t WHERE t.organization_id = o.id)
), chosen AS (
    SELECT DISTINCT ON (bucket) id, slug FROM orgs ORDER BY bucket, is_demo DESC, id
)
SELECT c.id AS organization_id, c.slug,
       (SELECT u.id FROM atum.users u
         WHERE u.organization_id = c.id AND u.role = 'agent' ORDER BY u.id LIMIT 1) AS staff_id,
       (SELECT t.requester_id FROM atum.tickets t
         WHERE t.organization_id = c.id ORDER BY t.created_at DESC, t.id DESC LIMIT 1) AS customer_id,
       (SELECT count(*) FROM atum.tickets t WHERE t.organization_id = c.id) AS tickets
  FROM chosen c
 ORDER BY c.id

-- session_issue --
SELECT atum_private.session_issue(%(organization_id)s, %(user_id)s, interval '2 hours', interval '2 hours') AS token

-- authenticate --
SELECT api.authenticate(%(token)s)

-- rls_list --
-- As the app: the policy alone narrows the rows to the signed-in user's organization (and, for a
-- customer, to their own tickets).
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- rls_list_new --
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE status = 'NEW'
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- rls_list_own --
-- The customer list as an API would write it: the explicit filter lets the planner use the
-- (organization_id, requester_id, created_at) index; the policy then only re-checks.
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE requester_id = (SELECT c.user_id FROM atum.request_context c)
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- owner_list --
-- As the owner (BYPASSRLS): the same rows, narrowed explicitly.
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE organization_id = %(organization_id)s
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- owner_list_new --
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE organization_id = %(organization_id)s AND status = 'NEW'
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- owner_list_customer --
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE organization_id = %(organization_id)s AND requester_id = %(user_id)s
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- explain_rls_list --
EXPLAIN (ANALYZE, BUFFERS)
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- explain_rls_list_new --
EXPLAIN (ANALYZE, BUFFERS)
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE status = 'NEW'
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- explain_owner_list_customer --
EXPLAIN (ANALYZE, BUFFERS)
SELECT id, number, subject, status, priority, created_at
  FROM atum.tickets
 WHERE organization_id = %(organization_id)s AND requester_id = %(user_id)s
 ORDER BY created_at DESC, id DESC
 LIMIT 50

-- server_timing_create --
-- Server-side timing of the list query, as the API will run it (a cached plan inside a function),
-- without the client round trip whose wake-up jitter dominates sub-millisecond timings on VMs.
-- Each sample is its own transaction (the procedure commits), so the context is verified afresh.
CREATE SCHEMA IF NOT EXISTS bench;
GRANT USAGE ON SCHEMA bench TO atum_app;
CREATE OR REPLACE PROCEDURE bench.list_timing(p_token text, p_organization_id bigint, p_user_id bigint,
                                              p_samples integer, INOUT p_median_us numeric DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz;
    samples numeric[] := '{}';
    r record;
BEGIN
    FOR i IN 1 .. p_samples LOOP
        IF p_token IS NOT NULL THEN
            PERFORM api.authenticate(p_token);  -- with RLS: the policies alone narrow the rows
        END IF;
        started := clock_timestamp();
        IF p_token IS NOT NULL AND p_user_id IS NULL THEN
            FOR r IN SELECT id, number, subject, status, priority, created_at FROM atum.tickets
                      ORDER BY created_at DESC, id DESC LIMIT 50 LOOP
            END LOOP;
        ELSIF p_token IS NOT NULL THEN
            -- A customer's list as the API writes it: the explicit filter lets the planner use the
            -- requester index; the policy re-checks.
            FOR r IN SELECT id, number, subject, status, priority, created_at FROM atum.tickets
                      WHERE requester_id = (SELECT c.user_id FROM atum.request_context c)
                      ORDER BY created_at DESC, id DESC LIMIT 50 LOOP
            END LOOP;
        ELSIF p_user_id IS NULL THEN
            FOR r IN SELECT id, number, subject, status, priority, created_at FROM atum.tickets
                      WHERE organization_id = p_organization_id ORDER BY created_at DESC, id DESC LIMIT 50 LOOP
            END LOOP;
        ELSE
            FOR r IN SELECT id, number, subject, status, priority, created_at FROM atum.tickets
                      WHERE organization_id = p_organization_id AND requester_id = p_user_id
                      ORDER BY created_at DESC, id DESC LIMIT 50 LOOP
            END LOOP;
        END IF;
        samples := samples || (extract(epoch FROM clock_timestamp() - started) * 1000000)::numeric;
        COMMIT;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) INTO p_median_us
      FROM unnest(samples[least(50, p_samples) :]) AS s;
END
$$;
GRANT EXECUTE ON PROCEDURE bench.list_timing(text, bigint, bigint, integer, numeric) TO atum_app

-- server_timing --
CALL bench.list_timing(%(token)s, %(organization_id)s, %(user_id)s, %(samples)s)
