-- The request context: which organization, user and role the current transaction acts for.
--
-- It is established only by presenting a valid session or API token to api.authenticate(), a
-- SECURITY DEFINER function that writes the verified context to atum.request_contexts, keyed by
-- the backend pid and the transaction's start time. The app role cannot write that table, and a
-- row counts only for the backend and transaction that wrote it; settings (SET, set_config) play
-- no part. Without a context every policy matches nothing.
--
-- Policies read the context through the view atum.request_context in sub-selects, e.g.
-- (SELECT c.organization_id FROM atum.request_context c): an InitPlan evaluated once per
-- statement, an index lookup of a few microseconds, with no function call on the way.

CREATE OR REPLACE VIEW atum.request_context WITH (security_barrier) AS
    SELECT c.organization_id, c.user_id, c.role, c.role IN ('agent', 'manager', 'admin') AS is_staff, c.auth
      FROM atum.request_contexts c
     WHERE c.backend_pid = pg_backend_pid()
       AND c.transaction_started_at = transaction_timestamp();
COMMENT ON VIEW atum.request_context IS 'The verified request context of this transaction: one row, or none. Owned by the owner, so it reads the internal table for any caller; shows only the caller''s own backend and transaction.';
COMMENT ON COLUMN atum.request_context.organization_id IS 'Organization the request acts for.';
COMMENT ON COLUMN atum.request_context.user_id IS 'Signed-in user.';
COMMENT ON COLUMN atum.request_context.role IS 'Role of the user (or of the API token, if lower).';
COMMENT ON COLUMN atum.request_context.is_staff IS 'Agent, manager or admin.';
COMMENT ON COLUMN atum.request_context.auth IS 's<session id> or t<API token id>.';

-- Accessors for SQL and PL/pgSQL code (api functions, triggers). Policies, and filters in hot
-- queries, read the view directly — (SELECT c.user_id FROM atum.request_context c) — which costs
-- a few microseconds less than a function call. PL/pgSQL, not SQL: a SQL function with a FROM
-- clause cannot be inlined and is planned again on every call; PL/pgSQL keeps its plan.
CREATE OR REPLACE FUNCTION atum.current_org() RETURNS bigint
    LANGUAGE plpgsql STABLE
AS $$ BEGIN RETURN (SELECT c.organization_id FROM atum.request_context c); END $$;
COMMENT ON FUNCTION atum.current_org() IS 'Organization of the verified request context (NULL: none).';

CREATE OR REPLACE FUNCTION atum.current_user_id() RETURNS bigint
    LANGUAGE plpgsql STABLE
AS $$ BEGIN RETURN (SELECT c.user_id FROM atum.request_context c); END $$;
COMMENT ON FUNCTION atum.current_user_id() IS 'User of the verified request context (NULL: none).';

-- Not part of the verified context: the reason given for the status move the statement makes, set
-- for the statement by api.ticket_transition (set_config('atum.status_reason', ..., true)) and read
-- by the state machine, the status history, the audit trail and the outbox. A plain setting: it
-- says why, never who. SQL without a SET clause, so it is inlined where it is read.
CREATE OR REPLACE FUNCTION atum_private.status_reason() RETURNS text
    LANGUAGE sql STABLE
AS $$ SELECT nullif(pg_catalog.btrim(pg_catalog.current_setting('atum.status_reason', true)), '') $$;
COMMENT ON FUNCTION atum_private.status_reason() IS 'The reason given for the current status move (atum.status_reason, trimmed), NULL when none.';

CREATE OR REPLACE FUNCTION atum.current_user_role() RETURNS atum.user_role
    LANGUAGE plpgsql STABLE
AS $$ BEGIN RETURN (SELECT c.role FROM atum.request_context c); END $$;
COMMENT ON FUNCTION atum.current_user_role() IS 'Role of the verified request context (NULL: none).';

CREATE OR REPLACE FUNCTION atum.current_is_staff() RETURNS boolean
    LANGUAGE plpgsql STABLE
AS $$ BEGIN RETURN coalesce((SELECT c.is_staff FROM atum.request_context c), false); END $$;
COMMENT ON FUNCTION atum.current_is_staff() IS 'True when the verified request context is an agent, manager or admin.';

CREATE OR REPLACE FUNCTION atum_private.token_hash(p_token text) RETURNS bytea
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    -- No SET clause, a qualified body, STABLE as convert_to is: inlined into its callers
    -- (authentication runs it on every request) instead of being planned again on each call.
    SELECT pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
$$;
COMMENT ON FUNCTION atum_private.token_hash(text) IS 'What is stored of a session or API token: its SHA-256.';

CREATE OR REPLACE FUNCTION atum_private.token_new(p_kind text) RETURNS text
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    -- 256 random bits, URL-safe; the prefix tells sessions (s) from API tokens (t) at a glance.
    SELECT 'atum_' || p_kind || '_' || rtrim(translate(encode(extensions.gen_random_bytes(32), 'base64'), '+/', '-_'), '=')
$$;
COMMENT ON FUNCTION atum_private.token_new(text) IS 'A new random bearer token with prefix atum_s_ (session) or atum_t_ (API token).';

CREATE OR REPLACE FUNCTION atum_private.session_issue(
    p_organization_id bigint,
    p_user_id bigint,
    p_lifetime interval DEFAULT '12 hours',
    p_idle_timeout interval DEFAULT '2 hours',
    p_client_ip inet DEFAULT NULL,
    p_user_agent text DEFAULT NULL
) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_token text := atum_private.token_new('s');
BEGIN
    PERFORM 1 FROM atum.users u
     WHERE u.organization_id = p_organization_id AND u.id = p_user_id AND u.is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active user % in organization %', p_user_id, p_organization_id
            USING ERRCODE = 'AT404';
    END IF;
    INSERT INTO atum.sessions (organization_id, user_id, token_hash, expires_at, idle_timeout, client_ip, user_agent)
    VALUES (p_organization_id, p_user_id, atum_private.token_hash(v_token), now() + p_lifetime, p_idle_timeout,
            p_client_ip, left(p_user_agent, 512));
    RETURN v_token;
END
$$;
COMMENT ON FUNCTION atum_private.session_issue(bigint, bigint, interval, interval, inet, text) IS 'Creates a session for a user whose credentials were checked, and returns its token (shown once; only the hash is kept).';

CREATE OR REPLACE FUNCTION api.authenticate(p_token text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the token is looked up before any organization is known, across all of them.
DECLARE
    v_hash bytea := atum_private.token_hash(coalesce(p_token, ''));
    v_org  bigint;
    v_user_id bigint;
    v_role atum.user_role;
    v_auth text;
    v_user jsonb;
    v_seen timestamptz;
BEGIN
    IF p_token LIKE 'atum\_s\_%' THEN
        SELECT s.organization_id, s.user_id, u.role, 's' || s.id, s.last_seen_at
          INTO v_org, v_user_id, v_role, v_auth, v_seen
          FROM atum.sessions s
          JOIN atum.users u ON u.organization_id = s.organization_id AND u.id = s.user_id
         WHERE s.token_hash = v_hash
           AND s.revoked_at IS NULL
           AND s.expires_at > now()
           AND s.last_seen_at + s.idle_timeout > now()
           AND u.is_active;
        -- At most once a minute, and only then: an UPDATE that changes no row still runs the
        -- table's statement triggers (the audit's among them) on every request.
        IF FOUND AND v_seen < now() - interval '1 minute' THEN
            UPDATE atum.sessions s SET last_seen_at = now()
             WHERE s.organization_id = v_org AND s.id = substr(v_auth, 2)::bigint
               AND s.last_seen_at < now() - interval '1 minute';
        END IF;
    ELSIF p_token LIKE 'atum\_t\_%' THEN
        -- An API token acts with its own role or the user's, whichever is lower.
        SELECT t.organization_id, t.user_id, LEAST(t.role, u.role), 't' || t.id, t.last_used_at
          INTO v_org, v_user_id, v_role, v_auth, v_seen
          FROM atum.api_tokens t
          JOIN atum.users u ON u.organization_id = t.organization_id AND u.id = t.user_id
         WHERE t.token_hash = v_hash
           AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > now())
           AND u.is_active;
        IF FOUND AND (v_seen IS NULL OR v_seen < now() - interval '1 minute') THEN
            UPDATE atum.api_tokens t SET last_used_at = now()
             WHERE t.organization_id = v_org AND t.id = substr(v_auth, 2)::bigint
               AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute');
        END IF;
    END IF;
    IF v_user_id IS NULL THEN
        RAISE EXCEPTION 'not signed in, or the session has ended'
            USING ERRCODE = 'AT401', HINT = 'Sign in again.';
    END IF;
    -- Only this backend writes its row, so update-then-insert cannot race.
    UPDATE atum.request_contexts c
       SET transaction_started_at = transaction_timestamp(), organization_id = v_org, user_id = v_user_id,
           role = v_role, auth = v_auth
     WHERE c.backend_pid = pg_backend_pid();
    IF NOT FOUND THEN
        INSERT INTO atum.request_contexts (backend_pid, transaction_started_at, organization_id, user_id, role, auth)
        VALUES (pg_backend_pid(), transaction_timestamp(), v_org, v_user_id, v_role, v_auth);
    END IF;
    SELECT jsonb_build_object(
               'id', u.id, 'email', u.email, 'display_name', u.display_name, 'role', v_role,
               'time_zone', coalesce(u.time_zone, o.time_zone),
               'organization', jsonb_build_object('id', o.id, 'slug', o.slug, 'name', o.name))
      INTO v_user
      FROM atum.users u JOIN atum.organizations o ON o.id = u.organization_id
     WHERE u.organization_id = v_org AND u.id = v_user_id;
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION api.authenticate(text) IS 'Checks a session or API token and establishes the request context for the rest of the transaction; returns the user. Raises AT401 for an unknown, expired or revoked token. Call it before making a transaction read-only: it writes the context.';
