-- Live updates: what changed, announced on the channel atum_live for the HTTP processes, which
-- pass each announcement on to the WebSocket clients allowed to see it (api/live.py).
--
-- A notification names the change, never its content: kind, organization, ticket, requester,
-- whether a comment is internal, the new status. Clients refetch what they show through the API,
-- where row-level security decides what they get; the payload itself only has to be enough for
-- the server to decide who hears of it (organization; for customers, requester and internal).
--
-- The triggers are statement-level and set-based: one pg_notify per changed row from a single
-- query over the transition table. A statement that changes more than atum_private.live_row_limit()
-- rows (bulk loads, imports, a mass update from psql) sends one resync per organization instead,
-- so a 10 000-ticket batch costs a count and a handful of notifications, not 10 000 entries in
-- PostgreSQL's notification queue (which every listener then has to read). NOTIFY is
-- transactional: nothing is announced for a rolled-back change, and identical payloads of one
-- transaction are sent once.
--
-- Only changes of organizations some HTTP process has sockets for are announced
-- (atum.live_watchers, kept by each process's LISTEN connection through api.live_watch): a
-- transaction that NOTIFYs takes a cluster-wide lock at commit and keeps it until the commit is on
-- disk, so announcements nobody hears would make concurrent writers queue for nothing.

CREATE OR REPLACE FUNCTION atum_private.live_row_limit() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 500 $$;  -- no SET clause: inlined
COMMENT ON FUNCTION atum_private.live_row_limit() IS 'Most rows one statement announces one by one on atum_live; above it, one resync per organization.';

CREATE OR REPLACE FUNCTION atum_private.live_event(
    p_kind text, p_organization_id bigint, p_ticket_id bigint, p_requester_id bigint,
    p_internal boolean DEFAULT NULL, p_status atum.ticket_status DEFAULT NULL
) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- jsonb_strip_nulls: absent keys rather than nulls (the client treats "status" as optional).
    -- At most ~200 bytes, far below NOTIFY's 8000-byte payload limit. No SET clause, a qualified
    -- body, STABLE as jsonb_build_object is: inlined into the live triggers.
    SELECT pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
               'kind', p_kind, 'organization_id', p_organization_id, 'ticket_id', p_ticket_id,
               'requester_id', p_requester_id, 'internal', p_internal, 'status', p_status))::text
$$;
CREATE OR REPLACE FUNCTION api.live_watch(p_organization_ids bigint[]) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the table is internal. Called by an HTTP process's LISTEN connection with the
-- organizations it now has sockets for; rows are keyed by that connection's backend, so they end
-- with it (request_contexts_purge). Claiming organizations it has no socket for would only cost
-- notifications the caller may hear anyway: every listener on atum_live hears every announcement.
BEGIN
    DELETE FROM atum.live_watchers w
     WHERE w.listener_pid = pg_backend_pid() AND w.organization_id <> ALL (coalesce(p_organization_ids, '{}'));
    INSERT INTO atum.live_watchers (organization_id, listener_pid)
    SELECT DISTINCT o, pg_backend_pid() FROM unnest(p_organization_ids) AS o WHERE o IS NOT NULL
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION api.live_watch(bigint[]) IS 'Registers the organizations the calling LISTEN connection''s process has live sockets for (replacing the previous set); only their changes are announced on atum_live.';

COMMENT ON FUNCTION atum_private.live_event(text, bigint, bigint, bigint, boolean, atum.ticket_status) IS 'The payload of one live notification: {kind, organization_id, ticket_id, requester_id, internal?, status?} as JSON text. Ids and kinds only, never ticket content.';

CREATE OR REPLACE FUNCTION atum_private.live_resync(p_organization_ids bigint[]) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_notify('atum_live', jsonb_build_object('kind', 'resync', 'organization_id', o, 'ticket_id', 0)::text)
      FROM unnest(p_organization_ids) AS o
     WHERE EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = o)
$$;
COMMENT ON FUNCTION atum_private.live_resync(bigint[]) IS 'Tells the clients of each organization to refetch everything (after a change too big to announce row by row).';

CREATE OR REPLACE FUNCTION atum_private.tg_tickets__live() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: it reads only the transition tables, but for the same reason as the comment
-- trigger below it must behave the same whoever changes the rows (app, worker, pg_cron, psql).
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.live_watchers) THEN
        RETURN NULL;  -- nobody has a live socket open: nothing to announce, no NOTIFY lock at commit
    END IF;
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT atum_private.live_row_limit() + 1) s)
       > atum_private.live_row_limit() THEN
        PERFORM atum_private.live_resync(array_agg(DISTINCT n.organization_id)) FROM new_rows n;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('atum_live', atum_private.live_event('ticket.created', n.organization_id, n.id,
                                                               n.requester_id, NULL, n.status))
           FROM new_rows n
          WHERE EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = n.organization_id);
    ELSE
        -- Only changes a list or a ticket page shows as state: not timestamps, SLA bookkeeping or
        -- subject edits (those are seen on the next fetch).
        PERFORM pg_notify('atum_live', atum_private.live_event('ticket.updated', n.organization_id, n.id,
                                                               n.requester_id, NULL, n.status))
           FROM new_rows n
           JOIN old_rows o ON o.organization_id = n.organization_id AND o.id = n.id
          WHERE (n.status, n.assignee_id, n.priority, n.team_id)
                IS DISTINCT FROM (o.status, o.assignee_id, o.priority, o.team_id)
            AND EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = n.organization_id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets__live() IS 'Announces new tickets and changes of status, assignee, priority or team on atum_live (one resync per organization for big statements).';

DROP TRIGGER IF EXISTS _600_live_insert ON atum.tickets;
CREATE TRIGGER _600_live_insert AFTER INSERT ON atum.tickets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets__live();
COMMENT ON TRIGGER _600_live_insert ON atum.tickets IS 'Live updates: ticket.created (api/live.py).';
-- No "UPDATE OF status, …" column list: PostgreSQL refuses transition tables on such triggers,
-- so the function compares old and new rows itself.
DROP TRIGGER IF EXISTS _600_live_update ON atum.tickets;
CREATE TRIGGER _600_live_update AFTER UPDATE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets__live();
COMMENT ON TRIGGER _600_live_update ON atum.tickets IS 'Live updates: ticket.updated when status, assignee, priority or team changed (api/live.py).';

CREATE OR REPLACE FUNCTION atum_private.tg_ticket_comments__live() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the requester of the ticket decides which customer hears of the comment, and
-- the writer may not see the ticket row (mail ingestion runs without a request context, where
-- row-level security shows nothing).
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.live_watchers) THEN
        RETURN NULL;  -- nobody has a live socket open: nothing to announce, no NOTIFY lock at commit
    END IF;
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT atum_private.live_row_limit() + 1) s)
       > atum_private.live_row_limit() THEN
        PERFORM atum_private.live_resync(array_agg(DISTINCT n.organization_id)) FROM new_rows n;
        RETURN NULL;
    END IF;
    PERFORM pg_notify('atum_live', atum_private.live_event('comment.created', n.organization_id, n.ticket_id,
                                                           t.requester_id, n.is_internal, NULL))
       FROM new_rows n
       JOIN atum.tickets t ON t.organization_id = n.organization_id AND t.id = n.ticket_id
      WHERE EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = n.organization_id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_ticket_comments__live() IS 'Announces new comments on atum_live with the ticket''s requester and whether the comment is internal.';

DROP TRIGGER IF EXISTS _600_live ON atum.ticket_comments;
CREATE TRIGGER _600_live AFTER INSERT ON atum.ticket_comments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_ticket_comments__live();
COMMENT ON TRIGGER _600_live ON atum.ticket_comments IS 'Live updates: comment.created (api/live.py).';

CREATE OR REPLACE FUNCTION atum_private.tg_sla_events__live() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the pg_cron sweep records these without a request context.
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.live_watchers) THEN
        RETURN NULL;  -- nobody has a live socket open: nothing to announce, no NOTIFY lock at commit
    END IF;
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT atum_private.live_row_limit() + 1) s)
       > atum_private.live_row_limit() THEN
        PERFORM atum_private.live_resync(array_agg(DISTINCT n.organization_id)) FROM new_rows n;
        RETURN NULL;
    END IF;
    PERFORM pg_notify('atum_live', atum_private.live_event('sla.event', n.organization_id, n.ticket_id,
                                                           t.requester_id, NULL, t.status))
       FROM new_rows n
       JOIN atum.tickets t ON t.organization_id = n.organization_id AND t.id = n.ticket_id
      WHERE EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = n.organization_id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_sla_events__live() IS 'Announces SLA warnings and breaches on atum_live (staff only: api/live.py never sends them to customers).';

DROP TRIGGER IF EXISTS _600_live ON atum.sla_events;
CREATE TRIGGER _600_live AFTER INSERT ON atum.sla_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_sla_events__live();
COMMENT ON TRIGGER _600_live ON atum.sla_events IS 'Live updates: sla.event (api/live.py).';

-- Ended sessions and changed users: every HTTP process closes the sockets concerned at once
-- (a sign-out may reach another process than the one holding its tabs, and an admin's
-- deactivation or role change reaches none of them directly). Row-level: these are single-row
-- changes, and the payload names a session by the SHA-256 the table keeps, never the token.
CREATE OR REPLACE FUNCTION atum_private.tg_sessions__live() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the watcher table is internal, and the writer may be the app.
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = NEW.organization_id) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('atum_live', jsonb_build_object('kind', 'session.ended', 'organization_id', NEW.organization_id,
                                                      'session', encode(NEW.token_hash, 'hex'))::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_sessions__live() IS 'Announces an ended session on atum_live (by the hex SHA-256 of its token): its sockets close with 4401 in every process.';

DROP TRIGGER IF EXISTS _600_live ON atum.sessions;
CREATE TRIGGER _600_live AFTER UPDATE OF revoked_at ON atum.sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION atum_private.tg_sessions__live();
COMMENT ON TRIGGER _600_live ON atum.sessions IS 'Live updates: session.ended, so every process closes the session''s sockets (api/live.py).';

CREATE OR REPLACE FUNCTION atum_private.tg_users__live() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the watcher table is internal, and the writer may be the app.
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.live_watchers w WHERE w.organization_id = NEW.organization_id) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('atum_live', jsonb_build_object('kind', 'user.changed', 'organization_id', NEW.organization_id,
                                                      'user_id', NEW.id)::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_users__live() IS 'Announces on atum_live that a user was deactivated or changed role: their sockets close with 4401 and reconnect as who they now are, if they still may.';

DROP TRIGGER IF EXISTS _600_live ON atum.users;
CREATE TRIGGER _600_live AFTER UPDATE OF role, is_active ON atum.users
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role OR (OLD.is_active AND NOT NEW.is_active))
    EXECUTE FUNCTION atum_private.tg_users__live();
COMMENT ON TRIGGER _600_live ON atum.users IS 'Live updates: user.changed on deactivation or a role change (api/live.py).';

CREATE OR REPLACE FUNCTION api.live_identity(p_token text) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: like api.authenticate, the token is looked up across organizations. Unlike it,
-- this only looks: an open tab re-checking its session must not count as activity, or a
-- forgotten tab would keep its session from ever going idle.
    SELECT jsonb_build_object('organization_id', s.organization_id, 'user_id', s.user_id, 'role', u.role)
      FROM atum.sessions s
      JOIN atum.users u ON u.organization_id = s.organization_id AND u.id = s.user_id
     WHERE p_token LIKE 'atum\_s\_%'
       AND s.token_hash = atum_private.token_hash(p_token)
       AND s.revoked_at IS NULL AND s.expires_at > now() AND s.last_seen_at + s.idle_timeout > now()
       AND u.is_active
    UNION ALL
    SELECT jsonb_build_object('organization_id', t.organization_id, 'user_id', t.user_id,
                              'role', LEAST(t.role, u.role))
      FROM atum.api_tokens t
      JOIN atum.users u ON u.organization_id = t.organization_id AND u.id = t.user_id
     WHERE p_token LIKE 'atum\_t\_%'
       AND t.token_hash = atum_private.token_hash(p_token)
       AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
       AND u.is_active
$$;
COMMENT ON FUNCTION api.live_identity(text) IS 'Who a session or API token still is — {organization_id, user_id, role} — or NULL when it has ended; does not count as activity. The live-update server re-checks open WebSockets with it.';
