-- The SLA sweep (SPEC 6): warnings and breaches of the three clocks, each recorded exactly once.
--
-- The state machine (sql/45_ticket_lifecycle.sql) keeps each ticket's warning and due times. A
-- trigger keeps atum.sla_timers in step: one row per threshold of a running clock that has not been
-- recorded yet. pg_cron runs atum.sla_sweep() every minute; it takes the timers whose time has
-- come (an index range scan: nothing to do costs next to nothing however many tickets are open),
-- records them in atum.sla_events (audited like every tenant table) and queues one notification
-- job per organization for its managers. When a clock stops, pauses or gets new times, timers
-- that had already come due are recorded at once: they were crossed while the clock ran, and must
-- not be lost because the sweep had not come round yet.
--
-- Which clocks run:
--   triage          while NEW                                        (created_at .. acceptance)
--   first response  after acceptance until the first public staff reply, while not resolved/closed
--   resolution      after acceptance while ACCEPTED or IN_PROGRESS (paused while waiting / resolved)

CREATE OR REPLACE FUNCTION atum_private.sla_thresholds(t atum.tickets)
RETURNS TABLE (clock atum.sla_clock, kind atum.sla_event_kind, fires_at timestamptz)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- No SET clause: inlined into the set-based statements below (pinned search_path there).
    SELECT v.clock, v.kind, v.fires_at
      FROM (VALUES
            ('triage'::atum.sla_clock, 'warning'::atum.sla_event_kind, t.triage_warn_at, t.status = 'NEW'::atum.ticket_status),
            ('triage', 'breach', t.triage_due_at, t.status = 'NEW'::atum.ticket_status),
            ('first_response', 'warning', t.first_response_warn_at,
             t.sla_started_at IS NOT NULL AND t.first_responded_at IS NULL
             AND t.status IN ('ACCEPTED'::atum.ticket_status, 'IN_PROGRESS', 'WAITING_CUSTOMER')),
            ('first_response', 'breach', t.first_response_due_at,
             t.sla_started_at IS NOT NULL AND t.first_responded_at IS NULL
             AND t.status IN ('ACCEPTED'::atum.ticket_status, 'IN_PROGRESS', 'WAITING_CUSTOMER')),
            ('resolution', 'warning', t.resolution_warn_at,
             t.sla_started_at IS NOT NULL AND t.paused_at IS NULL
             AND t.status IN ('ACCEPTED'::atum.ticket_status, 'IN_PROGRESS')),
            ('resolution', 'breach', t.resolution_due_at,
             t.sla_started_at IS NOT NULL AND t.paused_at IS NULL
             AND t.status IN ('ACCEPTED'::atum.ticket_status, 'IN_PROGRESS'))
           ) AS v (clock, kind, fires_at, running)
     WHERE v.running AND v.fires_at IS NOT NULL
$$;
COMMENT ON FUNCTION atum_private.sla_thresholds(atum.tickets) IS 'The thresholds of a ticket''s running SLA clocks (which clocks run follows from status, start, pause and first response).';

CREATE OR REPLACE FUNCTION atum_private.sla_record(p_timers atum.sla_timers[]) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: events, jobs and timers are written only by the SLA engine. The unique key
-- makes recording idempotent: a threshold recorded before (by a racing sweep, or before a clock
-- was restarted) is skipped, and only new events are notified.
DECLARE
    v_count integer;
BEGIN
    IF p_timers IS NULL OR cardinality(p_timers) = 0 THEN
        RETURN 0;
    END IF;
    WITH recorded AS (
        INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at)
        SELECT t.organization_id, t.ticket_id, t.clock, t.kind, t.fires_at
          FROM unnest(p_timers) AS t
         ORDER BY t.organization_id, t.fires_at, t.ticket_id
        ON CONFLICT ON CONSTRAINT sla_events_once DO NOTHING
        RETURNING organization_id, id
    ), notified AS (
        INSERT INTO atum.jobs (organization_id, kind, payload)
        SELECT r.organization_id, 'sla.notify',
               jsonb_build_object('recipients', 'managers', 'sla_event_ids', jsonb_agg(r.id ORDER BY r.id))
          FROM recorded r
         GROUP BY r.organization_id
    )
    SELECT count(*) INTO v_count FROM recorded;
    IF v_count > 0 THEN
        PERFORM pg_notify('atum_jobs', 'sla.notify');
    END IF;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION atum_private.sla_record(atum.sla_timers[]) IS 'Records crossed thresholds as SLA events (once each) and queues one sla.notify job per organization listing the new events; returns how many were new.';

CREATE OR REPLACE FUNCTION atum.sla_sweep(p_limit integer DEFAULT 50000) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- The audit of a big batch groups its events per organization in memory: with the default
    -- work_mem the grouping spilled to disk when 10,000 thresholds passed at once.
    SET work_mem = '64MB'
AS $$
-- Run by pg_cron every minute. SKIP LOCKED: a timer a user's transaction is rewriting right now is
-- left to that transaction (which records it if it came due), and two sweeps never wait for each
-- other. p_limit bounds one run; a backlog (e.g. after downtime) drains over the next minutes.
DECLARE
    v_fired atum.sla_timers[];
BEGIN
    -- The locked rows are deleted by their physical address: no second index lookup per timer.
    -- (Timers are never updated, so a locked row's address cannot move under the sweep.)
    WITH fired AS (
        DELETE FROM atum.sla_timers t
         WHERE t.ctid = ANY (ARRAY(SELECT d.ctid FROM atum.sla_timers d
                                    WHERE d.fires_at <= now()
                                    ORDER BY d.fires_at
                                    LIMIT p_limit
                                      FOR UPDATE SKIP LOCKED))
        RETURNING t.*
    )
    SELECT array_agg((f.organization_id, f.ticket_id, f.clock, f.kind, f.fires_at)::atum.sla_timers)
      INTO v_fired FROM fired f;
    RETURN atum_private.sla_record(v_fired);
END
$$;
COMMENT ON FUNCTION atum.sla_sweep(integer) IS 'The SLA sweep (pg_cron, every minute): records the warnings and breaches whose time has come, at most p_limit per run; returns how many events were new.';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_sla_timers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: timers are internal. Statement-level and set-based, so a bulk import or a
-- bulk move costs a few statements; rows whose clocks did not change cost a comparison.
DECLARE
    v_passed atum.sla_timers[];
    v_count  bigint;
    v_new    atum.tickets;
    v_old    atum.tickets;
    v_before atum.sla_timers[];
    v_after  atum.sla_timers[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO atum.sla_timers (organization_id, ticket_id, clock, kind, fires_at)
        SELECT n.organization_id, n.id, th.clock, th.kind, th.fires_at
          FROM new_rows n CROSS JOIN LATERAL atum_private.sla_thresholds(n) AS th;
        RETURN NULL;
    END IF;

    SELECT count(*) INTO v_count FROM (SELECT 1 FROM new_rows LIMIT 2) AS two;
    IF v_count = 0 THEN
        RETURN NULL;
    ELSIF v_count = 1 THEN
        -- One updated ticket (every move and edit of the app): the same rules as the set-based
        -- statements below, on the thresholds before and after held in memory. An edit that moves
        -- no threshold costs no statement on the timers at all.
        SELECT n.* INTO v_new FROM new_rows n;
        SELECT o.* INTO v_old FROM old_rows o;
        v_before := ARRAY(SELECT (v_old.organization_id, v_old.id, th.clock, th.kind, th.fires_at)::atum.sla_timers
                            FROM atum_private.sla_thresholds(v_old) AS th);
        v_after := ARRAY(SELECT (v_new.organization_id, v_new.id, th.clock, th.kind, th.fires_at)::atum.sla_timers
                           FROM atum_private.sla_thresholds(v_new) AS th);
        IF v_before = v_after THEN
            RETURN NULL;
        END IF;
        WITH gone AS (
            DELETE FROM atum.sla_timers t
             WHERE t.organization_id = v_new.organization_id AND t.ticket_id = v_new.id AND NOT t = ANY (v_after)
            RETURNING t.*
        )
        SELECT array_agg(g) INTO v_passed FROM gone g WHERE g.fires_at <= now();
        PERFORM atum_private.sla_record(v_passed);
        INSERT INTO atum.sla_timers (organization_id, ticket_id, clock, kind, fires_at)
        SELECT a.organization_id, a.ticket_id, a.clock, a.kind, a.fires_at
          FROM unnest(v_after) AS a
         WHERE NOT a = ANY (v_before)
           AND NOT EXISTS (SELECT 1 FROM atum.sla_events e
                            WHERE e.organization_id = a.organization_id AND e.ticket_id = a.ticket_id
                              AND e.clock = a.clock AND e.kind = a.kind)
        ON CONFLICT (organization_id, ticket_id, clock, kind) DO NOTHING;
        RETURN NULL;
    END IF;

    -- Timers of tickets whose thresholds changed and that no longer hold go; those already due
    -- were crossed while the clock ran and are recorded now. (Two statements: a timer whose time
    -- moved is deleted by the first and armed again by the second.)
    WITH gone AS (
        DELETE FROM atum.sla_timers t
         USING new_rows n
         WHERE t.organization_id = n.organization_id AND t.ticket_id = n.id
           AND (t.clock, t.kind, t.fires_at) NOT IN (SELECT th.clock, th.kind, th.fires_at
                                                        FROM atum_private.sla_thresholds(n) AS th)
        RETURNING t.*
    )
    SELECT array_agg((g.organization_id, g.ticket_id, g.clock, g.kind, g.fires_at)::atum.sla_timers)
      INTO v_passed FROM gone g WHERE g.fires_at <= now();
    PERFORM atum_private.sla_record(v_passed);
    -- New thresholds, unless recorded already (a clock restarted by a reopen warns only once).
    INSERT INTO atum.sla_timers (organization_id, ticket_id, clock, kind, fires_at)
    SELECT n.organization_id, n.id, th.clock, th.kind, th.fires_at
      FROM new_rows n
      JOIN old_rows o ON o.organization_id = n.organization_id AND o.id = n.id
     CROSS JOIN LATERAL atum_private.sla_thresholds(n) AS th
     WHERE (th.clock, th.kind, th.fires_at) NOT IN (SELECT x.clock, x.kind, x.fires_at
                                                      FROM atum_private.sla_thresholds(o) AS x)
       AND NOT EXISTS (SELECT 1 FROM atum.sla_events e
                        WHERE e.organization_id = n.organization_id AND e.ticket_id = n.id
                          AND e.clock = th.clock AND e.kind = th.kind)
    ON CONFLICT (organization_id, ticket_id, clock, kind) DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_sla_timers() IS 'Keeps atum.sla_timers in step with the tickets'' running clocks; thresholds that had come due when a clock stops, pauses or changes are recorded at once.';

DROP TRIGGER IF EXISTS _400_sla_timers_insert ON atum.tickets;
CREATE TRIGGER _400_sla_timers_insert AFTER INSERT ON atum.tickets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_sla_timers();
COMMENT ON TRIGGER _400_sla_timers_insert ON atum.tickets IS 'Arms the SLA timers of new tickets.';
DROP TRIGGER IF EXISTS _400_sla_timers_update ON atum.tickets;
CREATE TRIGGER _400_sla_timers_update AFTER UPDATE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_sla_timers();
COMMENT ON TRIGGER _400_sla_timers_update ON atum.tickets IS 'Re-arms, disarms and records SLA timers when a ticket''s clocks change.';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_sla_events_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: only the engine writes events and timers. What ON DELETE CASCADE did before
-- the foreign keys were dropped (migration 0022): a deleted ticket takes its SLA events and
-- timers along. Set-based.
BEGIN
    DELETE FROM atum.sla_events e USING old_rows o WHERE e.organization_id = o.organization_id AND e.ticket_id = o.id;
    DELETE FROM atum.sla_timers t USING old_rows o WHERE t.organization_id = o.organization_id AND t.ticket_id = o.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_sla_events_delete() IS 'Deletes the SLA events and timers of deleted tickets (in place of cascading foreign keys, which cost a locking lookup per event and timer).';

DROP TRIGGER IF EXISTS _300_sla_events_delete ON atum.tickets;
CREATE TRIGGER _300_sla_events_delete AFTER DELETE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_sla_events_delete();
COMMENT ON TRIGGER _300_sla_events_delete ON atum.tickets IS 'A deleted ticket''s SLA events and timers go with it.';
