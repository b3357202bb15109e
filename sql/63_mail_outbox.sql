-- Outbound notifications (SPEC 7): events write them into atum.mail_outbox in their own
-- transaction; the worker renders and sends them (jobs/mail_out.py, job mail.send).
--
-- Who is told what (triggers below; the templates are jobs/templates/<kind>.*):
--   ticket_received  a ticket opened by its requester (portal, API) or by e-mail -> the requester
--                    (the acknowledgement with the ticket's reference: the one notification that
--                    goes to the person who acted, because telling them is its whole point)
--   staff_reply      a public comment written by staff -> the requester
--   assigned         a new assignee -> the assignee (not when they assigned themselves)
--   resolved         the status became RESOLVED -> the requester
--   sla_warning/_breach  job sla.notify (sql/47_sla_sweep.sql) -> active managers and admins
--   password_reset/invitation  jobs mail.password_reset / mail.invitation (sql/52_api_auth.sql)
-- Never to the user whose action it announces, never to an inactive user, never to an address
-- marked undeliverable (users.email_undeliverable_at, set by bounces).
--
-- Live events only: a change made by a signed-in user (a request context), or a ticket or
-- comment written while ingestion processes a message (it names the message in the
-- transaction-local setting atum.mail_message_id). Writers without a context — imports,
-- `atumdesk demo`, a DBA in psql, pg_cron — change data without telling anyone, so loading
-- history sends no mail.
--
-- Auto-submitted mail (RFC 3834): ingestion never opens a ticket from an auto-reply, bounce or
-- bulk message, and what it adds from one to a ticket is an internal system note (notes notify
-- nobody). The only notification that answers an inbound message is the acknowledgement of a
-- ticket opened by e-mail; it is not queued when the message that opens the ticket is recorded in
-- atum.mail_messages as auto-submitted, and not sent if that shows only later.
--
-- The state machine of a notification (trigger below, invariants as CHECK constraints):
--   queued -> sending -> sent | failed, sending -> sending (a retry), queued -> failed.
-- "sending" means: its Message-ID, Date, In-Reply-To and References are fixed and committed, and
-- it has been handed to SMTP at least once; sent and failed are final.

-- ---------------------------------------------------------------------------------------------
-- What the templates see
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.mail_user_json(u atum.users) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- No SET clause: inlined into the set-based statements below (pinned search_path there).
    SELECT pg_catalog.jsonb_build_object('id', u.id, 'email', u.email, 'role', u.role,
                                         'name', coalesce(nullif(pg_catalog.btrim(u.display_name), ''), u.email))
$$;
COMMENT ON FUNCTION atum_private.mail_user_json(atum.users) IS 'A user as notification templates see them: id, name (the e-mail address when there is no display name), e-mail, role.';

CREATE OR REPLACE FUNCTION atum_private.mail_ticket_context(t atum.tickets) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    -- No SET clause, as above. The organization and the ticket as templates show them; the
    -- reference is also the subject token that replies are matched by.
    SELECT pg_catalog.jsonb_build_object(
        'organization', pg_catalog.jsonb_build_object('id', o.id, 'name', o.name, 'slug', o.slug, 'time_zone', o.time_zone,
                                                      'reopen_window_days', o.reopen_window_days),
        'ticket', pg_catalog.jsonb_build_object('id', t.id, 'number', t.number, 'reference', o.ticket_prefix || '-' || t.number,
                                                'subject', t.subject, 'status', t.status, 'priority', t.priority,
                                                'channel', t.channel, 'created_at', t.created_at,
                                                'requester_name', (SELECT coalesce(nullif(pg_catalog.btrim(r.display_name), ''), r.email)
                                                                     FROM atum.users r
                                                                    WHERE r.organization_id = t.organization_id AND r.id = t.requester_id)))
      FROM atum.organizations o
     WHERE o.id = t.organization_id
$$;
COMMENT ON FUNCTION atum_private.mail_ticket_context(atum.tickets) IS 'The organization and ticket part of a notification''s context (name, reference, subject, status, priority, requester''s name).';

CREATE OR REPLACE FUNCTION atum_private.mail_actor() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- PL/pgSQL keeps the plan for the session (every ticket change asks for it).
    RETURN (SELECT atum_private.mail_user_json(u)
              FROM atum.request_context c JOIN atum.users u ON u.organization_id = c.organization_id AND u.id = c.user_id);
END
$$;
COMMENT ON FUNCTION atum_private.mail_actor() IS 'The signed-in user whose action a notification announces (NULL without a request context).';

CREATE OR REPLACE FUNCTION atum_private.mail_opened_by_auto_submitted(p_organization_id bigint, p_ticket_id bigint) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Ingestion (sql/62_mail_ingest.sql) records every inbound message first, with auto_submitted
    -- set for machine-sent mail (RFC 3834 Auto-Submitted, Precedence, X-Auto-Response-Suppress,
    -- mailer-daemon and noreply senders), and names the message it is ingesting in the
    -- transaction-local setting atum.mail_message_id while it writes; later the row points at the
    -- ticket it opened. Either way: a ticket opened by such a message gets no acknowledgement — an
    -- auto-reply answering an auto-reply is a mail loop. (Ingestion opens no ticket from one today;
    -- this holds should that ever change.)
    SELECT EXISTS (SELECT 1 FROM atum.mail_messages m
                    WHERE m.organization_id = p_organization_id AND m.direction = 'inbound'
                      AND m.auto_submitted IS NOT NULL
                      AND (m.message_id = nullif(current_setting('atum.mail_message_id', true), '')
                           OR (m.ticket_id = p_ticket_id AND m.disposition IN ('ticket_created', 'followup_created'))))
$$;
COMMENT ON FUNCTION atum_private.mail_opened_by_auto_submitted(bigint, bigint) IS 'True when the inbound message that opens (or opened) the ticket was recorded as auto-submitted: its acknowledgement is not sent (RFC 3834).';

-- ---------------------------------------------------------------------------------------------
-- The events
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.tg_tickets_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: whoever acts (a customer too) queues mail to people they cannot see.
-- Statement-level and set-based: one INSERT per kind, whatever the number of rows.
DECLARE
    v_actor_id bigint;
    v_role     atum.user_role;
    v_actor    jsonb;
    v_mail     boolean := nullif(current_setting('atum.mail_message_id', true), '') IS NOT NULL;
BEGIN
    SELECT c.user_id, c.role INTO v_actor_id, v_role FROM atum.request_context c;
    IF TG_OP = 'UPDATE' THEN
        -- Most updates (accepting, replying, SLA bookkeeping) notify nobody: one cheap look at the
        -- transition tables decides, before the actor is looked up or any insert is planned.
        IF v_actor_id IS NULL OR NOT EXISTS (
               SELECT FROM new_rows n JOIN old_rows o ON o.organization_id = n.organization_id AND o.id = n.id
                WHERE (n.assignee_id IS DISTINCT FROM o.assignee_id AND n.assignee_id <> v_actor_id)
                   OR (n.status = 'RESOLVED' AND o.status <> 'RESOLVED' AND n.requester_id <> v_actor_id)) THEN
            RETURN NULL;  -- system changes (imports, pg_cron, psql) notify nobody either
        END IF;
    ELSIF (v_actor_id IS NULL AND NOT v_mail) OR (v_actor_id IS NOT NULL AND v_role IS DISTINCT FROM 'customer') THEN
        -- New tickets are acknowledged only to a customer opening their own, or to a sender by
        -- mail: staff and imports stop here, before an INSERT of nothing would still run the
        -- outbox's statement triggers (its audit among them).
        RETURN NULL;
    END IF;
    IF v_actor_id IS NOT NULL THEN
        v_actor := atum_private.mail_actor();
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- Opened by its requester through the portal or the API, or by e-mail (ingestion has no
        -- context, and names the message it is ingesting).
        INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, ticket_id, context)
        SELECT n.organization_id, 'ticket_received', u.id, u.email, n.id,
               atum_private.mail_ticket_context(n)
               || jsonb_build_object('recipient', atum_private.mail_user_json(u), 'actor', v_actor,
                                     'description', left(n.description, 20000))
          FROM new_rows n
          JOIN atum.users u ON u.organization_id = n.organization_id AND u.id = n.requester_id
         WHERE CASE WHEN v_actor_id IS NULL THEN n.channel = 'email' AND v_mail
                    ELSE n.requester_id = v_actor_id AND v_role = 'customer' END
           AND u.is_active AND u.email_undeliverable_at IS NULL
           AND NOT atum_private.mail_opened_by_auto_submitted(n.organization_id, n.id);
        RETURN NULL;
    END IF;

    -- A new assignee hears of it, unless they took the ticket themselves.
    INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, ticket_id, context)
    SELECT n.organization_id, 'assigned', u.id, u.email, n.id,
           atum_private.mail_ticket_context(n)
           || jsonb_build_object('recipient', atum_private.mail_user_json(u), 'actor', v_actor)
      FROM new_rows n
      JOIN old_rows o ON o.organization_id = n.organization_id AND o.id = n.id
      JOIN atum.users u ON u.organization_id = n.organization_id AND u.id = n.assignee_id
     WHERE n.assignee_id IS DISTINCT FROM o.assignee_id AND n.assignee_id <> v_actor_id
       AND u.role <> 'customer' AND u.is_active AND u.email_undeliverable_at IS NULL;
    -- The requester hears that their ticket was resolved (and how long they may reopen it).
    INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, ticket_id, context)
    SELECT n.organization_id, 'resolved', u.id, u.email, n.id,
           atum_private.mail_ticket_context(n)
           || jsonb_build_object('recipient', atum_private.mail_user_json(u), 'actor', v_actor,
                                 'reason', atum_private.status_reason())
      FROM new_rows n
      JOIN old_rows o ON o.organization_id = n.organization_id AND o.id = n.id
      JOIN atum.users u ON u.organization_id = n.organization_id AND u.id = n.requester_id
     WHERE n.status = 'RESOLVED' AND o.status <> 'RESOLVED' AND n.requester_id <> v_actor_id
       AND u.is_active AND u.email_undeliverable_at IS NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_tickets_notify() IS 'Queues the notifications of ticket events: received (to the requester, for tickets opened by them or by e-mail), assigned (to the new assignee), resolved (to the requester); never to the actor, an inactive user or an undeliverable address.';

DROP TRIGGER IF EXISTS _500_notify_insert ON atum.tickets;
CREATE TRIGGER _500_notify_insert AFTER INSERT ON atum.tickets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_notify();
COMMENT ON TRIGGER _500_notify_insert ON atum.tickets IS 'Acknowledges new tickets to their requester (mail outbox).';
DROP TRIGGER IF EXISTS _500_notify_update ON atum.tickets;
CREATE TRIGGER _500_notify_update AFTER UPDATE ON atum.tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_tickets_notify();
COMMENT ON TRIGGER _500_notify_update ON atum.tickets IS 'Notifies new assignees and the requesters of resolved tickets (mail outbox).';

CREATE OR REPLACE FUNCTION atum_private.tg_ticket_comments_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER as above. A public reply by staff goes to the requester: written in the app
-- (a request context), or written by ingestion for the message it processes (no context, channel
-- email; today ingestion makes staff mail an internal note, which notifies nobody).
DECLARE
    v_actor_id bigint := (SELECT c.user_id FROM atum.request_context c);
BEGIN
    INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, ticket_id, comment_id, context)
    SELECT n.organization_id, 'staff_reply', u.id, u.email, t.id, n.id,
           atum_private.mail_ticket_context(t)
           || jsonb_build_object('recipient', atum_private.mail_user_json(u), 'actor', atum_private.mail_user_json(a),
                                 'comment', jsonb_build_object('id', n.id, 'body', left(n.body, 100000),
                                                               'author_name', atum_private.mail_user_json(a) ->> 'name',
                                                               'created_at', n.created_at))
      FROM new_rows n
      JOIN atum.users a ON a.organization_id = n.organization_id AND a.id = n.author_id
      JOIN atum.tickets t ON t.organization_id = n.organization_id AND t.id = n.ticket_id
      JOIN atum.users u ON u.organization_id = t.organization_id AND u.id = t.requester_id
     WHERE NOT n.is_internal AND a.role <> 'customer'
       AND (v_actor_id IS NOT NULL OR (n.channel = 'email' AND nullif(current_setting('atum.mail_message_id', true), '') IS NOT NULL))
       AND u.id <> n.author_id AND u.id IS DISTINCT FROM v_actor_id
       AND u.is_active AND u.email_undeliverable_at IS NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_ticket_comments_notify() IS 'Queues a staff_reply notification to the requester for every public comment written by staff (not to its author).';

DROP TRIGGER IF EXISTS _500_notify ON atum.ticket_comments;
CREATE TRIGGER _500_notify AFTER INSERT ON atum.ticket_comments
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_ticket_comments_notify();
COMMENT ON TRIGGER _500_notify ON atum.ticket_comments IS 'Sends public staff replies to the requester (mail outbox).';

CREATE OR REPLACE FUNCTION atum_private.mail_queue_sla(p_organization_id bigint, p_job_id bigint, p_event_ids bigint[])
RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Called by the worker for job sla.notify (as the owner). One notification per manager (and
-- admin: they rank above managers) and kind: one about a single ticket is threaded with it; one
-- about several is a digest (listing at most 200). The dedupe key makes a second run of the same
-- job (after a crash before it was marked done) queue nothing.
DECLARE
    v_count integer;
BEGIN
    WITH events AS (
        SELECT e.kind, e.ticket_id, e.due_at, e.id,
               (atum_private.mail_ticket_context(t) -> 'ticket')
               || jsonb_build_object('ticket_id', t.id, 'event_id', e.id, 'kind', e.kind, 'clock', e.clock,
                                     'due_at', e.due_at, 'recorded_at', e.recorded_at) AS event,
               atum_private.mail_ticket_context(t) AS context
          FROM atum.sla_events e
          JOIN atum.tickets t ON t.organization_id = e.organization_id AND t.id = e.ticket_id
         WHERE e.organization_id = p_organization_id AND e.id = ANY (p_event_ids)
    ), grouped AS (
        SELECT ev.kind, count(*) AS event_count, count(DISTINCT ev.ticket_id) AS ticket_count,
               min(ev.ticket_id) AS ticket_id, (array_agg(ev.context))[1] AS context,
               (array_agg(ev.event ORDER BY ev.due_at, ev.id))[1:200] AS events
          FROM events ev
         GROUP BY ev.kind
    ), queued AS (
        INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, ticket_id, context, dedupe_key)
        SELECT p_organization_id, CASE g.kind WHEN 'warning' THEN 'sla_warning' ELSE 'sla_breach' END::atum.mail_kind,
               u.id, u.email, CASE WHEN g.ticket_count = 1 THEN g.ticket_id END,
               jsonb_build_object('organization', g.context -> 'organization',
                                  'ticket', CASE WHEN g.ticket_count = 1 THEN g.context -> 'ticket' END,
                                  'recipient', atum_private.mail_user_json(u), 'events', to_jsonb(g.events),
                                  'event_count', g.event_count, 'ticket_count', g.ticket_count),
               format('sla.notify:%s:%s:%s', p_job_id, g.kind, u.id)
          FROM grouped g
          JOIN atum.users u ON u.organization_id = p_organization_id
         WHERE u.role IN ('manager', 'admin') AND u.is_active AND u.email_undeliverable_at IS NULL
        ON CONFLICT ON CONSTRAINT mail_outbox_dedupe_key_key DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM queued;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION atum_private.mail_queue_sla(bigint, bigint, bigint[]) IS 'Job sla.notify: queues one sla_warning and/or sla_breach notification per active manager and admin for the listed SLA events (once per job); returns how many were queued.';

CREATE OR REPLACE FUNCTION atum_private.mail_queue_token(
    p_organization_id bigint, p_job_id bigint, p_kind atum.mail_kind, p_user_id bigint, p_token text,
    p_invited_by bigint DEFAULT NULL
) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Called by the worker for jobs mail.password_reset and mail.invitation (as the owner). The token
-- moves from the job's payload into the notification's secret column, which the app cannot read,
-- the audit trail redacts, and the state machine clears once the mail is sent or given up. A token
-- that is no longer valid (used, replaced by a newer one, expired) is not sent at all.
DECLARE
    v_token record;
    v_id    bigint;
BEGIN
    IF p_kind NOT IN ('password_reset', 'invitation') THEN
        RAISE EXCEPTION 'mail kind % carries no token', p_kind USING ERRCODE = '22023';
    END IF;
    -- The token leaves the job's payload in the same transaction: from here on the outbox holds
    -- it (or nothing does), and the finished job kept for a week (atum.jobs_purge) shows none.
    UPDATE atum.jobs j SET payload = j.payload - 'token' WHERE j.id = p_job_id;
    SELECT t.expires_at INTO v_token FROM atum.user_tokens t
     WHERE t.token_hash = atum_private.token_hash(p_token) AND t.organization_id = p_organization_id
       AND t.user_id = p_user_id AND t.purpose::text = p_kind::text AND t.used_at IS NULL AND t.expires_at > now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, context, secret, dedupe_key)
    SELECT u.organization_id, p_kind, u.id, u.email,
           jsonb_build_object(
               'organization', jsonb_build_object('id', o.id, 'name', o.name, 'slug', o.slug, 'time_zone', o.time_zone),
               'recipient', atum_private.mail_user_json(u), 'expires_at', v_token.expires_at,
               'invited_by', (SELECT atum_private.mail_user_json(i) FROM atum.users i
                               WHERE i.organization_id = u.organization_id AND i.id = p_invited_by)),
           p_token, format('job:%s', p_job_id)
      FROM atum.users u JOIN atum.organizations o ON o.id = u.organization_id
     WHERE u.organization_id = p_organization_id AND u.id = p_user_id
       AND u.is_active AND u.email_undeliverable_at IS NULL
    ON CONFLICT ON CONSTRAINT mail_outbox_dedupe_key_key DO NOTHING
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION atum_private.mail_queue_token(bigint, bigint, atum.mail_kind, bigint, text, bigint) IS 'Jobs mail.password_reset and mail.invitation: queues the mail carrying a still valid single-use token (kept as the notification''s secret until sent); returns its id, or NULL when nothing is to be sent.';

-- ---------------------------------------------------------------------------------------------
-- The outbox itself: every queued row gets its job; the state machine
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.tg_mail_outbox_enqueue() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the job queue is internal. In the same transaction as the row, so a committed
-- notification always has its job, and a rolled-back event leaves neither. The dedupe key keeps
-- one pending job per notification.
BEGIN
    PERFORM atum_private.job_enqueue('mail.send', jsonb_build_object('outbox_id', n.id), n.organization_id,
                                     format('outbox:%s:%s', n.organization_id, n.id))
       FROM new_rows n
      WHERE n.state = 'queued'
      ORDER BY n.organization_id, n.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_mail_outbox_enqueue() IS 'Queues a mail.send job for every new queued notification (same transaction).';

DROP TRIGGER IF EXISTS _100_enqueue ON atum.mail_outbox;
CREATE TRIGGER _100_enqueue AFTER INSERT ON atum.mail_outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_mail_outbox_enqueue();
COMMENT ON TRIGGER _100_enqueue ON atum.mail_outbox IS 'Every queued notification gets its mail.send job in the same transaction.';

CREATE OR REPLACE FUNCTION atum_private.tg_mail_outbox_state() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
-- The state machine, for every writer: sent and failed are final; a Message-ID, once given, never
-- changes (a resend must carry the same one, so that mail clients collapse a duplicate); the
-- secret goes when the mail is done with.
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state
       AND (OLD.state, NEW.state) NOT IN (('queued'::atum.mail_outbox_state, 'sending'::atum.mail_outbox_state),
                                          ('queued', 'failed'), ('sending', 'sent'), ('sending', 'failed')) THEN
        RAISE EXCEPTION 'a notification cannot move from % to %', OLD.state, NEW.state
            USING ERRCODE = 'AT491', COLUMN = 'state';
    END IF;
    IF OLD.message_id IS NOT NULL AND NEW.message_id IS DISTINCT FROM OLD.message_id THEN
        RAISE EXCEPTION 'the Message-ID of a notification never changes' USING ERRCODE = 'AT491', COLUMN = 'message_id';
    END IF;
    IF OLD.state IN ('sent', 'failed') AND (NEW.kind, NEW.recipient_id, NEW.context, NEW.subject, NEW.to_address)
                                           IS DISTINCT FROM (OLD.kind, OLD.recipient_id, OLD.context, OLD.subject, OLD.to_address) THEN
        RAISE EXCEPTION 'a % notification is final', OLD.state USING ERRCODE = 'AT491', COLUMN = 'state';
    END IF;
    IF NEW.state IN ('sent', 'failed') THEN
        NEW.secret := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_mail_outbox_state() IS 'Notification state machine: queued -> sending -> sent | failed (queued -> failed), final states stay, the Message-ID never changes, secrets are cleared when done.';

DROP TRIGGER IF EXISTS _100_state ON atum.mail_outbox;
CREATE TRIGGER _100_state BEFORE UPDATE ON atum.mail_outbox
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_mail_outbox_state();
COMMENT ON TRIGGER _100_state ON atum.mail_outbox IS 'The notification state machine.';

-- ---------------------------------------------------------------------------------------------
-- The worker's steps (jobs/mail_out.py, as the owner): load, begin, sent | failed | note
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.mail_outbox_load(p_organization_id bigint, p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The notification, locked for this transaction, with what sending it needs to know now: the
-- recipient as they are now, the organization's own templates for the kind, whether a token it
-- carries is still good, and whether it would answer an auto-submitted message. NULL: no such row.
DECLARE
    v_row atum.mail_outbox;
BEGIN
    SELECT * INTO v_row FROM atum.mail_outbox o
     WHERE o.organization_id = p_organization_id AND o.id = p_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN to_jsonb(v_row) || jsonb_build_object(
        'recipient', (SELECT atum_private.mail_user_json(u) || jsonb_build_object(
                                 'is_active', u.is_active, 'is_undeliverable', u.email_undeliverable_at IS NOT NULL)
                        FROM atum.users u WHERE u.organization_id = v_row.organization_id AND u.id = v_row.recipient_id),
        'organization_name', (SELECT o.name FROM atum.organizations o WHERE o.id = v_row.organization_id),
        'templates', (SELECT jsonb_build_object('subject', t.subject, 'body_text', t.body_text, 'body_html', t.body_html)
                        FROM atum.mail_templates t WHERE t.organization_id = v_row.organization_id AND t.kind = v_row.kind),
        'token_valid', CASE WHEN v_row.secret IS NOT NULL THEN EXISTS (
                                SELECT 1 FROM atum.user_tokens t
                                 WHERE t.token_hash = atum_private.token_hash(v_row.secret)
                                   AND t.organization_id = v_row.organization_id AND t.used_at IS NULL AND t.expires_at > now()) END,
        'answers_auto_submitted', v_row.kind = 'ticket_received' AND v_row.ticket_id IS NOT NULL
                                  AND atum_private.mail_opened_by_auto_submitted(v_row.organization_id, v_row.ticket_id));
END
$$;
COMMENT ON FUNCTION atum_private.mail_outbox_load(bigint, bigint) IS 'Worker: a notification (locked) with its recipient as now, the organization''s templates for its kind, token validity and the auto-submitted check; NULL when it does not exist.';

CREATE OR REPLACE FUNCTION atum_private.mail_outbox_begin(
    p_organization_id bigint, p_id bigint, p_message_id text, p_subject text, p_from_address text
) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Worker, before each SMTP attempt; committed before the worker talks to SMTP. The first attempt
-- fixes Message-ID (the worker's candidate: only it knows the mail domain), Date, Reply-To,
-- In-Reply-To and References; later attempts keep them. The message is recorded in
-- atum.mail_messages now, so that a reply threads back even if the worker dies right after SMTP
-- accepted it. Returns the row as it will be sent; NULL when it is no longer to be sent.
DECLARE
    v_row      atum.mail_outbox;
    v_thread   text[];
    v_reply_to text;
BEGIN
    SELECT * INTO v_row FROM atum.mail_outbox o
     WHERE o.organization_id = p_organization_id AND o.id = p_id AND o.state IN ('queued', 'sending')
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_row.sending_at IS NULL THEN
        -- The recipient's side of the ticket's conversation: what they wrote to us (the requester's
        -- mail) and what we wrote to them, oldest first.
        SELECT array_agg(m.message_id ORDER BY m.created_at, m.id) INTO v_thread
          FROM atum.mail_messages m
          LEFT JOIN atum.mail_outbox o ON o.organization_id = m.organization_id AND o.message_id = m.message_id
          JOIN atum.tickets t ON t.organization_id = m.organization_id AND t.id = m.ticket_id
         WHERE m.organization_id = v_row.organization_id AND m.ticket_id = v_row.ticket_id
           AND ((m.direction = 'inbound' AND t.requester_id = v_row.recipient_id
                 AND m.disposition IN ('ticket_created', 'followup_created', 'comment_added'))
                OR (m.direction = 'outbound' AND m.disposition IN ('sending', 'sent')
                    AND o.recipient_id = v_row.recipient_id AND o.id <> v_row.id));
        SELECT b.address INTO v_reply_to FROM atum.mailboxes b
         WHERE b.organization_id = v_row.organization_id AND b.is_active ORDER BY b.id LIMIT 1;
    END IF;
    UPDATE atum.mail_outbox o
       SET state = 'sending',
           message_id = coalesce(o.message_id, p_message_id),
           sending_at = coalesce(o.sending_at, now()),
           subject = coalesce(o.subject, left(p_subject, 1000)),
           attempts = o.attempts + 1,
           to_address = coalesce((SELECT u.email FROM atum.users u
                                   WHERE u.organization_id = o.organization_id AND u.id = o.recipient_id), o.to_address),
           in_reply_to = CASE WHEN o.sending_at IS NULL THEN v_thread[cardinality(v_thread)] ELSE o.in_reply_to END,
           -- RFC 5322 3.6.4: keep the thread's first message and the latest ones, not all of them.
           thread_references = CASE WHEN o.sending_at IS NULL AND cardinality(v_thread) > 0
                                    THEN CASE WHEN cardinality(v_thread) <= 11 THEN v_thread
                                              ELSE v_thread[1:1] || v_thread[cardinality(v_thread) - 9:cardinality(v_thread)] END
                                    ELSE o.thread_references END,
           reply_to = CASE WHEN o.sending_at IS NULL THEN v_reply_to ELSE o.reply_to END
     WHERE o.organization_id = v_row.organization_id AND o.id = v_row.id
    RETURNING * INTO v_row;
    INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, comment_id, from_address, subject, disposition)
    VALUES (v_row.organization_id, 'outbound', v_row.message_id, v_row.ticket_id, v_row.comment_id,
            left(p_from_address, 320), v_row.subject, 'sending')
    ON CONFLICT ON CONSTRAINT mail_messages_message_id_key DO NOTHING;
    RETURN to_jsonb(v_row);
END
$$;
COMMENT ON FUNCTION atum_private.mail_outbox_begin(bigint, bigint, text, text, text) IS 'Worker, before an SMTP attempt: moves the notification to sending, fixes its Message-ID and threading headers on the first attempt, records it in atum.mail_messages; returns it (NULL when already sent or failed).';

CREATE OR REPLACE FUNCTION atum_private.mail_outbox_finish(p_organization_id bigint, p_id bigint, p_error text DEFAULT NULL)
RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Worker, after SMTP answered for good: p_error NULL means accepted (sent), otherwise refused for
-- good or given up (failed). The secret is cleared by the state machine either way.
DECLARE
    v_message_id text;
BEGIN
    UPDATE atum.mail_outbox o
       SET state = CASE WHEN p_error IS NULL THEN 'sent' ELSE 'failed' END::atum.mail_outbox_state,
           sent_at = CASE WHEN p_error IS NULL THEN now() END,
           failed_at = CASE WHEN p_error IS NOT NULL THEN now() END,
           last_error = CASE WHEN p_error IS NULL THEN o.last_error ELSE left(p_error, 2000) END
     WHERE o.organization_id = p_organization_id AND o.id = p_id
       AND o.state IN (CASE WHEN p_error IS NULL THEN 'sending' ELSE 'queued' END::atum.mail_outbox_state, 'sending')
    RETURNING o.message_id INTO v_message_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE atum.mail_messages m SET disposition = CASE WHEN p_error IS NULL THEN 'sent' ELSE 'failed' END
     WHERE m.organization_id = p_organization_id AND m.message_id = v_message_id AND m.direction = 'outbound';
    RETURN true;
END
$$;
COMMENT ON FUNCTION atum_private.mail_outbox_finish(bigint, bigint, text) IS 'Worker: marks a notification sent (p_error NULL) or failed (with the reason); false when it was not in a state that allows it.';

CREATE OR REPLACE FUNCTION atum_private.mail_outbox_note(p_organization_id bigint, p_id bigint, p_error text) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- A temporary failure: the job is retried with backoff; admins see why it waits.
    UPDATE atum.mail_outbox o SET last_error = left(p_error, 2000)
     WHERE o.organization_id = p_organization_id AND o.id = p_id AND o.state IN ('queued', 'sending')
       AND o.last_error IS DISTINCT FROM left(p_error, 2000);
$$;
COMMENT ON FUNCTION atum_private.mail_outbox_note(bigint, bigint, text) IS 'Worker: records why a notification is still waiting (a temporary failure; its job is retried).';

CREATE OR REPLACE FUNCTION atum_private.mail_template_failed(p_organization_id bigint, p_kind atum.mail_kind, p_error text)
RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- The organization's template could not be rendered and the default was sent instead: the
    -- admins see why on the template (GET /api/v1/admin/mail-templates/{kind}).
    UPDATE atum.mail_templates t SET render_error = left(p_error, 2000), render_error_at = now()
     WHERE t.organization_id = p_organization_id AND t.kind = p_kind
       AND t.render_error IS DISTINCT FROM left(p_error, 2000);
$$;
COMMENT ON FUNCTION atum_private.mail_template_failed(bigint, atum.mail_kind, text) IS 'Worker: records that an organization''s template failed to render (the default was used).';

-- ---------------------------------------------------------------------------------------------
-- Admin API: the organization's templates, and the outbox
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.mail_kind_of(p_kind text) RETURNS atum.mail_kind
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- A kind names the resource in the route, so an unknown one is a 404 like any missing record.
BEGIN
    IF p_kind IS NULL OR NOT p_kind = ANY (enum_range(NULL::atum.mail_kind)::text[]) THEN
        RAISE EXCEPTION 'no mail template %', quote_nullable(left(p_kind, 100)) USING ERRCODE = 'AT404', COLUMN = 'kind',
            HINT = 'Kinds: ' || array_to_string(enum_range(NULL::atum.mail_kind)::text[], ', ') || '.';
    END IF;
    RETURN p_kind::atum.mail_kind;
END
$$;
COMMENT ON FUNCTION atum.mail_kind_of(text) IS 'The mail kind named in a route (AT404 for an unknown one).';

CREATE OR REPLACE FUNCTION atum.mail_template_json(p_kind atum.mail_kind) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('kind', p_kind, 'is_overridden', t.id IS NOT NULL, 'subject', t.subject,
                              'body_text', t.body_text, 'body_html', t.body_html, 'render_error', t.render_error,
                              'render_error_at', t.render_error_at, 'updated_by', t.updated_by, 'updated_at', t.updated_at)
      FROM (SELECT 1) AS one
      LEFT JOIN atum.mail_templates t
             ON t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.kind = p_kind
$$;
COMMENT ON FUNCTION atum.mail_template_json(atum.mail_kind) IS 'The organization''s templates of a kind as the API shows them (parts NULL: the default is used).';

CREATE OR REPLACE FUNCTION api.mail_template_list() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('admin', 'manage mail templates');
    RETURN jsonb_build_object('items', (SELECT jsonb_agg(atum.mail_template_json(k) ORDER BY k)
                                          FROM unnest(enum_range(NULL::atum.mail_kind)) AS k),
                              'next', NULL);
END
$$;
COMMENT ON FUNCTION api.mail_template_list() IS 'Admin: every kind of notification with the organization''s own templates, if any.';

CREATE OR REPLACE FUNCTION api.mail_template_get(p_kind text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('admin', 'manage mail templates');
    RETURN atum.mail_template_json(atum.mail_kind_of(p_kind));
END
$$;
COMMENT ON FUNCTION api.mail_template_get(text) IS 'Admin: the organization''s templates of a kind (parts NULL use the default). AT404 for an unknown kind.';

CREATE OR REPLACE FUNCTION api.mail_template_put(p_kind text, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {subject?, body_text?, body_html?}: replaces the organization's templates of the kind; a part
-- absent or null uses the default. The HTTP layer has compiled each part in the jinja2 sandbox
-- before this call (templates are Python; a syntax error is a 422 naming the part) — a
-- template that still fails when rendering falls back to the default and records render_error.
DECLARE
    v_kind  atum.mail_kind;
    v_input jsonb;
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_state text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('admin', 'manage mail templates');
    v_kind := atum.mail_kind_of(p_kind);
    v_input := atum.input_check(p_body, '{subject,body_text,body_html}');
    IF coalesce(atum.input_text(v_input, 'subject'), atum.input_text(v_input, 'body_text'),
                atum.input_text(v_input, 'body_html')) IS NULL THEN
        RAISE EXCEPTION 'give at least one of subject, body_text, body_html' USING ERRCODE = 'AT422', COLUMN = 'subject',
            HINT = 'DELETE the templates to go back to the defaults.';
    END IF;
    INSERT INTO atum.mail_templates AS t (organization_id, kind, subject, body_text, body_html, updated_by)
    VALUES (v_org, v_kind, nullif(atum.input_text(v_input, 'subject'), ''), nullif(atum.input_text(v_input, 'body_text'), ''),
            nullif(atum.input_text(v_input, 'body_html'), ''), (SELECT c.user_id FROM atum.request_context c))
    ON CONFLICT ON CONSTRAINT mail_templates_kind_key DO UPDATE
       SET subject = excluded.subject, body_text = excluded.body_text, body_html = excluded.body_html,
           updated_by = excluded.updated_by, render_error = NULL, render_error_at = NULL;
    RETURN atum.mail_template_json(v_kind);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.mail_template_put(text, jsonb) IS 'Admin: sets the organization''s templates of a kind (subject, body_text, body_html; absent parts use the default). AT404 unknown kind, AT422 bad fields.';

CREATE OR REPLACE FUNCTION api.mail_template_delete(p_kind text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind atum.mail_kind;
BEGIN
    PERFORM atum.require_role('admin', 'manage mail templates');
    v_kind := atum.mail_kind_of(p_kind);
    DELETE FROM atum.mail_templates t
     WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.kind = v_kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no mail template % of this organization (the defaults are in use)', v_kind
            USING ERRCODE = 'AT404', COLUMN = 'kind';
    END IF;
    RETURN atum.mail_template_json(v_kind);
END
$$;
COMMENT ON FUNCTION api.mail_template_delete(text) IS 'Admin: removes the organization''s templates of a kind; the defaults are used again. AT404 when there were none.';

CREATE OR REPLACE FUNCTION api.mail_outbox_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: the outbox, newest first, optionally by state (e.g. failed, or queued ones waiting
-- because SMTP is not configured: last_error says so). Named columns: never the secret.
DECLARE
    v_input jsonb := atum.input_check(p_query, '{state,limit,after}');
    v_limit integer := atum.input_limit(v_input);
    v_after bigint := atum.input_bigint(v_input, 'after');
    v_state text := atum.input_enum(v_input, 'state', enum_range(NULL::atum.mail_outbox_state)::text[]);
    v_items jsonb[];
BEGIN
    PERFORM atum.require_role('admin', 'read the mail outbox');
    SELECT array_agg(to_jsonb(o) ORDER BY o.id DESC) INTO v_items
      FROM (SELECT o.id, o.kind, o.state, o.recipient_id, o.to_address, o.ticket_id, o.comment_id, o.subject,
                   o.message_id, o.attempts, o.last_error, o.created_at, o.sending_at, o.sent_at, o.failed_at
              FROM atum.mail_outbox o
             WHERE o.organization_id = (SELECT c.organization_id FROM atum.request_context c)
               AND (v_state IS NULL OR o.state = v_state::atum.mail_outbox_state)
               AND (v_after IS NULL OR o.id < v_after)
             ORDER BY o.id DESC LIMIT v_limit + 1) AS o;
    RETURN jsonb_build_object('items', coalesce(to_jsonb(v_items[1:v_limit]), '[]'),
                              'next', CASE WHEN cardinality(v_items) > v_limit THEN (v_items[v_limit] ->> 'id') END);
END
$$;
COMMENT ON FUNCTION api.mail_outbox_list(jsonb) IS 'Admin: the organization''s notifications, newest first, by state if given; keyset pages {"items", "next"} (never a secret).';
