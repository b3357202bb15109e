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

-- sla_setup --
-- The SLA benchmark's timing procedures. Run as the owner on a fresh database.
CREATE SCHEMA IF NOT EXISTS bench;
GRANT USAGE ON SCHEMA bench TO atum_app;
CREATE TABLE bench.sla_orgs (organization_id bigint PRIMARY KEY, customer_id bigint, manager_id bigint);
CREATE PROCEDURE bench.sweep_timing(p_samples integer, INOUT p_median_us numeric DEFAULT NULL,
                                    INOUT p_max_us numeric DEFAULT NULL, INOUT p_recorded bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
-- Each sweep in its own transaction, as pg_cron runs it; timed inside the server.
DECLARE
    started timestamptz;
    samples numeric[] := '{}';
BEGIN
    p_recorded := 0;
    FOR i IN 1 .. p_samples LOOP
        started := clock_timestamp();
        p_recorded := p_recorded + atum.sla_sweep();
        samples := samples || (extract(epoch FROM clock_timestamp() - started) * 1000000)::numeric;
        COMMIT;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), max(s) INTO p_median_us, p_max_us FROM unnest(samples) AS s;
END
$$;
CREATE PROCEDURE bench.accept_timing(p_token text, p_ticket_ids bigint[], INOUT p_median_us numeric DEFAULT NULL,
                                     INOUT p_p95_us numeric DEFAULT NULL)
LANGUAGE plpgsql AS $$
-- A manager accepts tickets one by one, each in its own transaction after authenticating (not
-- timed); the first 20 are warm-up.
DECLARE
    started timestamptz;
    samples numeric[] := '{}';
BEGIN
    FOR i IN 1 .. cardinality(p_ticket_ids) LOOP
        PERFORM api.authenticate(p_token);
        started := clock_timestamp();
        PERFORM api.ticket_accept(p_ticket_ids[i]);
        samples := samples || (extract(epoch FROM clock_timestamp() - started) * 1000000)::numeric;
        COMMIT;
    END LOOP;
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP (ORDER BY s)
      INTO p_median_us, p_p95_us FROM unnest(samples[21:]) AS s;
END
$$;
GRANT EXECUTE ON PROCEDURE bench.accept_timing(text, bigint[], numeric, numeric) TO atum_app;
CREATE FUNCTION bench.due_rate(p_tickets integer) RETURNS numeric
LANGUAGE plpgsql AS $$
-- Seconds to compute warning and due times for p_tickets open tickets (mixed priorities).
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    PERFORM count(d.first_response_due_at)
       FROM (SELECT t.organization_id, t.priority, t.sla_started_at, t.paused_minutes
               FROM atum.tickets t WHERE t.status = 'IN_PROGRESS' LIMIT p_tickets) AS t
      CROSS JOIN LATERAL atum_private.ticket_sla_due(t.organization_id, t.priority, t.sla_started_at, t.paused_minutes) d;
    RETURN extract(epoch FROM clock_timestamp() - started);
END
$$

-- sla_organizations --
-- The SLA benchmark's organizations (Berlin office hours; URGENT is 24x7), each with a customer
-- and a manager.
INSERT INTO bench.sla_orgs (organization_id, customer_id, manager_id)
SELECT o.id AS organization_id,
       (SELECT u.id FROM atum.user_create(o.slug, 'customer@' || o.slug || '.example', 'customer', 'Customer') u)
           AS customer_id,
       (SELECT u.id FROM atum.user_create(o.slug, 'manager@' || o.slug || '.example', 'manager', 'Manager') u)
           AS manager_id
  FROM generate_series(1, %(organizations)s) g
 CROSS JOIN LATERAL atum.org_create('SLA bench ' || g, 'sla-' || g, 'Europe/Berlin') o

-- sla_open_tickets --
-- Open tickets accepted just now for a range of the benchmark's organizations, as an import
-- would write them: the triggers compute their warning and due times and arm their timers.
INSERT INTO atum.tickets (organization_id, subject, requester_id, status, priority, created_at, updated_at,
                          accepted_at, sla_started_at)
SELECT s.organization_id, 'Open ticket ' || k, s.customer_id, 'IN_PROGRESS',
       (ARRAY['URGENT', 'HIGH', 'MEDIUM', 'LOW']::atum.ticket_priority[])[1 + k %% 4], now(), now(), now(), now()
  FROM bench.sla_orgs s CROSS JOIN generate_series(1, %(per_organization)s) k
 WHERE s.organization_id BETWEEN %(first)s AND %(last)s
 ORDER BY s.organization_id, k

-- sla_settle --
VACUUM (ANALYZE) atum.tickets, atum.sla_timers, atum.sla_events

-- sla_due_now --
SELECT count(*) AS due FROM atum.sla_timers WHERE fires_at <= now()

-- sla_open_count --
SELECT count(*) AS open FROM atum.tickets WHERE status NOT IN ('NEW', 'REJECTED', 'RESOLVED', 'CLOSED')

-- sla_cross --
-- One ticket in a hundred passes its first-response warning (the system moves the threshold, which
-- re-arms the timer in the past); a different hundredth in every round.
UPDATE atum.tickets t SET first_response_warn_at = now() - interval '1 second'
 WHERE t.status = 'IN_PROGRESS' AND t.id %% 100 = %(round)s AND t.first_responded_at IS NULL

-- sla_sweep_timing --
CALL bench.sweep_timing(%(samples)s)

-- sla_due_rate --
SELECT bench.due_rate(%(tickets)s) AS seconds

-- sla_new_tickets --
-- NEW tickets in the first benchmark organization for a manager to accept (MEDIUM: office hours).
INSERT INTO atum.tickets (organization_id, subject, requester_id, priority)
SELECT s.organization_id, 'To accept ' || k, s.customer_id, 'MEDIUM'
  FROM bench.sla_orgs s CROSS JOIN generate_series(1, %(count)s) k
 WHERE s.organization_id = (SELECT min(organization_id) FROM bench.sla_orgs)
RETURNING organization_id, id

-- sla_manager_token --
SELECT atum_private.session_issue(s.organization_id, s.manager_id, interval '2 hours', interval '2 hours') AS token
  FROM bench.sla_orgs s WHERE s.organization_id = (SELECT min(organization_id) FROM bench.sla_orgs)

-- sla_accept_timing --
CALL bench.accept_timing(%(token)s, %(ticket_ids)s)

-- http_subject --
-- The HTTP benchmark's organization (the demo loader's showcase, alone in its database): the
-- manager who makes every request, and the range of its ticket ids (gets pick one at random).
SELECT o.id AS organization_id,
       (SELECT u.id FROM atum.users u
         WHERE u.organization_id = o.id AND u.role = 'manager' ORDER BY u.id LIMIT 1) AS user_id,
       min(t.id) AS first_id, max(t.id) AS last_id, count(t.id) AS tickets
  FROM atum.organizations o JOIN atum.tickets t ON t.organization_id = o.id
 WHERE o.slug = 'demo'
 GROUP BY o.id

-- http_tickets --
SELECT count(*) AS tickets FROM atum.tickets WHERE organization_id = %(organization_id)s

-- pgbench_ticket_create --
-- pgbench scripts (run with -M prepared; not for psycopg): the transaction of each measured route
-- as api/db.py sends it, one pipeline. Variables from pgbench -D: token, first_id, last_id.
\startpipeline
BEGIN;
SELECT api.authenticate(:token);
SELECT api.ticket_create('{"subject": "Printer on the third floor is jammed", "description": "Paper jam in tray 2, the display shows error E-104. Urgent: payroll runs today."}', NULL);
COMMIT;
\endpipeline

-- pgbench_ticket_get --
\set id random(:first_id, :last_id)
\startpipeline
BEGIN;
SELECT api.authenticate(:token);
SET TRANSACTION READ ONLY;
SELECT api.ticket_get(:id);
COMMIT;
\endpipeline

-- pgbench_ticket_list --
\startpipeline
BEGIN;
SELECT api.authenticate(:token);
SET TRANSACTION READ ONLY;
SELECT api.ticket_list('{"limit": "50"}');
COMMIT;
\endpipeline
