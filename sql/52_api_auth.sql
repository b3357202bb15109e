-- Sign-in, sessions, password resets, invitations and API tokens, as the HTTP layer calls them.
--
-- Passwords are hashed and verified with argon2id by the HTTP process (PostgreSQL has no argon2);
-- everything else is here: who may try (throttling per account and per client address, the same
-- for unknown accounts as for known ones), which accounts a password is checked against, the
-- session that results, and single-use tokens. The HTTP process is trusted to verify passwords:
-- api.login_complete creates a session only for the hash it was handed by api.login_candidates.

CREATE OR REPLACE FUNCTION atum_private.login_keys(p_email text, p_organization text, p_client_ip inet)
RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_remove(ARRAY[
        'account:' || coalesce(lower(btrim(p_organization)), '*') || ':' || lower(btrim(coalesce(p_email, ''))),
        CASE WHEN p_client_ip IS NOT NULL THEN 'address:' || host(p_client_ip) END], NULL)
$$;
COMMENT ON FUNCTION atum_private.login_keys(text, text, inet) IS 'The throttling keys of a sign-in attempt: its account and its client address.';

CREATE OR REPLACE FUNCTION api.login_candidates(p_email text, p_organization text, p_client_ip inet)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: looks the account up before any organization is known, and reads the hash.
-- Answers {"locked_for": seconds} while the account or the address is locked out (checked before
-- any account is looked at), else {"candidates": [{"organization_id", "user_id", "hash"}]}: the
-- active users with a password under that e-mail (in the named organization, if one is named).
DECLARE
    v_locked_for integer;
BEGIN
    SELECT ceil(extract(epoch FROM max(t.locked_until) - now()))::integer INTO v_locked_for
      FROM atum.login_throttles t
     WHERE t.key = ANY (atum_private.login_keys(p_email, p_organization, p_client_ip)) AND t.locked_until > now();
    IF v_locked_for IS NOT NULL THEN
        RETURN jsonb_build_object('locked_for', greatest(v_locked_for, 1));
    END IF;
    RETURN jsonb_build_object('candidates', coalesce((
        SELECT jsonb_agg(jsonb_build_object('organization_id', u.organization_id, 'user_id', u.id,
                                            'hash', u.password_hash) ORDER BY u.organization_id)
          FROM atum.users u JOIN atum.organizations o ON o.id = u.organization_id
         WHERE u.email = lower(btrim(p_email)) AND u.is_active AND u.password_hash IS NOT NULL
           AND (p_organization IS NULL OR o.slug = lower(btrim(p_organization)))), '[]'));
END
$$;
COMMENT ON FUNCTION api.login_candidates(text, text, inet) IS 'Sign-in, step 1: the accounts a password is to be checked against, or how long the account or address is locked out.';

CREATE OR REPLACE FUNCTION api.login_complete(
    p_email text, p_organization text, p_client_ip inet, p_user_agent text,
    p_organization_id bigint, p_user_id bigint, p_checked_hash text, p_new_hash text DEFAULT NULL
) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: writes throttles, sessions and (re-hashed) passwords.
-- p_user_id NULL: the password matched no candidate. A failure counts against the account (locked
-- 15 minutes after 5 failures within 15 minutes) and the address (after 50); the answer is the
-- same whether or not the account exists. Otherwise the password verified against p_checked_hash,
-- which must still be the user's: a session is issued (a new one at every sign-in, never reused)
-- and the request context established, and p_new_hash replaces the old hash when the hashing
-- parameters have risen. Returns {"token", "user"} or {"failed": true}.
DECLARE
    v_keys  text[] := atum_private.login_keys(p_email, p_organization, p_client_ip);
    v_token text;
BEGIN
    IF p_user_id IS NULL THEN
        INSERT INTO atum.login_throttles AS t (key, failures)
        SELECT k, 1 FROM unnest(v_keys) AS k
        ON CONFLICT (key) DO UPDATE
           SET failures = CASE WHEN t.window_started_at > now() - interval '15 minutes' THEN t.failures + 1 ELSE 1 END,
               window_started_at = CASE WHEN t.window_started_at > now() - interval '15 minutes' THEN t.window_started_at ELSE now() END;
        UPDATE atum.login_throttles t SET locked_until = now() + interval '15 minutes'
         WHERE t.key = ANY (v_keys)
           AND t.failures >= CASE WHEN t.key LIKE 'account:%' THEN 5 ELSE 50 END
           AND (t.locked_until IS NULL OR t.locked_until <= now());
        RETURN jsonb_build_object('failed', true);
    END IF;
    UPDATE atum.users u
       SET last_login_at = now(),
           password_hash = CASE WHEN p_new_hash ~ '^\$argon2id\$' THEN p_new_hash ELSE u.password_hash END
     WHERE u.organization_id = p_organization_id AND u.id = p_user_id AND u.is_active
       AND u.password_hash = p_checked_hash;
    IF NOT FOUND THEN  -- deactivated or password changed between the two steps
        RETURN jsonb_build_object('failed', true);
    END IF;
    DELETE FROM atum.login_throttles t WHERE t.key = v_keys[1];
    v_token := atum_private.session_issue(p_organization_id, p_user_id, interval '12 hours', interval '2 hours',
                                          p_client_ip, p_user_agent);
    RETURN jsonb_build_object('token', v_token, 'user', api.authenticate(v_token));
END
$$;
COMMENT ON FUNCTION api.login_complete(text, text, inet, text, bigint, bigint, text, text) IS 'Sign-in, step 2: records a failure (throttling) or issues a new session for the verified user and establishes the request context; returns {"token", "user"} or {"failed": true}.';

CREATE OR REPLACE FUNCTION api.logout() RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Ends the session of the request context on the server: the token stops working at once, also if
-- a copy of the cookie survives somewhere. (An API token is revoked by an admin, not by logout.)
DECLARE
    v_auth text := (SELECT c.auth FROM atum.request_context c);
BEGIN
    IF v_auth IS NULL THEN
        RAISE EXCEPTION 'not signed in' USING ERRCODE = 'AT401';
    END IF;
    IF v_auth LIKE 's%' THEN
        UPDATE atum.sessions s SET revoked_at = now()
         WHERE s.organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND s.id = substr(v_auth, 2)::bigint AND s.revoked_at IS NULL;
    END IF;
    RETURN jsonb_build_object('signed_out', true);
END
$$;
COMMENT ON FUNCTION api.logout() IS 'Ends the current session server-side.';

CREATE OR REPLACE FUNCTION atum_private.user_token_issue(
    p_organization_id bigint, p_user_id bigint, p_purpose atum.user_token_purpose, p_lifetime interval
) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- A new token retires the user's older unused ones of the same purpose: only the latest link works.
DECLARE
    v_token text := atum_private.token_new(CASE p_purpose WHEN 'password_reset' THEN 'r' ELSE 'i' END);
BEGIN
    UPDATE atum.user_tokens t SET used_at = now()
     WHERE t.organization_id = p_organization_id AND t.user_id = p_user_id AND t.purpose = p_purpose
       AND t.used_at IS NULL;
    INSERT INTO atum.user_tokens (organization_id, user_id, purpose, token_hash, expires_at)
    VALUES (p_organization_id, p_user_id, p_purpose, atum_private.token_hash(v_token), now() + p_lifetime);
    RETURN v_token;
END
$$;
COMMENT ON FUNCTION atum_private.user_token_issue(bigint, bigint, atum.user_token_purpose, interval) IS 'Issues a single-use token for a password reset or an invitation; returns it (only its hash is kept).';

CREATE OR REPLACE FUNCTION api.password_reset_request(p_email text, p_organization text, p_client_ip inet)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: looks the account up before any organization is known. The answer is the same
-- whether or not the account exists; when it does (active, in the named organization if one is
-- named) a reset link valid for one hour is queued for mail (job mail.password_reset), at most
-- three per account and hour. Requests count against the client address like failed sign-ins.
DECLARE
    v_user record;
BEGIN
    INSERT INTO atum.login_throttles AS t (key, failures)
    SELECT k, 1 FROM unnest(atum_private.login_keys(NULL, 'reset', p_client_ip)) AS k WHERE k LIKE 'address:%'
    ON CONFLICT (key) DO UPDATE
       SET failures = CASE WHEN t.window_started_at > now() - interval '15 minutes' THEN t.failures + 1 ELSE 1 END,
           window_started_at = CASE WHEN t.window_started_at > now() - interval '15 minutes' THEN t.window_started_at ELSE now() END;
    FOR v_user IN
        SELECT u.organization_id, u.id
          FROM atum.users u JOIN atum.organizations o ON o.id = u.organization_id
         WHERE u.email = lower(btrim(p_email)) AND u.is_active
           AND (p_organization IS NULL OR o.slug = lower(btrim(p_organization)))
           AND (SELECT count(*) FROM atum.user_tokens t
                 WHERE t.organization_id = u.organization_id AND t.user_id = u.id
                   AND t.purpose = 'password_reset' AND t.created_at > now() - interval '1 hour') < 3
    LOOP
        INSERT INTO atum.jobs (organization_id, kind, payload)
        VALUES (v_user.organization_id, 'mail.password_reset',
                jsonb_build_object('user_id', v_user.id,
                                   'token', atum_private.user_token_issue(v_user.organization_id, v_user.id,
                                                                          'password_reset', interval '1 hour')));
    END LOOP;
    PERFORM pg_notify('atum_jobs', 'mail.password_reset');
    RETURN jsonb_build_object('requested', true);
END
$$;
COMMENT ON FUNCTION api.password_reset_request(text, text, inet) IS 'Queues a password-reset mail if the account exists; answers the same either way.';

CREATE OR REPLACE FUNCTION api.user_token_redeem(p_token text, p_new_hash text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the token is looked up before any organization is known. Sets the password of
-- the token's user (a reset, or the first password of an invitation), uses the token up, and ends
-- every session of that user: whoever knew the old password is signed out.
DECLARE
    v_token record;
BEGIN
    IF p_new_hash IS NULL OR p_new_hash !~ '^\$argon2id\$' THEN
        RAISE EXCEPTION 'a new password is required' USING ERRCODE = 'AT422', COLUMN = 'password';
    END IF;
    UPDATE atum.user_tokens t SET used_at = now()
     WHERE t.token_hash = atum_private.token_hash(coalesce(p_token, '')) AND t.used_at IS NULL AND t.expires_at > now()
    RETURNING t.organization_id, t.user_id, t.purpose INTO v_token;
    IF v_token.user_id IS NULL THEN
        RAISE EXCEPTION 'this link is invalid, used or expired' USING ERRCODE = 'AT422', COLUMN = 'token',
            HINT = 'Ask for a new one.';
    END IF;
    UPDATE atum.users u SET password_hash = p_new_hash
     WHERE u.organization_id = v_token.organization_id AND u.id = v_token.user_id AND u.is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this link is invalid, used or expired' USING ERRCODE = 'AT422', COLUMN = 'token';
    END IF;
    UPDATE atum.sessions s SET revoked_at = now()
     WHERE s.organization_id = v_token.organization_id AND s.user_id = v_token.user_id AND s.revoked_at IS NULL;
    RETURN jsonb_build_object('password_set', true, 'purpose', v_token.purpose);
END
$$;
COMMENT ON FUNCTION api.user_token_redeem(text, text) IS 'Redeems a password-reset or invitation token: sets the password, uses the token up, ends the user''s sessions. AT422 for an invalid, used or expired token.';

CREATE OR REPLACE FUNCTION api.user_invite(p_email text, p_role text, p_display_name text DEFAULT '')
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER (issues a token); checks itself that the caller is an admin of the organization.
-- Creates the user without a password and queues an invitation mail (job mail.invitation) with a
-- link valid for seven days.
DECLARE
    v_ctx  record;
    v_user atum.users;
BEGIN
    SELECT c.organization_id, c.user_id, c.role INTO v_ctx FROM atum.request_context c;
    IF v_ctx.role IS DISTINCT FROM 'admin' THEN
        RAISE EXCEPTION 'only admins invite users' USING ERRCODE = 'AT403';
    END IF;
    IF p_role IS NULL OR NOT lower(btrim(p_role)) = ANY (enum_range(NULL::atum.user_role)::text[]) THEN
        RAISE EXCEPTION 'unknown role %', quote_nullable(p_role) USING ERRCODE = 'AT422', COLUMN = 'role';
    END IF;
    INSERT INTO atum.users (organization_id, email, role, display_name)
    VALUES (v_ctx.organization_id, lower(btrim(p_email)), lower(btrim(p_role))::atum.user_role, coalesce(btrim(p_display_name), ''))
    RETURNING * INTO v_user;
    INSERT INTO atum.jobs (organization_id, kind, payload)
    VALUES (v_ctx.organization_id, 'mail.invitation',
            jsonb_build_object('user_id', v_user.id, 'invited_by', v_ctx.user_id,
                               'token', atum_private.user_token_issue(v_ctx.organization_id, v_user.id, 'invitation',
                                                                      interval '7 days')));
    PERFORM pg_notify('atum_jobs', 'mail.invitation');
    RETURN atum.user_json(v_user);
END
$$;
COMMENT ON FUNCTION api.user_invite(text, text, text) IS 'Admin: creates a user without a password and queues an invitation mail with a single-use link (7 days). AT409 if the e-mail is taken.';

CREATE OR REPLACE FUNCTION atum.user_json(u atum.users) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    -- No SET clause: inlined. Never the password hash.
    SELECT jsonb_build_object('id', u.id, 'email', u.email, 'display_name', u.display_name, 'role', u.role,
                              'is_active', u.is_active, 'time_zone', u.time_zone, 'created_at', u.created_at,
                              'last_login_at', u.last_login_at)
$$;
COMMENT ON FUNCTION atum.user_json(atum.users) IS 'A user as the API shows it (never the password hash).';

-- API tokens for integrations: created and revoked by admins, shown once, stored hashed, acting
-- with a role no higher than their user's.
CREATE OR REPLACE FUNCTION api.api_token_create(p_name text, p_role text, p_user_id bigint DEFAULT NULL,
                                                p_expires_at timestamptz DEFAULT NULL)
RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER (makes a token); checks itself that the caller is an admin of the organization.
DECLARE
    v_ctx   record;
    v_user  atum.users;
    v_token text := atum_private.token_new('t');
    v_row   atum.api_tokens;
BEGIN
    SELECT c.organization_id, c.user_id, c.role INTO v_ctx FROM atum.request_context c;
    IF v_ctx.role IS DISTINCT FROM 'admin' THEN
        RAISE EXCEPTION 'only admins create API tokens' USING ERRCODE = 'AT403';
    END IF;
    IF p_role IS NULL OR NOT lower(btrim(p_role)) = ANY (enum_range(NULL::atum.user_role)::text[]) THEN
        RAISE EXCEPTION 'unknown role %', quote_nullable(p_role) USING ERRCODE = 'AT422', COLUMN = 'role';
    END IF;
    -- 'infinity' is no expiry date (leave the field out for a token that does not expire).
    IF p_expires_at IS NOT NULL AND (p_expires_at <= now() OR NOT isfinite(p_expires_at)) THEN
        RAISE EXCEPTION 'the expiry must be a date in the future' USING ERRCODE = 'AT422', COLUMN = 'expires_at';
    END IF;
    SELECT * INTO v_user FROM atum.users u
     WHERE u.organization_id = v_ctx.organization_id AND u.id = coalesce(p_user_id, v_ctx.user_id) AND u.is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active user %', coalesce(p_user_id, v_ctx.user_id) USING ERRCODE = 'AT422', COLUMN = 'user_id';
    END IF;
    IF lower(btrim(p_role))::atum.user_role > v_user.role THEN
        RAISE EXCEPTION 'a token cannot have a higher role than its user (%)', v_user.role
            USING ERRCODE = 'AT422', COLUMN = 'role';
    END IF;
    INSERT INTO atum.api_tokens (organization_id, user_id, name, token_hash, role, created_by, expires_at)
    VALUES (v_ctx.organization_id, v_user.id, btrim(p_name), atum_private.token_hash(v_token),
            lower(btrim(p_role))::atum.user_role, v_ctx.user_id, p_expires_at)
    RETURNING * INTO v_row;
    RETURN atum.api_token_json(v_row) || jsonb_build_object('token', v_token);
END
$$;
COMMENT ON FUNCTION api.api_token_create(text, text, bigint, timestamptz) IS 'Admin: creates an API token acting as a user with at most that user''s role; the token is in this answer only.';

CREATE OR REPLACE FUNCTION atum.api_token_json(t atum.api_tokens) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', t.id, 'name', t.name, 'user_id', t.user_id, 'role', t.role,
                              'created_by', t.created_by, 'created_at', t.created_at, 'expires_at', t.expires_at,
                              'last_used_at', t.last_used_at, 'revoked_at', t.revoked_at)
$$;
COMMENT ON FUNCTION atum.api_token_json(atum.api_tokens) IS 'An API token as the API shows it (never the token or its hash).';

CREATE OR REPLACE FUNCTION api.api_token_list() RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- RLS shows admins their organization's tokens and everyone else none. The columns are named
    -- (no whole row): the app may not read token_hash, not even to leave it out.
    SELECT jsonb_build_object('items', coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]'), 'next', NULL)
      FROM (SELECT t.id, t.name, t.user_id, t.role, t.created_by, t.created_at, t.expires_at, t.last_used_at,
                   t.revoked_at
              FROM atum.api_tokens t) AS t
$$;
COMMENT ON FUNCTION api.api_token_list() IS 'Admin: the organization''s API tokens (without secrets).';

CREATE OR REPLACE FUNCTION api.api_token_revoke(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row jsonb;
BEGIN
    UPDATE atum.api_tokens t SET revoked_at = coalesce(t.revoked_at, now())
     WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_id
    RETURNING jsonb_build_object('id', t.id, 'name', t.name, 'user_id', t.user_id, 'role', t.role,
                                 'revoked_at', t.revoked_at) INTO v_row;
    IF v_row IS NULL THEN
        RAISE EXCEPTION 'no API token %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_row;
END
$$;
COMMENT ON FUNCTION api.api_token_revoke(bigint) IS 'Admin: revokes an API token at once. AT404 when there is none (or the caller is not an admin).';
