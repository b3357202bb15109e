-- Read-only reporting for BI tools (psql, Metabase, a spreadsheet).
--
-- atum_reporting, and any role made a member of it by api.grant_reporting, may read the views of
-- the reporting schema and nothing else (no USAGE on atum). The views are security_invoker, so the
-- row-level security of the tables underneath applies to the reader: policies for atum_reporting
-- show only organizations listed in atum.reporting_grants for a role the reader has the privileges
-- of. Nothing a client can SET changes that. The report views of later issues follow this pattern.

-- Who sees which grants: a reporting role its own; an organization's admin those of their organization.
CREATE POLICY reporting_grants_own ON atum.reporting_grants FOR SELECT TO atum_reporting
    USING (role_name = current_user);
CREATE POLICY reporting_grants_admin_read ON atum.reporting_grants FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

CREATE POLICY organizations_reporting ON atum.organizations FOR SELECT TO atum_reporting
    USING (id IN (SELECT g.organization_id FROM atum.reporting_grants g));
CREATE POLICY users_reporting ON atum.users FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
CREATE POLICY teams_reporting ON atum.teams FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
CREATE POLICY categories_reporting ON atum.categories FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
CREATE POLICY tickets_reporting ON atum.tickets FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));

CREATE OR REPLACE VIEW reporting.organizations WITH (security_invoker = true) AS
    SELECT o.id AS organization_id, o.slug, o.name, o.time_zone, o.created_at
      FROM atum.organizations o;
COMMENT ON VIEW reporting.organizations IS 'Organizations this reporting role may read.';
COMMENT ON COLUMN reporting.organizations.organization_id IS 'Organization id (join key of every reporting view).';
COMMENT ON COLUMN reporting.organizations.slug IS 'Short unique name.';
COMMENT ON COLUMN reporting.organizations.name IS 'Display name.';
COMMENT ON COLUMN reporting.organizations.time_zone IS 'The organization''s time zone: report days in it.';
COMMENT ON COLUMN reporting.organizations.created_at IS 'When the organization was created.';

CREATE OR REPLACE VIEW reporting.staff WITH (security_invoker = true) AS
    SELECT u.organization_id, u.id AS user_id, u.display_name, u.role::text AS role, u.is_active
      FROM atum.users u
     WHERE u.role <> 'customer';
COMMENT ON VIEW reporting.staff IS 'Agents, managers and admins (no e-mail addresses: reports need names, not contact data).';
COMMENT ON COLUMN reporting.staff.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.staff.user_id IS 'User id (tickets.assignee_id).';
COMMENT ON COLUMN reporting.staff.display_name IS 'Name.';
COMMENT ON COLUMN reporting.staff.role IS 'agent, manager or admin.';
COMMENT ON COLUMN reporting.staff.is_active IS 'False for people who left.';

CREATE OR REPLACE VIEW reporting.teams WITH (security_invoker = true) AS
    SELECT t.organization_id, t.id AS team_id, t.name FROM atum.teams t;
COMMENT ON VIEW reporting.teams IS 'Teams tickets are routed to.';
COMMENT ON COLUMN reporting.teams.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.teams.team_id IS 'Team id (tickets.team_id).';
COMMENT ON COLUMN reporting.teams.name IS 'Team name.';

CREATE OR REPLACE VIEW reporting.categories WITH (security_invoker = true) AS
    SELECT c.organization_id, c.id AS category_id, c.parent_id, c.name FROM atum.categories c;
COMMENT ON VIEW reporting.categories IS 'Ticket categories.';
COMMENT ON COLUMN reporting.categories.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.categories.category_id IS 'Category id (tickets.category_id).';
COMMENT ON COLUMN reporting.categories.parent_id IS 'Enclosing category.';
COMMENT ON COLUMN reporting.categories.name IS 'Category name.';

CREATE OR REPLACE VIEW reporting.tickets WITH (security_invoker = true) AS
    SELECT t.organization_id, t.id AS ticket_id, o.ticket_prefix || '-' || t.number AS reference,
           t.status::text AS status, t.priority::text AS priority, t.channel::text AS channel,
           t.requester_id, t.assignee_id, t.team_id, t.category_id,
           t.created_at, t.accepted_at, t.sla_started_at, t.first_response_due_at, t.first_responded_at,
           t.resolution_due_at, t.resolved_at, t.closed_at, t.triage_due_at
      FROM atum.tickets t JOIN atum.organizations o ON o.id = t.organization_id;
COMMENT ON VIEW reporting.tickets IS 'One row per ticket with lifecycle and SLA timestamps (no subject or text: reports count, they do not read).';
COMMENT ON COLUMN reporting.tickets.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.tickets.ticket_id IS 'Ticket id.';
COMMENT ON COLUMN reporting.tickets.reference IS 'Human reference, e.g. ATUM-1234.';
COMMENT ON COLUMN reporting.tickets.status IS 'Current status.';
COMMENT ON COLUMN reporting.tickets.priority IS 'Current priority.';
COMMENT ON COLUMN reporting.tickets.channel IS 'portal, email, api, phone or staff.';
COMMENT ON COLUMN reporting.tickets.requester_id IS 'Customer user id.';
COMMENT ON COLUMN reporting.tickets.assignee_id IS 'Assigned agent (reporting.staff.user_id).';
COMMENT ON COLUMN reporting.tickets.team_id IS 'Team (reporting.teams.team_id).';
COMMENT ON COLUMN reporting.tickets.category_id IS 'Category (reporting.categories.category_id).';
COMMENT ON COLUMN reporting.tickets.created_at IS 'Opened.';
COMMENT ON COLUMN reporting.tickets.accepted_at IS 'Accepted by a manager (end of triage).';
COMMENT ON COLUMN reporting.tickets.sla_started_at IS 'SLA clock start (= acceptance).';
COMMENT ON COLUMN reporting.tickets.first_response_due_at IS 'First-response deadline.';
COMMENT ON COLUMN reporting.tickets.first_responded_at IS 'First public staff reply.';
COMMENT ON COLUMN reporting.tickets.resolution_due_at IS 'Resolution deadline.';
COMMENT ON COLUMN reporting.tickets.resolved_at IS 'Last resolution.';
COMMENT ON COLUMN reporting.tickets.closed_at IS 'Closed.';
COMMENT ON COLUMN reporting.tickets.triage_due_at IS 'Acceptance deadline (triage target after opening); compare with accepted_at.';

CREATE POLICY sla_events_reporting ON atum.sla_events FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));

CREATE OR REPLACE VIEW reporting.sla_events WITH (security_invoker = true) AS
    SELECT e.organization_id, e.ticket_id, e.clock::text AS clock, e.kind::text AS kind, e.due_at, e.recorded_at
      FROM atum.sla_events e;
COMMENT ON VIEW reporting.sla_events IS 'SLA warnings and breaches, at most one of each kind per ticket and clock.';
COMMENT ON COLUMN reporting.sla_events.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.sla_events.ticket_id IS 'Ticket (reporting.tickets.ticket_id).';
COMMENT ON COLUMN reporting.sla_events.clock IS 'triage, first_response or resolution.';
COMMENT ON COLUMN reporting.sla_events.kind IS 'warning or breach.';
COMMENT ON COLUMN reporting.sla_events.due_at IS 'The threshold that was crossed.';
COMMENT ON COLUMN reporting.sla_events.recorded_at IS 'When the sweep recorded it.';

CREATE OR REPLACE FUNCTION api.grant_reporting(p_role name, p_organization_id bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = p_role) THEN
        RAISE EXCEPTION 'no database role %', quote_ident(p_role) USING ERRCODE = 'AT404', COLUMN = 'role';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM atum.organizations o WHERE o.id = p_organization_id) THEN
        RAISE EXCEPTION 'no organization %', p_organization_id USING ERRCODE = 'AT404', COLUMN = 'organization';
    END IF;
    IF p_role IN ('atum_owner', 'atum_app') OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = p_role AND r.rolsuper) THEN
        RAISE EXCEPTION 'role % is not a reporting role', quote_ident(p_role) USING ERRCODE = 'AT422', COLUMN = 'role';
    END IF;
    IF p_role <> 'atum_reporting' AND NOT pg_has_role(p_role, 'atum_reporting', 'MEMBER') THEN
        EXECUTE format('GRANT atum_reporting TO %I', p_role);
    END IF;
    INSERT INTO atum.reporting_grants (organization_id, role_name) VALUES (p_organization_id, p_role)
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION api.grant_reporting(name, bigint) IS 'Lets a database role read one organization through the reporting views (makes it a member of atum_reporting). Owner only.';

CREATE OR REPLACE FUNCTION api.revoke_reporting(p_role name, p_organization_id bigint) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM atum.reporting_grants g WHERE g.role_name = p_role AND g.organization_id = p_organization_id
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM gone)
$$;
COMMENT ON FUNCTION api.revoke_reporting(name, bigint) IS 'Withdraws a role''s access to one organization''s reports; true if there was one. Owner only.';

-- The audit trail covers reporting grants too.
SELECT atum_private.audit_attach('atum.reporting_grants', '{"org": "organization_id", "key": ["role_name"]}');

-- ---------------------------------------------------------------------------------------------
-- Report figures (issue 7): the numbers of the app's reports, for BI tools. They read the derived
-- tables of atum_summary (migrations/0018.reports.sql, maintained by sql/74_reports.sql), whose
-- policies show a reporting role its granted organizations and the app a manager's own.
-- api.report reads reporting.ticket_times too, so both give the same numbers.
-- ---------------------------------------------------------------------------------------------
DROP POLICY IF EXISTS ticket_facts_reporting ON atum_summary.ticket_facts;
CREATE POLICY ticket_facts_reporting ON atum_summary.ticket_facts FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
COMMENT ON POLICY ticket_facts_reporting ON atum_summary.ticket_facts IS 'Reporting roles read the facts of the organizations granted to them.';
DROP POLICY IF EXISTS ticket_facts_manager_read ON atum_summary.ticket_facts;
CREATE POLICY ticket_facts_manager_read ON atum_summary.ticket_facts FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND (SELECT c.role FROM atum.request_context c) >= 'manager');
COMMENT ON POLICY ticket_facts_manager_read ON atum_summary.ticket_facts IS 'Managers and admins read their organization''s report facts.';
DROP POLICY IF EXISTS ticket_days_reporting ON atum_summary.ticket_days;
CREATE POLICY ticket_days_reporting ON atum_summary.ticket_days FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
COMMENT ON POLICY ticket_days_reporting ON atum_summary.ticket_days IS 'Reporting roles read the daily counts of their granted organizations.';
DROP POLICY IF EXISTS ticket_days_manager_read ON atum_summary.ticket_days;
CREATE POLICY ticket_days_manager_read ON atum_summary.ticket_days FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND (SELECT c.role FROM atum.request_context c) >= 'manager');
COMMENT ON POLICY ticket_days_manager_read ON atum_summary.ticket_days IS 'Managers and admins read their organization''s daily counts.';
DROP POLICY IF EXISTS time_buckets_reporting ON atum_summary.time_buckets;
CREATE POLICY time_buckets_reporting ON atum_summary.time_buckets FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
COMMENT ON POLICY time_buckets_reporting ON atum_summary.time_buckets IS 'Reporting roles read the response-time histograms of their granted organizations.';
DROP POLICY IF EXISTS time_buckets_manager_read ON atum_summary.time_buckets;
CREATE POLICY time_buckets_manager_read ON atum_summary.time_buckets FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND (SELECT c.role FROM atum.request_context c) >= 'manager');
COMMENT ON POLICY time_buckets_manager_read ON atum_summary.time_buckets IS 'Managers and admins read their organization''s response-time histograms.';
DROP POLICY IF EXISTS ticket_counts_reporting ON atum_summary.ticket_counts;
CREATE POLICY ticket_counts_reporting ON atum_summary.ticket_counts FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
COMMENT ON POLICY ticket_counts_reporting ON atum_summary.ticket_counts IS 'Reporting roles read the counts of their granted organizations.';
DROP POLICY IF EXISTS ticket_counts_staff_read ON atum_summary.ticket_counts;
CREATE POLICY ticket_counts_staff_read ON atum_summary.ticket_counts FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
COMMENT ON POLICY ticket_counts_staff_read ON atum_summary.ticket_counts IS 'Staff read their organization''s counters.';
DROP POLICY IF EXISTS ticket_deltas_reporting ON atum_summary.ticket_deltas;
CREATE POLICY ticket_deltas_reporting ON atum_summary.ticket_deltas FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));
COMMENT ON POLICY ticket_deltas_reporting ON atum_summary.ticket_deltas IS 'Reporting roles read the pending deltas of their granted organizations (exact counts).';
DROP POLICY IF EXISTS ticket_deltas_staff_read ON atum_summary.ticket_deltas;
CREATE POLICY ticket_deltas_staff_read ON atum_summary.ticket_deltas FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
COMMENT ON POLICY ticket_deltas_staff_read ON atum_summary.ticket_deltas IS 'Staff read their organization''s pending deltas (exact counters).';

CREATE OR REPLACE VIEW reporting.ticket_times WITH (security_invoker = true) AS
    SELECT f.organization_id, f.ticket_id, f.status::text AS status, f.priority::text AS priority, f.team_id, f.assignee_id,
           f.status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER') AS is_open,
           f.created_on, f.accepted_on, f.resolved_on,
           f.triage_minutes, f.first_response_minutes, f.resolution_minutes, f.reopens,
           CASE WHEN f.accepted_at IS NOT NULL THEN
                CASE WHEN f.accepted_at > f.triage_due_at OR f.triage_breach_recorded THEN 'breached' ELSE 'met' END
                WHEN f.status = 'NEW' THEN
                CASE WHEN f.triage_due_at < now() OR f.triage_breach_recorded THEN 'breached' ELSE 'pending' END
           END AS triage_outcome,
           CASE WHEN f.accepted_at IS NULL THEN NULL
                WHEN f.first_response_breach_recorded OR s.first_response_stop > f.first_response_due_at
                     OR (s.first_response_stop IS NULL AND f.first_response_due_at < now()) THEN 'breached'
                WHEN s.first_response_stop IS NOT NULL THEN 'met'
                ELSE 'pending'
           END AS first_response_outcome,
           CASE WHEN f.accepted_at IS NULL THEN NULL
                WHEN f.resolution_breach_recorded OR f.resolved_at > f.resolution_due_at
                     OR (f.resolved_at IS NULL AND f.resolution_due_at < coalesce(f.paused_at, now())) THEN 'breached'
                WHEN f.resolved_at IS NOT NULL THEN 'met'
                ELSE 'pending'
           END AS resolution_outcome
      FROM atum_summary.ticket_facts f
     CROSS JOIN LATERAL (SELECT coalesce(f.first_responded_at, f.resolved_at) AS first_response_stop) AS s;
COMMENT ON VIEW reporting.ticket_times IS 'One row per ticket: report dimensions, local days (organization''s time zone), business minutes of triage, first response and resolution, reopens, and whether each SLA target was met, breached or is still pending (a breach recorded by the SLA sweep, or the times). At most a minute behind the tickets (pg_cron fold). The app''s reports are computed from this view.';
COMMENT ON COLUMN reporting.ticket_times.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.ticket_times.ticket_id IS 'Ticket (reporting.tickets.ticket_id).';
COMMENT ON COLUMN reporting.ticket_times.status IS 'Current status.';
COMMENT ON COLUMN reporting.ticket_times.priority IS 'Current priority.';
COMMENT ON COLUMN reporting.ticket_times.team_id IS 'Team (reporting.teams.team_id).';
COMMENT ON COLUMN reporting.ticket_times.assignee_id IS 'Assignee (reporting.staff.user_id).';
COMMENT ON COLUMN reporting.ticket_times.is_open IS 'NEW, ACCEPTED, IN_PROGRESS or WAITING_CUSTOMER.';
COMMENT ON COLUMN reporting.ticket_times.created_on IS 'Local day the ticket was opened.';
COMMENT ON COLUMN reporting.ticket_times.accepted_on IS 'Local day it was accepted (SLA start).';
COMMENT ON COLUMN reporting.ticket_times.resolved_on IS 'Local day of its last resolution (also while reopened).';
COMMENT ON COLUMN reporting.ticket_times.triage_minutes IS 'Business minutes from opening to acceptance (default calendar).';
COMMENT ON COLUMN reporting.ticket_times.first_response_minutes IS 'Business minutes from acceptance to the first public staff reply (policy calendar).';
COMMENT ON COLUMN reporting.ticket_times.resolution_minutes IS 'Business minutes from acceptance to resolution without paused time, while RESOLVED or CLOSED.';
COMMENT ON COLUMN reporting.ticket_times.reopens IS 'How often it was reopened.';
COMMENT ON COLUMN reporting.ticket_times.triage_outcome IS 'met, breached or pending (NULL for rejected tickets).';
COMMENT ON COLUMN reporting.ticket_times.first_response_outcome IS 'met (replied, or resolved, in time), breached or pending; NULL before acceptance.';
COMMENT ON COLUMN reporting.ticket_times.resolution_outcome IS 'met, breached or pending; NULL before acceptance.';

CREATE OR REPLACE VIEW reporting.daily_tickets WITH (security_invoker = true) AS
    SELECT x.organization_id, x.day, x.priority, x.team_id,
           sum(x.created)::bigint AS created, sum(x.resolved)::bigint AS resolved
      FROM (SELECT t.organization_id, t.created_on AS day, t.priority, t.team_id, 1 AS created, 0 AS resolved
              FROM reporting.ticket_times t
            UNION ALL
            SELECT t.organization_id, t.resolved_on, t.priority, t.team_id, 0, 1
              FROM reporting.ticket_times t WHERE t.resolved_on IS NOT NULL) AS x
     GROUP BY x.organization_id, x.day, x.priority, x.team_id;
COMMENT ON VIEW reporting.daily_tickets IS 'Tickets created and resolved per local day, priority and team (the created-resolved report).';
COMMENT ON COLUMN reporting.daily_tickets.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.daily_tickets.day IS 'Local day (organization''s time zone).';
COMMENT ON COLUMN reporting.daily_tickets.priority IS 'Current priority of the tickets.';
COMMENT ON COLUMN reporting.daily_tickets.team_id IS 'Current team of the tickets.';
COMMENT ON COLUMN reporting.daily_tickets.created IS 'Tickets opened that day.';
COMMENT ON COLUMN reporting.daily_tickets.resolved IS 'Tickets last resolved that day.';

CREATE OR REPLACE VIEW reporting.sla_compliance WITH (security_invoker = true) AS
    SELECT t.organization_id, t.accepted_on AS day, t.priority, t.team_id, t.assignee_id,
           count(*) FILTER (WHERE t.first_response_outcome = 'met') AS first_response_met,
           count(*) FILTER (WHERE t.first_response_outcome = 'breached') AS first_response_breached,
           count(*) FILTER (WHERE t.first_response_outcome = 'pending') AS first_response_pending,
           count(*) FILTER (WHERE t.resolution_outcome = 'met') AS resolution_met,
           count(*) FILTER (WHERE t.resolution_outcome = 'breached') AS resolution_breached,
           count(*) FILTER (WHERE t.resolution_outcome = 'pending') AS resolution_pending
      FROM reporting.ticket_times t
     WHERE t.accepted_on IS NOT NULL
     GROUP BY t.organization_id, t.accepted_on, t.priority, t.team_id, t.assignee_id;
COMMENT ON VIEW reporting.sla_compliance IS 'SLA targets met, breached and pending per local day of acceptance, priority, team and assignee (the sla-compliance report: sum over the days of a range; percent = met / (met + breached)).';
COMMENT ON COLUMN reporting.sla_compliance.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.sla_compliance.day IS 'Local day the tickets were accepted.';
COMMENT ON COLUMN reporting.sla_compliance.priority IS 'Priority.';
COMMENT ON COLUMN reporting.sla_compliance.team_id IS 'Team.';
COMMENT ON COLUMN reporting.sla_compliance.assignee_id IS 'Assignee.';
COMMENT ON COLUMN reporting.sla_compliance.first_response_met IS 'First replies in time.';
COMMENT ON COLUMN reporting.sla_compliance.first_response_breached IS 'First-response targets missed.';
COMMENT ON COLUMN reporting.sla_compliance.first_response_pending IS 'Still waiting for a first reply, target not yet passed.';
COMMENT ON COLUMN reporting.sla_compliance.resolution_met IS 'Resolved in time.';
COMMENT ON COLUMN reporting.sla_compliance.resolution_breached IS 'Resolution targets missed.';
COMMENT ON COLUMN reporting.sla_compliance.resolution_pending IS 'Not resolved, target not yet passed.';

CREATE OR REPLACE VIEW reporting.open_tickets WITH (security_invoker = true) AS
    SELECT x.organization_id, x.status::text AS status, x.priority::text AS priority,
           nullif(x.assignee_id, 0) AS assignee_id, sum(x.tickets)::bigint AS tickets
      FROM (SELECT c.organization_id, c.status, c.priority, c.assignee_id, c.tickets FROM atum_summary.ticket_counts c
            UNION ALL
            SELECT d.organization_id, d.status, d.priority, d.assignee_id, d.delta FROM atum_summary.ticket_deltas d
             WHERE d.status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER')) AS x
     GROUP BY x.organization_id, x.status, x.priority, x.assignee_id
    HAVING sum(x.tickets) <> 0;
COMMENT ON VIEW reporting.open_tickets IS 'Open tickets now per status, priority and assignee (the app''s navigation counters): the folded counts plus the changes not folded yet, so always exact.';
COMMENT ON COLUMN reporting.open_tickets.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.open_tickets.status IS 'NEW, ACCEPTED, IN_PROGRESS or WAITING_CUSTOMER.';
COMMENT ON COLUMN reporting.open_tickets.priority IS 'Priority.';
COMMENT ON COLUMN reporting.open_tickets.assignee_id IS 'Assignee; NULL when unassigned.';
COMMENT ON COLUMN reporting.open_tickets.tickets IS 'How many tickets.';
