-- Reports and navigation counters (issue 7): derived data kept beside the tickets so that reports
-- and the app's counters never count the tickets table on a page view.
--
--   atum_summary.ticket_deltas  one row per ticket change that matters to a report or a counter,
--                               appended by statement-level triggers on atum.tickets (no row is
--                               ever updated in place, so concurrent writers of one organization
--                               never wait for each other);
--   atum_summary.ticket_counts  open tickets per organization, status, priority and assignee,
--                               folded from the deltas by pg_cron every minute;
--   atum_summary.ticket_facts   one narrow row per ticket: the report dimensions, local days, SLA
--                               times and the business minutes of triage, first response and
--                               resolution, recomputed by the same fold for the tickets it saw change.
--
-- A schema of its own: these tables hold nothing that is not derived from audited tenant tables
-- (they are rebuilt by atum.reports_rebuild), so they are not audited themselves; row-level
-- security applies to them as to tenant tables. Functions, policies and views are in
-- sql/70_reporting.sql and sql/74_reports.sql.
-- depends: 0016.mailbox-health

CREATE SCHEMA atum_summary;
COMMENT ON SCHEMA atum_summary IS 'Derived data for reports and navigation counters, maintained by triggers and pg_cron from the tickets (rebuildable, not audited). Under row-level security.';

CREATE TABLE atum_summary.ticket_deltas (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id       bigint NOT NULL,
    status          atum.ticket_status NOT NULL,
    priority        atum.ticket_priority NOT NULL,
    assignee_id     bigint NOT NULL DEFAULT 0,
    delta           smallint NOT NULL CONSTRAINT ticket_deltas_delta_range CHECK (delta BETWEEN -1 AND 1),
    PRIMARY KEY (organization_id, id)
);
ALTER TABLE atum_summary.ticket_deltas ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum_summary.ticket_deltas FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum_summary.ticket_deltas IS 'Ticket changes not yet folded: -1 for the state a ticket left, +1 for the state it entered (0 only marks its facts for recomputation). Appended by triggers, deleted by atum.reports_fold().';
COMMENT ON COLUMN atum_summary.ticket_deltas.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum_summary.ticket_deltas.id IS 'Append order.';
COMMENT ON COLUMN atum_summary.ticket_deltas.ticket_id IS 'The ticket that changed (its facts are recomputed at the next fold).';
COMMENT ON COLUMN atum_summary.ticket_deltas.status IS 'Status of the counted state.';
COMMENT ON COLUMN atum_summary.ticket_deltas.priority IS 'Priority of the counted state.';
COMMENT ON COLUMN atum_summary.ticket_deltas.assignee_id IS 'Assignee of the counted state; 0 when unassigned.';
COMMENT ON COLUMN atum_summary.ticket_deltas.delta IS '+1 entered, -1 left, 0 facts changed only.';

CREATE TABLE atum_summary.ticket_counts (
    organization_id bigint NOT NULL,
    status          atum.ticket_status NOT NULL,
    priority        atum.ticket_priority NOT NULL,
    assignee_id     bigint NOT NULL DEFAULT 0,
    tickets         integer NOT NULL,
    PRIMARY KEY (organization_id, status, priority, assignee_id)
);
ALTER TABLE atum_summary.ticket_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum_summary.ticket_counts FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum_summary.ticket_counts IS 'Open tickets (NEW, ACCEPTED, IN_PROGRESS, WAITING_CUSTOMER) per organization, status, priority and assignee, as of the last fold; add the pending deltas for the exact figure (atum.ticket_counts_now).';
COMMENT ON COLUMN atum_summary.ticket_counts.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum_summary.ticket_counts.status IS 'Open status.';
COMMENT ON COLUMN atum_summary.ticket_counts.priority IS 'Priority.';
COMMENT ON COLUMN atum_summary.ticket_counts.assignee_id IS 'Assignee; 0 when unassigned.';
COMMENT ON COLUMN atum_summary.ticket_counts.tickets IS 'How many tickets are in this state.';

CREATE TABLE atum_summary.ticket_facts (
    organization_id        bigint NOT NULL,
    ticket_id              bigint NOT NULL,
    status                 atum.ticket_status NOT NULL,
    priority               atum.ticket_priority NOT NULL,
    team_id                bigint,
    assignee_id            bigint,
    created_on             date NOT NULL,
    accepted_on            date,
    resolved_on            date,
    created_at             timestamptz NOT NULL,
    accepted_at            timestamptz,
    triage_due_at          timestamptz,
    first_response_due_at  timestamptz,
    first_responded_at     timestamptz,
    resolution_due_at      timestamptz,
    resolved_at            timestamptz,
    paused_at              timestamptz,
    triage_minutes         double precision,
    first_response_minutes double precision,
    resolution_minutes     double precision,
    reopens                integer NOT NULL DEFAULT 0,
    triage_breach_recorded boolean NOT NULL DEFAULT false,
    first_response_breach_recorded boolean NOT NULL DEFAULT false,
    resolution_breach_recorded boolean NOT NULL DEFAULT false,
    PRIMARY KEY (organization_id, ticket_id)
);
CREATE INDEX ticket_facts_created_idx ON atum_summary.ticket_facts (organization_id, created_on);
CREATE INDEX ticket_facts_accepted_idx ON atum_summary.ticket_facts (organization_id, accepted_on) WHERE accepted_on IS NOT NULL;
CREATE INDEX ticket_facts_resolved_idx ON atum_summary.ticket_facts (organization_id, resolved_on) WHERE resolved_on IS NOT NULL;
CREATE INDEX ticket_facts_open_idx ON atum_summary.ticket_facts (organization_id, created_on)
    INCLUDE (status, priority, team_id, assignee_id, accepted_on)
    WHERE status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER');
-- Percentiles read each measure in order from its own index (index-only), so the sort inside
-- percentile_cont finds its input already sorted: a pass instead of a sort of every value.
CREATE INDEX ticket_facts_triage_minutes_idx ON atum_summary.ticket_facts (organization_id, triage_minutes)
    INCLUDE (accepted_on, priority, team_id) WHERE triage_minutes IS NOT NULL;
CREATE INDEX ticket_facts_first_response_minutes_idx ON atum_summary.ticket_facts (organization_id, first_response_minutes)
    INCLUDE (accepted_on, priority, team_id) WHERE first_response_minutes IS NOT NULL;
CREATE INDEX ticket_facts_resolution_minutes_idx ON atum_summary.ticket_facts (organization_id, resolution_minutes)
    INCLUDE (resolved_on, priority, team_id) WHERE resolution_minutes IS NOT NULL;
COMMENT ON INDEX atum_summary.ticket_facts_triage_minutes_idx IS 'Triage times in order (median and p90 without a sort).';
COMMENT ON INDEX atum_summary.ticket_facts_first_response_minutes_idx IS 'First-response times in order.';
COMMENT ON INDEX atum_summary.ticket_facts_resolution_minutes_idx IS 'Resolution times in order.';
-- The fold rewrites facts every minute; vacuum them early so index-only scans stay index-only.
ALTER TABLE atum_summary.ticket_facts SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);
ALTER TABLE atum_summary.ticket_facts ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum_summary.ticket_facts FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum_summary.ticket_facts IS 'One narrow row per ticket for reports: dimensions, local days in the organization''s time zone, SLA times and business minutes. Recomputed by atum.reports_fold() for changed tickets (at most a minute behind).';
COMMENT ON COLUMN atum_summary.ticket_facts.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum_summary.ticket_facts.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum_summary.ticket_facts.status IS 'Current status.';
COMMENT ON COLUMN atum_summary.ticket_facts.priority IS 'Current priority.';
COMMENT ON COLUMN atum_summary.ticket_facts.team_id IS 'Current team.';
COMMENT ON COLUMN atum_summary.ticket_facts.assignee_id IS 'Current assignee.';
COMMENT ON COLUMN atum_summary.ticket_facts.created_on IS 'Local day the ticket was opened (organization''s time zone).';
COMMENT ON COLUMN atum_summary.ticket_facts.accepted_on IS 'Local day it was accepted (the SLA clock started).';
COMMENT ON COLUMN atum_summary.ticket_facts.resolved_on IS 'Local day of its last resolution, while RESOLVED or CLOSED.';
COMMENT ON COLUMN atum_summary.ticket_facts.created_at IS 'Opened.';
COMMENT ON COLUMN atum_summary.ticket_facts.accepted_at IS 'Accepted.';
COMMENT ON COLUMN atum_summary.ticket_facts.triage_due_at IS 'Acceptance deadline.';
COMMENT ON COLUMN atum_summary.ticket_facts.first_response_due_at IS 'First-response deadline.';
COMMENT ON COLUMN atum_summary.ticket_facts.first_responded_at IS 'First public staff reply.';
COMMENT ON COLUMN atum_summary.ticket_facts.resolution_due_at IS 'Resolution deadline (shifted by pauses).';
COMMENT ON COLUMN atum_summary.ticket_facts.resolved_at IS 'Last resolution, while RESOLVED or CLOSED.';
COMMENT ON COLUMN atum_summary.ticket_facts.paused_at IS 'Since when the resolution clock is paused (waiting for the customer, resolved).';
COMMENT ON COLUMN atum_summary.ticket_facts.triage_minutes IS 'Business minutes NEW -> ACCEPTED in the default calendar.';
COMMENT ON COLUMN atum_summary.ticket_facts.first_response_minutes IS 'Business minutes from acceptance to the first public staff reply, in the calendar of the ticket''s SLA policy.';
COMMENT ON COLUMN atum_summary.ticket_facts.resolution_minutes IS 'Business minutes from acceptance to the last resolution without the paused time, in the policy''s calendar.';
COMMENT ON COLUMN atum_summary.ticket_facts.reopens IS 'How often the ticket was reopened (RESOLVED -> IN_PROGRESS).';
COMMENT ON COLUMN atum_summary.ticket_facts.triage_breach_recorded IS 'The SLA engine had recorded a triage breach at the last recomputation.';
COMMENT ON COLUMN atum_summary.ticket_facts.first_response_breach_recorded IS 'A first-response breach was recorded (kept even if a later priority change moved the due time).';
COMMENT ON COLUMN atum_summary.ticket_facts.resolution_breach_recorded IS 'A resolution breach was recorded.';
COMMENT ON INDEX atum_summary.ticket_facts_created_idx IS 'Tickets opened in a date range.';
COMMENT ON INDEX atum_summary.ticket_facts_accepted_idx IS 'Tickets accepted in a date range (SLA compliance, triage and first-response times).';
COMMENT ON INDEX atum_summary.ticket_facts_resolved_idx IS 'Tickets resolved in a date range (resolution times, reopen rate).';
COMMENT ON INDEX atum_summary.ticket_facts_open_idx IS 'The backlog: open tickets by creation day.';

CREATE TABLE atum_summary.ticket_days (
    organization_id        bigint NOT NULL,
    day                    date NOT NULL,
    priority               atum.ticket_priority NOT NULL,
    team_id                bigint NOT NULL DEFAULT 0,
    assignee_id            bigint NOT NULL DEFAULT 0,
    created                integer NOT NULL DEFAULT 0,
    resolved               integer NOT NULL DEFAULT 0,
    resolved_reopened      integer NOT NULL DEFAULT 0,
    accepted               integer NOT NULL DEFAULT 0,
    first_response_met     integer NOT NULL DEFAULT 0,
    first_response_breached integer NOT NULL DEFAULT 0,
    resolution_met         integer NOT NULL DEFAULT 0,
    resolution_breached    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day, priority, team_id, assignee_id)
);
ALTER TABLE atum_summary.ticket_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum_summary.ticket_days FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum_summary.ticket_days IS 'Report counts per organization, local day, priority, team and assignee, kept by the fold from the changes of ticket_facts: opened, resolved, accepted that day, and the SLA outcomes that are final (clock stopped). Running clocks are judged at read time.';
COMMENT ON COLUMN atum_summary.ticket_days.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum_summary.ticket_days.day IS 'Local day (organization''s time zone) the counted event fell on.';
COMMENT ON COLUMN atum_summary.ticket_days.priority IS 'Current priority of the tickets.';
COMMENT ON COLUMN atum_summary.ticket_days.team_id IS 'Current team; 0 for none.';
COMMENT ON COLUMN atum_summary.ticket_days.assignee_id IS 'Current assignee; 0 for none.';
COMMENT ON COLUMN atum_summary.ticket_days.created IS 'Tickets opened that day.';
COMMENT ON COLUMN atum_summary.ticket_days.resolved IS 'Tickets last resolved that day.';
COMMENT ON COLUMN atum_summary.ticket_days.resolved_reopened IS 'Of those, tickets reopened at least once.';
COMMENT ON COLUMN atum_summary.ticket_days.accepted IS 'Tickets accepted that day.';
COMMENT ON COLUMN atum_summary.ticket_days.first_response_met IS 'Of the tickets accepted that day: first-response clock stopped in time.';
COMMENT ON COLUMN atum_summary.ticket_days.first_response_breached IS 'Of the tickets accepted that day: first-response clock stopped late (or a breach recorded).';
COMMENT ON COLUMN atum_summary.ticket_days.resolution_met IS 'Of the tickets accepted that day: resolved in time.';
COMMENT ON COLUMN atum_summary.ticket_days.resolution_breached IS 'Of the tickets accepted that day: resolved late (or a breach recorded).';

-- Existing tickets: a marker delta each, so the first fold computes their facts and counts.
INSERT INTO atum_summary.ticket_deltas (organization_id, ticket_id, status, priority, assignee_id, delta)
SELECT t.organization_id, t.id, t.status, t.priority, coalesce(t.assignee_id, 0), 1 FROM atum.tickets t;
