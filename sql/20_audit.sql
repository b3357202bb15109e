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
    p_row_key jsonb, p_ticket_id bigint, p_old_values jsonb, p_new_values jsonb, p_transaction_id bigint,
    p_reason text
) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- jsonb's text form is canonical (sorted keys, normalised numbers); time as epoch microseconds
    -- so the hash does not depend on the TimeZone or DateStyle of the session. STABLE (not
    -- IMMUTABLE) because extract() on timestamptz is: declared honestly, the body is inlined
    -- into the statements that call it instead of being run as a function per row.
    -- The reason is appended only when there is one, so rows written before it existed (and rows
    -- without one) hash as they always did.
    SELECT (jsonb_build_array(
        p_organization_id, p_seq, (extract(epoch FROM p_occurred_at) * 1000000)::bigint, p_actor_user_id,
        p_actor_role, p_db_role, p_application, p_action, p_table_name, p_row_key, p_ticket_id,
        p_old_values, p_new_values, p_transaction_id)
        || CASE WHEN p_reason IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(p_reason) END)::text
$$;
COMMENT ON FUNCTION atum_private.audit_payload(bigint, bigint, timestamptz, bigint, atum.user_role, text, text, text, text, jsonb, bigint, jsonb, jsonb, bigint, text) IS 'Canonical text of an audit row''s content, the input of its hash.';

DROP FUNCTION IF EXISTS atum_private.audit_append(text, text, jsonb);
CREATE OR REPLACE FUNCTION atum_private.audit_append(
    p_action text, p_table_name text, p_orgs bigint[], p_keys jsonb[], p_tickets bigint[],
    p_old jsonb[], p_new jsonb[]
) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: nobody but the owner may write the audit log; callers are trigger functions.
-- One audit row per position of the parallel arrays (organization, row key, ticket, old values,
-- new values); p_old or p_new is NULL when the action has none. Arrays rather than one jsonb
-- document: building and taking apart a large document cost more than the rest of the append.
--
-- Each organization has 16 chains (lanes); this backend appends to lane pid % 16 and locks that
-- lane's head until commit, so every chain is in commit order while concurrent connections (which
-- have different pids) seldom wait for each other. seq is taken after the lock: it increases
-- along each chain.
DECLARE
    v_ctx  record;
    v_org  bigint;
    v_lane smallint := pg_backend_pid() % 16;
    v_head record;
    v_seq  bigint;
    v_hash bytea;
    v_seqs bigint[];
    -- The reason given for the change (a status move's, see atum_private.status_reason), kept with
    -- every row the change writes.
    v_reason text := atum_private.status_reason();
BEGIN
    IF cardinality(p_orgs) IS NULL OR cardinality(p_orgs) = 0 THEN
        RETURN;
    END IF;
    SELECT c.user_id, c.role INTO v_ctx FROM atum.request_context c;

    IF cardinality(p_orgs) = 1 THEN
        -- One row (most writes of the app): the same chain step without the set machinery, which
        -- costs several times more for a single row.
        v_org := p_orgs[1];
        SELECT h.last_hash INTO v_head FROM atum.audit_heads h
         WHERE h.organization_id = v_org AND h.lane = v_lane FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO atum.audit_heads AS h (organization_id, lane) VALUES (v_org, v_lane)
            ON CONFLICT (organization_id, lane) DO UPDATE SET last_seq = h.last_seq
            RETURNING h.last_hash INTO v_head;
        END IF;
        v_seq := nextval('atum.audit_seq');
        v_hash := atum_private.hash_chain_step(v_head.last_hash, NULL, atum_private.audit_payload(
            v_org, v_seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
            current_setting('application_name'), p_action, p_table_name, p_keys[1], p_tickets[1],
            p_old[1], p_new[1], txid_current(), v_reason));
        INSERT INTO atum.audit_log (organization_id, lane, seq, occurred_at, actor_user_id, actor_role, db_role,
                                    application, action, table_name, row_key, ticket_id, old_values,
                                    new_values, transaction_id, reason, prev_hash, hash)
        VALUES (v_org, v_lane, v_seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
                current_setting('application_name'), p_action, p_table_name, p_keys[1], p_tickets[1],
                p_old[1], p_new[1], txid_current(), v_reason, v_head.last_hash, v_hash);
        UPDATE atum.audit_heads h SET last_seq = v_seq, last_hash = v_hash
         WHERE h.organization_id = v_org AND h.lane = v_lane;
        RETURN;
    END IF;

    -- The lane heads of every organization involved are locked in a fixed order, so that writers
    -- touching several organizations cannot deadlock each other.
    INSERT INTO atum.audit_heads (organization_id, lane)
    SELECT DISTINCT o, v_lane FROM unnest(p_orgs) AS o
    ON CONFLICT (organization_id, lane) DO NOTHING;
    PERFORM 1 FROM atum.audit_heads h
     WHERE h.organization_id = ANY (p_orgs) AND h.lane = v_lane
     ORDER BY h.organization_id
       FOR UPDATE;
    -- The statement's seqs, sorted, are handed out in (organization, position) order: increasing
    -- along each chain even when other writers draw from the sequence in between.
    SELECT array_agg(n ORDER BY n) INTO v_seqs
      FROM (SELECT nextval('atum.audit_seq') AS n FROM generate_series(1, cardinality(p_orgs))) AS drawn;

    WITH entries AS (
        SELECT x.organization_id, x.ord, x.row_key, x.ticket_id, x.old_values, x.new_values
          FROM unnest(p_orgs, p_keys, p_tickets, p_old, p_new)
               WITH ORDINALITY AS x (organization_id, row_key, ticket_id, old_values, new_values, ord)
    ), numbered AS (
        SELECT en.*, h.last_hash AS seed,
               v_seqs[row_number() OVER (ORDER BY en.organization_id, en.ord)] AS seq
          FROM entries en JOIN atum.audit_heads h ON h.organization_id = en.organization_id AND h.lane = v_lane
    ), hashed AS (
        SELECT n.*,
               atum_private.hash_chain(n.seed, atum_private.audit_payload(
                   n.organization_id, n.seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
                   current_setting('application_name'), p_action, p_table_name, n.row_key, n.ticket_id,
                   n.old_values, n.new_values, txid_current(), v_reason))
                   OVER (PARTITION BY n.organization_id ORDER BY n.seq) AS hash
          FROM numbered n
    ), inserted AS (
        INSERT INTO atum.audit_log (organization_id, lane, seq, occurred_at, actor_user_id, actor_role, db_role,
                                    application, action, table_name, row_key, ticket_id, old_values,
                                    new_values, transaction_id, reason, prev_hash, hash)
        SELECT hs.organization_id, v_lane, hs.seq, now(), v_ctx.user_id, v_ctx.role, session_user::text,
               current_setting('application_name'), p_action, p_table_name, hs.row_key, hs.ticket_id,
               hs.old_values, hs.new_values, txid_current(), v_reason,
               coalesce(lag(hs.hash) OVER (PARTITION BY hs.organization_id ORDER BY hs.seq), hs.seed), hs.hash
          FROM hashed hs
        RETURNING organization_id, seq, hash
    )
    UPDATE atum.audit_heads h
       SET last_seq = last.seq, last_hash = last.hash
      FROM (SELECT DISTINCT ON (i.organization_id) i.organization_id, i.seq, i.hash
              FROM inserted i ORDER BY i.organization_id, i.seq DESC) AS last
     WHERE h.organization_id = last.organization_id AND h.lane = v_lane;
END
$$;
COMMENT ON FUNCTION atum_private.audit_append(text, text, bigint[], jsonb[], bigint[], jsonb[], jsonb[]) IS 'Appends audit rows (one per array position) to their organizations'' hash chains. Owner only.';

CREATE OR REPLACE FUNCTION atum_private.tg_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- Statement-level AFTER trigger with transition tables old_rows / new_rows; set-based, with jsonb
-- operators rather than per-row function calls (bulk loads spend most of their time here).
-- Arguments, prepared once by audit_attach so that a call runs no catalog query:
--   TG_ARGV[0] column holding the organization   TG_ARGV[1] key columns (text[], one or two)
--   TG_ARGV[2] column holding the ticket or ''   TG_ARGV[3] ignored columns (text[])
--   TG_ARGV[4] redaction mask (jsonb: column -> "[redacted]")
-- Rows are kept without organization_id; redacted columns as "[redacted]"; an UPDATE keeps only
-- the columns that changed (ignored bookkeeping columns alone make no entry). The aggregates of
-- one statement see the rows in the same order, so the arrays handed to audit_append line up.
DECLARE
    v_org     text := TG_ARGV[0];
    v_key     text[] := TG_ARGV[1]::text[];
    v_key1    text := v_key[1];
    v_key2    text := v_key[2];
    v_ticket  text := nullif(TG_ARGV[2], '');
    v_ignore  text[] := TG_ARGV[3]::text[];
    v_mask    jsonb := TG_ARGV[4]::jsonb;
    v_orgs    bigint[];
    v_keys    jsonb[];
    v_tickets bigint[];
    v_olds    jsonb[];
    v_news    jsonb[];
    v_count   bigint;
BEGIN
    -- A key is one or two columns (audit_attach checks); building it beats removing every other column.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg((r.j ->> v_org)::bigint),
               array_agg(CASE WHEN v_key2 IS NULL THEN jsonb_build_object(v_key1, r.j -> v_key1)
                              ELSE jsonb_build_object(v_key1, r.j -> v_key1, v_key2, r.j -> v_key2) END),
               array_agg((r.j ->> v_ticket)::bigint), array_agg((r.j - 'organization_id') || v_mask)
          INTO v_orgs, v_keys, v_tickets, v_news
          FROM (SELECT to_jsonb(n) AS j FROM new_rows n OFFSET 0) AS r;  -- OFFSET 0: to_jsonb once per row
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg((r.j ->> v_org)::bigint),
               array_agg(CASE WHEN v_key2 IS NULL THEN jsonb_build_object(v_key1, r.j -> v_key1)
                              ELSE jsonb_build_object(v_key1, r.j -> v_key1, v_key2, r.j -> v_key2) END),
               array_agg((r.j ->> v_ticket)::bigint), array_agg((r.j - 'organization_id') || v_mask)
          INTO v_orgs, v_keys, v_tickets, v_olds
          FROM (SELECT to_jsonb(o) AS j FROM old_rows o OFFSET 0) AS r;  -- OFFSET 0: to_jsonb once per row
    ELSE
        -- One updated row (most writes of the app) takes simple statements, whose plans cost
        -- little to make, instead of the set-based pairing below, which is planned on every call.
        SELECT count(*) INTO v_count FROM (SELECT 1 FROM new_rows LIMIT 2) AS two;
        IF v_count = 0 THEN
            RETURN NULL;  -- statement triggers fire also when no row changed
        ELSIF v_count = 1 THEN
            -- One statement from the transition tables straight into the arrays (each statement
            -- of a trigger is set up afresh in every transaction).
            SELECT ARRAY[(r.n ->> v_org)::bigint],
                   ARRAY[CASE WHEN v_key2 IS NULL THEN jsonb_build_object(v_key1, r.n -> v_key1)
                              ELSE jsonb_build_object(v_key1, r.n -> v_key1, v_key2, r.n -> v_key2) END],
                   ARRAY[(r.n ->> v_ticket)::bigint], ARRAY[d.old_values], ARRAY[d.new_values]
              INTO v_orgs, v_keys, v_tickets, v_olds, v_news
              FROM (SELECT to_jsonb(n) AS n, (SELECT to_jsonb(o) FROM old_rows o) AS o FROM new_rows n OFFSET 0) AS r
             CROSS JOIN LATERAL (
                   SELECT jsonb_object_agg(e.k, CASE WHEN v_mask ? e.k THEN v_mask -> e.k ELSE r.o -> e.k END) AS old_values,
                          jsonb_object_agg(e.k, CASE WHEN v_mask ? e.k THEN v_mask -> e.k ELSE e.v END) AS new_values
                     FROM jsonb_each(r.n) AS e (k, v)
                    WHERE e.v IS DISTINCT FROM r.o -> e.k AND NOT e.k = ANY (v_ignore)) AS d;
            IF v_news[1] IS NULL THEN
                RETURN NULL;  -- only ignored bookkeeping columns changed
            END IF;
        ELSE
            WITH o AS MATERIALIZED (SELECT to_jsonb(o) AS j FROM old_rows o),  -- MATERIALIZED: to_jsonb once per row
                 n AS MATERIALIZED (SELECT to_jsonb(n) AS j FROM new_rows n)
            SELECT array_agg((n.j ->> v_org)::bigint),
                   array_agg(CASE WHEN v_key2 IS NULL THEN jsonb_build_object(v_key1, n.j -> v_key1)
                                  ELSE jsonb_build_object(v_key1, n.j -> v_key1, v_key2, n.j -> v_key2) END),
                   array_agg((n.j ->> v_ticket)::bigint), array_agg(d.old_values), array_agg(d.new_values)
              INTO v_orgs, v_keys, v_tickets, v_olds, v_news
              -- Keys are never updated, so old and new versions pair up by organization and key.
              FROM o JOIN n ON o.j -> v_org = n.j -> v_org AND o.j -> v_key1 = n.j -> v_key1
                           AND (v_key2 IS NULL OR o.j -> v_key2 = n.j -> v_key2)
              CROSS JOIN LATERAL (
                  SELECT jsonb_object_agg(nv.k, CASE WHEN v_mask ? nv.k THEN v_mask -> nv.k ELSE ov.v END) AS old_values,
                         jsonb_object_agg(nv.k, CASE WHEN v_mask ? nv.k THEN v_mask -> nv.k ELSE nv.v END) AS new_values
                    FROM jsonb_each(n.j) AS nv (k, v) JOIN jsonb_each(o.j) AS ov (k, v) ON ov.k = nv.k
                   WHERE nv.v IS DISTINCT FROM ov.v AND NOT nv.k = ANY (v_ignore)
              ) AS d
             WHERE d.new_values IS NOT NULL;
        END IF;
    END IF;
    PERFORM atum_private.audit_append(TG_OP, TG_TABLE_NAME::text, v_orgs, v_keys, v_tickets, v_olds, v_news);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_audit() IS 'Statement-level audit trigger: writes one audit row per changed row.';

CREATE OR REPLACE FUNCTION atum_private.tg_audit_insert_grouped() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- For tables written in bulk by the system (SLA events: one sweep may record thousands), an INSERT
-- is audited as one row per organization and statement instead of one per inserted row: its key
-- lists the inserted keys ({"id": [...]}), its new values hold the rows ({"rows": [...]}), and its
-- ticket is set when all rows belong to one ticket. Every inserted row is in the hash chain; a
-- mass crossing costs an audit row per organization, not per ticket.
-- Same arguments as tg_audit (audit_attach allows a one-column key and no redaction here). Dynamic
-- SQL because the columns are arguments; aggregating whole rows beats a jsonb value per row.
DECLARE
    v_orgs    bigint[];
    v_keys    jsonb[];
    v_tickets bigint[];
    v_news    jsonb[];
BEGIN
    EXECUTE format(
        'SELECT array_agg(g.org), array_agg(g.keys), array_agg(g.ticket), array_agg(g.rows)
           FROM (SELECT n.%1$I AS org, jsonb_build_object(%2$L, to_jsonb(array_agg(n.%2$I))) AS keys,
                        %3$s AS ticket, jsonb_build_object(''rows'', to_jsonb(array_agg(n))) AS rows
                   FROM new_rows n GROUP BY n.%1$I) AS g',
        TG_ARGV[0], (TG_ARGV[1]::text[])[1],
        CASE WHEN TG_ARGV[2] = '' THEN 'NULL::bigint'
             ELSE format('CASE WHEN min(n.%1$I) = max(n.%1$I) THEN min(n.%1$I) END', TG_ARGV[2]) END)
      INTO v_orgs, v_keys, v_tickets, v_news;
    PERFORM atum_private.audit_append(TG_OP, TG_TABLE_NAME::text, v_orgs, v_keys, v_tickets, NULL, v_news);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_audit_insert_grouped() IS 'Statement-level audit trigger for bulk system inserts: one audit row per organization and statement, listing the inserted rows.';

CREATE OR REPLACE FUNCTION atum_private.audit_attach(p_table regclass, p_spec jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- p_spec: {"org": column holding the organization, "key": [primary key columns],
--          "ticket": column holding the ticket id, "redact": [...], "ignore": [...],
--          "group_inserts": true for one audit row per organization and INSERT statement}
-- One trigger per event: PostgreSQL allows transition tables only on single-event triggers.
-- Named _900_* so they fire after every other AFTER trigger of the table. The spec is turned into
-- the trigger's arguments here, once, so that no call of tg_audit has to read it apart.
DECLARE
    v_args text;
BEGIN
    IF jsonb_typeof(p_spec -> 'key') IS DISTINCT FROM 'array' OR jsonb_array_length(p_spec -> 'key') NOT IN (1, 2) THEN
        RAISE EXCEPTION 'audit spec of %: "key" must list one or two columns', p_table USING ERRCODE = '22023';
    END IF;
    v_args := format('%L, %L, %L, %L, %L',
        p_spec ->> 'org',
        ARRAY(SELECT jsonb_array_elements_text(p_spec -> 'key')),
        coalesce(p_spec ->> 'ticket', ''),
        ARRAY(SELECT jsonb_array_elements_text(coalesce(p_spec -> 'ignore', '[]'))),
        coalesce((SELECT jsonb_object_agg(k, '[redacted]') FROM jsonb_array_elements_text(p_spec -> 'redact') AS r (k)), '{}'));
    EXECUTE format('DROP TRIGGER IF EXISTS _900_audit_insert ON %s', p_table);
    EXECUTE format('DROP TRIGGER IF EXISTS _900_audit_update ON %s', p_table);
    EXECUTE format('DROP TRIGGER IF EXISTS _900_audit_delete ON %s', p_table);
    IF (p_spec -> 'group_inserts') = 'true' AND (jsonb_array_length(p_spec -> 'key') <> 1 OR p_spec ? 'redact') THEN
        RAISE EXCEPTION 'audit spec of %: "group_inserts" needs a one-column key and no redaction', p_table
            USING ERRCODE = '22023';
    END IF;
    EXECUTE format('CREATE TRIGGER _900_audit_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION atum_private.%s(%s)', p_table,
                   CASE WHEN (p_spec -> 'group_inserts') = 'true' THEN 'tg_audit_insert_grouped' ELSE 'tg_audit' END, v_args);
    EXECUTE format('CREATE TRIGGER _900_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows '
                   'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_audit(%s)', p_table, v_args);
    EXECUTE format('CREATE TRIGGER _900_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_audit(%s)', p_table, v_args);
    EXECUTE format('COMMENT ON TRIGGER _900_audit_insert ON %s IS %L', p_table, 'Audit trail: inserted rows.');
    EXECUTE format('COMMENT ON TRIGGER _900_audit_update ON %s IS %L', p_table, 'Audit trail: changed columns.');
    EXECUTE format('COMMENT ON TRIGGER _900_audit_delete ON %s IS %L', p_table, 'Audit trail: deleted rows.');
END
$$;
COMMENT ON FUNCTION atum_private.audit_attach(regclass, jsonb) IS 'Puts the three audit triggers on a table (idempotent); the spec names the organization, key, ticket, redacted and ignored columns.';

-- Which tables are audited, and how. Every tenant table is listed (a catalog test checks it), but
-- atum.ticket_status_changes: the state machine derives it from the ticket's change in the same
-- statement, and that change's audit row has the move (old and new status), its actor and its
-- reason (migration 0023).
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
    ('atum.sla_events',         '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id", "group_inserts": true}'),
    ('atum.ticket_comments',    '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id", "ignore": ["updated_at"]}'),
    ('atum.attachments',        '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id"}'),
    ('atum.sessions',           '{"org": "organization_id", "key": ["id"], "redact": ["token_hash"], "ignore": ["last_seen_at"]}'),
    ('atum.api_tokens',         '{"org": "organization_id", "key": ["id"], "redact": ["token_hash"], "ignore": ["last_used_at"]}'),
    ('atum.mailboxes',          '{"org": "organization_id", "key": ["id"], "redact": ["imap_password_encrypted"], "ignore": ["updated_at"]}'),
    ('atum.mail_messages',      '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id"}'),
    ('atum.mail_outbox',        '{"org": "organization_id", "key": ["id"], "ticket": "ticket_id", "redact": ["secret"], "ignore": ["updated_at"]}'),
    ('atum.mail_templates',     '{"org": "organization_id", "key": ["id"], "ignore": ["updated_at"]}'),
    ('atum.kb_categories',      '{"org": "organization_id", "key": ["id"], "ignore": ["updated_at"]}'),
    ('atum.kb_articles',        '{"org": "organization_id", "key": ["id"], "ignore": ["updated_at", "view_count", "search_vector", "title_vector", "body_text"]}'),
    ('atum.kb_votes',           '{"org": "organization_id", "key": ["article_id", "user_id"], "ignore": ["updated_at"]}'),
    ('atum.kb_suggestion_sessions', '{"org": "organization_id", "key": ["id"], "ignore": ["shown_count"]}')
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
    -- In each of the organization's chains (lanes): every row must hash to its stored hash and
    -- link to its predecessor's hash, the first row to the zero hash (so removed rows are found at
    -- the start, in the middle or, against the recorded head, at the end).
    WITH chain AS (
        SELECT a.lane, a.seq, a.hash, a.prev_hash,
               sha256(a.prev_hash || convert_to(atum_private.audit_payload(
                   a.organization_id, a.seq, a.occurred_at, a.actor_user_id, a.actor_role, a.db_role,
                   a.application, a.action, a.table_name, a.row_key, a.ticket_id, a.old_values,
                   a.new_values, a.transaction_id, a.reason), 'UTF8')) AS recomputed,
               lag(a.hash) OVER w AS before_hash,
               row_number() OVER w = 1 AS is_first,
               row_number() OVER (PARTITION BY a.lane ORDER BY a.seq DESC) = 1 AS is_last
          FROM atum.audit_log a
         WHERE a.organization_id = p_organization_id
        WINDOW w AS (PARTITION BY a.lane ORDER BY a.seq)
    ), head AS (
        SELECT h.lane, h.last_seq, h.last_hash FROM atum.audit_heads h WHERE h.organization_id = p_organization_id
    )
    SELECT c.seq, 'content does not match its hash (row edited)' FROM chain c WHERE c.recomputed <> c.hash
    UNION ALL
    SELECT c.seq, 'does not link to the previous row''s hash (row removed or replaced before it)'
      FROM chain c WHERE NOT c.is_first AND c.prev_hash <> c.before_hash
    UNION ALL
    SELECT c.seq, 'the chain does not start here (rows removed at the start)'
      FROM chain c WHERE c.is_first AND c.prev_hash <> decode(repeat('00', 32), 'hex')
    UNION ALL
    SELECT h.last_seq, 'the chain ends before its recorded head (rows removed at the end)'
      FROM head h LEFT JOIN chain c ON c.lane = h.lane AND c.is_last
     WHERE h.last_seq <> coalesce(c.seq, 0) OR h.last_hash <> coalesce(c.hash, decode(repeat('00', 32), 'hex'))
    UNION ALL
    SELECT c.seq, 'belongs to no chain head (rows added to an unknown lane)'
      FROM chain c WHERE c.is_last AND NOT EXISTS (SELECT 1 FROM head h WHERE h.lane = c.lane)
    ORDER BY 1
$$;
COMMENT ON FUNCTION atum.audit_verify(bigint) IS 'Checks an organization''s audit hash chain; returns one row per problem found (none: intact). Run as the owner or a reporting/auditor role.';
