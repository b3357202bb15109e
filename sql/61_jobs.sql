-- The job queue (SPEC 2): work SQL cannot do (IMAP, SMTP, pg_dump, files) is a row of atum.jobs,
-- run by `atumdesk worker` (jobs/worker.py). pg_cron and triggers queue, the worker claims.
--
-- A job's life, one short committed transaction per arrow:
--   job_enqueue                          queued (NOTIFY atum_jobs wakes the workers)
--   job_claim   queued|failed, due    -> running, attempts + 1, locked_by = the worker
--               (the handler runs outside any of these transactions)
--   job_succeed running, still ours   -> succeeded
--   job_fail    running, still ours   -> failed (run_after = now + backoff), or dead when the error
--                                        is permanent or max_attempts is reached
--   jobs_reclaim running, worker gone -> failed and due at once (dead past max_attempts)
--
-- A worker is named after the PostgreSQL session it holds open while it works (backend pid and
-- backend start, which pg_stat_activity shows while the session lives), so the database itself
-- can tell that a worker died: its session is gone. A worker that is merely slow keeps its
-- session and its jobs. The worker and pg_cron run these functions as atum_owner (the worker acts
-- for every organization); the app role may execute none of them (sql/90_grants.sql), and the
-- admins' view (api.jobs_list, api.job_retry) shows no payload: payloads may hold secrets such as
-- password-reset tokens.

CREATE OR REPLACE FUNCTION atum_private.job_session_key(p_pid integer, p_backend_start timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Integer microseconds: a float of seconds would not compare exactly.
    SELECT p_pid::text || '@' || (extract(epoch FROM p_backend_start) * 1000000)::bigint::text
$$;
COMMENT ON FUNCTION atum_private.job_session_key(integer, timestamptz) IS 'The part of a worker id that names its PostgreSQL session: <backend pid>@<backend start in µs since 1970>; pids are reused, pid and start together are not.';

CREATE OR REPLACE FUNCTION atum_private.job_worker_id(p_label text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT left(regexp_replace(coalesce(p_label, ''), '[^A-Za-z0-9._:-]', '_', 'g'), 100) || '/'
           || atum_private.job_session_key(a.pid, a.backend_start)
      FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()
$$;
COMMENT ON FUNCTION atum_private.job_worker_id(text) IS 'The worker id of the calling session: p_label (host:pid, for people) / the session key. Valid while this session lives; job_claim accepts only the id of the session that calls it.';

CREATE OR REPLACE FUNCTION atum_private.job_worker_alive(p_worker_id text) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- A backend of another role shows no backend_start (insufficient privilege): then the pid
    -- alone decides, so a worker run under another role is never taken for dead.
    SELECT EXISTS (
        SELECT 1 FROM pg_stat_activity a
         WHERE a.pid = substring(p_worker_id FROM '/([0-9]{1,9})@-?[0-9]{1,20}$')::integer
           AND (a.backend_start IS NULL
                OR atum_private.job_session_key(a.pid, a.backend_start) = split_part(p_worker_id, '/', -1)))
$$;
COMMENT ON FUNCTION atum_private.job_worker_alive(text) IS 'Whether the session a worker id names still exists (pg_stat_activity, as of the transaction''s statistics snapshot).';

CREATE OR REPLACE FUNCTION atum_private.job_enqueue(
    p_kind text, p_payload jsonb DEFAULT '{}', p_organization_id bigint DEFAULT NULL, p_dedupe_key text DEFAULT NULL,
    p_run_after timestamptz DEFAULT now(), p_max_attempts integer DEFAULT 10)
RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Not SECURITY DEFINER: pg_cron, the worker and SECURITY DEFINER functions call it, all as the
-- owner. The notification is sent at commit, so a worker never wakes before the row is visible;
-- it is sent for future jobs too, so that sleeping workers wake at run_after rather than at their
-- next poll.
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO atum.jobs (organization_id, kind, payload, dedupe_key, run_after, max_attempts)
    VALUES (p_organization_id, p_kind, coalesce(p_payload, '{}'), p_dedupe_key, coalesce(p_run_after, now()),
            coalesce(p_max_attempts, 10))
    ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running', 'failed')
    DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NOT NULL THEN
        PERFORM pg_notify('atum_jobs', p_kind);
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION atum_private.job_enqueue(text, jsonb, bigint, text, timestamptz, integer) IS 'Queues a job and wakes the workers (NOTIFY atum_jobs, payload = kind); returns its id, or NULL when a job of the same kind and dedupe key is still pending.';

CREATE OR REPLACE FUNCTION atum_private.job_backoff(p_attempt integer, p_base interval DEFAULT '15 seconds',
                                                    p_cap interval DEFAULT '1 hour')
RETURNS interval
    LANGUAGE sql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Attempt n waits min(base * 2^(n-1), cap), less up to a quarter at random, so that jobs that
    -- failed together (a mail server down) do not all come back in the same second. The exponent is
    -- bounded before it is used: 2^40 seconds would overflow the interval.
    SELECT least(p_base * power(2, least(greatest(p_attempt, 1) - 1, 30)), p_cap) * (1 - random() / 4)
$$;
COMMENT ON FUNCTION atum_private.job_backoff(integer, interval, interval) IS 'How long a job waits after its p_attempt-th attempt failed: min(15 s * 2^(n-1), 1 h), minus up to 25% jitter.';

CREATE OR REPLACE FUNCTION atum_private.jobs_reclaim() RETURNS integer
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Running jobs whose worker's session is gone (killed, crashed, cut off) become due again at once,
-- attempts kept: a job that kills every worker that runs it ends dead after max_attempts. Called by
-- every claim and by pg_cron every minute.
--
-- Races. pg_stat_activity is a snapshot taken when first read in a transaction; a job claimed by a
-- worker whose session started after that snapshot would look orphaned. So the first statement
-- only finds candidates (cheap, no locks: nothing to do costs one index probe); the candidates are
-- then locked (SKIP LOCKED: two reclaims, or a claim, never wait for each other, and each job is
-- reclaimed once), and only then, with a fresh statistics snapshot, is the worker checked again:
-- a locked row cannot change, and a worker that claimed it had started its session before.
DECLARE
    v_ids bigint[];
    v_count integer;
    v_kinds text[];
BEGIN
    v_ids := ARRAY(SELECT j.id FROM atum.jobs j
                    WHERE j.state = 'running' AND NOT atum_private.job_worker_alive(j.locked_by));
    IF cardinality(v_ids) = 0 THEN
        RETURN 0;
    END IF;
    v_ids := ARRAY(SELECT j.id FROM atum.jobs j WHERE j.id = ANY (v_ids) AND j.state = 'running'
                    ORDER BY j.id FOR UPDATE SKIP LOCKED);
    PERFORM pg_stat_clear_snapshot();
    WITH reclaimed AS (
        UPDATE atum.jobs j
           SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'failed' END::atum.job_state,
               run_after = now(),
               finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
               last_error = format('WorkerLost: the worker %s stopped while running attempt %s of %s',
                                   j.locked_by, j.attempts, j.max_attempts)
         WHERE j.id = ANY (v_ids) AND j.state = 'running' AND NOT atum_private.job_worker_alive(j.locked_by)
        RETURNING j.kind, j.state
    )
    SELECT count(*), array_agg(DISTINCT r.kind) FILTER (WHERE r.state = 'failed') INTO v_count, v_kinds FROM reclaimed r;
    PERFORM pg_notify('atum_jobs', k) FROM unnest(v_kinds) AS k;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION atum_private.jobs_reclaim() IS 'Crash recovery (each claim, and pg_cron every minute): running jobs whose worker session is gone are due again at once (dead past max_attempts); returns how many.';

CREATE OR REPLACE FUNCTION atum_private.job_claim(p_worker_id text, p_kinds text[])
RETURNS TABLE (id bigint, kind text, organization_id bigint, payload jsonb, attempts integer, max_attempts integer)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- One short transaction (the caller commits at once). Only kinds the worker has handlers for are
-- claimed: during an upgrade old and new workers run side by side, and a kind no running worker
-- knows waits for one that does. SKIP LOCKED: workers claiming at the same moment take different
-- jobs instead of queueing behind each other.
BEGIN
    IF split_part(p_worker_id, '/', -1) IS DISTINCT FROM split_part(atum_private.job_worker_id(''), '/', -1) THEN
        RAISE EXCEPTION 'worker id % does not name this session', p_worker_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Take it from atum_private.job_worker_id() on this connection.';
    END IF;
    PERFORM atum_private.jobs_reclaim();
    RETURN QUERY
    UPDATE atum.jobs j
       SET state = 'running', attempts = j.attempts + 1, locked_by = p_worker_id, locked_at = now()
     WHERE j.id = (SELECT c.id FROM atum.jobs c
                    WHERE c.state IN ('queued', 'failed') AND c.run_after <= now() AND c.kind = ANY (p_kinds)
                    ORDER BY c.run_after, c.id
                    LIMIT 1
                      FOR UPDATE SKIP LOCKED)
    RETURNING j.id, j.kind, j.organization_id, j.payload, j.attempts, j.max_attempts;
END
$$;
COMMENT ON FUNCTION atum_private.job_claim(text, text[]) IS 'Claims the due job of one of p_kinds with the earliest run_after for the calling worker session (reclaiming crashed workers'' jobs first); no row when nothing is due.';

CREATE OR REPLACE FUNCTION atum_private.job_succeed(p_job_id bigint, p_worker_id text) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Only while the job is still this worker's: if it was reclaimed meanwhile (the worker's session
    -- was lost), the outcome belongs to the attempt that holds it now.
    WITH done AS (
        UPDATE atum.jobs j SET state = 'succeeded', finished_at = now()
         WHERE j.id = p_job_id AND j.state = 'running' AND j.locked_by = p_worker_id
        RETURNING 1
    )
    SELECT count(*) = 1 FROM done
$$;
COMMENT ON FUNCTION atum_private.job_succeed(bigint, text) IS 'Marks a running job of this worker succeeded; false when the worker no longer holds it.';

CREATE OR REPLACE FUNCTION atum_private.job_fail(p_job_id bigint, p_worker_id text, p_error text,
                                                 p_permanent boolean DEFAULT false)
RETURNS TABLE (state atum.job_state, run_after timestamptz)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The error is kept as one line however it arrives (admins read it in a table, not a log).
DECLARE
    v_error text := left(btrim(regexp_replace(coalesce(p_error, ''), '\s+', ' ', 'g')), 2000);
    v_kind text;
BEGIN
    RETURN QUERY
    UPDATE atum.jobs j
       SET state = CASE WHEN p_permanent OR j.attempts >= j.max_attempts THEN 'dead' ELSE 'failed' END::atum.job_state,
           run_after = CASE WHEN p_permanent OR j.attempts >= j.max_attempts THEN j.run_after
                            ELSE now() + atum_private.job_backoff(j.attempts) END,
           finished_at = CASE WHEN p_permanent OR j.attempts >= j.max_attempts THEN now() END,
           last_error = coalesce(nullif(v_error, ''), 'unknown error')
     WHERE j.id = p_job_id AND j.state = 'running' AND j.locked_by = p_worker_id
    RETURNING j.state, j.run_after;
    -- Idle workers sleep until the earliest run_after they know of: tell them about the new one.
    SELECT j.kind INTO v_kind FROM atum.jobs j WHERE j.id = p_job_id AND j.state = 'failed';
    IF v_kind IS NOT NULL THEN
        PERFORM pg_notify('atum_jobs', v_kind);
    END IF;
END
$$;
COMMENT ON FUNCTION atum_private.job_fail(bigint, text, text, boolean) IS 'Records a failed attempt of a running job of this worker: failed with a retry time (backoff), or dead when p_permanent or attempts reached max_attempts. Returns the new state and run_after; no row when the worker no longer holds the job.';

CREATE OR REPLACE FUNCTION atum_private.job_due_in(p_kinds text[]) RETURNS double precision
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Measured with the database's clock, so that the worker host's clock does not matter.
    -- (greatest() skips NULLs: it would turn "nothing pending" into "due now".)
    SELECT CASE WHEN x.seconds IS NOT NULL THEN greatest(0, x.seconds) END
      FROM (SELECT extract(epoch FROM min(j.run_after) - clock_timestamp())::double precision AS seconds
              FROM atum.jobs j
             WHERE j.state IN ('queued', 'failed') AND j.kind = ANY (p_kinds)) AS x
$$;
COMMENT ON FUNCTION atum_private.job_due_in(text[]) IS 'Seconds until the next pending job of one of p_kinds is due (0: one is due now; NULL: none is pending). An idle worker sleeps that long at most.';

CREATE OR REPLACE FUNCTION atum.jobs_purge(p_keep_succeeded interval DEFAULT '7 days',
                                           p_keep_dead interval DEFAULT '90 days')
RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Dead jobs stay longer: admins look at them and may retry them. Payloads (tokens, addresses)
    -- do not stay forever either way.
    WITH gone AS (
        DELETE FROM atum.jobs j
         WHERE (j.state = 'succeeded' AND j.finished_at < now() - p_keep_succeeded)
            OR (j.state = 'dead' AND j.finished_at < now() - p_keep_dead)
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION atum.jobs_purge(interval, interval) IS 'Retention (pg_cron, hourly): deletes jobs that succeeded more than p_keep_succeeded ago and dead jobs older than p_keep_dead; returns how many.';

-- ---------------------------------------------------------------------------------------------
-- The admins' view: GET /api/v1/admin/jobs, POST /api/v1/admin/jobs/{id}/retry
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.job_json(j atum.jobs) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Never the payload (it may hold a password-reset token), nor the dedupe key or the worker.
    SELECT jsonb_build_object('id', j.id, 'kind', j.kind, 'state', j.state, 'attempts', j.attempts,
                              'max_attempts', j.max_attempts, 'last_error', j.last_error, 'run_after', j.run_after,
                              'created_at', j.created_at, 'finished_at', j.finished_at)
$$;
COMMENT ON FUNCTION atum_private.job_json(atum.jobs) IS 'A job as admins see it: no payload.';

CREATE OR REPLACE FUNCTION api.jobs_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: atum.jobs is internal (no policy, no grant to the app). So this function checks
-- the role itself, first, and reads only rows of the caller's organization (system jobs, with no
-- organization, are the operator's). ?state=&kind=&limit=&after=, newest first.
DECLARE
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_input jsonb;
    v_state text;
    v_kind  text;
    v_limit integer;
    v_after record;
    v_items jsonb[];
BEGIN
    PERFORM atum.require_role('admin', 'see the job queue');
    v_input := atum.input_check(p_query, '{state,kind,limit,after}');
    v_state := atum.input_enum(v_input, 'state', enum_range(NULL::atum.job_state)::text[]);
    v_kind := nullif(btrim(atum.input_text(v_input, 'kind')), '');
    v_limit := atum.input_limit(v_input);
    v_after := atum.cursor_read(v_input);
    SELECT array_agg(atum_private.job_json(j) ORDER BY j.created_at DESC, j.id DESC) INTO v_items
      FROM (SELECT j.* FROM atum.jobs j
             WHERE j.organization_id = v_org
               AND (v_state IS NULL OR j.state = v_state::atum.job_state)
               AND (v_kind IS NULL OR j.kind = v_kind)
               AND (v_after.at IS NULL OR (j.created_at, j.id) < (v_after.at, v_after.id))
             ORDER BY j.created_at DESC, j.id DESC
             LIMIT v_limit + 1) AS j;
    RETURN atum.page_json_by_time(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.jobs_list(jsonb) IS 'Admin: the organization''s background jobs (mail, polls…), newest first, filtered by state and kind, keyset pages {"items", "next"}; no payloads.';

CREATE OR REPLACE FUNCTION api.job_retry(p_job_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER, as api.jobs_list. A dead job (or a failed one waiting for its retry) is queued
-- again at once with its attempts reset; its last error stays until the next attempt's outcome.
DECLARE
    v_org bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_job atum.jobs;
BEGIN
    PERFORM atum.require_role('admin', 'retry jobs');
    SELECT * INTO v_job FROM atum.jobs j WHERE j.organization_id = v_org AND j.id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job %', p_job_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    IF v_job.state NOT IN ('dead', 'failed') THEN
        RAISE EXCEPTION 'job % is %: only failed or dead jobs can be retried', p_job_id, v_job.state
            USING ERRCODE = 'AT409', COLUMN = 'state';
    END IF;
    BEGIN
        UPDATE atum.jobs j SET state = 'queued', attempts = 0, run_after = now(), finished_at = NULL
         WHERE j.id = p_job_id
        RETURNING * INTO v_job;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'an identical % job is already waiting to run', v_job.kind
            USING ERRCODE = 'AT409', COLUMN = 'id';
    END;
    PERFORM pg_notify('atum_jobs', v_job.kind);
    RETURN atum_private.job_json(v_job);
END
$$;
COMMENT ON FUNCTION api.job_retry(bigint) IS 'Admin: queues a dead or failed job of the organization again, now, with its attempts reset. AT404 when there is none, AT409 when it is not failed or dead or an identical job is pending.';
