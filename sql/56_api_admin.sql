-- The admin routes of the HTTP API: users, teams and their members, categories, SLA policies,
-- business calendars (weekly hours, holidays) and the organization's settings.
--
-- SECURITY INVOKER throughout: row-level security (sql/40_policies.sql) lets staff read the
-- configuration and admins write it, and shows nobody another organization's rows, so an id of
-- another organization is simply not there (AT404). Every function first checks the caller's role
-- (atum.require_role) so that an agent calling an admin write gets AT403 — the routes are no secret
-- and the answer does not depend on the id — before any input is read.
--
-- Validation stays where it is: CHECK, unique, foreign-key and exclusion constraints of the tables
-- and the triggers below. The functions catch constraint violations only to name the field at
-- fault (atum.constraint_raise), so that a bad value is a 422 about that field.

-- ---------------------------------------------------------------------------------------------
-- Helpers: roles, input, constraint errors, pages
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.require_role(p_role atum.user_role, p_what text) RETURNS void
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- Roles are ordered (customer < agent < manager < admin): staff is agent and above.
    IF coalesce((SELECT c.role FROM atum.request_context c) < p_role, true) THEN
        RAISE EXCEPTION 'only % %', CASE p_role WHEN 'admin' THEN 'admins' WHEN 'manager' THEN 'managers' ELSE 'staff' END,
                                     p_what
            USING ERRCODE = 'AT403';
    END IF;
END
$$;
COMMENT ON FUNCTION atum.require_role(atum.user_role, text) IS 'Raises AT403 ("only admins <p_what>") unless the caller''s role is p_role or higher (agent: any staff).';

CREATE OR REPLACE FUNCTION atum.row_delete(p_table regclass, p_id bigint, p_what text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- The delete routes' common core: the row of the caller's organization with this id, under the
-- caller's rights (RLS applies); AT404 "no <p_what> <id>" when there is none. Callers check the
-- role first and may catch what the delete raises (a foreign key still naming the row).
DECLARE
    v_id bigint;
BEGIN
    EXECUTE format('DELETE FROM %s t WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c)'
                   ' AND t.id = $1 RETURNING t.id', p_table)
       INTO v_id USING p_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no % %', p_what, p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN jsonb_build_object('id', v_id, 'deleted', true);
END
$$;
COMMENT ON FUNCTION atum.row_delete(regclass, bigint, text) IS 'Deletes the caller''s organization''s row of a table by id (AT404 naming p_what when there is none); returns {"id", "deleted": true}.';

CREATE OR REPLACE FUNCTION atum.input_integer(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- An integer column's value: out of range is a 422 about the field, not a cast error about nothing.
DECLARE
    v_value bigint := atum.input_bigint(p_input, p_field, p_required);
BEGIN
    IF v_value NOT BETWEEN -2147483648 AND 2147483647 THEN
        RAISE EXCEPTION '% is out of range', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
    END IF;
    RETURN v_value;
END
$$;
COMMENT ON FUNCTION atum.input_integer(jsonb, text, boolean) IS 'A 32-bit integer field of request input (AT422 naming the field when it is not an integer or out of range).';

CREATE OR REPLACE FUNCTION atum.input_numeric(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS numeric
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_text text := atum.input_text(p_input, p_field, p_required);
BEGIN
    IF v_text IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_text !~ '^\s*-?[0-9]{1,12}(\.[0-9]{1,12})?\s*$' THEN
        RAISE EXCEPTION '% must be a number', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
    END IF;
    RETURN v_text::numeric;
END
$$;
COMMENT ON FUNCTION atum.input_numeric(jsonb, text, boolean) IS 'A decimal number field of request input, e.g. 0.8 (AT422 naming the field otherwise).';

CREATE OR REPLACE FUNCTION atum.input_time_zone(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS text
    LANGUAGE plpgsql IMMUTABLE
AS $$
-- The domain atum.time_zone decides (atum.is_valid_time_zone); this only names the field.
DECLARE
    v_text text := atum.input_text(p_input, p_field, p_required);
BEGIN
    IF v_text IS NOT NULL AND NOT atum.is_valid_time_zone(v_text) THEN
        RAISE EXCEPTION 'unknown time zone %', quote_literal(left(v_text, 100))
            USING ERRCODE = 'AT422', COLUMN = p_field, HINT = 'Use an IANA name such as Europe/Berlin.';
    END IF;
    RETURN v_text;
END
$$;
COMMENT ON FUNCTION atum.input_time_zone(jsonb, text, boolean) IS 'A time zone field of request input (AT422 naming the field for a name PostgreSQL does not know).';

CREATE OR REPLACE FUNCTION atum.input_date(p_input jsonb, p_field text, p_required boolean DEFAULT false)
RETURNS date
    LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_text text := atum.input_text(p_input, p_field, p_required);
BEGIN
    IF v_text IS NULL THEN
        RETURN NULL;
    END IF;
    IF v_text ~ '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$' THEN
        BEGIN
            RETURN v_text::date;
        EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
            NULL;  -- e.g. 2026-02-30: refused below like any other non-date
        END;
    END IF;
    RAISE EXCEPTION '% must be a date (YYYY-MM-DD)', p_field USING ERRCODE = 'AT422', COLUMN = p_field;
END
$$;
COMMENT ON FUNCTION atum.input_date(jsonb, text, boolean) IS 'A date field of request input, YYYY-MM-DD (AT422 naming the field otherwise).';

CREATE OR REPLACE FUNCTION atum.constraint_field(p_constraint text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- The field a constraint of schema atum is about, read from the catalog rather than guessed
    -- from its name: its last column other than organization_id (FOREIGN KEY (organization_id,
    -- calendar_id) is about calendar_id, UNIQUE (organization_id, parent_id, name) about name,
    -- CHECK (resolution_minutes >= first_response_minutes) about resolution_minutes); for a
    -- domain's check, the domain's name (time_zone, email), which is also its columns' name.
    SELECT coalesce(
        (SELECT a.attname::text
           FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
          WHERE k.connamespace = 'atum'::regnamespace AND k.conname = p_constraint AND a.attname <> 'organization_id'
          ORDER BY a.attnum DESC LIMIT 1),
        (SELECT t.typname::text
           FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid
          WHERE k.connamespace = 'atum'::regnamespace AND k.conname = p_constraint LIMIT 1))
$$;
COMMENT ON FUNCTION atum.constraint_field(text) IS 'The field a constraint of schema atum is about (its last column besides organization_id, or its domain''s name); NULL if unknown.';

CREATE OR REPLACE FUNCTION atum.constraint_raise(p_sqlstate text, p_message text, p_constraint text) RETURNS void
    LANGUAGE plpgsql STABLE
AS $$
-- Raises a caught constraint violation again, unchanged but for the column it now names: the HTTP
-- layer keeps mapping the SQLSTATE (unique 409, check and foreign key 422) and reports the field.
BEGIN
    RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, CONSTRAINT = coalesce(p_constraint, ''),
                          COLUMN = coalesce(atum.constraint_field(p_constraint), '');
END
$$;
COMMENT ON FUNCTION atum.constraint_raise(text, text, text) IS 'Re-raises a constraint violation (same SQLSTATE, message and constraint) with COLUMN set to the field it is about.';

CREATE OR REPLACE FUNCTION atum.page_json(p_items jsonb[], p_limit integer) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$
    -- p_items holds up to p_limit + 1 items in id order: one more than fits means there is a next page.
    SELECT jsonb_build_object('items', coalesce(to_jsonb(p_items[1:p_limit]), '[]'),
                              'next', CASE WHEN cardinality(p_items) > p_limit THEN p_items[p_limit] ->> 'id' END)
$$;
COMMENT ON FUNCTION atum.page_json(jsonb[], integer) IS 'A keyset page {"items", "next"} of a list ordered by id; "next" is the last id shown (pass it as after).';

-- ---------------------------------------------------------------------------------------------
-- Rules that hold for every writer (API, command line, psql): triggers
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.tg_users__last_admin() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
-- An organization with an active admin keeps one: nobody demotes, deactivates or deletes the last.
-- The other active admins' rows are locked (FOR SHARE) so that two admins demoting each other at
-- once cannot both succeed: the second waits for the first and then sees its change (or, under
-- REPEATABLE READ, fails with a serialization error and is retried).
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.role = 'admin' AND NEW.is_active THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM atum.users u
      WHERE u.organization_id = OLD.organization_id AND u.role = 'admin' AND u.is_active AND u.id <> OLD.id
        FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the organization must keep an active admin: % is the last one', OLD.email
            USING ERRCODE = 'AT409',
                  COLUMN = CASE WHEN TG_OP = 'DELETE' THEN 'id' WHEN NEW.role <> 'admin' THEN 'role' ELSE 'is_active' END,
                  HINT = 'Make another user an admin first.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_users__last_admin() IS 'Refuses (AT409) to demote, deactivate or delete the last active admin of an organization.';

DROP TRIGGER IF EXISTS _500_last_admin ON atum.users;
CREATE TRIGGER _500_last_admin AFTER UPDATE OF role, is_active OR DELETE ON atum.users
    FOR EACH ROW WHEN (OLD.role = 'admin' AND OLD.is_active)
    EXECUTE FUNCTION atum_private.tg_users__last_admin();
COMMENT ON TRIGGER _500_last_admin ON atum.users IS 'An organization keeps at least one active admin.';

CREATE OR REPLACE FUNCTION atum_private.tg_users__deactivated() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
-- Sign-in already refuses inactive users; ending their sessions as well means that reactivating
-- the account later does not bring an old session (a stolen cookie, a shared computer) back.
-- API tokens are not revoked: they stop working while the user is inactive, and an admin revokes
-- them on purpose (api.api_token_revoke).
BEGIN
    UPDATE atum.sessions s SET revoked_at = now()
     WHERE s.organization_id = NEW.organization_id AND s.user_id = NEW.id AND s.revoked_at IS NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_users__deactivated() IS 'Ends every session of a user who is deactivated.';

DROP TRIGGER IF EXISTS _510_end_sessions ON atum.users;
CREATE TRIGGER _510_end_sessions AFTER UPDATE OF is_active ON atum.users
    FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active)
    EXECUTE FUNCTION atum_private.tg_users__deactivated();
COMMENT ON TRIGGER _510_end_sessions ON atum.users IS 'Deactivating a user ends their sessions.';

CREATE OR REPLACE FUNCTION atum_private.tg_users__became_customer() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
-- Teams are groups of staff (tickets are routed to them): a user who is no longer staff leaves them.
BEGIN
    DELETE FROM atum.team_members m WHERE m.organization_id = NEW.organization_id AND m.user_id = NEW.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_users__became_customer() IS 'Removes a user who becomes a customer from every team.';

DROP TRIGGER IF EXISTS _520_leave_teams ON atum.users;
CREATE TRIGGER _520_leave_teams AFTER UPDATE OF role ON atum.users
    FOR EACH ROW WHEN (NEW.role = 'customer' AND OLD.role <> 'customer')
    EXECUTE FUNCTION atum_private.tg_users__became_customer();
COMMENT ON TRIGGER _520_leave_teams ON atum.users IS 'Customers belong to no team.';

CREATE OR REPLACE FUNCTION atum_private.tg_team_members__staff_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
-- An unknown user is left to the foreign key; a known customer is refused here.
BEGIN
    IF EXISTS (SELECT 1 FROM atum.users u
                WHERE u.organization_id = NEW.organization_id AND u.id = NEW.user_id AND u.role = 'customer') THEN
        RAISE EXCEPTION 'user % is a customer: only staff belong to teams', NEW.user_id
            USING ERRCODE = 'AT422', COLUMN = 'user_id';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_team_members__staff_only() IS 'Refuses (AT422) to put a customer into a team.';

DROP TRIGGER IF EXISTS _100_staff_only ON atum.team_members;
CREATE TRIGGER _100_staff_only BEFORE INSERT OR UPDATE ON atum.team_members
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_team_members__staff_only();
COMMENT ON TRIGGER _100_staff_only ON atum.team_members IS 'Only staff belong to teams.';

CREATE OR REPLACE FUNCTION atum_private.tg_categories__no_cycle() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
-- The table's own check stops a category from being its own parent; this stops longer loops
-- (A inside B inside A), which would make the tree endless for everyone who walks it.
BEGIN
    IF EXISTS (
        WITH RECURSIVE up (id, parent_id) AS (
            SELECT c.id, c.parent_id FROM atum.categories c
             WHERE c.organization_id = NEW.organization_id AND c.id = NEW.parent_id
            UNION
            SELECT c.id, c.parent_id FROM atum.categories c JOIN up ON c.organization_id = NEW.organization_id
                                                                    AND c.id = up.parent_id
        )
        SELECT 1 FROM up WHERE up.id = NEW.id) THEN
        RAISE EXCEPTION 'category % cannot be inside itself', NEW.id USING ERRCODE = 'AT422', COLUMN = 'parent_id';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_categories__no_cycle() IS 'Refuses (AT422) a parent that would put a category inside itself.';

DROP TRIGGER IF EXISTS _100_no_cycle ON atum.categories;
CREATE TRIGGER _100_no_cycle BEFORE UPDATE OF parent_id ON atum.categories
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL)
    EXECUTE FUNCTION atum_private.tg_categories__no_cycle();
COMMENT ON TRIGGER _100_no_cycle ON atum.categories IS 'The category tree has no loops (a new category cannot close one, so only moves are checked).';

-- ---------------------------------------------------------------------------------------------
-- Users (created by invitation: api.user_invite in sql/52_api_auth.sql)
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION api.user_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: the organization's users in id order, keyset pages. ?role= one of the roles, or staff
-- (agents, managers and admins: the assignee picker); ?is_active=true|false; ?q= part of the
-- e-mail address or the name, without case. Columns are named one by one: the password hash is
-- not readable by the app.
DECLARE
    v_input  jsonb;
    v_limit  integer;
    v_after  bigint;
    v_role   text;
    v_active boolean;
    v_like   text;
    v_items  jsonb[];
BEGIN
    PERFORM atum.require_role('agent', 'list users');
    v_input := atum.input_check(p_query, '{role,is_active,q,limit,after}');
    v_limit := atum.input_limit(v_input);
    v_after := atum.input_bigint(v_input, 'after');
    v_role := atum.input_enum(v_input, 'role', enum_range(NULL::atum.user_role)::text[] || '{staff}'::text[]);
    v_active := atum.input_boolean(v_input, 'is_active', NULL);
    v_like := '%' || replace(replace(replace(btrim(atum.input_text(v_input, 'q')), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    SELECT array_agg(to_jsonb(u) ORDER BY u.id) INTO v_items
      FROM (SELECT u.id, u.email, u.display_name, u.role, u.is_active, u.time_zone, u.created_at, u.last_login_at
              FROM atum.users u
             WHERE u.organization_id = (SELECT c.organization_id FROM atum.request_context c)
               AND (v_after IS NULL OR u.id > v_after)
               AND (v_role IS NULL OR u.role::text = v_role OR (v_role = 'staff' AND u.role <> 'customer'))
               AND (v_active IS NULL OR u.is_active = v_active)
               AND (v_like IS NULL OR u.email ILIKE v_like OR u.display_name ILIKE v_like)
             ORDER BY u.id
             LIMIT v_limit + 1) AS u;
    RETURN atum.page_json(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.user_list(jsonb) IS 'Staff: users of the organization, keyset pages; filters role (or staff), is_active, q (e-mail or name).';

CREATE OR REPLACE FUNCTION api.user_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_user jsonb;
BEGIN
    PERFORM atum.require_role('agent', 'read users');
    SELECT to_jsonb(u) INTO v_user
      FROM (SELECT u.id, u.email, u.display_name, u.role, u.is_active, u.time_zone, u.created_at, u.last_login_at,
                   ARRAY(SELECT m.team_id FROM atum.team_members m
                          WHERE m.organization_id = u.organization_id AND m.user_id = u.id ORDER BY m.team_id) AS team_ids
              FROM atum.users u
             WHERE u.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND u.id = p_id) AS u;
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'no user %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_user;
END
$$;
COMMENT ON FUNCTION api.user_get(bigint) IS 'Staff: one user of the organization with the teams they belong to. AT404 when there is none.';

CREATE OR REPLACE FUNCTION api.user_update(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {display_name?, role?, is_active?, time_zone? (null: the organization's)}; only the
-- fields present change. The triggers on atum.users keep the last active admin (AT409), end the
-- sessions of a deactivated user and take a new customer out of every team.
DECLARE
    v_input  jsonb;
    v_role   text;
    v_active boolean;
    v_zone   text;
    v_state  text;
    v_msg    text;
    v_con    text;
BEGIN
    PERFORM atum.require_role('admin', 'change users');
    v_input := atum.input_check(p_body, '{display_name,role,is_active,time_zone}');
    v_role := atum.input_enum(v_input, 'role', enum_range(NULL::atum.user_role)::text[]);
    v_active := atum.input_boolean(v_input, 'is_active', NULL);
    v_zone := atum.input_time_zone(v_input, 'time_zone');
    IF v_input ? 'role' AND v_role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'AT422', COLUMN = 'role';
    ELSIF v_input ? 'is_active' AND v_active IS NULL THEN
        RAISE EXCEPTION 'is_active must be true or false' USING ERRCODE = 'AT422', COLUMN = 'is_active';
    END IF;
    UPDATE atum.users u
       SET display_name = CASE WHEN v_input ? 'display_name'
                               THEN coalesce(btrim(atum.input_text(v_input, 'display_name')), '') ELSE u.display_name END,
           role = coalesce(v_role::atum.user_role, u.role),
           is_active = coalesce(v_active, u.is_active),
           time_zone = CASE WHEN v_input ? 'time_zone' THEN v_zone ELSE u.time_zone END
     WHERE u.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND u.id = p_id
       AND v_input ?| '{display_name,role,is_active,time_zone}';
    RETURN api.user_get(p_id);  -- AT404 when there is no such user
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.user_update(bigint, jsonb) IS 'Admin: changes a user''s name, role, active flag or time zone. AT409 for the last active admin; deactivation ends the user''s sessions.';

-- ---------------------------------------------------------------------------------------------
-- Teams and their members
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.team_json(t atum.teams) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    -- Members with what a team page shows of them (never more than staff may read anyway).
    SELECT jsonb_build_object(
        'id', t.id, 'name', t.name, 'description', t.description, 'created_at', t.created_at,
        'members', coalesce((
            SELECT jsonb_agg(jsonb_build_object('id', u.id, 'email', u.email, 'display_name', u.display_name,
                                                'role', u.role, 'is_active', u.is_active, 'joined_at', m.created_at)
                             ORDER BY u.id)
              FROM atum.team_members m JOIN atum.users u ON u.organization_id = m.organization_id AND u.id = m.user_id
             WHERE m.organization_id = t.organization_id AND m.team_id = t.id), '[]'))
$$;
COMMENT ON FUNCTION atum.team_json(atum.teams) IS 'A team as the API shows it, with its members.';

CREATE OR REPLACE FUNCTION api.team_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_input jsonb;
    v_limit integer;
    v_after bigint;
    v_items jsonb[];
BEGIN
    PERFORM atum.require_role('agent', 'list teams');
    v_input := atum.input_check(p_query, '{limit,after}');
    v_limit := atum.input_limit(v_input);
    v_after := atum.input_bigint(v_input, 'after');
    SELECT array_agg(atum.team_json(t) ORDER BY t.id) INTO v_items
      FROM (SELECT t.* FROM atum.teams t
             WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c)
               AND (v_after IS NULL OR t.id > v_after)
             ORDER BY t.id
             LIMIT v_limit + 1) AS t;
    RETURN atum.page_json(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.team_list(jsonb) IS 'Staff: the organization''s teams with their members, keyset pages.';

CREATE OR REPLACE FUNCTION api.team_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_team jsonb;
BEGIN
    PERFORM atum.require_role('agent', 'read teams');
    SELECT atum.team_json(t) INTO v_team FROM atum.teams t
     WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_id;
    IF v_team IS NULL THEN
        RAISE EXCEPTION 'no team %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_team;
END
$$;
COMMENT ON FUNCTION api.team_get(bigint) IS 'Staff: one team with its members. AT404 when there is none.';

CREATE OR REPLACE FUNCTION api.team_create(p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name, description?}.
DECLARE
    v_input jsonb;
    v_team  atum.teams;
    v_state text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('admin', 'change teams');
    v_input := atum.input_check(p_body, '{name,description}');
    INSERT INTO atum.teams (organization_id, name, description)
    VALUES ((SELECT c.organization_id FROM atum.request_context c), btrim(atum.input_text(v_input, 'name', true)),
            coalesce(atum.input_text(v_input, 'description'), ''))
    RETURNING * INTO v_team;
    RETURN atum.team_json(v_team);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.team_create(jsonb) IS 'Admin: creates a team. AT409 (name) when the name is taken.';

CREATE OR REPLACE FUNCTION api.team_update(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name?, description?}; only the fields present change.
DECLARE
    v_input jsonb;
    v_state text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('admin', 'change teams');
    v_input := atum.input_check(p_body, '{name,description}');
    UPDATE atum.teams t
       SET name = CASE WHEN v_input ? 'name' THEN btrim(atum.input_text(v_input, 'name', true)) ELSE t.name END,
           description = CASE WHEN v_input ? 'description' THEN coalesce(atum.input_text(v_input, 'description'), '')
                              ELSE t.description END
     WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_id
       AND v_input ?| '{name,description}';
    RETURN api.team_get(p_id);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.team_update(bigint, jsonb) IS 'Admin: renames a team or changes its description. AT404, AT409 (name taken), AT422.';

CREATE OR REPLACE FUNCTION api.team_delete(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: deletes a team and its memberships. A team that tickets (or anything else) still name
-- stays: the foreign keys refuse, and that is a conflict (AT409), not bad input.
DECLARE
    v_table text;
BEGIN
    PERFORM atum.require_role('admin', 'change teams');
    RETURN atum.row_delete('atum.teams', p_id, 'team');
EXCEPTION WHEN foreign_key_violation THEN
    GET STACKED DIAGNOSTICS v_table = TABLE_NAME;
    RAISE EXCEPTION 'team % is still used by %', p_id, replace(v_table, '_', ' ')
        USING ERRCODE = 'AT409', COLUMN = 'id', HINT = 'Move its tickets to another team first.';
END
$$;
COMMENT ON FUNCTION api.team_delete(bigint) IS 'Admin: deletes a team with its memberships. AT404; AT409 while tickets are routed to it.';

CREATE OR REPLACE FUNCTION atum.team_member_check(p_team_id bigint, p_user_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Both ids come from the path, so an unknown (or another organization's) one is a 404, not the
-- foreign key's 422.
BEGIN
    IF NOT EXISTS (SELECT 1 FROM atum.teams t
                    WHERE t.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND t.id = p_team_id) THEN
        RAISE EXCEPTION 'no team %', p_team_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM atum.users u
                    WHERE u.organization_id = (SELECT c.organization_id FROM atum.request_context c) AND u.id = p_user_id) THEN
        RAISE EXCEPTION 'no user %', p_user_id USING ERRCODE = 'AT404', COLUMN = 'user_id';
    END IF;
END
$$;
COMMENT ON FUNCTION atum.team_member_check(bigint, bigint) IS 'Raises AT404 unless the caller can see both the team and the user.';

CREATE OR REPLACE FUNCTION api.team_member_add(p_team_id bigint, p_user_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: puts a staff user into a team (again is fine: PUT). A customer is refused by the
-- trigger on atum.team_members (AT422).
BEGIN
    PERFORM atum.require_role('admin', 'change teams');
    PERFORM atum.team_member_check(p_team_id, p_user_id);
    INSERT INTO atum.team_members (organization_id, team_id, user_id)
    VALUES ((SELECT c.organization_id FROM atum.request_context c), p_team_id, p_user_id)
    ON CONFLICT DO NOTHING;
    RETURN api.team_get(p_team_id);
END
$$;
COMMENT ON FUNCTION api.team_member_add(bigint, bigint) IS 'Admin: adds a staff user to a team (idempotent); returns the team. AT404 for an unknown team or user, AT422 for a customer.';

CREATE OR REPLACE FUNCTION api.team_member_remove(p_team_id bigint, p_user_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('admin', 'change teams');
    PERFORM atum.team_member_check(p_team_id, p_user_id);
    DELETE FROM atum.team_members m
     WHERE m.organization_id = (SELECT c.organization_id FROM atum.request_context c)
       AND m.team_id = p_team_id AND m.user_id = p_user_id;
    RETURN api.team_get(p_team_id);
END
$$;
COMMENT ON FUNCTION api.team_member_remove(bigint, bigint) IS 'Admin: takes a user out of a team (idempotent); returns the team. AT404 for an unknown team or user.';

-- ---------------------------------------------------------------------------------------------
-- Categories
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.category_json(c atum.categories) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', c.id, 'parent_id', c.parent_id, 'name', c.name, 'description', c.description,
                              'is_active', c.is_active, 'created_at', c.created_at)
$$;
COMMENT ON FUNCTION atum.category_json(atum.categories) IS 'A category as the API shows it.';

CREATE OR REPLACE FUNCTION api.category_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: every category (inactive ones too), keyset pages; ?is_active=true|false.
DECLARE
    v_input  jsonb;
    v_limit  integer;
    v_after  bigint;
    v_active boolean;
    v_items  jsonb[];
BEGIN
    PERFORM atum.require_role('agent', 'manage categories');
    v_input := atum.input_check(p_query, '{is_active,limit,after}');
    v_limit := atum.input_limit(v_input, 50, 500);
    v_after := atum.input_bigint(v_input, 'after');
    v_active := atum.input_boolean(v_input, 'is_active', NULL);
    SELECT array_agg(atum.category_json(c) ORDER BY c.id) INTO v_items
      FROM (SELECT c.* FROM atum.categories c
             WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x)
               AND (v_after IS NULL OR c.id > v_after) AND (v_active IS NULL OR c.is_active = v_active)
             ORDER BY c.id
             LIMIT v_limit + 1) AS c;
    RETURN atum.page_json(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.category_list(jsonb) IS 'Staff: the organization''s categories, keyset pages; filter is_active.';

CREATE OR REPLACE FUNCTION api.category_choices(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Everyone signed in (the portal's ticket form): the active categories, keyset pages.
DECLARE
    v_input jsonb := atum.input_check(p_query, '{limit,after}');
    v_limit integer := atum.input_limit(v_input, 200, 500);
    v_after bigint := atum.input_bigint(v_input, 'after');
    v_items jsonb[];
BEGIN
    SELECT array_agg(jsonb_build_object('id', c.id, 'parent_id', c.parent_id, 'name', c.name,
                                        'description', c.description) ORDER BY c.id) INTO v_items
      FROM (SELECT c.* FROM atum.categories c
             WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.is_active
               AND (v_after IS NULL OR c.id > v_after)
             ORDER BY c.id
             LIMIT v_limit + 1) AS c;
    RETURN atum.page_json(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.category_choices(jsonb) IS 'Anyone in the organization: the active categories to choose from when opening a ticket, keyset pages.';

CREATE OR REPLACE FUNCTION api.category_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_category jsonb;
BEGIN
    PERFORM atum.require_role('agent', 'manage categories');
    SELECT atum.category_json(c) INTO v_category FROM atum.categories c
     WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id;
    IF v_category IS NULL THEN
        RAISE EXCEPTION 'no category %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_category;
END
$$;
COMMENT ON FUNCTION api.category_get(bigint) IS 'Staff: one category. AT404 when there is none.';

CREATE OR REPLACE FUNCTION api.category_create(p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name, description?, parent_id?, is_active?}. An unknown parent is the foreign key's 422.
DECLARE
    v_input    jsonb;
    v_category atum.categories;
    v_state    text;
    v_msg      text;
    v_con      text;
BEGIN
    PERFORM atum.require_role('admin', 'change categories');
    v_input := atum.input_check(p_body, '{name,description,parent_id,is_active}');
    INSERT INTO atum.categories (organization_id, parent_id, name, description, is_active)
    VALUES ((SELECT c.organization_id FROM atum.request_context c), atum.input_bigint(v_input, 'parent_id'),
            btrim(atum.input_text(v_input, 'name', true)), coalesce(atum.input_text(v_input, 'description'), ''),
            atum.input_boolean(v_input, 'is_active', true))
    RETURNING * INTO v_category;
    RETURN atum.category_json(v_category);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.category_create(jsonb) IS 'Admin: creates a category. AT409 (name) when a sibling has the name, AT422 for an unknown parent_id.';

CREATE OR REPLACE FUNCTION api.category_update(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name?, description?, parent_id? (null: top level), is_active?}. Deactivating keeps the
-- category on old tickets but stops offering it. A move into its own subtree is refused (trigger).
DECLARE
    v_input jsonb;
    v_state text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('admin', 'change categories');
    v_input := atum.input_check(p_body, '{name,description,parent_id,is_active}');
    IF v_input ? 'is_active' AND atum.input_boolean(v_input, 'is_active', NULL) IS NULL THEN
        RAISE EXCEPTION 'is_active must be true or false' USING ERRCODE = 'AT422', COLUMN = 'is_active';
    END IF;
    UPDATE atum.categories c
       SET name = CASE WHEN v_input ? 'name' THEN btrim(atum.input_text(v_input, 'name', true)) ELSE c.name END,
           description = CASE WHEN v_input ? 'description' THEN coalesce(atum.input_text(v_input, 'description'), '')
                              ELSE c.description END,
           parent_id = CASE WHEN v_input ? 'parent_id' THEN atum.input_bigint(v_input, 'parent_id') ELSE c.parent_id END,
           is_active = atum.input_boolean(v_input, 'is_active', c.is_active)
     WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id
       AND v_input ?| '{name,description,parent_id,is_active}';
    RETURN api.category_get(p_id);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.category_update(bigint, jsonb) IS 'Admin: changes a category. AT404, AT409 (name taken among siblings), AT422 (unknown parent, or a loop).';

CREATE OR REPLACE FUNCTION api.category_delete(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: deletes a category nothing refers to. One that tickets or sub-categories name stays (the
-- foreign keys refuse; AT409): deactivate it instead.
DECLARE
    v_table text;
BEGIN
    PERFORM atum.require_role('admin', 'change categories');
    RETURN atum.row_delete('atum.categories', p_id, 'category');
EXCEPTION WHEN foreign_key_violation THEN
    GET STACKED DIAGNOSTICS v_table = TABLE_NAME;
    RAISE EXCEPTION 'category % is still used by %', p_id, replace(v_table, '_', ' ')
        USING ERRCODE = 'AT409', COLUMN = 'id',
              HINT = 'Deactivate it instead (is_active false): old tickets keep it, new ones cannot choose it.';
END
$$;
COMMENT ON FUNCTION api.category_delete(bigint) IS 'Admin: deletes an unused category. AT404; AT409 while tickets or sub-categories refer to it.';

-- ---------------------------------------------------------------------------------------------
-- SLA policies (one per priority)
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.sla_policy_json(p atum.sla_policies) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', p.id, 'priority', p.priority, 'calendar_id', p.calendar_id,
                              'first_response_minutes', p.first_response_minutes,
                              'resolution_minutes', p.resolution_minutes, 'updated_at', p.updated_at)
$$;
COMMENT ON FUNCTION atum.sla_policy_json(atum.sla_policies) IS 'An SLA policy as the API shows it.';

CREATE OR REPLACE FUNCTION api.sla_policy_list() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('agent', 'read SLA policies');
    -- At most one per priority: one page, always.
    RETURN jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(atum.sla_policy_json(p) ORDER BY p.priority)
          FROM atum.sla_policies p WHERE p.organization_id = (SELECT c.organization_id FROM atum.request_context c)),
        '[]'), 'next', NULL);
END
$$;
COMMENT ON FUNCTION api.sla_policy_list() IS 'Staff: the organization''s SLA policies, by priority (LOW first).';

CREATE OR REPLACE FUNCTION api.sla_policy_put(p_priority text, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {calendar_id, first_response_minutes, resolution_minutes} for a priority (created or
-- replaced). The targets apply to tickets accepted (or re-prioritised) from now on; due times
-- already computed stay as they were promised.
DECLARE
    v_input    jsonb;
    v_priority atum.ticket_priority;
    v_policy   atum.sla_policies;
    v_state    text;
    v_msg      text;
    v_con      text;
BEGIN
    PERFORM atum.require_role('admin', 'change SLA policies');
    v_priority := atum.input_enum(jsonb_build_object('priority', p_priority), 'priority',
                                  enum_range(NULL::atum.ticket_priority)::text[]);
    v_input := atum.input_check(p_body, '{calendar_id,first_response_minutes,resolution_minutes}');
    INSERT INTO atum.sla_policies AS p (organization_id, priority, calendar_id, first_response_minutes, resolution_minutes)
    VALUES ((SELECT c.organization_id FROM atum.request_context c), v_priority,
            atum.input_bigint(v_input, 'calendar_id', true),
            atum.input_integer(v_input, 'first_response_minutes', true),
            atum.input_integer(v_input, 'resolution_minutes', true))
    ON CONFLICT (organization_id, priority) DO UPDATE
       SET calendar_id = excluded.calendar_id, first_response_minutes = excluded.first_response_minutes,
           resolution_minutes = excluded.resolution_minutes
    RETURNING * INTO v_policy;
    RETURN atum.sla_policy_json(v_policy);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.sla_policy_put(text, jsonb) IS 'Admin: sets the SLA targets of a priority. AT422 naming the field: unknown priority, unknown calendar, targets not positive, resolution before first response.';

-- ---------------------------------------------------------------------------------------------
-- Business calendars: weekly hours and holidays
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.calendar_json(c atum.business_calendars, p_with_holidays boolean) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'name', c.name, 'time_zone', c.time_zone, 'is_24x7', c.is_24x7, 'is_default', c.is_default,
        'created_at', c.created_at,
        'hours', coalesce((
            SELECT jsonb_agg(jsonb_build_object('weekday', h.weekday, 'opens_at', to_char(h.opens_at, 'HH24:MI'),
                                                'closes_at', to_char(h.closes_at, 'HH24:MI'))
                             ORDER BY h.weekday, h.opens_at)
              FROM atum.calendar_hours h WHERE h.organization_id = c.organization_id AND h.calendar_id = c.id), '[]'))
        || CASE WHEN p_with_holidays THEN jsonb_build_object('holidays', coalesce((
               SELECT jsonb_agg(jsonb_build_object('day', x.day, 'name', x.name) ORDER BY x.day)
                 FROM atum.calendar_holidays x WHERE x.organization_id = c.organization_id AND x.calendar_id = c.id),
               '[]')) ELSE '{}' END
$$;
COMMENT ON FUNCTION atum.calendar_json(atum.business_calendars, boolean) IS 'A business calendar as the API shows it: weekly hours ("HH:MM", 24:00 for midnight), and its holidays when asked.';

CREATE OR REPLACE FUNCTION atum.calendar_hours_replace(p_calendar_id bigint, p_hours jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Replaces the weekly hours of a calendar the caller may change by p_hours, a list of
-- {weekday: 1 (Monday) .. 7, opens_at: "HH:MM", closes_at: "HH:MM" or "24:00"}. The shape is
-- checked here; order and overlap are the table's constraints, reported against the field hours.
DECLARE
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_bad   bigint;
    v_state text;
BEGIN
    IF p_hours IS NULL OR jsonb_typeof(p_hours) <> 'array' THEN
        RAISE EXCEPTION 'hours must be a list of {weekday, opens_at, closes_at}' USING ERRCODE = 'AT422', COLUMN = 'hours';
    END IF;
    SELECT x.i - 1 INTO v_bad
      FROM jsonb_array_elements(p_hours) WITH ORDINALITY AS x (e, i)
     WHERE CASE WHEN jsonb_typeof(x.e) <> 'object' THEN true
                ELSE NOT (x.e - '{weekday,opens_at,closes_at}'::text[]) = '{}'::jsonb
                  OR coalesce(x.e ->> 'weekday', '') !~ '^[1-7]$'
                  OR coalesce(x.e ->> 'opens_at', '') !~ '^([01]?[0-9]|2[0-3]):[0-5][0-9]$'
                  OR coalesce(x.e ->> 'closes_at', '') !~ '^(([01]?[0-9]|2[0-3]):[0-5][0-9]|24:00)$' END
     ORDER BY x.i LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'hours[%] must be {weekday: 1 (Monday) to 7, opens_at: "HH:MM", closes_at: "HH:MM" or "24:00"}', v_bad
            USING ERRCODE = 'AT422', COLUMN = 'hours';
    END IF;
    DELETE FROM atum.calendar_hours h WHERE h.organization_id = v_org AND h.calendar_id = p_calendar_id;
    INSERT INTO atum.calendar_hours (organization_id, calendar_id, weekday, opens_at, closes_at)
    SELECT v_org, p_calendar_id, (e ->> 'weekday')::smallint, (e ->> 'opens_at')::time, (e ->> 'closes_at')::time
      FROM jsonb_array_elements(p_hours) AS e;
EXCEPTION WHEN check_violation OR exclusion_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE;
    RAISE EXCEPTION '%', CASE v_state WHEN '23P01' THEN 'working hours of one weekday must not overlap'
                                      ELSE 'every interval of the working hours must open before it closes' END
        USING ERRCODE = 'AT422', COLUMN = 'hours';
END
$$;
COMMENT ON FUNCTION atum.calendar_hours_replace(bigint, jsonb) IS 'Replaces a calendar''s weekly hours by a list of {weekday, opens_at, closes_at}; AT422 (hours) for a malformed entry, an empty or reversed interval, or overlapping intervals.';

CREATE OR REPLACE FUNCTION api.calendar_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Staff: calendars with their weekly hours (holidays with api.calendar_get), keyset pages.
DECLARE
    v_input jsonb;
    v_limit integer;
    v_after bigint;
    v_items jsonb[];
BEGIN
    PERFORM atum.require_role('agent', 'read calendars');
    v_input := atum.input_check(p_query, '{limit,after}');
    v_limit := atum.input_limit(v_input);
    v_after := atum.input_bigint(v_input, 'after');
    SELECT array_agg(atum.calendar_json(c, false) ORDER BY c.id) INTO v_items
      FROM (SELECT c.* FROM atum.business_calendars c
             WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x)
               AND (v_after IS NULL OR c.id > v_after)
             ORDER BY c.id
             LIMIT v_limit + 1) AS c;
    RETURN atum.page_json(v_items, v_limit);
END
$$;
COMMENT ON FUNCTION api.calendar_list(jsonb) IS 'Staff: the organization''s business calendars with weekly hours, keyset pages.';

CREATE OR REPLACE FUNCTION api.calendar_get(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_calendar jsonb;
BEGIN
    PERFORM atum.require_role('agent', 'read calendars');
    SELECT atum.calendar_json(c, true) INTO v_calendar FROM atum.business_calendars c
     WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id;
    IF v_calendar IS NULL THEN
        RAISE EXCEPTION 'no calendar %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    RETURN v_calendar;
END
$$;
COMMENT ON FUNCTION api.calendar_get(bigint) IS 'Staff: one business calendar with weekly hours and holidays. AT404 when there is none.';

CREATE OR REPLACE FUNCTION atum.calendar_make_default(p_id bigint) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Two statements: the unique index on the default would refuse a single one that sets the new
    -- default before it clears the old.
    UPDATE atum.business_calendars c SET is_default = false
     WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.is_default AND c.id <> p_id;
    UPDATE atum.business_calendars c SET is_default = true
     WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id AND NOT c.is_default;
$$;
COMMENT ON FUNCTION atum.calendar_make_default(bigint) IS 'Makes a calendar the organization''s default (the triage target''s calendar), in place of the previous one.';

CREATE OR REPLACE FUNCTION api.calendar_create(p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name, time_zone? (the organization's), is_24x7?, is_default?, hours?}.
DECLARE
    v_input jsonb;
    v_id    bigint;
    v_state text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('admin', 'change calendars');
    v_input := atum.input_check(p_body, '{name,time_zone,is_24x7,is_default,hours}');
    INSERT INTO atum.business_calendars (organization_id, name, time_zone, is_24x7)
    SELECT o.id, btrim(atum.input_text(v_input, 'name', true)),
           coalesce(atum.input_time_zone(v_input, 'time_zone'), o.time_zone),
           atum.input_boolean(v_input, 'is_24x7', false)
      FROM atum.organizations o WHERE o.id = (SELECT c.organization_id FROM atum.request_context c)
    RETURNING id INTO v_id;
    IF atum.input_boolean(v_input, 'is_default', false) THEN
        PERFORM atum.calendar_make_default(v_id);
    END IF;
    IF v_input ? 'hours' THEN
        PERFORM atum.calendar_hours_replace(v_id, v_input -> 'hours');
    END IF;
    RETURN api.calendar_get(v_id);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.calendar_create(jsonb) IS 'Admin: creates a business calendar, optionally with weekly hours and as the default. AT409 (name) when the name is taken, AT422 for bad fields.';

CREATE OR REPLACE FUNCTION api.calendar_update(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name?, time_zone?, is_24x7?, is_default?}. is_default true moves the default here; the
-- default cannot just be switched off (the triage target needs a calendar): make another one the
-- default instead. Due times already computed are not recomputed.
DECLARE
    v_input   jsonb;
    v_default boolean;
    v_state   text;
    v_msg     text;
    v_con     text;
BEGIN
    PERFORM atum.require_role('admin', 'change calendars');
    v_input := atum.input_check(p_body, '{name,time_zone,is_24x7,is_default}');
    v_default := atum.input_boolean(v_input, 'is_default', NULL);
    IF v_input ? 'time_zone' THEN
        PERFORM atum.input_time_zone(v_input, 'time_zone', true);
    END IF;
    UPDATE atum.business_calendars c
       SET name = CASE WHEN v_input ? 'name' THEN btrim(atum.input_text(v_input, 'name', true)) ELSE c.name END,
           time_zone = coalesce(atum.input_text(v_input, 'time_zone'), c.time_zone),
           is_24x7 = atum.input_boolean(v_input, 'is_24x7', c.is_24x7)
     WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id
       AND v_input ?| '{name,time_zone,is_24x7}';
    IF v_default THEN
        PERFORM atum.calendar_make_default(p_id);
    ELSIF NOT v_default AND EXISTS (
            SELECT 1 FROM atum.business_calendars c
             WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id AND c.is_default) THEN
        RAISE EXCEPTION 'calendar % is the default' , p_id USING ERRCODE = 'AT422', COLUMN = 'is_default',
            HINT = 'Make another calendar the default instead.';
    END IF;
    RETURN api.calendar_get(p_id);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.calendar_update(bigint, jsonb) IS 'Admin: renames a calendar, changes its time zone or 24x7 flag, or makes it the default. AT404, AT409 (name), AT422.';

CREATE OR REPLACE FUNCTION api.calendar_hours_put(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {hours: [{weekday, opens_at, closes_at}, ...]} replaces the weekly hours ([] for none).
DECLARE
    v_input jsonb;
BEGIN
    PERFORM atum.require_role('admin', 'change calendars');
    v_input := atum.input_check(p_body, '{hours}');
    -- Lock the calendar: it must exist (404 otherwise), and two replacements must not interleave.
    PERFORM 1 FROM atum.business_calendars c
      WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_id
        FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no calendar %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    IF NOT v_input ? 'hours' THEN
        RAISE EXCEPTION 'hours is required' USING ERRCODE = 'AT422', COLUMN = 'hours';
    END IF;
    PERFORM atum.calendar_hours_replace(p_id, v_input -> 'hours');
    RETURN api.calendar_get(p_id);
END
$$;
COMMENT ON FUNCTION api.calendar_hours_put(bigint, jsonb) IS 'Admin: replaces a calendar''s weekly hours. AT404; AT422 (hours) for malformed, reversed or overlapping intervals.';

CREATE OR REPLACE FUNCTION api.holiday_add(p_calendar_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {day: "YYYY-MM-DD", name?}: a whole local day without business hours.
DECLARE
    v_input   jsonb;
    v_holiday atum.calendar_holidays;
    v_state   text;
    v_msg     text;
    v_con     text;
BEGIN
    PERFORM atum.require_role('admin', 'change calendars');
    v_input := atum.input_check(p_body, '{day,name}');
    IF NOT EXISTS (SELECT 1 FROM atum.business_calendars c
                    WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_calendar_id) THEN
        RAISE EXCEPTION 'no calendar %', p_calendar_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    INSERT INTO atum.calendar_holidays (organization_id, calendar_id, day, name)
    VALUES ((SELECT x.organization_id FROM atum.request_context x), p_calendar_id, atum.input_date(v_input, 'day', true),
            coalesce(btrim(atum.input_text(v_input, 'name')), ''))
    RETURNING * INTO v_holiday;
    RETURN jsonb_build_object('calendar_id', v_holiday.calendar_id, 'day', v_holiday.day, 'name', v_holiday.name);
EXCEPTION WHEN integrity_constraint_violation THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
    PERFORM atum.constraint_raise(v_state, v_msg, v_con);
END
$$;
COMMENT ON FUNCTION api.holiday_add(bigint, jsonb) IS 'Admin: adds a holiday to a calendar. AT404 (calendar), AT409 (day already a holiday), AT422 (day not a date between 2000 and 2199).';

CREATE OR REPLACE FUNCTION api.holiday_remove(p_calendar_id bigint, p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: ?day=YYYY-MM-DD (a query parameter: the path names only records with ids). The calendar
-- is looked up before the day is read, so another organization's calendar is a 404 whatever the day.
DECLARE
    v_input jsonb;
    v_day   date;
BEGIN
    PERFORM atum.require_role('admin', 'change calendars');
    v_input := atum.input_check(p_query, '{day}');
    IF NOT EXISTS (SELECT 1 FROM atum.business_calendars c
                    WHERE c.organization_id = (SELECT x.organization_id FROM atum.request_context x) AND c.id = p_calendar_id) THEN
        RAISE EXCEPTION 'no calendar %', p_calendar_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    v_day := atum.input_date(v_input, 'day', true);
    DELETE FROM atum.calendar_holidays h
     WHERE h.organization_id = (SELECT x.organization_id FROM atum.request_context x)
       AND h.calendar_id = p_calendar_id AND h.day = v_day;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'calendar % has no holiday on %', p_calendar_id, v_day USING ERRCODE = 'AT404', COLUMN = 'day';
    END IF;
    RETURN jsonb_build_object('calendar_id', p_calendar_id, 'day', v_day, 'deleted', true);
END
$$;
COMMENT ON FUNCTION api.holiday_remove(bigint, jsonb) IS 'Admin: removes the holiday ?day= from a calendar. AT404 for an unknown calendar or a day that is no holiday; AT422 (day) for a missing or malformed day.';

-- ---------------------------------------------------------------------------------------------
-- The organization's settings
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.organization_json(o atum.organizations) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', o.id, 'slug', o.slug, 'name', o.name, 'ticket_prefix', o.ticket_prefix,
                              'time_zone', o.time_zone, 'triage_target_minutes', o.triage_target_minutes,
                              'sla_warning_ratio', o.sla_warning_ratio, 'reopen_window_days', o.reopen_window_days,
                              'auto_close_days', o.auto_close_days, 'created_at', o.created_at, 'updated_at', o.updated_at)
$$;
COMMENT ON FUNCTION atum.organization_json(atum.organizations) IS 'An organization''s settings as the API shows them.';

CREATE OR REPLACE FUNCTION api.organization_get() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('agent', 'read the organization''s settings');
    RETURN (SELECT atum.organization_json(o) FROM atum.organizations o
             WHERE o.id = (SELECT c.organization_id FROM atum.request_context c));
END
$$;
COMMENT ON FUNCTION api.organization_get() IS 'Staff: the settings of the caller''s organization.';

CREATE OR REPLACE FUNCTION api.organization_update(p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- Admin: {name?, time_zone?, triage_target_minutes?, sla_warning_ratio?, reopen_window_days?,
-- auto_close_days?}; the table's checks decide the ranges. Slug and ticket prefix are not
-- settings here: sign-in and the subjects of mail already sent name them.
DECLARE
    v_input jsonb;
    v_state text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('admin', 'change the organization''s settings');
    v_input := atum.input_check(p_body, '{name,time_zone,triage_target_minutes,sla_warning_ratio,reopen_window_days,auto_close_days}');
    IF v_input ? 'time_zone' THEN
        PERFORM atum.input_time_zone(v_input, 'time_zone', true);
    END IF;
    UPDATE atum.organizations o
       SET name = CASE WHEN v_input ? 'name' THEN btrim(atum.input_text(v_input, 'name', true)) ELSE o.name END,
           time_zone = coalesce(atum.input_text(v_input, 'time_zone'), o.time_zone),
           triage_target_minutes = CASE WHEN v_input ? 'triage_target_minutes'
                                        THEN atum.input_integer(v_input, 'triage_target_minutes', true)
                                        ELSE o.triage_target_minutes END,
           sla_warning_ratio = CASE WHEN v_input ? 'sla_warning_ratio'
                                    THEN atum.input_numeric(v_input, 'sla_warning_ratio', true)
                                    ELSE o.sla_warning_ratio END,
           reopen_window_days = CASE WHEN v_input ? 'reopen_window_days'
                                     THEN atum.input_integer(v_input, 'reopen_window_days', true)
                                     ELSE o.reopen_window_days END,
           auto_close_days = CASE WHEN v_input ? 'auto_close_days'
                                  THEN atum.input_integer(v_input, 'auto_close_days', true) ELSE o.auto_close_days END
     WHERE o.id = (SELECT c.organization_id FROM atum.request_context c)
       AND v_input ?| '{name,time_zone,triage_target_minutes,sla_warning_ratio,reopen_window_days,auto_close_days}';
    RETURN api.organization_get();
EXCEPTION
    WHEN integrity_constraint_violation THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
        PERFORM atum.constraint_raise(v_state, v_msg, v_con);
    WHEN numeric_value_out_of_range THEN  -- numeric(4, 3): only sla_warning_ratio can overflow
        RAISE EXCEPTION 'sla_warning_ratio must be between 0 and 1' USING ERRCODE = 'AT422', COLUMN = 'sla_warning_ratio';
END
$$;
COMMENT ON FUNCTION api.organization_update(jsonb) IS 'Admin: changes the organization''s name, time zone, triage target, SLA warning share, reopen window and auto-close period. AT422 naming the field for a value out of range.';
