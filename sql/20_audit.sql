-- The audit trail: every INSERT, UPDATE and DELETE on a tenant table is written by statement-level
-- triggers (set-based: a bulk load of 10,000 rows is one audit statement) to atum.audit_log, an
-- append-only table chained by hash per organization.

-- The pure helpers below have no SET clause on purpose: they are invoker functions with fully
-- qualified bodies, called per row from SECURITY DEFINER code whose search_path is pinned; a SET
-- clause would stop PostgreSQL from inlining them (and cost a re-plan per call).
CREATE OR REPLACE FUNCTION atum_private.hash_chain_step(p_state bytea, p_seed bytea, p_payload text) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN pg_catalog.sha256(coalesce(p_state, p_seed) || pg_catalog.convert_to(p_payload, 'UTF8'));
END
$$;
COMMENT ON FUNCTION atum_private.hash_chain_step(bytea, bytea, text) IS 'One link of the audit chain: sha256(previous hash || payload); the first link starts from the seed.';

CREATE OR REPLACE AGGREGATE atum_private.hash_chain(bytea, text) (
    SFUNC = atum_private.hash_chain_step,
    STYPE = bytea
);
COMMENT ON AGGREGATE atum_private.hash_chain(bytea, text) IS 'Running hash chain; used as a window function ordered by seq it yields every row''s hash.';

CREATE OR REPLACE FUNCTION atum_private.audit_payload(
    p_organization_id bigint, p_seq bigint, p_occurred_at timestamptz, p_actor_user_id bigint,
    p_actor_role atum.user_role, p_db_role text, p_application text, p_action text, p_table_name text,
    p_row_key jsonb, p_ticket_id bigint, p_old_values jsonb, p_new_values jsonb, p_transaction_id bigint
) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- jsonb's text form is canonical (sorted keys, normalised numbers); time as epoch microseconds
    -- so the hash does not depend on the TimeZone or DateStyle of the session.
    SELECT jsonb_build_array(
        p_organization_id, p_seq, (extract(epoch FROM p_occurred_at) * 1000000)::bigint, p_actor_user_id,
        p_actor_role, p_db_role, p_application, p_action, p_table_name, p_row_key, p_ticket_id,
        p_old_values, p_new_values, p_transaction_id)::text
$$;
COMMENT ON FUNCTION atum_private.audit_payload(bigint, bigint, timestamptz, bigint, atum.user_role, text, text, text, text, jsonb, bigint, jsonb, jsonb, bigint) IS 'Canonical text of an audit row''s content, the input of its hash.';

CREATE OR REPLACE FUNCTION atum_private.audit_append(p_action text, p_table_name text, p_entries jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: nobody but the owner may write the audit log; callers are trigger functions.
-- p_entries: [{"org": 1, "key": {...}, "ticket": 5, "old": {...}, "new": {...}}, ...]
DECLARE
    v_ctx   record;
    v_entry jsonb;
    v_head  record;
    v_seq   bigint;
    v_hash  bytea;
BEGIN
    IF p_entries IS NULL OR jsonb_array_length(p_entries) = 0 THEN
        RETURN;
    END IF;
    SELECT c.user_id, c.role INTO v_ctx FROM atum.request_context c;

    IF jsonb_array_length(p_entries) = 1 THEN
        -- One row (most writes of the app): the same chain step without the set machinery, which
        -- costs several times more for a single row.
        v_entry := p_entries -> 0;
        SELECT h.last_seq, h.last_hash INTO v_head
          FROM atum.audit_heads h WHERE h.organization_id = (v_entry ->> 'org')::bigint FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO atum.audit_heads AS h (organization_id) VALUES ((v_entry ->> 'org')::bigint)
            ON CONFLICT (organization_id) DO UPDATE SET last_seq = h.last_seq
            RETURNING h.last_seq, h.last_hash INTO v_head;
        END IF;
        v_seq := v_head.last_seq + 1;
        v_hash := atum_private.hash_chain_step(v_head.last_hash, NULL, atum_private.audit_payload(
            (v_entry ->> 'org')::bigint, v_seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
            current_setting('application_name'), p_action, p_table_name, v_entry -> 'key',
            (v_entry ->> 'ticket')::bigint, v_entry -> 'old', v_entry -> 'new', txid_current()));
        INSERT INTO atum.audit_log (organization_id, seq, occurred_at, actor_user_id, actor_role, db_role,
                                    application, action, table_name, row_key, ticket_id, old_values,
                                    new_values, transaction_id, prev_hash, hash)
        VALUES ((v_entry ->> 'org')::bigint, v_seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
                current_setting('application_name'), p_action, p_table_name, v_entry -> 'key',
                (v_entry ->> 'ticket')::bigint, v_entry -> 'old', v_entry -> 'new', txid_current(),
                v_head.last_hash, v_hash);
        UPDATE atum.audit_heads h SET last_seq = v_seq, last_hash = v_hash
         WHERE h.organization_id = (v_entry ->> 'org')::bigint;
        RETURN;
    END IF;

    -- Each organization's chain head is locked until commit, in a fixed order so that writers
    -- touching several organizations cannot deadlock each other: rows chain in commit order.
    INSERT INTO atum.audit_heads (organization_id)
    SELECT DISTINCT (e ->> 'org')::bigint FROM jsonb_array_elements(p_entries) e
    ON CONFLICT (organization_id) DO NOTHING;
    PERFORM 1 FROM atum.audit_heads h
     WHERE h.organization_id IN (SELECT (e ->> 'org')::bigint FROM jsonb_array_elements(p_entries) e)
     ORDER BY h.organization_id
       FOR UPDATE;

    WITH entries AS (
        SELECT (x.e ->> 'org')::bigint AS organization_id, x.ord,
               x.e -> 'key' AS row_key, (x.e ->> 'ticket')::bigint AS ticket_id,
               x.e -> 'old' AS old_values, x.e -> 'new' AS new_values
          FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS x (e, ord)
    ), numbered AS (
        SELECT en.*, h.last_hash AS seed,
               h.last_seq + row_number() OVER (PARTITION BY en.organization_id ORDER BY en.ord) AS seq
          FROM entries en JOIN atum.audit_heads h USING (organization_id)
    ), hashed AS (
        SELECT n.*,
               atum_private.hash_chain(n.seed, atum_private.audit_payload(
                   n.organization_id, n.seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
                   current_setting('application_name'), p_action, p_table_name, n.row_key, n.ticket_id,
                   n.old_values, n.new_values, txid_current()))
                   OVER (PARTITION BY n.organization_id ORDER BY n.seq) AS hash
          FROM numbered n
    ), inserted AS (
        INSERT INTO atum.audit_log (organization_id, seq, occurred_at, actor_user_id, actor_role, db_role,
                                    application, action, table_name, row_key, ticket_id, old_values,
                                    new_values, transaction_id, prev_hash, hash)
        SELECT hs.organization_id, hs.seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
               current_setting('application_name'), p_action, p_table_name, hs.row_key, hs.ticket_id,
               hs.old_values, hs.new_values, txid_current(),
               coalesce(lag(hs.hash) OVER (PARTITION BY hs.organization_id ORDER BY hs.seq), hs.seed), hs.hash
          FROM hashed hs
        RETURNING organization_id, seq, hash
    )
    UPDATE atum.audit_heads h
       SET last_seq = last.seq, last_hash = last.hash
      FROM (SELECT DISTINCT ON (i.organization_id) i.organization_id, i.seq, i.hash
              FROM inserted i ORDER BY i.organization_id, i.seq DESC) AS last
     WHERE h.organization_id = last.organization_id;
END
$$;
COMMENT ON FUNCTION atum_private.audit_append(text, text, jsonb) IS 'Appends audit rows (one per entry) to their organizations'' hash chains. Owner only.';

CREATE OR REPLACE FUNCTION atum_private.tg_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- Statement-level AFTER trigger with transition tables old_rows / new_rows; set-based, with jsonb
-- operators rather than per-row function calls (bulk loads spend most of their time here).
-- TG_ARGV[0]: {"org": column holding the organization, "key": [primary key columns],
--              "ticket": column holding the ticket id or null, "redact": [...], "ignore": [...]}
-- Rows are kept without organization_id; redacted columns as "[redacted]"; an UPDATE keeps only
-- the columns that changed (ignored bookkeeping columns alone make no entry).
DECLARE
    v_spec    jsonb := TG_ARGV[0]::jsonb;
    v_org     text := v_spec ->> 'org';
    v_ticket  text := v_spec ->> 'ticket';
    v_ignore  text[];
    v_mask    jsonb;
    v_not_key text[];
    v_entries jsonb;
    v_old     jsonb;
    v_new     jsonb;
    v_changed record;
BEGIN
    -- Statement triggers fire also when no row changed (e.g. an INSERT ... SELECT of nothing):
    -- then there is nothing to write, and nothing to prepare.
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    v_ignore := ARRAY(SELECT jsonb_array_elements_text(coalesce(v_spec -> 'ignore', '[]')));
    v_mask := coalesce((SELECT jsonb_object_agg(k, '[redacted]')
                          FROM jsonb_array_elements_text(v_spec -> 'redact') AS r (k)), '{}');
    -- Removing every column but the key columns from a row leaves its key.
    v_not_key := ARRAY(SELECT a.attname::text FROM pg_attribute a
                        WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
                          AND NOT (v_spec -> 'key') ? a.attname);
    -- Transition tables exist only for their own event, so INSERT and DELETE each read their own.
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(jsonb_build_object('org', r.j -> v_org, 'key', r.j - v_not_key, 'ticket', r.j -> v_ticket,
                                            'new', (r.j - 'organization_id') || v_mask))
          INTO v_entries
          FROM (SELECT to_jsonb(n) AS j FROM new_rows n) AS r;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(jsonb_build_object('org', r.j -> v_org, 'key', r.j - v_not_key, 'ticket', r.j -> v_ticket,
                                            'old', (r.j - 'organization_id') || v_mask))
          INTO v_entries
          FROM (SELECT to_jsonb(o) AS j FROM old_rows o) AS r;
    ELSIF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT 2) AS two) = 1 THEN
        -- One updated row (most writes of the app): simple statements, whose plans cost little to
        -- make, instead of the set-based pairing below, which is planned afresh on every call.
        SELECT to_jsonb(n) INTO v_new FROM new_rows n;
        SELECT to_jsonb(o) INTO v_old FROM old_rows o;
        SELECT jsonb_object_agg(e.k, CASE WHEN v_mask ? e.k THEN v_mask -> e.k ELSE v_old -> e.k END) AS old_values,
               jsonb_object_agg(e.k, CASE WHEN v_mask ? e.k THEN v_mask -> e.k ELSE e.v END) AS new_values
          INTO v_changed
          FROM jsonb_each(v_new) AS e (k, v)
         WHERE e.v IS DISTINCT FROM v_old -> e.k AND NOT e.k = ANY (v_ignore);
        IF v_changed.new_values IS NOT NULL THEN
            v_entries := jsonb_build_array(jsonb_build_object(
                'org', v_new -> v_org, 'key', v_new - v_not_key, 'ticket', v_new -> v_ticket,
                'old', v_changed.old_values, 'new', v_changed.new_values));
        END IF;
    ELSE
        WITH o AS (SELECT to_jsonb(o) AS j FROM old_rows o),
             n AS (SELECT to_jsonb(n) AS j FROM new_rows n)
        SELECT jsonb_agg(jsonb_build_object(
                   'org', n.j -> v_org, 'key', n.j - v_not_key, 'ticket', n.j -> v_ticket,
                   'old', d.old_values, 'new', d.new_values))
          INTO v_entries
          -- Keys are never updated, so old and new versions pair up by organization and key.
          FROM o JOIN n ON (o.j - v_not_key) || jsonb_build_object('_org', o.j -> v_org)
                         = (n.j - v_not_key) || jsonb_build_object('_org', n.j -> v_org)
          CROSS JOIN LATERAL (
              SELECT jsonb_object_agg(nv.k, CASE WHEN v_mask ? nv.k THEN v_mask -> nv.k ELSE ov.v END) AS old_values,
                     jsonb_object_agg(nv.k, CASE WHEN v_mask ? nv.k THEN v_mask -> nv.k ELSE nv.v END) AS new_values
                FROM jsonb_each(n.j) AS nv (k, v) JOIN jsonb_each(o.j) AS ov (k, v) ON ov.k = nv.k
               WHERE nv.v IS DISTINCT FROM ov.v AND NOT nv.k = ANY (v_ignore)
          ) AS d
         WHERE d.new_values IS NOT NULL;
    END IF;
    PERFORM atum_private.audit_append(TG_OP, TG_TABLE_NAME::text, v_entries);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_audit() IS 'Statement-level audit trigger: writes one audit row per changed row.';

CREATE OR REPLACE FUNCTION atum_private.audit_attach(p_table regclass, p_spec jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- One trigger per event: PostgreSQL allows transition tables only on single-event triggers.
-- Named _900_* so they fire after every other AFTER trigger of the table.
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS _900_audit_insert ON %s', p_table);
    EXECUTE format('DROP TRIGGER IF EXISTS _900_audit_update ON %s', p_table);
    EXECUTE format('DROP TRIGGER IF EXISTS _900_audit_delete ON %s', p_table);
    EXECUTE format('CREATE TRIGGER _900_audit_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_audit(%L)', p_table, p_spec);
    EXECUTE format('CREATE TRIGGER _900_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows '
                   'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_audit(%L)', p_table, p_spec);
    EXECUTE format('CREATE TRIGGER _900_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_audit(%L)', p_table, p_spec);
    EXECUTE format('COMMENT ON TRIGGER _900_audit_insert ON %s IS %L', p_table, 'Audit trail: inserted rows.');
    EXECUTE format('COMMENT ON TRIGGER _900_audit_update ON %s IS %L', p_table, 'Audit trail: changed columns.');
    EXECUTE format('COMMENT ON TRIGGER _900_audit_delete ON %s IS %L', p_table, 'Audit trail: deleted rows.');
END
$$;
COMMENT ON FUNCTION atum_private.audit_attach(regclass, jsonb) IS 'Puts the three audit triggers on a table (idempotent).';

-- Which tables are audited, and how. Every tenant table is listed (a catalog test checks it).
SELECT atum_private.audit_attach(t.tbl::regclass, t.spec::jsonb)
  FROM (VALUES
    ('atum.organizations',      '{"org": "id", "key": ["id"]}'),
    ('atum.users',              '{"org": "organization_id", "key": ["id"], "redact": ["password_hash"], "ignore": ["updated_at"]}'),
    ('atum.teams',              '{"org": "organization_id", "key": ["id"]}'),
    ('atum.team_members',       '{"org": "organization_id", "key": ["team_id", "user_id"]}'),
    ('atum.categories',         '{"org": "organization_id", "key": ["id"]}'),
    ('atum.tags',               '{"org": "organization_id", "key": ["id"]}'),
    ('atum.business_calendars', '{"org": "organization_id", "key": ["id"]}'),
    ('atum.calendar_hours',     '{"org": "organization_id", "key": ["id"]}'),
    ('atum.calendar_holidays',  '{"org": "organization_id", "key": ["calendar_id", "day"]}'),
    ('atum.sla_policies',       '{"org": "organization_id", "key": ["id"], "ignore": ["updated_at"]}'),
    ('atum.tickets',            '{"org": "organization_id", "key": ["id"], "ticket": "id", "ignore": ["updated_at"]}'),
    ('atum.ticket_tags',        '{"org": "organization_id", "key": ["ticket_id", "tag_id"], "ticket": "ticket_id"}'),
    ('atum.ticket_status_changes', '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id"}'),
    ('atum.sla_events',         '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id"}'),
    ('atum.ticket_comments',    '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id", "ignore": ["updated_at"]}'),
    ('atum.attachments',        '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id"}'),
    ('atum.sessions',           '{"org": "organization_id", "key": ["id"], "redact": ["token_hash"], "ignore": ["last_seen_at"]}'),
    ('atum.api_tokens',         '{"org": "organization_id", "key": ["id"], "redact": ["token_hash"], "ignore": ["last_used_at"]}')
  ) AS t (tbl, spec);

-- Append-only: nobody changes or removes audit rows, except the owner's maintenance path
-- (retention), which must say so explicitly. Even then the hash chain shows what was touched.
CREATE OR REPLACE FUNCTION atum_private.tg_audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_user = 'atum_owner' AND current_setting('atum.audit_maintenance', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'AT403', HINT = 'Audit rows can only be added.';
END
$$;
COMMENT ON FUNCTION atum_private.tg_audit_log_append_only() IS 'Refuses UPDATE, DELETE and TRUNCATE on the audit log outside the owner''s maintenance path.';

DROP TRIGGER IF EXISTS _100_append_only ON atum.audit_log;
CREATE TRIGGER _100_append_only BEFORE UPDATE OR DELETE ON atum.audit_log
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_audit_log_append_only();
COMMENT ON TRIGGER _100_append_only ON atum.audit_log IS 'The audit log is append-only.';
DROP TRIGGER IF EXISTS _100_append_only_truncate ON atum.audit_log;
CREATE TRIGGER _100_append_only_truncate BEFORE TRUNCATE ON atum.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_audit_log_append_only();
COMMENT ON TRIGGER _100_append_only_truncate ON atum.audit_log IS 'The audit log cannot be truncated.';

DROP TRIGGER IF EXISTS _100_append_only ON atum.audit_heads;
CREATE TRIGGER _100_append_only BEFORE DELETE ON atum.audit_heads
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_audit_log_append_only();
COMMENT ON TRIGGER _100_append_only ON atum.audit_heads IS 'Chain heads are never removed.';

CREATE OR REPLACE FUNCTION atum.audit_verify(p_organization_id bigint)
RETURNS TABLE (seq bigint, problem text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- Every row must hash to its stored hash, link to its predecessor, follow it without a gap,
    -- and the last row must be the recorded head (so a removed tail is found too).
    WITH chain AS (
        SELECT a.seq, a.hash, a.prev_hash,
               sha256(a.prev_hash || convert_to(atum_private.audit_payload(
                   a.organization_id, a.seq, a.occurred_at, a.actor_user_id, a.actor_role, a.db_role,
                   a.application, a.action, a.table_name, a.row_key, a.ticket_id, a.old_values,
                   a.new_values, a.transaction_id), 'UTF8')) AS recomputed,
               lag(a.seq) OVER w AS before_seq, lag(a.hash) OVER w AS before_hash
          FROM atum.audit_log a
         WHERE a.organization_id = p_organization_id
        WINDOW w AS (ORDER BY a.seq)
    ), head AS (
        SELECT h.last_seq, h.last_hash FROM atum.audit_heads h WHERE h.organization_id = p_organization_id
    )
    SELECT c.seq, 'content does not match its hash (row edited)' FROM chain c WHERE c.recomputed <> c.hash
    UNION ALL
    SELECT c.seq, format('row %s missing before this one (row removed)', c.before_seq + 1)
      FROM chain c WHERE c.before_seq IS NOT NULL AND c.seq <> c.before_seq + 1
    UNION ALL
    SELECT c.seq, 'does not link to the previous row''s hash (row replaced)'
      FROM chain c WHERE c.before_seq IS NOT NULL AND c.seq = c.before_seq + 1 AND c.prev_hash <> c.before_hash
    UNION ALL
    SELECT h.last_seq, 'the chain ends before its recorded head (rows removed at the end)'
      FROM head h
     WHERE h.last_seq > coalesce((SELECT max(c.seq) FROM chain c), 0)
        OR h.last_hash <> coalesce((SELECT c.hash FROM chain c ORDER BY c.seq DESC LIMIT 1), h.last_hash)
    ORDER BY 1
$$;
COMMENT ON FUNCTION atum.audit_verify(bigint) IS 'Checks an organization''s audit hash chain; returns one row per problem found (none: intact). Run as the owner or a reporting/auditor role.';
