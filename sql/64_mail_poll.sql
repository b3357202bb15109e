-- IMAP polling and mailbox health. pg_cron queues one 'mail.poll' job per active mailbox every
-- minute (atum.mailbox_polls_enqueue, scheduled in sql/80_cron.sql); the worker (jobs/mail_poll.py)
-- fetches new messages, hands each to ingestion, flags or moves it, and records the outcome here
-- (atum_private.mailbox_poll_*). Admins see the outcome in the mailbox JSON (api.mailbox_health)
-- and can ask for a connection check now (api.mailbox_test).
--
-- The worker logs in as the owner: the atum_private functions below are plain (SECURITY INVOKER)
-- functions that only the owner may execute.

CREATE OR REPLACE FUNCTION atum.mailbox_poll_backoff(p_failures integer) RETURNS interval
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- 1, 2, 4, 8, 16, then every 30 minutes: a wrong password is not retried every minute all
    -- night, and a short outage is over quickly.
    SELECT make_interval(mins => least(power(2, greatest(p_failures - 1, 0)), 30)::integer)
$$;
COMMENT ON FUNCTION atum.mailbox_poll_backoff(integer) IS 'How long pg_cron waits before polling a mailbox again after p_failures failed polls in a row: 1, 2, 4, 8, 16, then 30 minutes.';

CREATE OR REPLACE FUNCTION atum.mailbox_polls_enqueue() RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- One job per mailbox: the dedupe key refuses a second while one is queued or running, so a slow
-- server never piles polls up. A failing mailbox waits out its backoff, unless an admin changed its
-- settings since the failure (then at once). The 15 seconds absorb pg_cron's tick jitter, so a
-- one-minute backoff means the next tick. Three attempts: a poll that fails for a passing reason is
-- retried by the worker soon; after that the next minute's job takes over. (plpgsql rather than
-- sql only so that this file does not depend on the order in which sql/ files define the queue.)
BEGIN
    RETURN (
        SELECT count(atum_private.job_enqueue('mail.poll', jsonb_build_object('mailbox_id', m.id), m.organization_id,
                                              'mailbox:' || m.id, now(), 3))::integer
          FROM atum.mailboxes m
          LEFT JOIN atum.mailbox_health h ON h.organization_id = m.organization_id AND h.mailbox_id = m.id
         WHERE m.is_active
           AND (coalesce(h.consecutive_failures, 0) = 0
                OR m.updated_at > h.last_error_at
                OR h.last_error_at <= now() + interval '15 seconds' - atum.mailbox_poll_backoff(h.consecutive_failures)));
END
$$;
COMMENT ON FUNCTION atum.mailbox_polls_enqueue() IS 'pg_cron, every minute: queues a mail.poll job (dedupe key mailbox:<id>) for each active mailbox that has none queued or running and is not waiting out a failure backoff; returns how many were queued.';

CREATE OR REPLACE FUNCTION atum_private.mailbox_poll_lock(p_mailbox_id bigint) RETURNS boolean
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    -- A session lock, held across the poll's many transactions and dropped with its connection (a
    -- killed worker holds nothing). Two keys of int4: a space of its own, apart from bigint keys.
    -- Ids beyond 2^31 share keys with others: two such polls would merely take turns.
    SELECT pg_try_advisory_lock(hashtext('atum.mail_poll'), (p_mailbox_id % 2147483647)::integer)
$$;
COMMENT ON FUNCTION atum_private.mailbox_poll_lock(bigint) IS 'Worker: takes the session lock of a mailbox''s poll; false when another poll of it is running (cron''s job and a continuation can meet).';

CREATE OR REPLACE FUNCTION atum_private.mailbox_poll_unlock(p_mailbox_id bigint) RETURNS boolean
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_advisory_unlock(hashtext('atum.mail_poll'), (p_mailbox_id % 2147483647)::integer)
$$;
COMMENT ON FUNCTION atum_private.mailbox_poll_unlock(bigint) IS 'Worker: releases the lock taken by mailbox_poll_lock.';

CREATE OR REPLACE FUNCTION atum_private.mailbox_poll_continue(p_organization_id bigint, p_mailbox_id bigint)
RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- A poll stops after a bounded amount of work so that one full mailbox does not keep the worker
-- from the others; it queues its own continuation behind the jobs already waiting. A key of its
-- own: the running job still holds mailbox:<id>. (plpgsql: see atum.mailbox_polls_enqueue.)
BEGIN
    RETURN atum_private.job_enqueue('mail.poll', jsonb_build_object('mailbox_id', p_mailbox_id), p_organization_id,
                                    'mailbox:' || p_mailbox_id || ':more', now(), 3);
END
$$;
COMMENT ON FUNCTION atum_private.mailbox_poll_continue(bigint, bigint) IS 'Worker: queues the rest of a poll that stopped at its bound (dedupe key mailbox:<id>:more); the job id, or NULL when one is already queued.';

CREATE OR REPLACE FUNCTION atum_private.mailbox_poll_target(p_organization_id bigint, p_mailbox_id bigint)
RETURNS TABLE (
    imap_host text, imap_port integer, imap_security text, imap_username text, imap_password_encrypted bytea,
    imap_folder text, processed_folder text, is_active boolean, uid_scope text, uidvalidity bigint, last_uid bigint
)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.imap_host, m.imap_port, m.imap_security::text, m.imap_username, m.imap_password_encrypted,
           m.imap_folder, m.processed_folder, m.is_active, h.uid_scope, h.uidvalidity, coalesce(h.last_uid, 0)
      FROM atum.mailboxes m
      LEFT JOIN atum.mailbox_health h ON h.organization_id = m.organization_id AND h.mailbox_id = m.id
     WHERE m.organization_id = p_organization_id AND m.id = p_mailbox_id
$$;
COMMENT ON FUNCTION atum_private.mailbox_poll_target(bigint, bigint) IS 'Worker: a mailbox''s IMAP settings (password encrypted) and where the last poll stopped; no row when the mailbox is gone.';

CREATE OR REPLACE FUNCTION atum_private.mailbox_poll_progress(
    p_organization_id bigint, p_mailbox_id bigint, p_uid_scope text, p_uidvalidity bigint, p_last_uid bigint
) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Saved after every batch of messages that were ingested and flagged or moved, so a poll cut
    -- short (crash, timeout) resumes after them. Nothing when the mailbox was deleted meanwhile.
    INSERT INTO atum.mailbox_health AS h (organization_id, mailbox_id, uid_scope, uidvalidity, last_uid)
    SELECT m.organization_id, m.id, p_uid_scope, p_uidvalidity, coalesce(p_last_uid, 0)
      FROM atum.mailboxes m
     WHERE m.organization_id = p_organization_id AND m.id = p_mailbox_id
    ON CONFLICT (organization_id, mailbox_id) DO UPDATE
       SET uid_scope = excluded.uid_scope, uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid
$$;
COMMENT ON FUNCTION atum_private.mailbox_poll_progress(bigint, bigint, text, bigint, bigint) IS 'Worker: records that every message up to p_last_uid of the folder (p_uid_scope, p_uidvalidity) has been handled; p_uidvalidity NULL starts afresh with the unseen messages.';

CREATE OR REPLACE FUNCTION atum_private.mailbox_poll_record(
    p_organization_id bigint, p_mailbox_id bigint, p_error text, p_messages integer DEFAULT 0
) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- p_error NULL: the poll (or connection check) got through. A failure keeps the time of the
    -- last success, a success keeps the last error: admins see both, and which is newer.
    INSERT INTO atum.mailbox_health AS h (organization_id, mailbox_id, last_poll_at, last_success_at, last_error,
                                          last_error_at, consecutive_failures, last_poll_messages)
    SELECT m.organization_id, m.id, now(), CASE WHEN p_error IS NULL THEN now() END, left(p_error, 1000),
           CASE WHEN p_error IS NOT NULL THEN now() END, CASE WHEN p_error IS NULL THEN 0 ELSE 1 END,
           greatest(coalesce(p_messages, 0), 0)
      FROM atum.mailboxes m
     WHERE m.organization_id = p_organization_id AND m.id = p_mailbox_id
    ON CONFLICT (organization_id, mailbox_id) DO UPDATE
       SET last_poll_at = excluded.last_poll_at,
           last_success_at = coalesce(excluded.last_success_at, h.last_success_at),
           last_error = coalesce(excluded.last_error, h.last_error),
           last_error_at = coalesce(excluded.last_error_at, h.last_error_at),
           consecutive_failures = CASE WHEN p_error IS NULL THEN 0 ELSE h.consecutive_failures + 1 END,
           last_poll_messages = excluded.last_poll_messages
$$;
COMMENT ON FUNCTION atum_private.mailbox_poll_record(bigint, bigint, text, integer) IS 'Worker: the outcome of a poll or connection check: p_error NULL for success (failures counter reset), else the error in plain words (counter +1); p_messages handed to ingestion.';

CREATE OR REPLACE FUNCTION api.mailbox_health(p_mailbox_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the health table is internal and the mail log is not the app's to count. It
-- answers only an admin, only for a mailbox of the admin's own organization (NULL otherwise), and
-- shows nothing but the worker's outcome and a count.
    SELECT jsonb_build_object(
        'state', CASE WHEN NOT m.is_active THEN 'inactive'
                      WHEN h.last_poll_at IS NULL THEN 'pending'
                      WHEN h.last_success_at IS NULL OR h.last_error_at > h.last_success_at THEN 'failing'
                      ELSE 'ok' END,
        'last_poll_at', h.last_poll_at,
        'last_success_at', h.last_success_at,
        'last_error', h.last_error,
        'last_error_at', h.last_error_at,
        'consecutive_failures', coalesce(h.consecutive_failures, 0),
        'ingested_today', (
            SELECT count(*) FROM atum.mail_messages mm
             WHERE mm.organization_id = m.organization_id AND mm.mailbox_id = m.id AND mm.direction = 'inbound'
               AND mm.created_at >= date_trunc('day', now() AT TIME ZONE o.time_zone) AT TIME ZONE o.time_zone))
      FROM atum.request_context c
      JOIN atum.mailboxes m ON m.organization_id = c.organization_id AND m.id = p_mailbox_id
      JOIN atum.organizations o ON o.id = m.organization_id
      LEFT JOIN atum.mailbox_health h ON h.organization_id = m.organization_id AND h.mailbox_id = m.id
     WHERE c.role = 'admin'
$$;
COMMENT ON FUNCTION api.mailbox_health(bigint) IS 'Admin: how polling a mailbox of the caller''s organization goes: state (ok, failing, pending, inactive), last poll, last success, last error in plain words and when, failures in a row, messages ingested since midnight in the organization''s time zone. NULL for anyone else.';

CREATE OR REPLACE FUNCTION api.mailbox_test(p_mailbox_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: queues a job (an internal table). Checks itself that the caller is an admin and
-- that the mailbox is of the caller's organization. The HTTP layer does no IMAP: the worker
-- connects, logs in and opens the folder, and records the outcome in the mailbox's health; nothing
-- is fetched, so this works for a mailbox that is not active yet.
DECLARE
    v_org bigint;
    v_job bigint;
BEGIN
    PERFORM atum.require_role('admin', 'check mailboxes');
    SELECT m.organization_id INTO v_org
      FROM atum.mailboxes m
     WHERE m.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND m.id = p_mailbox_id;
    IF v_org IS NULL THEN
        RAISE EXCEPTION 'no mailbox %', p_mailbox_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    -- One attempt: the admin is watching, a retry minutes later would answer a question no longer asked.
    v_job := atum_private.job_enqueue('mail.poll', jsonb_build_object('mailbox_id', p_mailbox_id, 'check_only', true),
                                      v_org, 'mailbox:' || p_mailbox_id || ':test', now(), 1);
    RETURN jsonb_build_object('mailbox_id', p_mailbox_id, 'job_id', v_job);
END
$$;
COMMENT ON FUNCTION api.mailbox_test(bigint) IS 'Admin: queues a connection check of a mailbox (log in, open the folder, fetch nothing); the outcome appears in its health. job_id is NULL when a check was already waiting. AT404 when there is no such mailbox.';
