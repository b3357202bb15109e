-- Reports and navigation counters (issue 7; SPEC 8).
--
-- Writers never count: statement-level triggers on atum.tickets append one row per change to
-- atum_summary.ticket_deltas (-1 for the state a ticket left, +1 for the state it entered). Nothing
-- is updated in place, so many sessions opening tickets in one organization do not queue on a
-- counter row. pg_cron folds the deltas every minute (atum.reports_fold): into the open-ticket
-- counts, and into the per-ticket facts of the tickets that changed (business minutes computed
-- once there, not per report). Readers add the pending deltas to the folded counts, so counters
-- are exact at any moment; report facts are at most a fold behind.
--
-- Every report is one call of api.report(name, query) as atum_app (SECURITY INVOKER): the
-- policies on atum_summary and the reporting views show a manager their own organization only.
-- The reports read the same reporting views a BI tool reads (sql/70_reporting.sql), so the app and
-- psql give the same numbers.

-- ---------------------------------------------------------------------------------------------
-- Triggers: append deltas (lean, statement-level; the accept path runs them)
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.tg_tickets_summary_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: only triggers write the deltas, whoever changes the tickets.
BEGIN
    INSERT INTO atum_summary.ticket_deltas (organization_id, ticket_id, status, priority, assignee_id, delta)
    SELECT n.organization_id, n.id, n.status, n.priority, coalesce(n.assignee_id, 0), 1 FROM new_rows n;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_summary_insert() IS 'Appends a +1 delta per new ticket (counters and report facts).';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_summary_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- An updated ticket leaves one counted state and enters another (the same one when nothing
-- counted changed: the pair nets to zero and marks its facts for recomputation). No pairing of
-- old and new rows to skip unchanged ones: on the accept path that join cost more than the rows.
BEGIN
    INSERT INTO atum_summary.ticket_deltas (organization_id, ticket_id, status, priority, assignee_id, delta)
    SELECT o.organization_id, o.id, o.status, o.priority, coalesce(o.assignee_id, 0), -1 FROM old_rows o
    UNION ALL
    SELECT n.organization_id, n.id, n.status, n.priority, coalesce(n.assignee_id, 0), 1 FROM new_rows n;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_summary_update() IS 'Appends a -1 delta for the old and a +1 delta for the new version of every updated ticket.';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_summary_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO atum_summary.ticket_deltas (organization_id, ticket_id, status, priority, assignee_id, delta)
    SELECT o.organization_id, o.id, o.status, o.priority, coalesce(o.assignee_id, 0), -1 FROM old_rows o;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_summary_delete() IS 'Appends a -1 delta per deleted ticket.';

DROP TRIGGER IF EXISTS _700_summary_insert ON atum.tickets;
CREATE TRIGGER _700_summary_insert AFTER INSERT ON atum.tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_summary_insert();
COMMENT ON TRIGGER _700_summary_insert ON atum.tickets IS 'Counters and report facts: new tickets.';
DROP TRIGGER IF EXISTS _700_summary_update ON atum.tickets;
CREATE TRIGGER _700_summary_update AFTER UPDATE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_summary_update();
COMMENT ON TRIGGER _700_summary_update ON atum.tickets IS 'Counters and report facts: changed tickets.';
DROP TRIGGER IF EXISTS _700_summary_delete ON atum.tickets;
CREATE TRIGGER _700_summary_delete AFTER DELETE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_summary_delete();
COMMENT ON TRIGGER _700_summary_delete ON atum.tickets IS 'Counters and report facts: deleted tickets.';

-- ---------------------------------------------------------------------------------------------
-- Folding (pg_cron) and rebuilding (owner)
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.report_minutes(
    p_organization_id bigint, p_calendar_id bigint, p_is_24x7 boolean, p_from timestamptz, p_to timestamptz
) RETURNS double precision
    LANGUAGE sql STABLE
AS $$
    -- No SET clause (fully qualified) so it is inlined; a 24x7 calendar needs no calendar walk.
    SELECT CASE WHEN p_from IS NULL OR p_to IS NULL OR p_calendar_id IS NULL THEN NULL
                WHEN p_is_24x7 THEN pg_catalog.date_part('epoch', p_to - p_from) / 60
                ELSE atum.business_minutes_between(p_organization_id, p_calendar_id, p_from, p_to)::double precision
           END
$$;
COMMENT ON FUNCTION atum.report_minutes(bigint, bigint, boolean, timestamptz, timestamptz) IS 'Business minutes between two instants for the report facts (NULL when either is missing).';

CREATE OR REPLACE FUNCTION atum.ticket_days_apply(p_organization_ids bigint[], p_ticket_ids bigint[], p_sign integer)
RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- What the current facts of these tickets count in ticket_days, added (p_sign 1) or taken
    -- away (-1). A ticket counts on the day it was opened, on the day it was last resolved, and on
    -- the day it was accepted with its SLA outcomes once final (clock stopped; the same rule as
    -- reporting.ticket_times).
    INSERT INTO atum_summary.ticket_days AS d (organization_id, day, priority, team_id, assignee_id, created, resolved,
                                               resolved_reopened, accepted, first_response_met, first_response_breached,
                                               resolution_met, resolution_breached)
    SELECT f.organization_id, c.day, f.priority, coalesce(f.team_id, 0), coalesce(f.assignee_id, 0),
           p_sign * sum(c.created), p_sign * sum(c.resolved), p_sign * sum(c.reopened), p_sign * sum(c.accepted),
           p_sign * sum(c.fr_met), p_sign * sum(c.fr_breached), p_sign * sum(c.res_met), p_sign * sum(c.res_breached)
      FROM (SELECT DISTINCT u.organization_id, u.ticket_id
              FROM unnest(p_organization_ids, p_ticket_ids) AS u (organization_id, ticket_id)) AS u
      JOIN atum_summary.ticket_facts f ON f.organization_id = u.organization_id AND f.ticket_id = u.ticket_id
     CROSS JOIN LATERAL (SELECT coalesce(f.first_responded_at, f.resolved_at) AS fr_stop) AS s
     CROSS JOIN LATERAL (
        SELECT f.created_on, 1, 0, 0, 0, 0, 0, 0, 0
        UNION ALL
        SELECT f.resolved_on, 0, 1, (f.reopens > 0)::integer, 0, 0, 0, 0, 0 WHERE f.resolved_on IS NOT NULL
        UNION ALL
        SELECT f.accepted_on, 0, 0, 0, 1,
               (s.fr_stop IS NOT NULL AND NOT (f.first_response_breach_recorded OR s.fr_stop > f.first_response_due_at))::integer,
               (s.fr_stop IS NOT NULL AND (f.first_response_breach_recorded OR s.fr_stop > f.first_response_due_at))::integer,
               (f.resolved_at IS NOT NULL AND NOT (f.resolution_breach_recorded OR f.resolved_at > f.resolution_due_at))::integer,
               (f.resolved_at IS NOT NULL AND (f.resolution_breach_recorded OR f.resolved_at > f.resolution_due_at))::integer
         WHERE f.accepted_on IS NOT NULL
     ) AS c (day, created, resolved, reopened, accepted, fr_met, fr_breached, res_met, res_breached)
     GROUP BY f.organization_id, c.day, f.priority, coalesce(f.team_id, 0), coalesce(f.assignee_id, 0)
    ON CONFLICT (organization_id, day, priority, team_id, assignee_id) DO UPDATE
       SET created = d.created + excluded.created, resolved = d.resolved + excluded.resolved,
           resolved_reopened = d.resolved_reopened + excluded.resolved_reopened, accepted = d.accepted + excluded.accepted,
           first_response_met = d.first_response_met + excluded.first_response_met,
           first_response_breached = d.first_response_breached + excluded.first_response_breached,
           resolution_met = d.resolution_met + excluded.resolution_met,
           resolution_breached = d.resolution_breached + excluded.resolution_breached
$$;
COMMENT ON FUNCTION atum.ticket_days_apply(bigint[], bigint[], integer) IS 'Adds (1) or removes (-1) what the current facts of the given tickets count in atum_summary.ticket_days.';

CREATE OR REPLACE FUNCTION atum.time_buckets_apply(p_organization_ids bigint[], p_ticket_ids bigint[], p_sign integer)
RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- What the current facts of these tickets count in the response-time histograms, added
    -- (p_sign 1) or taken away (-1), as ticket_days_apply does for the daily counts. Emptied buckets
    -- stay (0 tickets) rather than cost a delete per fold.
    INSERT INTO atum_summary.time_buckets AS b (organization_id, measure, day, priority, minutes, tickets)
    SELECT f.organization_id, m.measure, m.day, f.priority, atum.report_bucket(m.minutes), p_sign * count(*)
      FROM (SELECT DISTINCT u.organization_id, u.ticket_id
              FROM unnest(p_organization_ids, p_ticket_ids) AS u (organization_id, ticket_id)) AS u
      JOIN atum_summary.ticket_facts f ON f.organization_id = u.organization_id AND f.ticket_id = u.ticket_id
     CROSS JOIN LATERAL (VALUES ('triage', f.accepted_on, f.triage_minutes),
                                ('first_response', f.accepted_on, f.first_response_minutes),
                                ('resolution', f.resolved_on, f.resolution_minutes)) AS m (measure, day, minutes)
     WHERE m.day IS NOT NULL AND m.minutes IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (organization_id, measure, day, priority, minutes) DO UPDATE SET tickets = b.tickets + excluded.tickets
$$;
COMMENT ON FUNCTION atum.time_buckets_apply(bigint[], bigint[], integer) IS 'Adds (1) or removes (-1) what the current facts of the given tickets count in atum_summary.time_buckets.';

CREATE OR REPLACE FUNCTION atum.ticket_facts_refresh(p_organization_ids bigint[], p_ticket_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Recomputes the facts of the given tickets (parallel arrays) from atum.tickets; removes those of
-- tickets that are gone, and moves their counts in ticket_days (out with the old facts, in with
-- the new). Owner only (pg_cron, atumdesk migrate, atum.reports_rebuild).
DECLARE
    v_count integer;
BEGIN
    PERFORM atum.ticket_days_apply(p_organization_ids, p_ticket_ids, -1);  -- their old counts
    PERFORM atum.time_buckets_apply(p_organization_ids, p_ticket_ids, -1);
    DELETE FROM atum_summary.ticket_facts f
     USING unnest(p_organization_ids, p_ticket_ids) AS u (organization_id, ticket_id)
     WHERE f.organization_id = u.organization_id AND f.ticket_id = u.ticket_id
       AND NOT EXISTS (SELECT 1 FROM atum.tickets t WHERE t.organization_id = u.organization_id AND t.id = u.ticket_id);
    INSERT INTO atum_summary.ticket_facts AS f (
        organization_id, ticket_id, status, priority, team_id, assignee_id, created_on, accepted_on, resolved_on,
        created_at, accepted_at, triage_due_at, first_response_due_at, first_responded_at, resolution_due_at,
        resolved_at, paused_at, triage_minutes, first_response_minutes, resolution_minutes, reopens,
        triage_breach_recorded, first_response_breach_recorded, resolution_breach_recorded)
    SELECT t.organization_id, t.id, t.status, t.priority, t.team_id, t.assignee_id,
           (t.created_at AT TIME ZONE o.time_zone)::date,
           (t.accepted_at AT TIME ZONE o.time_zone)::date,
           (t.resolved_at AT TIME ZONE o.time_zone)::date,
           t.created_at, t.accepted_at, t.triage_due_at, t.first_response_due_at, t.first_responded_at,
           t.resolution_due_at, CASE WHEN t.status IN ('RESOLVED', 'CLOSED') THEN t.resolved_at END, t.paused_at,
           atum.report_minutes(t.organization_id, dc.id, dc.is_24x7, t.created_at, t.accepted_at),
           atum.report_minutes(t.organization_id, pc.id, pc.is_24x7, t.sla_started_at, t.first_responded_at),
           CASE WHEN t.status IN ('RESOLVED', 'CLOSED') THEN
               atum.report_minutes(t.organization_id, pc.id, pc.is_24x7, t.sla_started_at, t.resolved_at)
               - t.paused_minutes::double precision END,
           (SELECT count(*) FROM atum.ticket_status_changes s
             WHERE s.organization_id = t.organization_id AND s.ticket_id = t.id
               AND s.from_status = 'RESOLVED' AND s.to_status = 'IN_PROGRESS')::integer,
           EXISTS (SELECT 1 FROM atum.sla_events e WHERE e.organization_id = t.organization_id AND e.ticket_id = t.id
                                                     AND e.clock = 'triage' AND e.kind = 'breach'),
           EXISTS (SELECT 1 FROM atum.sla_events e WHERE e.organization_id = t.organization_id AND e.ticket_id = t.id
                                                     AND e.clock = 'first_response' AND e.kind = 'breach'),
           EXISTS (SELECT 1 FROM atum.sla_events e WHERE e.organization_id = t.organization_id AND e.ticket_id = t.id
                                                     AND e.clock = 'resolution' AND e.kind = 'breach')
      FROM (SELECT DISTINCT u.organization_id, u.ticket_id
              FROM unnest(p_organization_ids, p_ticket_ids) AS u (organization_id, ticket_id)) AS u
      JOIN atum.tickets t ON t.organization_id = u.organization_id AND t.id = u.ticket_id
      JOIN atum.organizations o ON o.id = t.organization_id
      LEFT JOIN atum.business_calendars dc ON dc.organization_id = t.organization_id AND dc.is_default
      LEFT JOIN atum.sla_policies p ON p.organization_id = t.organization_id AND p.priority = t.priority
      LEFT JOIN atum.business_calendars pc ON pc.organization_id = p.organization_id AND pc.id = p.calendar_id
    ON CONFLICT (organization_id, ticket_id) DO UPDATE
       SET status = excluded.status, priority = excluded.priority, team_id = excluded.team_id,
           assignee_id = excluded.assignee_id, created_on = excluded.created_on, accepted_on = excluded.accepted_on,
           resolved_on = excluded.resolved_on, created_at = excluded.created_at, accepted_at = excluded.accepted_at,
           triage_due_at = excluded.triage_due_at, first_response_due_at = excluded.first_response_due_at,
           first_responded_at = excluded.first_responded_at, resolution_due_at = excluded.resolution_due_at,
           resolved_at = excluded.resolved_at, paused_at = excluded.paused_at,
           triage_minutes = excluded.triage_minutes, first_response_minutes = excluded.first_response_minutes,
           resolution_minutes = excluded.resolution_minutes, reopens = excluded.reopens,
           triage_breach_recorded = excluded.triage_breach_recorded,
           first_response_breach_recorded = excluded.first_response_breach_recorded,
           resolution_breach_recorded = excluded.resolution_breach_recorded;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM atum.ticket_days_apply(p_organization_ids, p_ticket_ids, 1);  -- their new counts
    PERFORM atum.time_buckets_apply(p_organization_ids, p_ticket_ids, 1);
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION atum.ticket_facts_refresh(bigint[], bigint[]) IS 'Recomputes the report facts of the given tickets (organization and ticket ids as parallel arrays); returns how many rows were written.';

CREATE OR REPLACE FUNCTION atum.reports_fold() RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Run by pg_cron every minute (as the owner). Takes the pending deltas (those committed so far:
-- rows of transactions still open stay for the next fold), adds them to the counts, and
-- recomputes the facts of the tickets they name. One fold at a time; a second one returns at once.
DECLARE
    v_orgs    bigint[];
    v_tickets bigint[];
    v_deltas  integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('atum.reports_fold')) THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM atum_summary.ticket_deltas d RETURNING d.organization_id, d.ticket_id, d.status, d.priority,
                                                           d.assignee_id, d.delta
    ), counted AS (
        INSERT INTO atum_summary.ticket_counts AS c (organization_id, status, priority, assignee_id, tickets)
        SELECT m.organization_id, m.status, m.priority, m.assignee_id, sum(m.delta)
          FROM moved m
         WHERE m.status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER')
         GROUP BY m.organization_id, m.status, m.priority, m.assignee_id
        HAVING sum(m.delta) <> 0
        ON CONFLICT (organization_id, status, priority, assignee_id) DO UPDATE SET tickets = c.tickets + excluded.tickets
    ), changed AS (
        SELECT DISTINCT m.organization_id, m.ticket_id FROM moved m
    )
    SELECT array_agg(ch.organization_id), array_agg(ch.ticket_id), (SELECT count(*) FROM moved)
      INTO v_orgs, v_tickets, v_deltas
      FROM changed ch;
    DELETE FROM atum_summary.ticket_counts c WHERE c.tickets = 0;
    IF v_orgs IS NOT NULL THEN
        PERFORM atum.ticket_facts_refresh(v_orgs, v_tickets);
    END IF;
    RETURN coalesce(v_deltas, 0);
END
$$;
COMMENT ON FUNCTION atum.reports_fold() IS 'pg_cron, every minute: folds pending ticket deltas into the open-ticket counts and recomputes the report facts of the tickets that changed; returns how many deltas it folded.';

CREATE OR REPLACE FUNCTION atum.reports_rebuild(p_organization_id bigint) RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- For the owner after bulk loads with triggers off, or a change of the organization's time zone.
DECLARE
    v_orgs    bigint[];
    v_tickets bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('atum.reports_fold'));
    DELETE FROM atum_summary.ticket_counts c WHERE c.organization_id = p_organization_id;
    -- One statement, one snapshot: the deltas it removes (a data-modifying CTE always runs) are
    -- exactly those the count includes.
    WITH gone AS (
        DELETE FROM atum_summary.ticket_deltas d WHERE d.organization_id = p_organization_id RETURNING 1
    )
    INSERT INTO atum_summary.ticket_counts (organization_id, status, priority, assignee_id, tickets)
    SELECT t.organization_id, t.status, t.priority, coalesce(t.assignee_id, 0), count(*)
      FROM atum.tickets t
     WHERE t.organization_id = p_organization_id AND t.status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER')
     GROUP BY 1, 2, 3, 4;
    DELETE FROM atum_summary.ticket_facts f WHERE f.organization_id = p_organization_id;
    DELETE FROM atum_summary.ticket_days d WHERE d.organization_id = p_organization_id;
    DELETE FROM atum_summary.time_buckets b WHERE b.organization_id = p_organization_id;
    SELECT array_agg(t.organization_id), array_agg(t.id) INTO v_orgs, v_tickets
      FROM atum.tickets t WHERE t.organization_id = p_organization_id;
    RETURN CASE WHEN v_orgs IS NULL THEN 0 ELSE atum.ticket_facts_refresh(v_orgs, v_tickets) END;
END
$$;
COMMENT ON FUNCTION atum.reports_rebuild(bigint) IS 'Recomputes an organization''s open-ticket counts and report facts from its tickets (after a bulk load with triggers off, or a time-zone change); returns the number of facts.';

-- ---------------------------------------------------------------------------------------------
-- Counters (the navigation's numbers)
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION api.counters() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: open tickets of the organization by status and priority, the caller's own, the NEW
-- inbox. Folded counts plus pending deltas: exact, and a few rows whatever the ticket count.
DECLARE
    v_org  bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_user bigint := (SELECT c.user_id FROM atum.request_context c);
BEGIN
    PERFORM atum.require_role('agent', 'see ticket counters');
    RETURN (
        WITH now_counts AS (
            SELECT x.status, x.priority, x.assignee_id, sum(x.tickets)::integer AS tickets
              FROM (SELECT c.status, c.priority, c.assignee_id, c.tickets
                      FROM atum_summary.ticket_counts c WHERE c.organization_id = v_org
                    UNION ALL
                    SELECT d.status, d.priority, d.assignee_id, d.delta
                      FROM atum_summary.ticket_deltas d
                     WHERE d.organization_id = v_org AND d.status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER')
                   ) AS x
             GROUP BY x.status, x.priority, x.assignee_id
            HAVING sum(x.tickets) <> 0
        )
        SELECT jsonb_build_object(
            'open', coalesce(sum(n.tickets), 0),
            'new', coalesce(sum(n.tickets) FILTER (WHERE n.status = 'NEW'), 0),
            'unassigned', coalesce(sum(n.tickets) FILTER (WHERE n.assignee_id = 0 AND n.status <> 'NEW'), 0),
            'mine', coalesce(sum(n.tickets) FILTER (WHERE n.assignee_id = v_user), 0),
            'by_status', (SELECT jsonb_object_agg(s.status, coalesce((SELECT sum(m.tickets) FROM now_counts m WHERE m.status = s.status), 0))
                            FROM unnest('{NEW,ACCEPTED,IN_PROGRESS,WAITING_CUSTOMER}'::atum.ticket_status[]) AS s (status)),
            'by_priority', (SELECT jsonb_object_agg(p.priority, coalesce((SELECT sum(m.tickets) FROM now_counts m WHERE m.priority = p.priority), 0))
                              FROM unnest(enum_range(NULL::atum.ticket_priority)) AS p (priority)),
            'mine_by_status', (SELECT jsonb_object_agg(s.status, coalesce((SELECT sum(m.tickets) FROM now_counts m
                                                                            WHERE m.status = s.status AND m.assignee_id = v_user), 0))
                                 FROM unnest('{NEW,ACCEPTED,IN_PROGRESS,WAITING_CUSTOMER}'::atum.ticket_status[]) AS s (status)),
            'by_status_priority', coalesce((SELECT jsonb_agg(jsonb_build_object('status', g.status, 'priority', g.priority, 'tickets', g.tickets)
                                                              ORDER BY g.status, g.priority)
                                              FROM (SELECT m.status, m.priority, sum(m.tickets) AS tickets FROM now_counts m
                                                     GROUP BY m.status, m.priority) AS g), '[]'::jsonb))
          FROM now_counts n
    );
END
$$;
COMMENT ON FUNCTION api.counters() IS 'Staff: the navigation counters (open tickets by status and priority, the caller''s own, unassigned, the NEW inbox) from the trigger-maintained summary; never counts tickets.';

-- ---------------------------------------------------------------------------------------------
-- Reports
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.report_catalog()
RETURNS TABLE (name text, title text, description text, columns jsonb, chart jsonb)
    LANGUAGE sql IMMUTABLE
AS $$
    -- The registry of reports: what api.report answers and what the screens list, in order.
    -- Columns: name, label, type (text, integer, number, date). A report here needs its branch in
    -- api.report.
    VALUES
        ('backlog', 'Backlog', 'Open tickets by status and priority, of the tickets opened in the range.',
         '[{"name": "status", "label": "Status", "type": "text"}, {"name": "priority", "label": "Priority", "type": "text"},
           {"name": "tickets", "label": "Tickets", "type": "integer"}]'::jsonb,
         '{"type": "bar", "x": "status", "y": ["tickets"], "series": "priority"}'::jsonb),
        ('created-resolved', 'Created and resolved', 'Tickets opened and tickets resolved per day (the organization''s time zone).',
         '[{"name": "day", "label": "Day", "type": "date"}, {"name": "created", "label": "Created", "type": "integer"},
           {"name": "resolved", "label": "Resolved", "type": "integer"}]',
         '{"type": "line", "x": "day", "y": ["created", "resolved"]}'),
        ('sla-compliance', 'SLA compliance', 'First response and resolution targets met and breached, of the tickets accepted in the range: overall, by priority, by team and by agent.',
         '[{"name": "dimension", "label": "By", "type": "text"}, {"name": "key", "label": "Key", "type": "text"},
           {"name": "name", "label": "Name", "type": "text"},
           {"name": "first_response_met", "label": "First response met", "type": "integer"},
           {"name": "first_response_breached", "label": "First response breached", "type": "integer"},
           {"name": "first_response_pending", "label": "First response pending", "type": "integer"},
           {"name": "first_response_percent", "label": "First response met %", "type": "number"},
           {"name": "resolution_met", "label": "Resolution met", "type": "integer"},
           {"name": "resolution_breached", "label": "Resolution breached", "type": "integer"},
           {"name": "resolution_pending", "label": "Resolution pending", "type": "integer"},
           {"name": "resolution_percent", "label": "Resolution met %", "type": "number"}]',
         '{"type": "bar", "x": "name", "y": ["first_response_percent", "resolution_percent"], "where": {"dimension": "priority"}}'),
        ('response-times', 'Response times', 'Median and 90th percentile in business hours: triage (opened to accepted) and first response of the tickets accepted in the range, resolution of those resolved in it.',
         '[{"name": "priority", "label": "Priority", "type": "text"},
           {"name": "triaged", "label": "Triaged", "type": "integer"},
           {"name": "triage_median_hours", "label": "Triage median (h)", "type": "number"},
           {"name": "triage_p90_hours", "label": "Triage p90 (h)", "type": "number"},
           {"name": "responded", "label": "Responded", "type": "integer"},
           {"name": "first_response_median_hours", "label": "First response median (h)", "type": "number"},
           {"name": "first_response_p90_hours", "label": "First response p90 (h)", "type": "number"},
           {"name": "resolved", "label": "Resolved", "type": "integer"},
           {"name": "resolution_median_hours", "label": "Resolution median (h)", "type": "number"},
           {"name": "resolution_p90_hours", "label": "Resolution p90 (h)", "type": "number"}]',
         '{"type": "bar", "x": "priority", "y": ["first_response_median_hours", "resolution_median_hours"]}'),
        ('agent-workload', 'Agent workload', 'Per assignee: open tickets (of those opened in the range), tickets accepted in the range and tickets resolved in it.',
         '[{"name": "agent_id", "label": "Agent id", "type": "integer"}, {"name": "agent", "label": "Agent", "type": "text"},
           {"name": "open", "label": "Open", "type": "integer"}, {"name": "assigned", "label": "Accepted in range", "type": "integer"},
           {"name": "resolved", "label": "Resolved in range", "type": "integer"}]',
         '{"type": "bar", "x": "agent", "y": ["open", "assigned", "resolved"]}'),
        ('reopen-rate', 'Reopen rate', 'Of the tickets last resolved in the range, how many were reopened at least once, by priority.',
         '[{"name": "priority", "label": "Priority", "type": "text"}, {"name": "resolved", "label": "Resolved", "type": "integer"},
           {"name": "reopened", "label": "Reopened", "type": "integer"}, {"name": "percent", "label": "Reopened %", "type": "number"}]',
         '{"type": "bar", "x": "priority", "y": ["percent"]}'),
        ('kb-deflection', 'Knowledge base deflection', 'Per day: new-ticket forms that showed suggested articles, how many opened one, how many submitted the ticket anyway, and how many opened one and did not submit (deflected).',
         '[{"name": "day", "label": "Day", "type": "date"},
           {"name": "suggestion_sessions", "label": "Shown suggestions", "type": "integer"},
           {"name": "followed", "label": "Opened an article", "type": "integer"},
           {"name": "submitted", "label": "Submitted anyway", "type": "integer"},
           {"name": "deflected", "label": "Deflected", "type": "integer"},
           {"name": "percent", "label": "Deflected %", "type": "number"}]',
         '{"type": "line", "x": "day", "y": ["suggestion_sessions", "deflected"]}')
$$;
COMMENT ON FUNCTION atum.report_catalog() IS 'The reports api.report answers: name, title, description, columns (name, label, type) and a chart hint (type, x, y columns, optional series column and row filter).';

CREATE OR REPLACE FUNCTION atum.report_percent(p_part bigint, p_whole bigint) RETURNS numeric
    LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE WHEN p_whole > 0 THEN pg_catalog.round(100.0 * p_part / p_whole, 1) END $$;
COMMENT ON FUNCTION atum.report_percent(bigint, bigint) IS 'p_part of p_whole in percent, one decimal; NULL when p_whole is 0.';

CREATE OR REPLACE FUNCTION atum.report_hours(p_minutes double precision) RETURNS numeric
    LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.round((p_minutes / 60)::numeric, 2) $$;
COMMENT ON FUNCTION atum.report_hours(double precision) IS 'Minutes as hours, two decimals.';

CREATE OR REPLACE FUNCTION atum.report_time_percentiles(p_org bigint, p_measure text, p_from date, p_to date,
                                                        p_team bigint, p_priority text)
RETURNS TABLE (priority text, tickets bigint, median double precision, p90 double precision)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Median and 90th percentile of one measure (triage and first response of the tickets accepted
    -- in the range, resolution of those resolved in it) per priority and over all ('ALL').
    -- Without a team: from the histograms of the range, percentile_cont over the buckets' values,
    -- each counted as often as it holds tickets (the k-th smallest value is the first bucket whose
    -- running count passes k). The histograms have no team dimension: for a team, percentile_cont
    -- over its tickets' own minutes.
    WITH h AS (
        SELECT coalesce(b.priority::text, 'ALL') AS priority, b.minutes, sum(b.tickets)::bigint AS n
          FROM atum_summary.time_buckets b
         WHERE p_team IS NULL AND b.organization_id = p_org AND b.measure = p_measure AND b.day BETWEEN p_from AND p_to
           AND (p_priority IS NULL OR b.priority::text = p_priority) AND b.tickets <> 0
         GROUP BY GROUPING SETS ((b.priority, b.minutes), (b.minutes))
    ), c AS (
        SELECT h.priority, h.minutes, sum(h.n) OVER (PARTITION BY h.priority ORDER BY h.minutes) AS upto,
               sum(h.n) OVER (PARTITION BY h.priority) AS total
          FROM h WHERE h.n > 0
    ), k AS (
        SELECT c.priority, max(c.total)::bigint AS total,
               min(c.minutes) FILTER (WHERE c.upto > floor(0.5 * (c.total - 1))) AS lo50,
               min(c.minutes) FILTER (WHERE c.upto > ceil(0.5 * (c.total - 1))) AS hi50,
               min(c.minutes) FILTER (WHERE c.upto > floor(0.9 * (c.total - 1))) AS lo90,
               min(c.minutes) FILTER (WHERE c.upto > ceil(0.9 * (c.total - 1))) AS hi90
          FROM c GROUP BY c.priority
    ), team AS (
        SELECT coalesce(x.priority::text, 'ALL') AS priority, count(*) AS total,
               percentile_cont('{0.5,0.9}'::double precision[]) WITHIN GROUP (ORDER BY x.m) AS p
          FROM (SELECT f.priority,
                       CASE p_measure WHEN 'triage' THEN f.triage_minutes WHEN 'first_response' THEN f.first_response_minutes
                                      ELSE f.resolution_minutes END AS m,
                       CASE WHEN p_measure = 'resolution' THEN f.resolved_on ELSE f.accepted_on END AS day
                  FROM atum_summary.ticket_facts f
                 WHERE p_team IS NOT NULL AND f.organization_id = p_org AND f.team_id = p_team
                   AND (p_priority IS NULL OR f.priority::text = p_priority)) AS x
         WHERE x.m IS NOT NULL AND x.day BETWEEN p_from AND p_to
         GROUP BY GROUPING SETS ((x.priority), ())
        HAVING count(*) > 0  -- the empty grouping set gives a row even without tickets (or without a team)
    )
    SELECT k.priority, k.total,
           k.lo50 + (0.5 * (k.total - 1) - floor(0.5 * (k.total - 1))) * (k.hi50 - k.lo50),
           k.lo90 + (0.9 * (k.total - 1) - floor(0.9 * (k.total - 1))) * (k.hi90 - k.lo90)
      FROM k
    UNION ALL
    SELECT t.priority, t.total, t.p[1], t.p[2] FROM team t
$$;
COMMENT ON FUNCTION atum.report_time_percentiles(bigint, text, date, date, bigint, text) IS 'Tickets, median and 90th percentile in business minutes of one measure (triage, first_response, resolution) per priority and ALL for a range of local days: from the histograms (each duration rounded down to its bucket: whole minutes under 2 h, 5 min under a day, 30 min under a week, 4 h beyond; exact for round durations), or for a team from its tickets'' own minutes.';

CREATE OR REPLACE FUNCTION atum.report_rows(
    p_name text, p_org bigint, p_from date, p_to date, p_team bigint, p_priority text
) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET work_mem = '64MB'  -- percentiles sort every value of the range: in memory, not on disk
    SET plan_cache_mode = 'force_custom_plan'  -- the range and filters decide the plan: plan with them
AS $$
-- The rows of one report as a JSON array of objects; every report reads reporting.ticket_times,
-- the view BI tools read, filtered by organization, range, team and priority.
BEGIN
    CASE p_name
    WHEN 'backlog' THEN
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('status', g.status, 'priority', g.priority, 'tickets', g.tickets)
                                         ORDER BY g.s, g.p), '[]')
                  FROM (SELECT f.status, f.priority, count(*) AS tickets,
                               array_position('{NEW,ACCEPTED,REJECTED,IN_PROGRESS,WAITING_CUSTOMER,RESOLVED,CLOSED}'::text[], f.status) AS s,
                               array_position('{LOW,MEDIUM,HIGH,URGENT}'::text[], f.priority) AS p
                          FROM reporting.ticket_times f
                         WHERE f.organization_id = p_org AND f.is_open AND f.created_on BETWEEN p_from AND p_to
                           AND (p_team IS NULL OR f.team_id = p_team) AND (p_priority IS NULL OR f.priority = p_priority)
                         GROUP BY f.status, f.priority) AS g);
    WHEN 'created-resolved' THEN
        RETURN (SELECT jsonb_agg(jsonb_build_object('day', d.day, 'created', coalesce(c.created, 0),
                                                    'resolved', coalesce(c.resolved, 0)) ORDER BY d.day)
                  FROM (SELECT g::date AS day FROM generate_series(p_from, p_to, interval '1 day') AS g) AS d
                  LEFT JOIN (SELECT x.day, sum(x.created) AS created, sum(x.resolved) AS resolved
                               FROM atum_summary.ticket_days x
                              WHERE x.organization_id = p_org AND x.day BETWEEN p_from AND p_to
                                AND (p_team IS NULL OR x.team_id = p_team) AND (p_priority IS NULL OR x.priority::text = p_priority)
                              GROUP BY x.day) AS c ON c.day = d.day);
    WHEN 'sla-compliance' THEN
        -- Counted in one pass with grouping sets; names and order only for the few groups.
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'dimension', g.dimension, 'key', g.key,
                    'name', CASE g.dimension
                                WHEN 'all' THEN 'All'
                                WHEN 'priority' THEN g.key
                                WHEN 'team' THEN coalesce((SELECT t.name FROM atum.teams t WHERE t.organization_id = p_org AND t.id = g.team_id), 'No team')
                                ELSE coalesce((SELECT nullif(u.display_name, '') FROM atum.users u WHERE u.organization_id = p_org AND u.id = g.assignee_id),
                                              CASE WHEN g.assignee_id IS NULL THEN 'Unassigned' ELSE 'User ' || g.assignee_id END)
                            END,
                    'first_response_met', g.fr_met, 'first_response_breached', g.fr_breached,
                    'first_response_pending', g.fr_pending, 'first_response_percent', atum.report_percent(g.fr_met, g.fr_met + g.fr_breached),
                    'resolution_met', g.res_met, 'resolution_breached', g.res_breached,
                    'resolution_pending', g.res_pending, 'resolution_percent', atum.report_percent(g.res_met, g.res_met + g.res_breached))
                    ORDER BY array_position('{all,priority,team,agent}'::text[], g.dimension),
                             array_position('{LOW,MEDIUM,HIGH,URGENT}'::text[], g.key),
                             CASE g.dimension
                                 WHEN 'team' THEN (SELECT t.name FROM atum.teams t WHERE t.organization_id = p_org AND t.id = g.team_id)
                                 WHEN 'agent' THEN (SELECT u.display_name FROM atum.users u WHERE u.organization_id = p_org AND u.id = g.assignee_id)
                             END NULLS LAST, g.key), '[]')
                  FROM (SELECT CASE WHEN grouping(f.priority) = 0 THEN 'priority' WHEN grouping(f.team_id) = 0 THEN 'team'
                                    WHEN grouping(f.assignee_id) = 0 THEN 'agent' ELSE 'all' END AS dimension,
                               CASE WHEN grouping(f.priority) = 0 THEN f.priority WHEN grouping(f.team_id) = 0 THEN f.team_id::text
                                    WHEN grouping(f.assignee_id) = 0 THEN f.assignee_id::text END AS key,
                               f.team_id, f.assignee_id,
                               sum(f.fr_met) AS fr_met, sum(f.fr_breached) AS fr_breached, sum(f.fr_pending) AS fr_pending,
                               sum(f.res_met) AS res_met, sum(f.res_breached) AS res_breached, sum(f.res_pending) AS res_pending
                          FROM (-- Final outcomes (clocks stopped), counted per day of acceptance by the fold.
                                SELECT x.priority::text AS priority, nullif(x.team_id, 0) AS team_id,
                                       nullif(x.assignee_id, 0) AS assignee_id,
                                       x.first_response_met AS fr_met, x.first_response_breached AS fr_breached, 0 AS fr_pending,
                                       x.resolution_met AS res_met, x.resolution_breached AS res_breached, 0 AS res_pending
                                  FROM atum_summary.ticket_days x
                                 WHERE x.organization_id = p_org AND x.day BETWEEN p_from AND p_to AND x.accepted > 0
                                   AND (p_team IS NULL OR x.team_id = p_team) AND (p_priority IS NULL OR x.priority::text = p_priority)
                                UNION ALL
                                -- Running clocks (open tickets), judged now.
                                SELECT t.priority, t.team_id, t.assignee_id,
                                       0, (t.first_response_minutes IS NULL AND t.first_response_outcome = 'breached')::integer,
                                       (t.first_response_minutes IS NULL AND t.first_response_outcome = 'pending')::integer,
                                       0, (t.resolution_outcome = 'breached')::integer, (t.resolution_outcome = 'pending')::integer
                                  FROM reporting.ticket_times t
                                 WHERE t.organization_id = p_org AND t.is_open AND t.accepted_on BETWEEN p_from AND p_to
                                   AND (p_team IS NULL OR t.team_id = p_team) AND (p_priority IS NULL OR t.priority = p_priority)
                               ) AS f
                         GROUP BY GROUPING SETS ((), (f.priority), (f.team_id), (f.assignee_id))) AS g);
    WHEN 'response-times' THEN
        RETURN (SELECT jsonb_agg(jsonb_build_object(
                    'priority', v.priority,
                    'triaged', coalesce(t.tickets, 0), 'triage_median_hours', atum.report_hours(t.median),
                    'triage_p90_hours', atum.report_hours(t.p90),
                    'responded', coalesce(r.tickets, 0), 'first_response_median_hours', atum.report_hours(r.median),
                    'first_response_p90_hours', atum.report_hours(r.p90),
                    'resolved', coalesce(x.tickets, 0), 'resolution_median_hours', atum.report_hours(x.median),
                    'resolution_p90_hours', atum.report_hours(x.p90)) ORDER BY v.ord)
                  FROM (VALUES (1, 'LOW'), (2, 'MEDIUM'), (3, 'HIGH'), (4, 'URGENT'), (5, 'ALL')) AS v (ord, priority)
                  LEFT JOIN atum.report_time_percentiles(p_org, 'triage', p_from, p_to, p_team, p_priority) t
                         ON t.priority = v.priority
                  LEFT JOIN atum.report_time_percentiles(p_org, 'first_response', p_from, p_to, p_team, p_priority) r
                         ON r.priority = v.priority
                  LEFT JOIN atum.report_time_percentiles(p_org, 'resolution', p_from, p_to, p_team, p_priority) x
                         ON x.priority = v.priority
                 WHERE v.priority = 'ALL' OR coalesce(t.tickets, 0) + coalesce(r.tickets, 0) + coalesce(x.tickets, 0) > 0);
    WHEN 'agent-workload' THEN
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'agent_id', g.assignee_id,
                    'agent', coalesce((SELECT nullif(u.display_name, '') FROM atum.users u WHERE u.organization_id = p_org AND u.id = g.assignee_id),
                                      CASE WHEN g.assignee_id IS NULL THEN 'Unassigned' ELSE 'User ' || g.assignee_id END),
                    'open', g.n_open, 'assigned', g.n_assigned, 'resolved', g.n_resolved)
                    ORDER BY g.assignee_id IS NULL, g.n_open + g.n_assigned + g.n_resolved DESC, g.assignee_id), '[]')
                  FROM (SELECT x.assignee_id, sum(x.n_open) AS n_open, sum(x.n_assigned) AS n_assigned, sum(x.n_resolved) AS n_resolved
                          FROM (SELECT f.assignee_id, 1 AS n_open, 0 AS n_assigned, 0 AS n_resolved FROM reporting.ticket_times f
                                 WHERE f.organization_id = p_org AND f.is_open AND f.created_on BETWEEN p_from AND p_to
                                   AND (p_team IS NULL OR f.team_id = p_team) AND (p_priority IS NULL OR f.priority = p_priority)
                                UNION ALL
                                SELECT nullif(d.assignee_id, 0), 0, d.accepted, d.resolved FROM atum_summary.ticket_days d
                                 WHERE d.organization_id = p_org AND d.day BETWEEN p_from AND p_to AND (d.accepted > 0 OR d.resolved > 0)
                                   AND (p_team IS NULL OR d.team_id = p_team) AND (p_priority IS NULL OR d.priority::text = p_priority)
                               ) AS x
                         GROUP BY x.assignee_id) AS g);
    WHEN 'reopen-rate' THEN
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'priority', coalesce(g.priority, 'ALL'), 'resolved', g.resolved, 'reopened', g.reopened,
                    'percent', atum.report_percent(g.reopened, g.resolved))
                    ORDER BY g.priority IS NULL, array_position('{LOW,MEDIUM,HIGH,URGENT}'::text[], g.priority)), '[]')
                  FROM (SELECT d.priority::text AS priority, sum(d.resolved)::bigint AS resolved,
                               sum(d.resolved_reopened)::bigint AS reopened
                          FROM atum_summary.ticket_days d
                         WHERE d.organization_id = p_org AND d.day BETWEEN p_from AND p_to AND d.resolved > 0
                           AND (p_team IS NULL OR d.team_id = p_team) AND (p_priority IS NULL OR d.priority::text = p_priority)
                         GROUP BY GROUPING SETS ((d.priority), ())) AS g
                 WHERE g.resolved > 0);
    WHEN 'kb-deflection' THEN
        -- The knowledge base's view, shared with BI tools; a total row last. Team and priority do
        -- not apply (a suggestion session has no ticket).
        RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'day', g.day, 'suggestion_sessions', g.suggestion_sessions, 'followed', g.followed,
                    'submitted', g.submitted, 'deflected', g.deflected,
                    'percent', atum.report_percent(g.deflected, g.suggestion_sessions))
                    ORDER BY g.day IS NULL, g.day), '[]')
                  FROM (SELECT k.day, sum(k.suggestion_sessions)::bigint AS suggestion_sessions,
                               sum(k.followed)::bigint AS followed, sum(k.submitted)::bigint AS submitted,
                               sum(k.deflected)::bigint AS deflected
                          FROM reporting.kb_deflection k
                         WHERE k.organization_id = p_org AND k.day BETWEEN p_from AND p_to
                         GROUP BY GROUPING SETS ((k.day), ())) AS g
                 WHERE g.suggestion_sessions > 0);
    ELSE
        RAISE EXCEPTION 'no report %', quote_literal(left(p_name, 100)) USING ERRCODE = 'AT404', COLUMN = 'name';
    END CASE;
END
$$;
COMMENT ON FUNCTION atum.report_rows(text, bigint, date, date, bigint, text) IS 'The rows of a report (JSON array of objects) for an organization, a range of local days, and optional team and priority filters. AT404 for an unknown report.';

CREATE OR REPLACE FUNCTION api.report_list() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('manager', 'read reports');
    RETURN jsonb_build_object('items', (SELECT jsonb_agg(jsonb_build_object('name', r.name, 'title', r.title,
                                                                              'description', r.description,
                                                                              'columns', r.columns, 'chart', r.chart))
                                          FROM atum.report_catalog() AS r),
                              'next', NULL);
END
$$;
COMMENT ON FUNCTION api.report_list() IS 'Managers and admins: the reports there are, with their columns and chart hints ({"items", "next": null}).';

CREATE OR REPLACE FUNCTION api.report(p_name text, p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- One report for ?from=&to=&team_id=&priority= (local days of the organization, both included;
-- default: the last 30 days up to today; at most 366 days).
DECLARE
    v_input    jsonb;
    v_org      bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_tz       text;
    v_report   record;
    v_from     date;
    v_to       date;
    v_team     bigint;
    v_priority text;
BEGIN
    PERFORM atum.require_role('manager', 'read reports');
    SELECT r.* INTO v_report FROM atum.report_catalog() AS r WHERE r.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no report %', quote_literal(left(p_name, 100)) USING ERRCODE = 'AT404', COLUMN = 'name';
    END IF;
    v_input := atum.input_check(p_query, '{from,to,team_id,priority}');
    SELECT o.time_zone INTO v_tz FROM atum.organizations o WHERE o.id = v_org;
    v_to := coalesce(atum.input_date(v_input, 'to'), (now() AT TIME ZONE v_tz)::date);
    v_from := coalesce(atum.input_date(v_input, 'from'), v_to - 29);
    IF v_from > v_to THEN
        RAISE EXCEPTION 'from must not be after to' USING ERRCODE = 'AT422', COLUMN = 'from';
    END IF;
    IF v_to - v_from >= 366 THEN
        RAISE EXCEPTION 'a report covers at most 366 days' USING ERRCODE = 'AT422', COLUMN = 'to';
    END IF;
    v_team := atum.input_bigint(v_input, 'team_id');
    IF v_team IS NOT NULL AND NOT EXISTS (SELECT 1 FROM atum.teams t WHERE t.organization_id = v_org AND t.id = v_team) THEN
        RAISE EXCEPTION 'no team %', v_team USING ERRCODE = 'AT422', COLUMN = 'team_id';
    END IF;
    v_priority := atum.input_enum(v_input, 'priority', enum_range(NULL::atum.ticket_priority)::text[]);
    RETURN jsonb_build_object(
        'report', v_report.name, 'title', v_report.title, 'description', v_report.description,
        'from', v_from, 'to', v_to, 'time_zone', v_tz,
        'filters', jsonb_build_object('team_id', v_team, 'priority', v_priority),
        'columns', v_report.columns, 'chart', v_report.chart,
        'rows', atum.report_rows(v_report.name, v_org, v_from, v_to, v_team, v_priority));
END
$$;
COMMENT ON FUNCTION api.report(text, jsonb) IS 'Managers and admins: one report (see atum.report_catalog) for ?from=&to= (local dates, default the last 30 days, at most 366), team_id= and priority=; {report, title, from, to, time_zone, filters, columns, chart, rows}. AT404 unknown report, AT422 bad range or filter.';
