-- The reports benchmark (tests/bench/reports.py): one organization with N tickets over 90 days,
-- loaded set-based as the owner, then each report timed as a manager through api.report.

-- reports_setup --
-- The organization: Berlin time, a 24x7 default calendar that every SLA policy uses (business
-- minutes of office hours would cost the load a calendar walk per ticket; the reports read
-- precomputed minutes either way), 8 teams, 50 agents, a manager, 1,000 customers.
CREATE SCHEMA bench_reports;
GRANT USAGE ON SCHEMA bench_reports TO atum_app;
CREATE TABLE bench_reports.subject AS
SELECT o.id AS organization_id,
       (SELECT u.id FROM atum.user_create('rep-bench', 'manager@rep-bench.example', 'manager', 'Manager') u) AS manager_id
  FROM atum.org_create('Reports bench', 'rep-bench', 'Europe/Berlin') o;
UPDATE atum.business_calendars c SET is_24x7 = true
  FROM bench_reports.subject s WHERE c.organization_id = s.organization_id AND c.is_default;
UPDATE atum.sla_policies p SET calendar_id = c.id
  FROM bench_reports.subject s JOIN atum.business_calendars c ON c.organization_id = s.organization_id AND c.is_default
 WHERE p.organization_id = s.organization_id;
INSERT INTO atum.teams (organization_id, name)
SELECT s.organization_id, 'Team ' || g FROM bench_reports.subject s, generate_series(1, 8) g;
SELECT count(*) FROM bench_reports.subject s, generate_series(1, 50) g,
       LATERAL atum.user_create('rep-bench', 'agent' || g || '@rep-bench.example', 'agent', 'Agent ' || g) u;
SELECT count(*) FROM bench_reports.subject s, generate_series(1, 1000) g,
       LATERAL atum.user_create('rep-bench', 'customer' || g || '@rep-bench.example', 'customer', 'Customer ' || g) u;
CREATE TABLE bench_reports.accept_subject AS
SELECT o.id AS organization_id,
       (SELECT u.id FROM atum.user_create('accept-bench', 'manager@accept-bench.example', 'manager', 'Manager') u) AS manager_id,
       (SELECT u.id FROM atum.user_create('accept-bench', 'customer@accept-bench.example', 'customer', 'Customer') u)
           AS customer_id
  FROM atum.org_create('Accept bench', 'accept-bench', 'Europe/Berlin') o;
CREATE PROCEDURE bench_reports.accept_timing(p_token text, p_ticket_ids bigint[], INOUT p_median_us numeric DEFAULT NULL,
                                             INOUT p_p95_us numeric DEFAULT NULL)
LANGUAGE plpgsql AS $$
-- Each accept in its own transaction after authenticating (not timed); the first 20 warm up.
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
GRANT EXECUTE ON PROCEDURE bench_reports.accept_timing(text, bigint[], numeric, numeric) TO atum_app;

-- reports_tickets --
-- %(tickets)s tickets opened evenly over the last 90 days, with the lifecycle times the state
-- machine would have given them, inserted with the ticket triggers off (a load, not a replay):
-- 8%% open, 2%% rejected, 10%% resolved, 80%% closed; priorities 30/45/20/5%%; 8 teams; 50 agents.
-- About 3%% answer late and 4%% resolve late; 2%% were reopened once.
ALTER TABLE atum.tickets DISABLE TRIGGER USER;
INSERT INTO atum.tickets (organization_id, number, subject, requester_id, status, priority, team_id, assignee_id,
                          created_at, updated_at, triage_warn_at, triage_due_at, accepted_at, sla_started_at,
                          first_response_due_at, first_responded_at, resolution_due_at, resolved_at, closed_at, paused_at)
SELECT x.organization_id, x.g, 'Bench ticket ' || x.g, x.customer_id, x.status, x.priority,
       x.team_id, CASE WHEN x.status NOT IN ('NEW', 'REJECTED') THEN x.agent_id END,
       x.created_at, x.created_at, x.created_at + interval '192 minutes', x.created_at + interval '240 minutes',
       x.accepted_at, x.accepted_at,
       x.accepted_at + make_interval(mins => x.fr_target), CASE WHEN x.status NOT IN ('NEW', 'REJECTED', 'ACCEPTED') THEN x.responded_at END,
       x.accepted_at + make_interval(mins => x.res_target),
       CASE WHEN x.status IN ('RESOLVED', 'CLOSED') THEN x.resolved_at END,
       CASE WHEN x.status = 'CLOSED' THEN x.resolved_at + interval '1 day' END,
       CASE WHEN x.status = 'RESOLVED' THEN x.resolved_at WHEN x.status = 'WAITING_CUSTOMER' THEN x.responded_at END
  FROM (SELECT y.*, p.first_response_minutes AS fr_target, p.resolution_minutes AS res_target,
               CASE WHEN y.status IN ('NEW', 'REJECTED') THEN NULL ELSE y.created_at + make_interval(mins => y.r1 %% 300) END AS accepted_at,
               y.created_at + make_interval(mins => y.r1 %% 300)
                   + make_interval(mins => CASE WHEN y.r2 %% 100 < 3 THEN p.first_response_minutes + 30 ELSE (y.r2 %% p.first_response_minutes) END)
                   AS responded_at,
               y.created_at + make_interval(mins => y.r1 %% 300)
                   + make_interval(mins => CASE WHEN y.r3 %% 100 < 4 THEN p.resolution_minutes + 120 ELSE 30 + (y.r3 %% p.resolution_minutes) END)
                   AS resolved_at
          FROM (SELECT s.organization_id, g,
                       now() - (g::double precision / %(tickets)s) * interval '90 days' AS created_at,
                       (hashint4(g) & 2147483647) AS r1, (hashint4(g + 7919) & 2147483647) AS r2,
                       (hashint4(g + 104729) & 2147483647) AS r3,
                       CASE (hashint4(g + 31337) & 2147483647) %% 100 / 1
                            WHEN 0 THEN 'NEW' WHEN 1 THEN 'ACCEPTED' WHEN 2 THEN 'IN_PROGRESS' WHEN 3 THEN 'IN_PROGRESS'
                            WHEN 4 THEN 'IN_PROGRESS' WHEN 5 THEN 'IN_PROGRESS' WHEN 6 THEN 'WAITING_CUSTOMER'
                            WHEN 7 THEN 'WAITING_CUSTOMER' WHEN 8 THEN 'REJECTED' WHEN 9 THEN 'REJECTED'
                            ELSE CASE WHEN (hashint4(g + 31337) & 2147483647) %% 100 < 20 THEN 'RESOLVED' ELSE 'CLOSED' END
                       END::atum.ticket_status AS status,
                       CASE WHEN g %% 20 < 6 THEN 'LOW' WHEN g %% 20 < 15 THEN 'MEDIUM' WHEN g %% 20 < 19 THEN 'HIGH'
                            ELSE 'URGENT' END::atum.ticket_priority AS priority,
                       (SELECT min(t.id) FROM atum.teams t WHERE t.organization_id = s.organization_id) + (g * 7) %% 8 AS team_id,
                       (SELECT min(u.id) FROM atum.users u WHERE u.organization_id = s.organization_id AND u.role = 'agent')
                           + (g * 13) %% 50 AS agent_id,
                       (SELECT min(u.id) FROM atum.users u WHERE u.organization_id = s.organization_id AND u.role = 'customer')
                           + (g * 31) %% 1000 AS customer_id
                  FROM bench_reports.subject s, generate_series(1, %(tickets)s) g) AS y
          JOIN atum.sla_policies p ON p.organization_id = y.organization_id AND p.priority = y.priority) AS x;
-- A resolved ticket never looks resolved in the future, nor answered before it was accepted.
UPDATE atum.tickets t SET resolved_at = least(t.resolved_at, now()), first_responded_at = least(t.first_responded_at, now()),
                          closed_at = least(t.closed_at, now()), paused_at = least(t.paused_at, now())
  FROM bench_reports.subject s
 WHERE t.organization_id = s.organization_id AND (t.resolved_at > now() OR t.first_responded_at > now() OR t.closed_at > now());
SELECT setval(atum_private.ticket_number_sequence(s.organization_id)::regclass, %(tickets)s) FROM bench_reports.subject s;
ALTER TABLE atum.tickets ENABLE TRIGGER USER;
ALTER TABLE atum.sla_events DISABLE TRIGGER USER;
INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at, recorded_at)
SELECT t.organization_id, t.id, 'first_response'::atum.sla_clock, 'breach'::atum.sla_event_kind, t.first_response_due_at, t.first_response_due_at + interval '30 seconds'
  FROM atum.tickets t JOIN bench_reports.subject s ON s.organization_id = t.organization_id
 WHERE coalesce(t.first_responded_at, now()) > t.first_response_due_at
UNION ALL
SELECT t.organization_id, t.id, 'resolution', 'breach', t.resolution_due_at, t.resolution_due_at + interval '30 seconds'
  FROM atum.tickets t JOIN bench_reports.subject s ON s.organization_id = t.organization_id
 WHERE t.resolved_at > t.resolution_due_at;
ALTER TABLE atum.sla_events ENABLE TRIGGER USER;
ALTER TABLE atum.ticket_status_changes DISABLE TRIGGER USER;
INSERT INTO atum.ticket_status_changes (organization_id, ticket_id, from_status, to_status, reason, changed_at)
SELECT t.organization_id, t.id, 'RESOLVED', 'IN_PROGRESS', 'reopened', t.resolved_at - interval '1 hour'
  FROM atum.tickets t JOIN bench_reports.subject s ON s.organization_id = t.organization_id
 WHERE t.resolved_at IS NOT NULL AND t.number %% 50 = 7;
ALTER TABLE atum.ticket_status_changes ENABLE TRIGGER USER

-- reports_rebuild --
SELECT atum.reports_rebuild(s.organization_id) AS facts FROM bench_reports.subject s

-- reports_settle --
VACUUM ANALYZE atum.tickets, atum.sla_events, atum.ticket_status_changes, atum_summary.ticket_facts,
               atum_summary.ticket_days, atum_summary.ticket_counts, atum_summary.ticket_deltas

-- reports_settle_facts --
-- Once more: the first pass after the rebuild leaves the pages of the new facts not all-visible,
-- and the percentiles read the facts by index-only scans.
VACUUM atum_summary.ticket_facts

-- reports_manager_token --
SELECT atum_private.session_issue(s.organization_id, s.manager_id) AS token FROM bench_reports.subject s

-- reports_new_tickets --
-- Tickets to accept, in an organization of their own with office hours (as tests/bench/sla.py).
WITH t AS (INSERT INTO atum.tickets (organization_id, subject, requester_id)
           SELECT a.organization_id, 'To accept ' || g, a.customer_id
             FROM bench_reports.accept_subject a, generate_series(1, %(count)s) g RETURNING id)
SELECT (SELECT atum_private.session_issue(a.organization_id, a.manager_id) FROM bench_reports.accept_subject a) AS token,
       (SELECT array_agg(t.id ORDER BY t.id) FROM t) AS ids

-- reports_accept_timing --
CALL bench_reports.accept_timing(%(token)s, %(ticket_ids)s)

-- reports_triggers_off --
-- The reports' triggers on tickets off, for the accept figure without them (then on again).
ALTER TABLE atum.tickets DISABLE TRIGGER _700_summary_insert, DISABLE TRIGGER _700_summary_update,
                         DISABLE TRIGGER _700_summary_delete

-- reports_triggers_on --
ALTER TABLE atum.tickets ENABLE TRIGGER _700_summary_insert, ENABLE TRIGGER _700_summary_update,
                         ENABLE TRIGGER _700_summary_delete

-- reports_time --
SELECT api.report(%(name)s, %(query)s)
