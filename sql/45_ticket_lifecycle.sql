-- The ticket state machine (SPEC 6), enforced for every writer by triggers on atum.tickets.
--
--   NEW -> ACCEPTED | REJECTED (manager; REJECTED needs a reason)
--   ACCEPTED -> IN_PROGRESS (staff)
--   IN_PROGRESS <-> WAITING_CUSTOMER (staff; back also by the requester, e.g. by replying)
--   IN_PROGRESS | WAITING_CUSTOMER -> RESOLVED (staff)
--   RESOLVED -> IN_PROGRESS (reopen, with a reason: the requester within the reopen window, or staff)
--   RESOLVED -> CLOSED (the requester confirms, staff, or the system's auto-close)
--   CLOSED and REJECTED are final.
-- "system" is a writer without a request context: pg_cron, the worker's e-mail path, the CLI.
-- Accepting starts the SLA clock: accepted_at, sla_started_at and both due times, in business time
-- of the policy for the ticket's priority. Only the state machine writes those columns.

CREATE OR REPLACE FUNCTION atum.ticket_moves()
RETURNS TABLE (from_status atum.ticket_status, to_status atum.ticket_status, allowed text[], reason_required boolean)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- No SET clause: a constant table with qualified types, so PostgreSQL can inline it into the
    -- state machine's lookup (a SET clause would cost a function call per move).
    VALUES
        ('NEW'::atum.ticket_status, 'ACCEPTED'::atum.ticket_status, '{manager,admin,system}'::text[], false),
        ('NEW', 'REJECTED', '{manager,admin,system}', true),
        ('ACCEPTED', 'IN_PROGRESS', '{agent,manager,admin,system}', false),
        ('IN_PROGRESS', 'WAITING_CUSTOMER', '{agent,manager,admin,system}', false),
        ('WAITING_CUSTOMER', 'IN_PROGRESS', '{requester,agent,manager,admin,system}', false),
        ('IN_PROGRESS', 'RESOLVED', '{agent,manager,admin,system}', false),
        ('WAITING_CUSTOMER', 'RESOLVED', '{agent,manager,admin,system}', false),
        ('RESOLVED', 'IN_PROGRESS', '{requester,agent,manager,admin,system}', true),
        ('RESOLVED', 'CLOSED', '{requester,agent,manager,admin,system}', false)
$$;
COMMENT ON FUNCTION atum.ticket_moves() IS 'The allowed status moves, who may make each (requester, agent, manager, admin, system) and whether a reason is required. Anything not listed is refused.';

DROP FUNCTION IF EXISTS atum_private.ticket_sla_due(bigint, atum.ticket_priority, timestamptz, numeric);
CREATE FUNCTION atum_private.ticket_sla_due(
    p_organization_id bigint, p_priority atum.ticket_priority, p_start timestamptz, p_paused_minutes numeric,
    OUT first_response_warn_at timestamptz, OUT first_response_due_at timestamptz,
    OUT resolution_warn_at timestamptz, OUT resolution_due_at timestamptz
)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: due times are computed whoever moves the ticket (customers cannot read
-- policies and calendars).
DECLARE
    v_policy record;
    v_at     timestamptz[];
BEGIN
    SELECT p.calendar_id, p.first_response_minutes, p.resolution_minutes, o.sla_warning_ratio INTO v_policy
      FROM atum.sla_policies p JOIN atum.organizations o ON o.id = p.organization_id
     WHERE p.organization_id = p_organization_id AND p.priority = p_priority;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no SLA policy for priority %: an admin must add one before tickets can be accepted', p_priority
            USING ERRCODE = 'AT409', COLUMN = 'priority';
    END IF;
    -- Waiting for the customer does not count: the resolution target is pushed by the paused time.
    v_at := atum.business_time_add_each(p_organization_id, v_policy.calendar_id, p_start, ARRAY[
        v_policy.first_response_minutes * v_policy.sla_warning_ratio,
        v_policy.first_response_minutes,
        v_policy.resolution_minutes * v_policy.sla_warning_ratio + p_paused_minutes,
        v_policy.resolution_minutes + p_paused_minutes]);
    first_response_warn_at := v_at[1];
    first_response_due_at := v_at[2];
    resolution_warn_at := v_at[3];
    resolution_due_at := v_at[4];
END
$$;
COMMENT ON FUNCTION atum_private.ticket_sla_due(bigint, atum.ticket_priority, timestamptz, numeric) IS 'Warning and due times of a ticket whose SLA clock started at p_start, from the policy for its priority and the organization''s warning share, the resolution pushed by p_paused_minutes.';

CREATE OR REPLACE FUNCTION atum_private.ticket_business_minutes(
    p_organization_id bigint, p_priority atum.ticket_priority, p_from timestamptz, p_to timestamptz
) RETURNS numeric
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER as above. Business minutes in the calendar of the ticket's SLA policy.
BEGIN
    RETURN (SELECT atum.business_minutes_between(p.organization_id, p.calendar_id, p_from, p_to)
              FROM atum.sla_policies p WHERE p.organization_id = p_organization_id AND p.priority = p_priority);
END
$$;
COMMENT ON FUNCTION atum_private.ticket_business_minutes(bigint, atum.ticket_priority, timestamptz, timestamptz) IS 'Business minutes between two instants in the calendar of the SLA policy for a priority (NULL without a policy).';

DROP FUNCTION IF EXISTS atum_private.ticket_triage_due(bigint, timestamptz);
CREATE FUNCTION atum_private.ticket_triage_due(
    p_organization_id bigint, p_created_at timestamptz, OUT triage_warn_at timestamptz, OUT triage_due_at timestamptz
)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: customers open tickets but cannot read calendars.
DECLARE
    v_org record;
    v_at  timestamptz[];
BEGIN
    SELECT o.id, c.id AS calendar_id, o.triage_target_minutes, o.sla_warning_ratio INTO v_org
      FROM atum.organizations o
      JOIN atum.business_calendars c ON c.organization_id = o.id AND c.is_default
     WHERE o.id = p_organization_id;
    IF FOUND THEN
        v_at := atum.business_time_add_each(v_org.id, v_org.calendar_id, p_created_at,
                                            ARRAY[v_org.triage_target_minutes * v_org.sla_warning_ratio,
                                                  v_org.triage_target_minutes]);
        triage_warn_at := v_at[1];
        triage_due_at := v_at[2];
    END IF;
END
$$;
COMMENT ON FUNCTION atum_private.ticket_triage_due(bigint, timestamptz) IS 'When a new ticket should be accepted, and when the triage clock warns: the organization''s triage target (and its warning share) in its default calendar (NULL without one).';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_lifecycle() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: policies and calendars are read whoever makes the move (customers cannot read
-- them). The actor of a move comes from the verified request context. The SLA columns may change
-- without a status move only when the SLA engine writes them: the system (no request context:
-- pg_cron, the command line) or our own triggers (pg_trigger_depth() > 1, e.g. the first public
-- staff reply); the app role can create no trigger, so it cannot pass for the engine.
DECLARE
    v_user      bigint;
    v_role      atum.user_role;
    v_actor     text;
    v_rule      record;
    v_reason    text := atum_private.status_reason();
    v_window    integer;
    v_due       record;
    v_engine    boolean;
    v_recompute boolean := false;
BEGIN
    SELECT c.user_id, c.role INTO v_user, v_role FROM atum.request_context c;
    v_engine := v_user IS NULL OR pg_trigger_depth() > 1;
    v_actor := CASE WHEN v_user IS NULL THEN 'system'
                    WHEN v_role = 'customer' AND NEW.requester_id = v_user THEN 'requester'
                    ELSE v_role::text END;

    IF TG_OP = 'INSERT' THEN
        -- Only the system (imports, e-mail, the demo) may create a ticket in another state.
        IF v_actor <> 'system' AND (NEW.status <> 'NEW' OR NEW.accepted_at IS NOT NULL OR NEW.sla_started_at IS NOT NULL
                                    OR NEW.first_response_due_at IS NOT NULL OR NEW.resolution_due_at IS NOT NULL
                                    OR NEW.first_response_warn_at IS NOT NULL OR NEW.resolution_warn_at IS NOT NULL
                                    OR NEW.first_responded_at IS NOT NULL OR NEW.resolved_at IS NOT NULL
                                    OR NEW.closed_at IS NOT NULL OR NEW.paused_at IS NOT NULL
                                    OR NEW.paused_minutes <> 0) THEN
            RAISE EXCEPTION 'a new ticket starts as NEW without SLA times' USING ERRCODE = 'AT422', COLUMN = 'status';
        END IF;
        v_due := atum_private.ticket_triage_due(NEW.organization_id, NEW.created_at);
        NEW.triage_warn_at := v_due.triage_warn_at;
        NEW.triage_due_at := v_due.triage_due_at;
        -- An imported ticket whose clock has started gets its times from the policies, like any
        -- other; one imported waiting or resolved is paused since it got there, unless told.
        v_recompute := NEW.sla_started_at IS NOT NULL;
        IF NEW.status = 'WAITING_CUSTOMER' THEN
            NEW.paused_at := coalesce(NEW.paused_at, NEW.updated_at);
        ELSIF NEW.status = 'RESOLVED' THEN
            NEW.paused_at := coalesce(NEW.paused_at, NEW.resolved_at, NEW.updated_at);
        END IF;
    ELSIF v_role = 'customer' AND NOT v_engine
          AND (NEW.priority, NEW.assignee_id, NEW.team_id, NEW.category_id, NEW.requester_id, NEW.subject,
               NEW.description, NEW.parent_ticket_id, NEW.channel)
              IS DISTINCT FROM (OLD.priority, OLD.assignee_id, OLD.team_id, OLD.category_id, OLD.requester_id,
                                OLD.subject, OLD.description, OLD.parent_ticket_id, OLD.channel) THEN
        -- Customers change their tickets by replying and by the moves open to them, not by editing:
        -- priority, routing and the text they opened it with are the staff's from then on.
        RAISE EXCEPTION 'customers cannot change a ticket''s fields' USING ERRCODE = 'AT403';
    ELSIF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        -- No move: the SLA columns belong to the state machine and the SLA engine.
        IF NOT v_engine AND (NEW.accepted_at, NEW.sla_started_at, NEW.resolved_at, NEW.closed_at, NEW.first_responded_at,
                             NEW.paused_at, NEW.paused_minutes, NEW.triage_due_at, NEW.triage_warn_at)
                            IS DISTINCT FROM (OLD.accepted_at, OLD.sla_started_at, OLD.resolved_at, OLD.closed_at,
                                              OLD.first_responded_at, OLD.paused_at, OLD.paused_minutes,
                                              OLD.triage_due_at, OLD.triage_warn_at) THEN
            RAISE EXCEPTION 'lifecycle times change only with a status move' USING ERRCODE = 'AT403', COLUMN = 'status';
        END IF;
        IF NOT v_engine AND (NEW.first_response_due_at, NEW.resolution_due_at, NEW.first_response_warn_at, NEW.resolution_warn_at)
                            IS DISTINCT FROM (OLD.first_response_due_at, OLD.resolution_due_at,
                                              OLD.first_response_warn_at, OLD.resolution_warn_at) THEN
            RAISE EXCEPTION 'SLA due times are computed, not set' USING ERRCODE = 'AT403', COLUMN = 'resolution_due_at';
        END IF;
        -- A new priority means new targets, counted from the start of the clock.
        v_recompute := NEW.priority IS DISTINCT FROM OLD.priority;
    ELSE
        SELECT * INTO v_rule FROM atum.ticket_moves() m WHERE m.from_status = OLD.status AND m.to_status = NEW.status;
        IF NOT FOUND AND OLD.status IN ('CLOSED', 'REJECTED') THEN
            RAISE EXCEPTION 'a ticket cannot move from % to %', OLD.status, NEW.status
                USING ERRCODE = 'AT491', COLUMN = 'status', HINT = 'The ticket is final.';
        ELSIF NOT FOUND THEN
            RAISE EXCEPTION 'a ticket cannot move from % to %', OLD.status, NEW.status
                USING ERRCODE = 'AT491', COLUMN = 'status';
        END IF;
        IF NOT v_actor = ANY (v_rule.allowed) THEN
            RAISE EXCEPTION 'a % may not move a ticket from % to %', v_actor, OLD.status, NEW.status
                USING ERRCODE = 'AT403', COLUMN = 'status';
        END IF;
        IF v_rule.reason_required AND v_reason IS NULL THEN
            RAISE EXCEPTION 'moving a ticket from % to % needs a reason', OLD.status, NEW.status
                USING ERRCODE = 'AT422', COLUMN = 'reason';
        END IF;
        IF v_actor = 'requester' AND OLD.status = 'RESOLVED' AND NEW.status = 'IN_PROGRESS' THEN
            SELECT o.reopen_window_days INTO v_window FROM atum.organizations o WHERE o.id = NEW.organization_id;
            IF OLD.resolved_at < now() - make_interval(days => v_window) THEN
                RAISE EXCEPTION 'the ticket was resolved more than % days ago and can no longer be reopened', v_window
                    USING ERRCODE = 'AT491', COLUMN = 'status', HINT = 'Open a new ticket instead.';
            END IF;
        END IF;

        -- The resolution clock is paused while the ticket waits for the customer and while it is
        -- resolved (a reopened ticket does not owe the days it sat resolved). Leaving a pause
        -- pushes the resolution times by the paused business time, except into CLOSED: the clock
        -- has stopped for good, and its times must keep saying whether the resolution was in time.
        IF OLD.paused_at IS NOT NULL AND NEW.status <> 'CLOSED' THEN
            NEW.paused_minutes := OLD.paused_minutes
                + coalesce(atum_private.ticket_business_minutes(NEW.organization_id, NEW.priority, OLD.paused_at, now()), 0);
            NEW.paused_at := NULL;
            v_recompute := true;
        END IF;

        CASE NEW.status
            WHEN 'WAITING_CUSTOMER', 'RESOLVED' THEN
                NEW.paused_at := now();
                IF NEW.status = 'RESOLVED' THEN
                    NEW.resolved_at := now();
                END IF;
            WHEN 'ACCEPTED' THEN
                NEW.accepted_at := now();
                NEW.sla_started_at := now();  -- the SLA clock starts here, never before
                v_recompute := true;
            WHEN 'CLOSED' THEN
                NEW.closed_at := now();
            ELSE
                NULL;
        END CASE;
    END IF;

    IF v_recompute AND NEW.sla_started_at IS NOT NULL THEN
        v_due := atum_private.ticket_sla_due(NEW.organization_id, NEW.priority, NEW.sla_started_at, NEW.paused_minutes);
        NEW.first_response_warn_at := v_due.first_response_warn_at;
        NEW.first_response_due_at := v_due.first_response_due_at;
        NEW.resolution_warn_at := v_due.resolution_warn_at;
        NEW.resolution_due_at := v_due.resolution_due_at;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_lifecycle() IS 'The state machine: refuses moves not in atum.ticket_moves() or not allowed to the actor, requires reasons, starts, pauses and resumes the SLA clocks and computes their warning and due times, guards the lifecycle columns.';

DROP TRIGGER IF EXISTS _200_lifecycle ON atum.tickets;
CREATE TRIGGER _200_lifecycle BEFORE INSERT OR UPDATE ON atum.tickets
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_tickets_lifecycle();
COMMENT ON TRIGGER _200_lifecycle ON atum.tickets IS 'Ticket state machine and SLA start.';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets_status_history() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: only this trigger writes the status history. Statement-level and set-based,
-- so bulk moves (auto-close) cost one insert. The opening itself is tickets.created_at.
BEGIN
    INSERT INTO atum.ticket_status_changes (organization_id, ticket_id, from_status, to_status, reason, actor_id)
    SELECT n.organization_id, n.id, o.status, n.status,
           atum_private.status_reason(),
           (SELECT c.user_id FROM atum.request_context c)
      FROM new_rows n JOIN old_rows o ON o.organization_id = n.organization_id AND o.id = n.id
     WHERE n.status IS DISTINCT FROM o.status;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_status_history() IS 'Records every status move in atum.ticket_status_changes, with actor and reason.';

DROP TRIGGER IF EXISTS _300_status_history ON atum.tickets;
CREATE TRIGGER _300_status_history AFTER UPDATE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_status_history();
COMMENT ON TRIGGER _300_status_history ON atum.tickets IS 'Status history with actor and reason.';

CREATE OR REPLACE FUNCTION api.ticket_transition(p_ticket_id bigint, p_status text, p_reason text DEFAULT NULL)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_ticket atum.tickets;
BEGIN
    IF p_status IS NULL OR NOT upper(btrim(p_status)) = ANY (enum_range(NULL::atum.ticket_status)::text[]) THEN
        RAISE EXCEPTION 'unknown status %', quote_nullable(p_status) USING ERRCODE = 'AT422', COLUMN = 'status';
    END IF;
    IF length(p_reason) > 2000 THEN
        RAISE EXCEPTION 'the reason must be at most 2000 characters' USING ERRCODE = 'AT422', COLUMN = 'reason';
    END IF;
    PERFORM set_config('atum.status_reason', coalesce(p_reason, ''), true);
    UPDATE atum.tickets t SET status = upper(btrim(p_status))::atum.ticket_status
     WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_ticket_id
    RETURNING * INTO v_ticket;
    PERFORM set_config('atum.status_reason', '', true);
    IF v_ticket.id IS NULL THEN
        RAISE EXCEPTION 'no ticket %', p_ticket_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN to_jsonb(v_ticket);
END
$$;
COMMENT ON FUNCTION api.ticket_transition(bigint, text, text) IS 'Moves a ticket to another status (case-insensitive), with a reason where one is required. AT491: move not allowed from this status; AT403: not allowed to this user; AT422: missing reason or unknown status; AT404: no such ticket (or not visible).';

CREATE OR REPLACE FUNCTION api.ticket_accept(p_ticket_id bigint, p_priority text DEFAULT NULL, p_assignee_id bigint DEFAULT NULL)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_org    bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_ticket atum.tickets;
    v_status atum.ticket_status;
BEGIN
    IF p_priority IS NOT NULL AND NOT upper(btrim(p_priority)) = ANY (enum_range(NULL::atum.ticket_priority)::text[]) THEN
        RAISE EXCEPTION 'unknown priority %', quote_literal(p_priority) USING ERRCODE = 'AT422', COLUMN = 'priority';
    END IF;
    -- Nested, not one condition: with no assignee given, "NULL IS NOT NULL AND EXISTS (...)" folds
    -- to false under a custom plan, so PostgreSQL planned it anew on every call.
    IF p_assignee_id IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM atum.users u
                        WHERE u.organization_id = v_org AND u.id = p_assignee_id AND u.role <> 'customer' AND u.is_active) THEN
            RAISE EXCEPTION 'no active staff member %', p_assignee_id USING ERRCODE = 'AT422', COLUMN = 'assignee_id';
        END IF;
    END IF;
    -- One statement: the state machine computes the SLA for the priority set with the move.
    PERFORM set_config('atum.status_reason', '', true);
    UPDATE atum.tickets t
       SET status = 'ACCEPTED',
           priority = coalesce(upper(btrim(p_priority))::atum.ticket_priority, t.priority),
           assignee_id = coalesce(p_assignee_id, t.assignee_id)
     WHERE t.organization_id = v_org AND t.id = p_ticket_id AND t.status = 'NEW'
    RETURNING * INTO v_ticket;
    IF v_ticket.id IS NULL THEN
        SELECT t.status INTO v_status FROM atum.tickets t WHERE t.organization_id = v_org AND t.id = p_ticket_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no ticket %', p_ticket_id USING ERRCODE = 'AT404', COLUMN = 'id';
        END IF;
        RAISE EXCEPTION 'a ticket cannot move from % to ACCEPTED', v_status
            USING ERRCODE = 'AT491', COLUMN = 'status', HINT = 'Only NEW tickets are accepted.';
    END IF;
    RETURN to_jsonb(v_ticket);
END
$$;
COMMENT ON FUNCTION api.ticket_accept(bigint, text, bigint) IS 'Accepts a NEW ticket (manager), optionally setting priority and assignee first; starts the SLA clock.';

CREATE OR REPLACE FUNCTION atum_private.tg_ticket_comments_sla() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the SLA engine's reaction to new comments, whoever wrote them; set-based.
BEGIN
    -- The first public staff reply after acceptance stops the first-response clock.
    UPDATE atum.tickets t SET first_responded_at = f.replied_at
      FROM (SELECT n.organization_id, n.ticket_id, min(n.created_at) AS replied_at
              FROM new_rows n
              JOIN atum.users u ON u.organization_id = n.organization_id AND u.id = n.author_id
             WHERE NOT n.is_internal AND u.role <> 'customer'
             GROUP BY n.organization_id, n.ticket_id) AS f
     WHERE t.organization_id = f.organization_id AND t.id = f.ticket_id
       AND t.sla_started_at IS NOT NULL AND t.first_responded_at IS NULL AND f.replied_at >= t.sla_started_at;
    -- A reply from the requester resumes a ticket that was waiting for them.
    UPDATE atum.tickets t SET status = 'IN_PROGRESS'
     WHERE t.status = 'WAITING_CUSTOMER'
       AND EXISTS (SELECT 1 FROM new_rows n
                    WHERE n.organization_id = t.organization_id AND n.ticket_id = t.id
                      AND n.author_id = t.requester_id AND NOT n.is_internal);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_ticket_comments_sla() IS 'SLA engine on new comments: the first public staff reply after acceptance sets first_responded_at; a public reply of the requester moves a WAITING_CUSTOMER ticket back to IN_PROGRESS.';

DROP TRIGGER IF EXISTS _200_sla ON atum.ticket_comments;
CREATE TRIGGER _200_sla AFTER INSERT ON atum.ticket_comments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_ticket_comments_sla();
COMMENT ON TRIGGER _200_sla ON atum.ticket_comments IS 'First response and automatic resume on customer replies.';
