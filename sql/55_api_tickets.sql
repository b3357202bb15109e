-- The ticket routes of the HTTP API (SPEC 5): create, list, read, change, assign, comments,
-- history and the managers' triage inbox. SECURITY INVOKER: row-level security decides what the
-- caller sees and may write; a ticket of another organization, or another customer's, is simply
-- not there (AT404), exactly like one that does not exist. The state machine (sql/45) decides the
-- moves. Every function takes the request's JSON body or query string as jsonb and reads it with
-- the atum.input_* helpers (sql/51), so that bad input is a 422 naming the field.

CREATE OR REPLACE FUNCTION atum.ticket_list_json(t atum.tickets, p_prefix text) RETURNS json
    LANGUAGE sql STABLE
AS $$
    -- No SET clause and no sub-select: inlined into the list queries, which read the organization's
    -- ticket prefix once per page (a sub-select here would make it a function call per row, about
    -- 20 us each). json, not jsonb: a page of 50 is built and sent as text in half the time
    -- (jsonb is assembled in binary form and converted to text on output). The SLA block carries
    -- what a queue shows.
    SELECT json_build_object(
        'id', t.id, 'number', t.number, 'reference', p_prefix || '-' || t.number,
        'subject', t.subject, 'description', t.description, 'status', t.status, 'priority', t.priority,
        'channel', t.channel, 'requester_id', t.requester_id, 'assignee_id', t.assignee_id, 'team_id', t.team_id,
        'category_id', t.category_id, 'parent_ticket_id', t.parent_ticket_id,
        'created_at', t.created_at, 'updated_at', t.updated_at, 'accepted_at', t.accepted_at,
        'resolved_at', t.resolved_at, 'closed_at', t.closed_at,
        'sla', json_build_object(
            'triage_warn_at', t.triage_warn_at, 'triage_due_at', t.triage_due_at,
            'started_at', t.sla_started_at,
            'first_response_warn_at', t.first_response_warn_at, 'first_response_due_at', t.first_response_due_at,
            'first_responded_at', t.first_responded_at,
            'resolution_warn_at', t.resolution_warn_at, 'resolution_due_at', t.resolution_due_at,
            'paused_at', t.paused_at, 'paused_minutes', t.paused_minutes))
$$;
COMMENT ON FUNCTION atum.ticket_list_json(atum.tickets, text) IS 'A ticket as the API shows it, with its SLA times, given its organization''s ticket prefix (json text, for lists).';

CREATE OR REPLACE FUNCTION atum.ticket_prefix(p_organization_id bigint) RETURNS text
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- PL/pgSQL keeps the plan for the session; a SQL function with a FROM clause is not inlined
    -- and would be planned again on every call (about 0.1 ms).
    RETURN (SELECT o.ticket_prefix FROM atum.organizations o WHERE o.id = p_organization_id);
END
$$;
COMMENT ON FUNCTION atum.ticket_prefix(bigint) IS 'The prefix of an organization''s ticket references (ATUM in ATUM-42).';

CREATE OR REPLACE FUNCTION atum.ticket_json(t atum.tickets) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$ SELECT atum.ticket_list_json(t, atum.ticket_prefix(t.organization_id))::jsonb $$;
COMMENT ON FUNCTION atum.ticket_json(atum.tickets) IS 'A ticket as the API shows it, with its SLA times.';

CREATE OR REPLACE FUNCTION atum.ticket_tags_json(p_organization_id bigint, p_ticket_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(jsonb_agg(g.name ORDER BY g.name), '[]')
      FROM atum.ticket_tags tt JOIN atum.tags g ON g.organization_id = tt.organization_id AND g.id = tt.tag_id
     WHERE tt.organization_id = p_organization_id AND tt.ticket_id = p_ticket_id
$$;
COMMENT ON FUNCTION atum.ticket_tags_json(bigint, bigint) IS 'The tag names of a ticket, sorted (staff only: customers see no tags).';

CREATE OR REPLACE FUNCTION api.idempotency_claim(p_operation text, p_key text, p_request jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the key table is internal (in api, as part of the creating calls: it only ever
-- touches the caller's own keys). Claims the caller's Idempotency-Key for this
-- request. Returns NULL when the key is new (the caller goes on and stores its answer with
-- idempotency_store), or the answer stored by the first request with this key. A concurrent first
-- request holds the key's row: this one waits for it, then reads its answer. The same key with a
-- different request is refused (AT422).
DECLARE
    v_ctx    record;
    v_hash   bytea := sha256(convert_to(p_operation || ' ' || coalesce(p_request::text, ''), 'UTF8'));
    v_row    atum.idempotency_keys;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_key !~ '^[\x21-\x7e]{1,200}$' THEN
        RAISE EXCEPTION 'Idempotency-Key must be 1 to 200 printable ASCII characters'
            USING ERRCODE = 'AT422', COLUMN = 'Idempotency-Key';
    END IF;
    SELECT c.organization_id, c.user_id INTO v_ctx FROM atum.request_context c;
    INSERT INTO atum.idempotency_keys (organization_id, user_id, key, operation, request_hash)
    VALUES (v_ctx.organization_id, v_ctx.user_id, p_key, p_operation, v_hash)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_row FROM atum.idempotency_keys k
     WHERE k.organization_id = v_ctx.organization_id AND k.user_id = v_ctx.user_id AND k.key = p_key;
    IF v_row.request_hash <> v_hash OR v_row.response IS NULL THEN
        RAISE EXCEPTION 'this Idempotency-Key was used for a different request'
            USING ERRCODE = 'AT422', COLUMN = 'Idempotency-Key', HINT = 'Use a new key for a new request.';
    END IF;
    RETURN v_row.response;
END
$$;
COMMENT ON FUNCTION api.idempotency_claim(text, text, jsonb) IS 'Claims an Idempotency-Key: NULL for a new key, else the first answer given for it (AT422 if the key was used for another request).';

CREATE OR REPLACE FUNCTION api.idempotency_store(p_key text, p_response jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- Stores the answer of a claimed key (in the same transaction as what it created) and returns it.
-- PL/pgSQL: its plan is kept for the session, where a SQL function's would be made on every call.
BEGIN
    IF p_key IS NOT NULL THEN
        UPDATE atum.idempotency_keys k SET response = p_response
         WHERE k.organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND k.user_id = (SELECT c.user_id FROM atum.request_context c) AND k.key = p_key;
    END IF;
    RETURN p_response;
END
$$;
COMMENT ON FUNCTION api.idempotency_store(text, jsonb) IS 'Records the answer for a claimed Idempotency-Key; returns the answer.';

CREATE OR REPLACE FUNCTION api.ticket_create(p_body jsonb, p_idempotency_key text DEFAULT NULL) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {subject, description, priority?, category_id?, requester_id? (staff opening a ticket for a
-- customer)}. Customers open tickets for themselves; the ticket starts NEW, without an SLA clock.
DECLARE
    v_input    jsonb := atum.input_check(p_body, '{subject,description,priority,category_id,requester_id}');
    v_ctx      record;
    v_previous jsonb;
    v_ticket   atum.tickets;
BEGIN
    SELECT c.organization_id, c.user_id, c.is_staff, c.auth INTO v_ctx FROM atum.request_context c;
    v_previous := api.idempotency_claim('ticket_create', p_idempotency_key, v_input);
    IF v_previous IS NOT NULL THEN
        RETURN v_previous;
    END IF;
    IF NOT v_ctx.is_staff AND atum.input_bigint(v_input, 'requester_id') IS DISTINCT FROM NULL
       AND atum.input_bigint(v_input, 'requester_id') <> v_ctx.user_id THEN
        RAISE EXCEPTION 'customers open tickets for themselves' USING ERRCODE = 'AT422', COLUMN = 'requester_id';
    END IF;
    INSERT INTO atum.tickets (organization_id, subject, description, priority, category_id, requester_id, channel)
    VALUES (v_ctx.organization_id,
            btrim(atum.input_text(v_input, 'subject', true)),
            coalesce(atum.input_text(v_input, 'description'), ''),
            coalesce(atum.input_enum(v_input, 'priority', enum_range(NULL::atum.ticket_priority)::text[]),
                     'MEDIUM')::atum.ticket_priority,
            atum.input_bigint(v_input, 'category_id'),
            coalesce(atum.input_bigint(v_input, 'requester_id'), v_ctx.user_id),
            CASE WHEN v_ctx.auth LIKE 't%' THEN 'api' WHEN v_ctx.is_staff THEN 'staff' ELSE 'portal' END::atum.ticket_channel)
    RETURNING * INTO v_ticket;
    RETURN api.idempotency_store(p_idempotency_key,
                                          atum.ticket_json(v_ticket) || jsonb_build_object('tags', '[]'::jsonb));
END
$$;
COMMENT ON FUNCTION api.ticket_create(jsonb, text) IS 'Opens a ticket (status NEW). With an Idempotency-Key, a repeated request returns the first answer and creates nothing. AT422: bad field; unknown category or requester.';

CREATE OR REPLACE FUNCTION atum.ticket_allowed_moves(t atum.tickets) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The moves of atum.ticket_moves() open to the caller from the ticket's status, as the state
-- machine (sql/45) would judge them: the requester is the customer who opened it, and may reopen
-- only within the organization's reopen window. The web app offers exactly these. PL/pgSQL, not
-- SQL: its plan is kept for the session (a SQL function with a FROM clause is planned per call).
BEGIN
    RETURN (
    SELECT coalesce(jsonb_agg(jsonb_build_object('status', m.to_status, 'reason_required', m.reason_required)
                              ORDER BY m.to_status), '[]')
      FROM atum.request_context c, atum.ticket_moves() m
     WHERE m.from_status = t.status
       AND CASE WHEN c.role = 'customer' AND t.requester_id = c.user_id THEN 'requester' ELSE c.role::text END = ANY (m.allowed)
       AND NOT (c.role = 'customer' AND t.status = 'RESOLVED' AND m.to_status = 'IN_PROGRESS'
                AND t.resolved_at < now() - make_interval(days => (SELECT o.reopen_window_days FROM atum.organizations o
                                                                    WHERE o.id = t.organization_id))));
END
$$;
COMMENT ON FUNCTION atum.ticket_allowed_moves(atum.tickets) IS 'The status moves the caller may make on a ticket now, [{status, reason_required}] (the requester''s reopen only within the reopen window).';

CREATE OR REPLACE FUNCTION atum.minutes_within(p_ranges tstzmultirange, p_from timestamptz, p_to timestamptz)
RETURNS numeric
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
-- Minutes of p_ranges between two instants, negative when p_to is before p_from (as
-- atum.business_minutes_between counts), from ranges already read for a wider window. PL/pgSQL:
-- a page of the queue calls it per ticket, and a SQL function with a sub-query is planned anew
-- on every call, a PL/pgSQL one once per session.
BEGIN
    RETURN sign(extract(epoch FROM p_to - p_from))
           * coalesce((SELECT sum(extract(epoch FROM upper(r) - lower(r)))
                         FROM unnest(p_ranges * tstzmultirange(tstzrange(least(p_from, p_to), greatest(p_from, p_to)))) AS r),
                      0) / 60;
END
$$;
COMMENT ON FUNCTION atum.minutes_within(tstzmultirange, timestamptz, timestamptz) IS 'Minutes of a set of ranges between two instants (negative backwards): business minutes from business ranges read once.';

CREATE OR REPLACE FUNCTION atum.sla_clock_json(p_ranges tstzmultirange, p_now timestamptz, p_from timestamptz,
                                               p_due timestamptz, p_paused boolean) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('remaining_business_minutes', floor(atum.minutes_within(p_ranges, p_from, p_due)),
                              'is_paused', p_paused,
                              'is_calendar_open', p_ranges @> p_now)
$$;
COMMENT ON FUNCTION atum.sla_clock_json(tstzmultirange, timestamptz, timestamptz, timestamptz, boolean) IS 'One SLA clock as the ticket page shows it: whole business minutes from p_from until due, paused or not, calendar open at p_now.';

CREATE OR REPLACE FUNCTION atum.ticket_sla_clocks(t atum.tickets) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: each running or paused SLA clock of a ticket with the business minutes left until it is
-- due (negative once overdue), counted now in the calendar that clock runs in: triage in the
-- organization's default calendar, first response and resolution in the calendar of the policy
-- for the ticket's priority. A paused resolution clock shows what was left when it paused.
-- is_calendar_open says whether the clock is ticking now, so a client may count down between
-- reads. NULL for customers (they read no calendars); a clock not running is NULL. Each calendar
-- is read once, for the window spanning every instant needed (one-ticket reads must stay cheap).
DECLARE
    v_now        timestamptz := now();
    v_calendar   bigint;
    v_ranges     tstzmultirange;
    v_first      boolean := false;
    v_resolution boolean := false;
    v_result     jsonb := jsonb_build_object('triage', NULL, 'first_response', NULL, 'resolution', NULL);
BEGIN
    IF NOT (SELECT c.is_staff FROM atum.request_context c) THEN
        RETURN NULL;
    END IF;
    IF t.status = 'NEW' AND t.triage_due_at IS NOT NULL THEN
        SELECT k.id INTO v_calendar FROM atum.business_calendars k WHERE k.organization_id = t.organization_id AND k.is_default;
        v_ranges := atum.business_ranges(t.organization_id, v_calendar, least(v_now, t.triage_due_at),
                                         greatest(v_now + interval '1 second', t.triage_due_at));
        IF v_ranges IS NOT NULL THEN
            v_result := v_result || jsonb_build_object('triage', atum.sla_clock_json(v_ranges, v_now, v_now, t.triage_due_at, false));
        END IF;
        RETURN v_result;
    END IF;
    IF t.sla_started_at IS NULL OR t.status IN ('RESOLVED', 'CLOSED', 'REJECTED') THEN
        RETURN v_result;
    END IF;
    v_first := t.first_responded_at IS NULL AND t.first_response_due_at IS NOT NULL;
    v_resolution := t.resolution_due_at IS NOT NULL;
    IF NOT (v_first OR v_resolution) THEN
        RETURN v_result;
    END IF;
    SELECT p.calendar_id INTO v_calendar FROM atum.sla_policies p
     WHERE p.organization_id = t.organization_id AND p.priority = t.priority;
    v_ranges := atum.business_ranges(
        t.organization_id, v_calendar,
        least(v_now, t.paused_at, CASE WHEN v_first THEN t.first_response_due_at END, t.resolution_due_at),
        greatest(v_now + interval '1 second', CASE WHEN v_first THEN t.first_response_due_at END, t.resolution_due_at));
    IF v_ranges IS NULL THEN
        RETURN v_result;
    END IF;
    IF v_first THEN
        v_result := v_result || jsonb_build_object(
            'first_response', atum.sla_clock_json(v_ranges, v_now, v_now, t.first_response_due_at, false));
    END IF;
    IF v_resolution THEN
        v_result := v_result || jsonb_build_object(
            'resolution', atum.sla_clock_json(v_ranges, v_now, coalesce(t.paused_at, v_now), t.resolution_due_at,
                                              t.paused_at IS NOT NULL));
    END IF;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION atum.ticket_sla_clocks(atum.tickets) IS 'Staff: business minutes left on each running or paused SLA clock of a ticket (negative when overdue), whether it is paused and whether its calendar is open now; NULL for customers.';

CREATE OR REPLACE FUNCTION atum.user_name(p_organization_id bigint, p_user_id bigint) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Under RLS: staff see everyone, customers themselves and staff (NULL for anyone else). PL/pgSQL
-- for its kept plan, as above; called per comment of a page.
BEGIN
    IF p_user_id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT u.display_name FROM atum.users u WHERE u.organization_id = p_organization_id AND u.id = p_user_id);
END
$$;
COMMENT ON FUNCTION atum.user_name(bigint, bigint) IS 'The display name of a user the caller may see, else NULL.';

CREATE OR REPLACE FUNCTION api.ticket_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The one-ticket view: the list fields, plus what a ticket page needs — tags (staff), the
-- sanitised HTML of an e-mail ticket, the names of requester and assignee, the moves open to the
-- caller and the SLA clocks in business minutes (staff).
DECLARE
    v_result jsonb;
BEGIN
    SELECT atum.ticket_json(t)
           || jsonb_build_object('tags', CASE WHEN (SELECT c.is_staff FROM atum.request_context c)
                                              THEN atum.ticket_tags_json(t.organization_id, t.id) ELSE '[]' END,
                                 'description_html', t.description_html,
                                 'requester_name', atum.user_name(t.organization_id, t.requester_id),
                                 'assignee_name', atum.user_name(t.organization_id, t.assignee_id),
                                 'allowed_moves', atum.ticket_allowed_moves(t),
                                 'sla_clocks', atum.ticket_sla_clocks(t))
      INTO v_result
      FROM atum.tickets t
     WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_id;
    IF v_result IS NULL THEN
        RAISE EXCEPTION 'no ticket %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION api.ticket_get(bigint) IS 'One ticket with its SLA times, the sanitised HTML of an e-mail ticket, requester and assignee names, the status moves open to the caller, and (staff) tags and SLA clocks in business minutes. AT404 when it does not exist or is not the caller''s to see.';

CREATE OR REPLACE FUNCTION atum.ticket_list_match(t atum.tickets, p_statuses atum.ticket_status[],
                                                  p_priority atum.ticket_priority, p_assignee text,
                                                  p_assignee_id bigint, p_team text, p_team_id bigint,
                                                  p_tsquery tsquery) RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    -- No SET clause and no sub-query: inlined into each order of api.ticket_list, so the planner
    -- sees plain column conditions. NULL arguments do not filter.
    SELECT (p_statuses IS NULL OR t.status = ANY (p_statuses))
       AND (p_priority IS NULL OR t.priority = p_priority)
       AND (p_assignee IS NULL OR (lower(p_assignee) = 'none' AND t.assignee_id IS NULL) OR t.assignee_id = p_assignee_id)
       AND (p_team IS NULL OR (lower(p_team) = 'none' AND t.team_id IS NULL) OR t.team_id = p_team_id)
       AND (p_tsquery IS NULL
            OR (setweight(to_tsvector('simple'::regconfig, t.subject), 'A')
                || setweight(to_tsvector('simple'::regconfig, t.description), 'B')) @@ p_tsquery)
$$;
COMMENT ON FUNCTION atum.ticket_list_match(atum.tickets, atum.ticket_status[], atum.ticket_priority, text, bigint, text, bigint, tsquery) IS
    'The filters of the ticket list (status list, priority, assignee id/none, team id/none, full-text query) as one condition; NULL arguments do not filter.';

CREATE OR REPLACE FUNCTION atum.ticket_has_tag(p_organization_id bigint, p_ticket_id bigint, p_tag text) RETURNS boolean
    LANGUAGE plpgsql STABLE
AS $$
-- PL/pgSQL so that its query is planned once per session, not at every row it is asked about.
BEGIN
    RETURN EXISTS (
        SELECT FROM atum.ticket_tags tt JOIN atum.tags g ON g.organization_id = tt.organization_id AND g.id = tt.tag_id
         WHERE tt.organization_id = p_organization_id AND tt.ticket_id = p_ticket_id AND g.name = p_tag);
END
$$;
COMMENT ON FUNCTION atum.ticket_has_tag(bigint, bigint, text) IS 'Whether a ticket carries the tag of that (lower-case) name.';

CREATE OR REPLACE FUNCTION atum.ticket_list_clocks(p_rows atum.tickets[]) RETURNS jsonb[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_prefix text := atum.ticket_prefix((p_rows[1]).organization_id);  -- a page is of one organization
BEGIN
    -- PL/pgSQL around one query, so its plan is kept for the session (as atum.business_ranges).
    -- For a page of the queue: each ticket as the API shows it plus, for staff, the SLA clock that
    -- runs now ("sla_clock": which clock, business minutes left, paused, calendar open), counted
    -- as the ticket page counts it. Each calendar is read once for the page (one window spanning
    -- every due time), not once per ticket.
    RETURN (
    WITH page AS (
        SELECT o.t, o.ord,
               (SELECT c.is_staff FROM atum.request_context c)
               AND ((o.t).status = 'NEW' OR ((o.t).status IN ('ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER')
                                             AND (o.t).sla_started_at IS NOT NULL)) AS timed,
               -- The first-response clock is the one shown while it runs and is due first (as in
               -- atum.ticket_due_key); a paused resolution clock never hides it.
               (o.t).first_responded_at IS NULL AND (o.t).first_response_due_at IS NOT NULL
               AND ((o.t).paused_at IS NOT NULL OR (o.t).resolution_due_at IS NULL
                    OR (o.t).first_response_due_at <= (o.t).resolution_due_at) AS first
          FROM (SELECT p_rows[i] AS t, i AS ord FROM generate_subscripts(p_rows, 1) AS i) AS o
    ), clock AS (
        SELECT p.ord, (p.t).organization_id AS organization_id,
               CASE WHEN (p.t).status = 'NEW' THEN 'triage' WHEN p.first THEN 'first_response' ELSE 'resolution' END AS name,
               CASE WHEN (p.t).status = 'NEW'
                    THEN (SELECT b.id FROM atum.business_calendars b WHERE b.organization_id = (p.t).organization_id AND b.is_default)
                    ELSE (SELECT s.calendar_id FROM atum.sla_policies s
                           WHERE s.organization_id = (p.t).organization_id AND s.priority = (p.t).priority) END AS calendar_id,
               CASE WHEN (p.t).status = 'NEW' THEN (p.t).triage_due_at
                    WHEN p.first THEN (p.t).first_response_due_at ELSE (p.t).resolution_due_at END AS due_at,
               CASE WHEN (p.t).status <> 'NEW' AND NOT p.first THEN (p.t).paused_at END AS paused_at
          FROM page p WHERE p.timed
    ), calendars AS (
        SELECT k.calendar_id,
               atum.business_ranges(min(k.organization_id), k.calendar_id, least(now(), min(k.due_at), min(k.paused_at)),
                                    greatest(now() + interval '1 second', max(k.due_at))) AS ranges
          FROM clock k WHERE k.due_at IS NOT NULL GROUP BY k.calendar_id
    )
    SELECT coalesce(array_agg(
               CASE WHEN p.timed
                    THEN atum.ticket_list_json(p.t, v_prefix)::jsonb || jsonb_build_object('sla_clock',
                             CASE WHEN cal.ranges IS NOT NULL
                                  THEN jsonb_build_object('clock', k.name)
                                       || atum.sla_clock_json(cal.ranges, now(), coalesce(k.paused_at, now()), k.due_at,
                                                              k.paused_at IS NOT NULL) END)
                    ELSE atum.ticket_list_json(p.t, v_prefix)::jsonb END
               ORDER BY p.ord), '{}')
      FROM page p
      LEFT JOIN clock k ON k.ord = p.ord
      LEFT JOIN calendars cal ON cal.calendar_id = k.calendar_id AND k.due_at IS NOT NULL
    );
END
$$;
COMMENT ON FUNCTION atum.ticket_list_clocks(atum.tickets[]) IS 'A page of tickets as the list shows them; for staff each with "sla_clock", the clock that runs now in business minutes (as on the ticket page), calendars read once per page.';

CREATE OR REPLACE FUNCTION atum.ticket_list_page(
    p_organization_id bigint, p_sort text, p_at timestamptz, p_id bigint, p_limit integer
) RETURNS atum.tickets[]
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
AS $$
-- The unfiltered staff list (the queue as it opens, the commonest list of all), one page after the
-- position (p_at, p_id); NULL: from the start. api.ticket_list's filtered queries need a custom
-- plan per call (their generic plan walks the whole organization), and planning them costs more
-- than running them: 1.2 ms of a 2.1 ms list. These three queries have one good plan whatever the
-- parameters (the order's own index, read from the position on), so it is made once per
-- connection and kept: forced, because the planner, not knowing the page size of a generic plan,
-- would otherwise keep planning afresh.
DECLARE
    v_rows atum.tickets[];
BEGIN
    IF p_sort = 'newest' THEN
        SELECT array_agg(t ORDER BY t.created_at DESC, t.id DESC) INTO v_rows
          FROM (SELECT t.* FROM atum.tickets t
                 WHERE t.organization_id = p_organization_id
                   AND (t.created_at, t.id) < (coalesce(p_at, 'infinity'), coalesce(p_id, 9223372036854775807))
                 ORDER BY t.created_at DESC, t.id DESC LIMIT p_limit) AS t;
    ELSIF p_sort = 'oldest' THEN
        SELECT array_agg(t ORDER BY t.created_at, t.id) INTO v_rows
          FROM (SELECT t.* FROM atum.tickets t
                 WHERE t.organization_id = p_organization_id
                   AND (t.created_at, t.id) > (coalesce(p_at, '-infinity'), coalesce(p_id, 0))
                 ORDER BY t.created_at, t.id LIMIT p_limit) AS t;
    ELSE
        SELECT array_agg(t ORDER BY atum.ticket_due_key(t.status, t.triage_due_at, t.first_response_due_at,
                                                        t.first_responded_at, t.resolution_due_at, t.paused_at), t.id)
          INTO v_rows
          FROM (SELECT t.* FROM atum.tickets t
                 WHERE t.organization_id = p_organization_id
                   AND (atum.ticket_due_key(t.status, t.triage_due_at, t.first_response_due_at, t.first_responded_at,
                                            t.resolution_due_at, t.paused_at), t.id)
                       > (coalesce(p_at, '-infinity'), coalesce(p_id, 0))
                 ORDER BY atum.ticket_due_key(t.status, t.triage_due_at, t.first_response_due_at, t.first_responded_at,
                                              t.resolution_due_at, t.paused_at), t.id
                 LIMIT p_limit) AS t;
    END IF;
    RETURN v_rows;
END
$$;
COMMENT ON FUNCTION atum.ticket_list_page(bigint, text, timestamptz, bigint, integer) IS 'One page of an organization''s tickets in the order newest, oldest or due, after a position, without filters (RLS applies); plans kept per connection.';

CREATE OR REPLACE FUNCTION api.ticket_list(p_query jsonb) RETURNS json
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- ?status=(one or several, comma-separated)&priority=&assignee_id=(id|me|none)&team_id=(id|none)&tag=&q=
-- &sort=(newest|oldest|due)&clocks=(true|false)&limit=&after=. Keyset-paginated on the sort key and id: newest and
-- oldest on created_at, due on the next SLA due time (atum.ticket_due_key; tickets without a running
-- clock last). Customers see their own tickets, staff the organization's (RLS). q is a full-text
-- query (web-search syntax: words, "phrases", -not, or) over subject and description; tag is a tag
-- name (any case). Each order is its own branch with its own index; only the asked one runs.
-- clocks=true adds each ticket's running SLA clock in business minutes (staff; what the web queue
-- shows): it reads the calendars, which integrations that need only the due times need not pay for.
DECLARE
    v_input    jsonb := atum.input_check(p_query, '{status,priority,assignee_id,team_id,tag,q,sort,clocks,limit,after}');
    -- status: one status or several, comma-separated (ACCEPTED,IN_PROGRESS): any of them matches.
    v_statuses atum.ticket_status[] := (
        SELECT array_agg(atum.input_enum(jsonb_build_object('status', s), 'status',
                                         enum_range(NULL::atum.ticket_status)::text[])::atum.ticket_status)
          FROM unnest(string_to_array(atum.input_text(v_input, 'status'), ',')) AS s);
    v_priority atum.ticket_priority := atum.input_enum(v_input, 'priority', enum_range(NULL::atum.ticket_priority)::text[]);
    v_assignee text := btrim(atum.input_text(v_input, 'assignee_id'));
    v_team     text := btrim(atum.input_text(v_input, 'team_id'));
    v_tag      text := nullif(lower(btrim(atum.input_text(v_input, 'tag'))), '');
    v_q        text := nullif(btrim(atum.input_text(v_input, 'q')), '');
    v_sort     text := coalesce(atum.input_enum(v_input, 'sort', '{newest,oldest,due}'), 'newest');
    v_clocks   boolean := atum.input_boolean(v_input, 'clocks', false);
    v_limit    integer := atum.input_limit(v_input);
    v_after    record := atum.cursor_read(v_input);
    v_org      bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_prefix   text := atum.ticket_prefix(v_org);
    v_assignee_id bigint;
    v_team_id  bigint;
    v_tsquery  tsquery;
    v_rows     atum.tickets[];
    v_items    json[];
    v_last     atum.tickets;
BEGIN
    IF v_assignee IS NOT NULL AND lower(v_assignee) NOT IN ('me', 'none') THEN
        v_assignee_id := atum.input_bigint(v_input, 'assignee_id');
    ELSIF lower(v_assignee) = 'me' THEN
        v_assignee_id := (SELECT c.user_id FROM atum.request_context c);
    END IF;
    IF v_team IS NOT NULL AND lower(v_team) <> 'none' THEN
        v_team_id := atum.input_bigint(v_input, 'team_id');
    END IF;
    IF length(v_q) > 500 THEN
        RAISE EXCEPTION 'q must be at most 500 characters' USING ERRCODE = 'AT422', COLUMN = 'q';
    END IF;
    v_tsquery := websearch_to_tsquery('simple'::regconfig, v_q);
    IF v_statuses IS NULL AND v_priority IS NULL AND v_assignee IS NULL AND v_team IS NULL AND v_tag IS NULL
       AND v_tsquery IS NULL AND (SELECT c.is_staff FROM atum.request_context c) THEN
        -- Unfiltered, as staff: the fast path with kept plans. (A customer's list is narrowed to
        -- their own tickets, which the filtered queries below find through the requester index.)
        v_rows := atum.ticket_list_page(v_org, v_sort, v_after.at, v_after.id, v_limit + 1);
    ELSIF v_sort = 'newest' THEN
        SELECT array_agg(t ORDER BY t.created_at DESC, t.id DESC) INTO v_rows
          FROM (SELECT t.* FROM atum.tickets t
                 WHERE t.organization_id = v_org
                   AND atum.ticket_list_match(t, v_statuses, v_priority, v_assignee, v_assignee_id, v_team, v_team_id, v_tsquery)
                   AND (v_tag IS NULL OR atum.ticket_has_tag(t.organization_id, t.id, v_tag))
                   AND (v_after.at IS NULL OR (t.created_at, t.id) < (v_after.at, v_after.id))
                 ORDER BY t.created_at DESC, t.id DESC LIMIT v_limit + 1) AS t;
    ELSIF v_sort = 'oldest' THEN
        SELECT array_agg(t ORDER BY t.created_at, t.id) INTO v_rows
          FROM (SELECT t.* FROM atum.tickets t
                 WHERE t.organization_id = v_org
                   AND atum.ticket_list_match(t, v_statuses, v_priority, v_assignee, v_assignee_id, v_team, v_team_id, v_tsquery)
                   AND (v_tag IS NULL OR atum.ticket_has_tag(t.organization_id, t.id, v_tag))
                   AND (v_after.at IS NULL OR (t.created_at, t.id) > (v_after.at, v_after.id))
                 ORDER BY t.created_at, t.id LIMIT v_limit + 1) AS t;
    ELSE
        SELECT array_agg(t ORDER BY atum.ticket_due_key(t.status, t.triage_due_at, t.first_response_due_at,
                                                        t.first_responded_at, t.resolution_due_at, t.paused_at), t.id)
          INTO v_rows
          FROM (SELECT t.* FROM atum.tickets t
                 WHERE t.organization_id = v_org
                   AND atum.ticket_list_match(t, v_statuses, v_priority, v_assignee, v_assignee_id, v_team, v_team_id, v_tsquery)
                   AND (v_tag IS NULL OR atum.ticket_has_tag(t.organization_id, t.id, v_tag))
                   AND (v_after.at IS NULL
                        OR (atum.ticket_due_key(t.status, t.triage_due_at, t.first_response_due_at, t.first_responded_at,
                                                t.resolution_due_at, t.paused_at), t.id) > (v_after.at, v_after.id))
                 ORDER BY atum.ticket_due_key(t.status, t.triage_due_at, t.first_response_due_at, t.first_responded_at,
                                              t.resolution_due_at, t.paused_at), t.id
                 LIMIT v_limit + 1) AS t;
    END IF;
    IF v_clocks THEN
        v_items := atum.ticket_list_clocks(v_rows[1:v_limit])::json[];
    ELSE
        -- A function scan of unnest keeps the array's order.
        v_items := ARRAY(SELECT atum.ticket_list_json(r, v_prefix) FROM unnest(v_rows[1:v_limit]) AS r);
    END IF;
    IF cardinality(v_rows) > v_limit THEN
        v_last := v_rows[v_limit];
        RETURN json_build_object('items', array_to_json(v_items), 'next', atum.cursor_make(
            CASE WHEN v_sort = 'due'
                 THEN atum.ticket_due_key(v_last.status, v_last.triage_due_at, v_last.first_response_due_at,
                                          v_last.first_responded_at, v_last.resolution_due_at, v_last.paused_at)
                 ELSE v_last.created_at END, v_last.id));
    END IF;
    RETURN json_build_object('items', array_to_json(v_items), 'next', NULL);
END
$$;
COMMENT ON FUNCTION api.ticket_list(jsonb) IS 'Tickets the caller may see, filtered by status (one or a comma-separated list), priority, assignee (id, me, none), team (id, none), tag (name) and full-text q, sorted newest or oldest first or by next SLA due time (sort=due); with clocks=true staff get each ticket''s running SLA clock in business minutes; keyset pages {"items", "next"}.';

CREATE OR REPLACE FUNCTION atum.require_staff(p_ticket_id bigint, p_what text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff-only ticket actions: a customer is told "not allowed" about their own ticket (whose
-- existence they know) and "not found" about any other, like everyone outside the organization.
BEGIN
    IF (SELECT c.is_staff FROM atum.request_context c) THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM atum.tickets t
                WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_ticket_id) THEN
        RAISE EXCEPTION 'only staff %', p_what USING ERRCODE = 'AT403';
    END IF;
    RAISE EXCEPTION 'no ticket %', p_ticket_id USING ERRCODE = 'AT404', COLUMN = 'id';
END
$$;
COMMENT ON FUNCTION atum.require_staff(bigint, text) IS 'Raises AT403 (the caller''s own ticket) or AT404 (any other) unless the caller is staff.';

CREATE OR REPLACE FUNCTION api.ticket_update(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: {priority?, category_id?, team_id?, tags?}. Only the fields present change; null clears
-- category and team. tags replaces the ticket's tags by the given names (new names become tags).
-- A priority change recomputes the SLA due times from the start (the state machine does it).
DECLARE
    v_input jsonb := atum.input_check(p_body, '{priority,category_id,team_id,tags}');
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_tags  text[];
    v_found boolean;
BEGIN
    PERFORM atum.require_staff(p_id, 'change tickets');
    UPDATE atum.tickets t
       SET priority = CASE WHEN v_input ? 'priority'
                           THEN coalesce(atum.input_enum(v_input, 'priority', enum_range(NULL::atum.ticket_priority)::text[]),
                                         t.priority::text)::atum.ticket_priority
                           ELSE t.priority END,
           category_id = CASE WHEN v_input ? 'category_id' THEN atum.input_bigint(v_input, 'category_id') ELSE t.category_id END,
           team_id = CASE WHEN v_input ? 'team_id' THEN atum.input_bigint(v_input, 'team_id') ELSE t.team_id END
     WHERE t.organization_id = v_org AND t.id = p_id
       AND (v_input ?| '{priority,category_id,team_id}');
    v_found := FOUND OR EXISTS (SELECT 1 FROM atum.tickets t WHERE t.organization_id = v_org AND t.id = p_id);
    IF NOT v_found THEN
        RAISE EXCEPTION 'no ticket %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    IF v_input ? 'tags' THEN
        IF jsonb_typeof(v_input -> 'tags') <> 'array'
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(v_input -> 'tags') e WHERE jsonb_typeof(e) <> 'string') THEN
            RAISE EXCEPTION 'tags must be a list of names' USING ERRCODE = 'AT422', COLUMN = 'tags';
        END IF;
        v_tags := ARRAY(SELECT DISTINCT lower(btrim(e)) FROM jsonb_array_elements_text(v_input -> 'tags') e);
        IF EXISTS (SELECT 1 FROM unnest(v_tags) g WHERE length(g) NOT BETWEEN 1 AND 50) OR cardinality(v_tags) > 50 THEN
            RAISE EXCEPTION 'a tag name has 1 to 50 characters, and a ticket at most 50 tags'
                USING ERRCODE = 'AT422', COLUMN = 'tags';
        END IF;
        INSERT INTO atum.tags (organization_id, name) SELECT v_org, g FROM unnest(v_tags) g
        ON CONFLICT (organization_id, name) DO NOTHING;
        DELETE FROM atum.ticket_tags tt
         WHERE tt.organization_id = v_org AND tt.ticket_id = p_id
           AND tt.tag_id NOT IN (SELECT g.id FROM atum.tags g WHERE g.organization_id = v_org AND g.name = ANY (v_tags));
        INSERT INTO atum.ticket_tags (organization_id, ticket_id, tag_id)
        SELECT v_org, p_id, g.id FROM atum.tags g WHERE g.organization_id = v_org AND g.name = ANY (v_tags)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN api.ticket_get(p_id);
END
$$;
COMMENT ON FUNCTION api.ticket_update(bigint, jsonb) IS 'Staff: changes priority, category, team and tags of a ticket. AT403 for a customer''s own ticket, AT404 when not visible, AT422 for bad fields or unknown category/team.';

CREATE OR REPLACE FUNCTION api.ticket_assign(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {assignee_id}: managers and admins assign any active staff member (or null: unassigned); an
-- agent assigns only themselves, or unassigns themselves.
DECLARE
    v_input    jsonb := atum.input_check(p_body, '{assignee_id}');
    v_ctx      record;
    v_assignee bigint;
    v_current  bigint;
BEGIN
    IF NOT v_input ? 'assignee_id' THEN
        RAISE EXCEPTION 'assignee_id is required (null to unassign)' USING ERRCODE = 'AT422', COLUMN = 'assignee_id';
    END IF;
    v_assignee := atum.input_bigint(v_input, 'assignee_id');
    SELECT c.organization_id, c.user_id, c.role INTO v_ctx FROM atum.request_context c;
    PERFORM atum.require_staff(p_id, 'assign tickets');
    SELECT t.assignee_id INTO v_current FROM atum.tickets t WHERE t.organization_id = v_ctx.organization_id AND t.id = p_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no ticket %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    IF v_ctx.role = 'agent' AND NOT (v_assignee = v_ctx.user_id OR (v_assignee IS NULL AND v_current = v_ctx.user_id)) THEN
        RAISE EXCEPTION 'agents assign tickets only to themselves' USING ERRCODE = 'AT403', COLUMN = 'assignee_id';
    END IF;
    IF v_assignee IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM atum.users u WHERE u.organization_id = v_ctx.organization_id AND u.id = v_assignee
           AND u.role <> 'customer' AND u.is_active) THEN
        RAISE EXCEPTION 'no active staff member %', v_assignee USING ERRCODE = 'AT422', COLUMN = 'assignee_id';
    END IF;
    UPDATE atum.tickets t SET assignee_id = v_assignee WHERE t.organization_id = v_ctx.organization_id AND t.id = p_id;
    RETURN api.ticket_get(p_id);
END
$$;
COMMENT ON FUNCTION api.ticket_assign(bigint, jsonb) IS 'Assigns a ticket: managers and admins to any active staff member, agents only to themselves. AT403/AT404/AT422 as usual.';

CREATE OR REPLACE FUNCTION api.ticket_move(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {status, reason?}: the route form of api.ticket_transition; the state machine decides.
DECLARE
    v_input jsonb := atum.input_check(p_body, '{status,reason}');
BEGIN
    PERFORM api.ticket_transition(p_id, atum.input_text(v_input, 'status', true),
                                  atum.input_text(v_input, 'reason'));
    RETURN api.ticket_get(p_id);
END
$$;
COMMENT ON FUNCTION api.ticket_move(bigint, jsonb) IS 'Moves a ticket ({status, reason?}); AT491 (409) for a move the state machine refuses.';

CREATE OR REPLACE FUNCTION api.ticket_accept_route(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {priority?, assignee_id?}: a manager accepts a NEW ticket; its SLA clock starts.
DECLARE
    v_input jsonb := atum.input_check(p_body, '{priority,assignee_id}');
BEGIN
    PERFORM api.ticket_accept(p_id, atum.input_text(v_input, 'priority'),
                              atum.input_bigint(v_input, 'assignee_id'));
    RETURN api.ticket_get(p_id);
END
$$;
COMMENT ON FUNCTION api.ticket_accept_route(bigint, jsonb) IS 'Manager: accepts a NEW ticket, optionally with priority and assignee; the SLA clock starts.';

CREATE OR REPLACE FUNCTION api.ticket_reject(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {reason}: a manager rejects a NEW ticket; the reason is required and kept in the history.
DECLARE
    v_input jsonb := atum.input_check(p_body, '{reason}');
BEGIN
    PERFORM api.ticket_transition(p_id, 'REJECTED', atum.input_text(v_input, 'reason', true));
    RETURN api.ticket_get(p_id);
END
$$;
COMMENT ON FUNCTION api.ticket_reject(bigint, jsonb) IS 'Manager: rejects a NEW ticket with a reason.';

CREATE OR REPLACE FUNCTION api.triage_inbox(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Managers' inbox: NEW tickets, oldest first (the longest waiting on top), keyset-paginated.
DECLARE
    v_input jsonb := atum.input_check(p_query, '{limit,after}');
    v_limit integer := atum.input_limit(v_input);
    v_after record := atum.cursor_read(v_input);
    v_items jsonb[];
    v_prefix text := atum.ticket_prefix((SELECT c.organization_id FROM atum.request_context c));
BEGIN
    IF (SELECT c.role FROM atum.request_context c) NOT IN ('manager', 'admin') THEN
        RAISE EXCEPTION 'the triage inbox is for managers' USING ERRCODE = 'AT403';
    END IF;
    SELECT array_agg(atum.ticket_list_json(t, v_prefix)::jsonb ORDER BY t.created_at, t.id) INTO v_items
      FROM (SELECT t.* FROM atum.tickets t
             WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.status = 'NEW'
               AND (v_after.at IS NULL OR (t.created_at, t.id) > (v_after.at, v_after.id))
             ORDER BY t.created_at, t.id
             LIMIT v_limit + 1) AS t;
    RETURN atum.page_json_by_time(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.triage_inbox(jsonb) IS 'Manager: NEW tickets, oldest first, keyset pages {"items", "next"}.';

CREATE OR REPLACE FUNCTION atum.comment_json(c atum.ticket_comments) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    -- body_html: the sanitised HTML of a comment that came by e-mail (NULL otherwise); clients show
    -- it sandboxed, never as part of their page.
    SELECT jsonb_build_object('id', c.id, 'ticket_id', c.ticket_id, 'author_id', c.author_id,
                              'author_name', atum.user_name(c.organization_id, c.author_id), 'body', c.body,
                              'body_html', c.body_html, 'internal', c.is_internal, 'channel', c.channel,
                              'created_at', c.created_at, 'updated_at', c.updated_at)
$$;
COMMENT ON FUNCTION atum.comment_json(atum.ticket_comments) IS 'A comment as the API shows it, with its author''s name and, for mail, its sanitised HTML.';

CREATE OR REPLACE FUNCTION atum.require_ticket(p_ticket_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.tickets t
                    WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_ticket_id) THEN
        RAISE EXCEPTION 'no ticket %', p_ticket_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
END
$$;
COMMENT ON FUNCTION atum.require_ticket(bigint) IS 'Raises AT404 unless the caller may see the ticket.';

CREATE OR REPLACE FUNCTION api.comment_list(p_ticket_id bigint, p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The ticket's comments, oldest first; customers see the public ones (RLS).
DECLARE
    v_input jsonb := atum.input_check(p_query, '{limit,after}');
    v_limit integer := atum.input_limit(v_input);
    v_after record := atum.cursor_read(v_input);
    v_items jsonb[];
BEGIN
    PERFORM atum.require_ticket(p_ticket_id);
    SELECT array_agg(atum.comment_json(c) ORDER BY c.created_at, c.id) INTO v_items
      FROM (SELECT c.* FROM atum.ticket_comments c
             WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.ticket_id = p_ticket_id
               AND (v_after.at IS NULL OR (c.created_at, c.id) > (v_after.at, v_after.id))
             ORDER BY c.created_at, c.id
             LIMIT v_limit + 1) AS c;
    RETURN atum.page_json_by_time(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.comment_list(bigint, jsonb) IS 'Comments of a ticket, oldest first, keyset pages; customers see public ones only.';

CREATE OR REPLACE FUNCTION api.comment_create(p_ticket_id bigint, p_body jsonb, p_idempotency_key text DEFAULT NULL)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {body, internal?}: staff write public replies or internal notes; the requester writes public
-- replies. The SLA engine reacts (first response; a waiting ticket resumes on the customer's reply).
DECLARE
    v_input    jsonb := atum.input_check(p_body, '{body,internal}');
    v_ctx      record;
    v_previous jsonb;
    v_comment  atum.ticket_comments;
BEGIN
    SELECT c.organization_id, c.user_id, c.is_staff, c.auth INTO v_ctx FROM atum.request_context c;
    PERFORM atum.require_ticket(p_ticket_id);
    IF NOT v_ctx.is_staff AND atum.input_boolean(v_input, 'internal', false) THEN
        RAISE EXCEPTION 'only staff write internal notes' USING ERRCODE = 'AT403', COLUMN = 'internal';
    END IF;
    v_previous := api.idempotency_claim('comment_create:' || p_ticket_id, p_idempotency_key, v_input);
    IF v_previous IS NOT NULL THEN
        RETURN v_previous;
    END IF;
    INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal, channel)
    VALUES (v_ctx.organization_id, p_ticket_id, v_ctx.user_id, atum.input_text(v_input, 'body', true),
            atum.input_boolean(v_input, 'internal', false),
            CASE WHEN v_ctx.auth LIKE 't%' THEN 'api' WHEN v_ctx.is_staff THEN 'staff' ELSE 'portal' END::atum.ticket_channel)
    RETURNING * INTO v_comment;
    RETURN api.idempotency_store(p_idempotency_key, atum.comment_json(v_comment));
END
$$;
COMMENT ON FUNCTION api.comment_create(bigint, jsonb, text) IS 'Adds a comment (public reply, or internal note for staff). Idempotency-Key as for tickets. AT403: internal note by a customer; AT404: ticket not visible.';

CREATE OR REPLACE FUNCTION api.ticket_history(p_ticket_id bigint, p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: the ticket's audit timeline (every change to the ticket, its comments, tags, attachments,
-- status moves and SLA events), oldest first, keyset-paginated on the audit sequence.
DECLARE
    v_input jsonb := atum.input_check(p_query, '{limit,after}');
    v_limit integer := atum.input_limit(v_input, 100, 500);
    v_after bigint := atum.input_bigint(v_input, 'after');
    v_items jsonb[];
BEGIN
    PERFORM atum.require_staff(p_ticket_id, 'read the history');
    PERFORM atum.require_ticket(p_ticket_id);
    SELECT array_agg(jsonb_build_object(
               'seq', a.seq, 'occurred_at', a.occurred_at, 'actor_user_id', a.actor_user_id, 'actor_role', a.actor_role,
               'action', a.action, 'table', a.table_name, 'row_key', a.row_key, 'old', a.old_values, 'new', a.new_values,
               'reason', a.reason)
               ORDER BY a.seq) INTO v_items
      FROM (SELECT a.seq, a.occurred_at, a.actor_user_id, a.actor_role, a.action, a.table_name, a.row_key,
                   a.old_values, a.new_values, a.reason
              FROM atum.audit_log a
             WHERE a.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND a.ticket_id = p_ticket_id
               AND (v_after IS NULL OR a.seq > v_after)
            UNION ALL
            -- SLA events the sweep recorded for several tickets at once share one audit row per
            -- organization (tg_audit_insert_grouped); it is found through the events and shows this
            -- ticket's part.
            SELECT a.seq, a.occurred_at, a.actor_user_id, a.actor_role, a.action, a.table_name,
                   jsonb_build_object('id', jsonb_agg(e.id ORDER BY e.id)), a.old_values,
                   jsonb_build_object('rows', (SELECT jsonb_agg(r ORDER BY r -> 'id') FROM jsonb_array_elements(a.new_values -> 'rows') AS r
                                                WHERE (r ->> 'ticket_id')::bigint = p_ticket_id)),
                   a.reason
              FROM atum.sla_events e
              JOIN atum.audit_log a ON a.organization_id = e.organization_id AND a.occurred_at = e.recorded_at
                                   AND a.table_name = 'sla_events' AND a.ticket_id IS NULL
                                   AND a.row_key -> 'id' @> to_jsonb(e.id)
             WHERE e.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND e.ticket_id = p_ticket_id
               AND (v_after IS NULL OR a.seq > v_after)
             GROUP BY a.seq, a.occurred_at, a.actor_user_id, a.actor_role, a.action, a.table_name, a.old_values, a.new_values,
                      a.reason
             ORDER BY 1
             LIMIT v_limit + 1) AS a;
    RETURN jsonb_build_object(
        'items', coalesce(to_jsonb(v_items[1:v_limit]), '[]'),
        'next', CASE WHEN cardinality(v_items) > v_limit THEN (v_items[v_limit] ->> 'seq') END);
END
$$;
COMMENT ON FUNCTION api.ticket_history(bigint, jsonb) IS 'Staff: the audit timeline of a ticket, oldest first, keyset pages on the audit sequence.';
