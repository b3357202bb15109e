-- The request context: which organization, user and role the current transaction acts for.
--
-- Policies read it through atum.current_org(), atum.current_user_id(), atum.current_user_role().
-- It is established only by presenting a valid session or API token to api.authenticate(), which
-- stores it in the transaction-local setting atum.context together with an HMAC over the values,
-- the backend pid and the transaction start time, keyed by a secret only the owner can read.
-- Setting atum.context by hand (SET, set_config) therefore yields no context at all: every policy
-- then matches nothing. A signed value copied from another transaction does not verify either.

CREATE OR REPLACE FUNCTION atum_private.context_key() RETURNS bytea
    LANGUAGE sql STABLE
AS $$ SELECT s.value FROM atum.secrets s WHERE s.name = 'request_context' $$;
COMMENT ON FUNCTION atum_private.context_key() IS 'The key that signs request contexts. Readable only by the owner (its callers are SECURITY DEFINER).';

CREATE OR REPLACE FUNCTION atum_private.context_mac(p_payload text, p_key bytea) RETURNS text
    LANGUAGE sql STABLE
AS $$
    -- No SECURITY DEFINER, no SET and no sub-select: inlined into its callers as a simple
    -- expression, which PL/pgSQL evaluates on its fast path.
    SELECT encode(extensions.hmac(
        convert_to(p_payload || '|' || pg_backend_pid() || '|'
                   || (extract(epoch FROM transaction_timestamp()) * 1000000)::bigint, 'UTF8'),
        p_key, 'sha256'), 'hex')
$$;
COMMENT ON FUNCTION atum_private.context_mac(text, bytea) IS 'HMAC of a context payload bound to this backend and transaction.';

CREATE OR REPLACE FUNCTION atum_private.context_establish(p_ctx atum_private.request_context) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT set_config('atum.context',
        concat_ws('|', p_ctx.organization_id, p_ctx.user_id, p_ctx.role, p_ctx.auth)
            || '|' || atum_private.context_mac(concat_ws('|', p_ctx.organization_id, p_ctx.user_id, p_ctx.role, p_ctx.auth),
                                               atum_private.context_key()),
        true)
$$;
COMMENT ON FUNCTION atum_private.context_establish(atum_private.request_context) IS 'Sets the signed, transaction-local request context. Owner only; called by api.authenticate after checking a token.';

CREATE OR REPLACE FUNCTION atum.current_context() RETURNS atum_private.request_context
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- Policies run this once per statement per context accessor, so its cost is the price of RLS.
-- PL/pgSQL keeps its plans for the session and evaluates the inlined context_mac as a simple
-- expression (about 25 µs per call in a fresh transaction, 10 µs when repeated);
-- a SQL-language body would be planned again on every call.
DECLARE
    p text[] := string_to_array(nullif(current_setting('atum.context', true), ''), '|');
    k bytea;
BEGIN
    IF cardinality(p) IS DISTINCT FROM 5 THEN
        RETURN NULL;
    END IF;
    -- SELECT INTO, not k := atum_private.context_key(): measurably cheaper on this hot path.
    SELECT s.value INTO k FROM atum.secrets s WHERE s.name = 'request_context';
    IF p[5] = atum_private.context_mac(array_to_string(p[1:4], '|'), k) THEN
        RETURN ROW(p[1]::bigint, p[2]::bigint, p[3]::atum.user_role, p[4]);
    END IF;
    RETURN NULL;  -- none, forged, malformed, or copied from another transaction
END
$$;
COMMENT ON FUNCTION atum.current_context() IS 'The verified request context of this transaction, or NULL when there is none or it does not verify.';

-- The accessors below are plain SQL without SECURITY DEFINER or SET, so PostgreSQL inlines them
-- and a policy's (SELECT atum.current_org()) costs one call of atum.current_context().
CREATE OR REPLACE FUNCTION atum.current_org() RETURNS bigint
    LANGUAGE sql STABLE
AS $$ SELECT (atum.current_context()).organization_id $$;
COMMENT ON FUNCTION atum.current_org() IS 'Organization of the verified request context (NULL: none). Policies call it as (SELECT atum.current_org()) so it runs once per statement.';

CREATE OR REPLACE FUNCTION atum.current_user_id() RETURNS bigint
    LANGUAGE sql STABLE
AS $$ SELECT (atum.current_context()).user_id $$;
COMMENT ON FUNCTION atum.current_user_id() IS 'User of the verified request context (NULL: none).';

CREATE OR REPLACE FUNCTION atum.current_user_role() RETURNS atum.user_role
    LANGUAGE sql STABLE
AS $$ SELECT (atum.current_context()).role $$;
COMMENT ON FUNCTION atum.current_user_role() IS 'Role of the verified request context (NULL: none).';

CREATE OR REPLACE FUNCTION atum.current_is_staff() RETURNS boolean
    LANGUAGE sql STABLE
AS $$ SELECT coalesce((atum.current_context()).role IN ('agent', 'manager', 'admin'), false) $$;
COMMENT ON FUNCTION atum.current_is_staff() IS 'True when the verified request context is an agent, manager or admin.';

CREATE OR REPLACE FUNCTION atum_private.token_hash(p_token text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$ SELECT sha256(convert_to(p_token, 'UTF8')) $$;
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
    v_ctx  atum_private.request_context;
    v_writable boolean := current_setting('transaction_read_only') = 'off';
    v_user jsonb;
BEGIN
    PERFORM set_config('atum.context', '', true);
    IF p_token LIKE 'atum\_s\_%' THEN
        SELECT s.organization_id, s.user_id, u.role, 's' || s.id
          INTO v_ctx
          FROM atum.sessions s
          JOIN atum.users u ON u.organization_id = s.organization_id AND u.id = s.user_id
         WHERE s.token_hash = v_hash
           AND s.revoked_at IS NULL
           AND s.expires_at > now()
           AND s.last_seen_at + s.idle_timeout > now()
           AND u.is_active;
        IF FOUND AND v_writable THEN
            UPDATE atum.sessions s SET last_seen_at = now()
             WHERE s.organization_id = v_ctx.organization_id AND s.id = substr(v_ctx.auth, 2)::bigint
               AND s.last_seen_at < now() - interval '1 minute';
        END IF;
    ELSIF p_token LIKE 'atum\_t\_%' THEN
        -- An API token acts with its own role or the user's, whichever is lower.
        SELECT t.organization_id, t.user_id, LEAST(t.role, u.role), 't' || t.id
          INTO v_ctx
          FROM atum.api_tokens t
          JOIN atum.users u ON u.organization_id = t.organization_id AND u.id = t.user_id
         WHERE t.token_hash = v_hash
           AND t.revoked_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > now())
           AND u.is_active;
        IF FOUND AND v_writable THEN
            UPDATE atum.api_tokens t SET last_used_at = now()
             WHERE t.organization_id = v_ctx.organization_id AND t.id = substr(v_ctx.auth, 2)::bigint
               AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute');
        END IF;
    END IF;
    IF v_ctx.user_id IS NULL THEN
        RAISE EXCEPTION 'not signed in, or the session has ended'
            USING ERRCODE = 'AT401', HINT = 'Sign in again.';
    END IF;
    PERFORM atum_private.context_establish(v_ctx);
    SELECT jsonb_build_object(
               'id', u.id, 'email', u.email, 'display_name', u.display_name, 'role', v_ctx.role,
               'time_zone', coalesce(u.time_zone, o.time_zone),
               'organization', jsonb_build_object('id', o.id, 'slug', o.slug, 'name', o.name))
      INTO v_user
      FROM atum.users u JOIN atum.organizations o ON o.id = u.organization_id
     WHERE u.organization_id = v_ctx.organization_id AND u.id = v_ctx.user_id;
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION api.authenticate(text) IS 'Checks a session or API token and establishes the request context for the rest of the transaction; returns the user. Raises AT401 for an unknown, expired or revoked token.';
