-- The knowledge base: articles and categories, full-text search, votes, the portal's suggestions and
-- the deflection they achieve (migrations/0017.knowledge-base.sql holds the tables).
--
-- Who sees what is row-level security, nothing else: staff see every article of their organization;
-- customers see published public ones; anonymous portal visitors see published public ones of the
-- organization they name by slug. The visitor context is the request context's twin: a SECURITY
-- DEFINER function (api.kb_visitor_enter) writes the organization for this backend and transaction
-- into an internal table, and the view atum.kb_visitor_context shows it back. It never sets
-- atum.request_context, so every other table stays invisible to visitors.
--
-- Markdown arrives already rendered and sanitised by the HTTP layer (api/kb_markdown.py), as a
-- separate argument, the way api/mailboxes.py hands over an encrypted password.
--
-- Search: title (weight A) and plain text (weight B) in the organization's kb_language, one GIN
-- index; queries parsed by websearch_to_tsquery (never a syntax error) with the last word as a
-- prefix while the user is typing; snippets by ts_headline over HTML-free text with marker
-- characters U+E000 (start) and U+E001 (end) that the SPA turns into <mark> elements.

CREATE OR REPLACE VIEW atum.kb_visitor_context WITH (security_barrier) AS
    SELECT v.organization_id
      FROM atum.kb_visitor_contexts v
     WHERE v.backend_pid = pg_backend_pid()
       AND v.transaction_started_at = transaction_timestamp();
COMMENT ON VIEW atum.kb_visitor_context IS 'The organization an anonymous portal visitor reads the public knowledge base of, for this transaction: one row, or none.';
COMMENT ON COLUMN atum.kb_visitor_context.organization_id IS 'Organization named by the visitor (api.kb_visitor_enter).';

CREATE OR REPLACE FUNCTION api.kb_visitor_enter(p_organization text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: the organization is looked up by slug before any context exists.
DECLARE
    v_org bigint;
BEGIN
    IF p_organization IS NULL OR btrim(p_organization) = '' THEN
        RAISE EXCEPTION 'sign in, or name the organization whose knowledge base to read (organization=slug)'
            USING ERRCODE = 'AT401', COLUMN = 'organization';
    END IF;
    SELECT o.id INTO v_org FROM atum.organizations o WHERE o.slug = lower(btrim(left(p_organization, 100)));
    IF v_org IS NULL THEN
        RAISE EXCEPTION 'no such organization' USING ERRCODE = 'AT404', COLUMN = 'organization';
    END IF;
    UPDATE atum.kb_visitor_contexts v
       SET transaction_started_at = transaction_timestamp(), organization_id = v_org
     WHERE v.backend_pid = pg_backend_pid();
    IF NOT FOUND THEN
        INSERT INTO atum.kb_visitor_contexts (backend_pid, transaction_started_at, organization_id)
        VALUES (pg_backend_pid(), transaction_timestamp(), v_org);
    END IF;
    RETURN jsonb_build_object('organization_id', v_org);
END
$$;
COMMENT ON FUNCTION api.kb_visitor_enter(text) IS 'Anonymous portal visitors: makes this transaction read the public, published knowledge base of the organization with that slug (and nothing else). AT404 for an unknown slug, AT401 without one. Call it before making the transaction read-only.';

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.kb_org() RETURNS bigint
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT c.organization_id FROM atum.request_context c),
                    (SELECT v.organization_id FROM atum.kb_visitor_context v))
$$;
COMMENT ON FUNCTION atum.kb_org() IS 'The organization of the signed-in user, or else the one an anonymous visitor named; NULL without either.';

CREATE OR REPLACE FUNCTION atum.kb_html_text(p_html text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    -- Sanitised HTML to text: block tags become spaces, inline ones (<strong>, <a>) vanish, the
    -- entities the renderer and sanitiser write are decoded (&amp; last, so that an escaped entity
    -- stays text), the highlight markers go.
    SELECT pg_catalog.translate(
               pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                   pg_catalog.regexp_replace(
                       pg_catalog.regexp_replace(p_html, '</?(p|h[1-6]|li|ul|ol|pre|blockquote|table|thead|tbody|tr|td|th|br|hr)\M[^>]*>',
                                                 ' ', 'gi'),
                       '<[^>]*>', '', 'g'),
                   '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#x27;', ''''), '&amp;', '&'),
               U&'\E000\E001', '')
$$;
COMMENT ON FUNCTION atum.kb_html_text(text) IS 'Plain text of an article''s sanitised HTML: what search indexes and snippets quote.';

CREATE OR REPLACE FUNCTION atum.kb_vector(p_language text, p_title text, p_text text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.setweight(pg_catalog.to_tsvector(p_language::regconfig, coalesce(p_title, '')), 'A')
        || pg_catalog.setweight(pg_catalog.to_tsvector(p_language::regconfig, coalesce(p_text, '')), 'B')
$$;
COMMENT ON FUNCTION atum.kb_vector(text, text, text) IS 'The search vector of an article: title weighted A over body text B, in a text search configuration.';

CREATE OR REPLACE FUNCTION atum.kb_tsquery(p_language text, p_text text, p_any boolean DEFAULT false) RETURNS tsquery
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET client_min_messages = warning  -- stop words alone are no news for the client
AS $$
-- What a user typed as a tsquery that never fails. Search (p_any false): websearch syntax
-- ("quoted phrases", or, -word), every word required. Suggestions (p_any true): any of the words
-- (a ticket subject says more than an article title), ranked by how many match. Either way, when
-- the text ends inside a word, as while typing, that last word also counts as a prefix. Words
-- reach to_tsquery as letters and digits only, so it sees nothing it could misread. NULL when
-- nothing searchable is left (only stop words or punctuation).
DECLARE
    v_text   text := pg_catalog.left(coalesce(p_text, ''), 200);
    v_last   text := pg_catalog.lower((pg_catalog.regexp_match(v_text, '([[:alnum:]]+)$'))[1]);
    v_word   text;
    v_query  tsquery;
    v_simple tsquery;
    v_prefix tsquery;
BEGIN
    IF v_last IS NOT NULL AND v_text !~ '(^|[\s"])-[[:alnum:]]+$' THEN
        v_text := pg_catalog.left(v_text, pg_catalog.length(v_text) - pg_catalog.length(v_last));
    ELSE
        v_last := NULL;
    END IF;
    IF p_any THEN
        FOREACH v_word IN ARRAY pg_catalog.regexp_split_to_array(pg_catalog.lower(v_text), '[^[:alnum:]]+') LOOP
            CONTINUE WHEN v_word = '';
            v_prefix := pg_catalog.to_tsquery(p_language::regconfig, v_word);
            v_query := CASE WHEN v_query IS NULL THEN v_prefix ELSE v_query || v_prefix END;
        END LOOP;
    ELSE
        v_query := pg_catalog.websearch_to_tsquery(p_language::regconfig, v_text);
    END IF;
    IF v_last IS NOT NULL THEN
        -- The stemmed prefix (printers -> printer:*) or the word as typed (passw -> passw:*);
        -- one or two letters are taken as a word: as a prefix they would match half the articles.
        v_prefix := pg_catalog.to_tsquery(p_language::regconfig,
                                          v_last || CASE WHEN pg_catalog.length(v_last) >= 3 THEN ':*' ELSE '' END);
        v_simple := CASE WHEN pg_catalog.length(v_last) >= 3 THEN pg_catalog.to_tsquery('simple', v_last || ':*') END;
        v_prefix := CASE WHEN pg_catalog.numnode(v_prefix) = 0 THEN v_simple
                         WHEN v_simple IS NULL OR v_prefix::text = v_simple::text THEN v_prefix
                         ELSE v_prefix || v_simple END;
        v_query := CASE WHEN coalesce(pg_catalog.numnode(v_prefix), 0) = 0 THEN v_query
                        WHEN coalesce(pg_catalog.numnode(v_query), 0) = 0 THEN v_prefix
                        WHEN p_any THEN v_query || v_prefix
                        ELSE v_query && v_prefix END;
    END IF;
    RETURN CASE WHEN coalesce(pg_catalog.numnode(v_query), 0) = 0 THEN NULL ELSE v_query END;
END
$$;
COMMENT ON FUNCTION atum.kb_tsquery(text, text, boolean) IS 'A search text (up to 200 characters) as a tsquery in a text search configuration: websearch syntax with every word required, or (p_any) any word; the last word also as a prefix. Never raises; NULL when nothing is searchable.';

CREATE OR REPLACE FUNCTION atum.kb_language() RETURNS text
    LANGUAGE sql STABLE
AS $$ SELECT o.kb_language FROM atum.organizations o WHERE o.id = atum.kb_org() $$;
COMMENT ON FUNCTION atum.kb_language() IS 'The text search configuration of the current organization''s knowledge base.';

-- ---------------------------------------------------------------------------------------------
-- Triggers: the indexed text follows the content and the organization's language
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum_private.tg_kb_articles__index() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: reads the organization's language whoever writes (also a writer whose policy
-- would not show the organization row).
DECLARE
    v_language text := (SELECT o.kb_language FROM atum.organizations o WHERE o.id = NEW.organization_id);
BEGIN
    NEW.body_text := atum.kb_html_text(NEW.body_html);
    NEW.search_vector := atum.kb_vector(v_language, NEW.title, NEW.body_text);
    NEW.title_vector := atum.kb_vector(v_language, NEW.title, NULL);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION atum_private.tg_kb_articles__index() IS 'Keeps body_text, search_vector and title_vector of an article in step with its title and HTML.';
DROP TRIGGER IF EXISTS _100_index ON atum.kb_articles;
CREATE TRIGGER _100_index BEFORE INSERT OR UPDATE OF title, body_html ON atum.kb_articles
    FOR EACH ROW EXECUTE FUNCTION atum_private.tg_kb_articles__index();
COMMENT ON TRIGGER _100_index ON atum.kb_articles IS 'Plain text and search vector of the article.';

CREATE OR REPLACE FUNCTION atum_private.tg_organizations__kb_language() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
-- SECURITY DEFINER: re-indexes every article of the organization, drafts included, whoever
-- changed the setting.
BEGIN
    UPDATE atum.kb_articles a SET search_vector = atum.kb_vector(n.kb_language, a.title, a.body_text),
                                  title_vector = atum.kb_vector(n.kb_language, a.title, NULL)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE a.organization_id = n.id AND n.kb_language IS DISTINCT FROM o.kb_language;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION atum_private.tg_organizations__kb_language() IS 'Re-indexes the knowledge base of organizations whose kb_language changed.';
DROP TRIGGER IF EXISTS _500_kb_language ON atum.organizations;
CREATE TRIGGER _500_kb_language AFTER UPDATE ON atum.organizations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atum_private.tg_organizations__kb_language();
COMMENT ON TRIGGER _500_kb_language ON atum.organizations IS 'A new knowledge base language re-indexes its articles.';

CREATE OR REPLACE FUNCTION api.kb_article_viewed(p_id bigint) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    -- SECURITY DEFINER: readers (customers, visitors) may not update articles. The same visibility
    -- rule as the policies, read from this transaction's context. The column is not audited.
    UPDATE atum.kb_articles a SET view_count = a.view_count + 1
     WHERE a.organization_id = atum.kb_org() AND a.id = p_id
       AND (coalesce((SELECT c.is_staff FROM atum.request_context c), false) OR (a.state = 'published' AND a.is_public))
$$;
COMMENT ON FUNCTION api.kb_article_viewed(bigint) IS 'Counts one view of an article the caller may read (called by api.kb_article_get).';

-- ---------------------------------------------------------------------------------------------
-- JSON shapes
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.kb_category_json(c atum.kb_categories) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', c.id, 'name', c.name, 'description', c.description, 'position', c.position,
                              'article_count', (SELECT count(*) FROM atum.kb_articles a
                                                 WHERE a.organization_id = c.organization_id AND a.category_id = c.id),
                              'created_at', c.created_at, 'updated_at', c.updated_at)
$$;
COMMENT ON FUNCTION atum.kb_category_json(atum.kb_categories) IS 'A knowledge base category as the API shows it, with the number of its articles the caller may see.';

CREATE OR REPLACE FUNCTION atum.kb_article_summary(a atum.kb_articles) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', a.id, 'title', a.title, 'category_id', a.category_id, 'state', a.state,
                              'is_public', a.is_public, 'published_at', a.published_at, 'updated_at', a.updated_at,
                              'view_count', a.view_count,
                              'excerpt', pg_catalog.left(pg_catalog.regexp_replace(pg_catalog.btrim(a.body_text), '\s+', ' ', 'g'), 200))
$$;
COMMENT ON FUNCTION atum.kb_article_summary(atum.kb_articles) IS 'An article in lists: no body, a plain-text excerpt of 200 characters.';

CREATE OR REPLACE FUNCTION atum.kb_article_json(p_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    -- The Markdown source only for staff (who edit it); readers get the sanitised HTML.
    SELECT atum.kb_article_summary(a) || jsonb_build_object(
               'body', CASE WHEN (SELECT c.is_staff FROM atum.request_context c) THEN a.body END,
               'body_html', a.body_html, 'created_at', a.created_at,
               'category', (SELECT k.name FROM atum.kb_categories k
                             WHERE k.organization_id = a.organization_id AND k.id = a.category_id),
               'author', (SELECT jsonb_build_object('id', u.id, 'display_name', u.display_name) FROM atum.users u
                           WHERE u.organization_id = a.organization_id AND u.id = a.author_id),
               'helpful_count', (SELECT count(*) FILTER (WHERE v.is_helpful) FROM atum.kb_votes v
                                  WHERE v.organization_id = a.organization_id AND v.article_id = a.id),
               'not_helpful_count', (SELECT count(*) FILTER (WHERE NOT v.is_helpful) FROM atum.kb_votes v
                                      WHERE v.organization_id = a.organization_id AND v.article_id = a.id),
               'my_vote', (SELECT v.is_helpful FROM atum.kb_votes v
                            WHERE v.organization_id = a.organization_id AND v.article_id = a.id
                              AND v.user_id = (SELECT c.user_id FROM atum.request_context c)))
      FROM atum.kb_articles a
     WHERE a.organization_id = atum.kb_org() AND a.id = p_id
$$;
COMMENT ON FUNCTION atum.kb_article_json(bigint) IS 'One article as the API shows it (HTML, category, author, votes, the caller''s own vote); NULL when the caller may not see it.';

-- ---------------------------------------------------------------------------------------------
-- Articles
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION api.kb_article_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- ?category=&state=&visibility=&q=&limit=&after= (organization= for visitors, read by the HTTP
-- layer). Newest change first; q narrows by the full-text match (ranking is /kb/search).
DECLARE
    v_input jsonb := atum.input_check(p_query, '{category,state,visibility,q,limit,after,organization}');
    v_limit integer := atum.input_limit(v_input);
    v_category bigint := atum.input_bigint(v_input, 'category');
    v_state text := atum.input_enum(v_input, 'state', enum_range(NULL::atum.kb_article_state)::text[]);
    v_visibility text := atum.input_enum(v_input, 'visibility', '{public,internal}');
    v_q text := atum.input_text(v_input, 'q');
    v_tsq tsquery;
    v_searching boolean := v_q IS NOT NULL AND btrim(v_q) <> '';
    v_after record := atum.cursor_read(v_input);
    v_org bigint := atum.kb_org();
    v_items jsonb[];
BEGIN
    IF v_searching THEN
        v_tsq := atum.kb_tsquery(atum.kb_language(), v_q);
        IF v_tsq IS NULL THEN  -- only stop words or punctuation: nothing matches
            RETURN jsonb_build_object('items', '[]'::jsonb, 'next', NULL);
        END IF;
    END IF;
    SELECT array_agg(atum.kb_article_summary(a) ORDER BY a.updated_at DESC, a.id DESC) INTO v_items
      FROM (SELECT a.* FROM atum.kb_articles a
             WHERE a.organization_id = v_org
               AND (v_category IS NULL OR a.category_id = v_category)
               AND (v_state IS NULL OR a.state = v_state::atum.kb_article_state)
               AND (v_visibility IS NULL OR a.is_public = (v_visibility = 'public'))
               AND (v_tsq IS NULL OR a.search_vector @@ v_tsq)
               AND (v_after.at IS NULL OR (a.updated_at, a.id) < (v_after.at, v_after.id))
             ORDER BY a.updated_at DESC, a.id DESC LIMIT v_limit + 1) AS a;
    RETURN jsonb_build_object(
        'items', coalesce(to_jsonb(v_items[1:v_limit]), '[]'),
        'next', CASE WHEN cardinality(v_items) > v_limit
                     THEN atum.cursor_make((v_items[v_limit] ->> 'updated_at')::timestamptz,
                                           (v_items[v_limit] ->> 'id')::bigint) END);
END
$$;
COMMENT ON FUNCTION api.kb_article_list(jsonb) IS 'Articles the caller may see (staff: all of the organization, drafts too; customers and visitors: published public ones), newest change first, keyset pages; filters category, state, visibility, q.';

CREATE OR REPLACE FUNCTION api.kb_article_get(p_id bigint, p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM atum.input_check(p_query, '{organization}');
    v_result := atum.kb_article_json(p_id);
    IF v_result IS NULL THEN
        RAISE EXCEPTION 'no article %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    PERFORM api.kb_article_viewed(p_id);
    RETURN v_result || jsonb_build_object('view_count', (v_result ->> 'view_count')::bigint + 1);
END
$$;
COMMENT ON FUNCTION api.kb_article_get(bigint, jsonb) IS 'One article the caller may see, counting the view. AT404 when there is none (also for a draft or internal article a customer asks for, or another organization''s).';

CREATE OR REPLACE FUNCTION api.kb_article_save(p_id bigint, p_body jsonb, p_body_html text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- p_id NULL creates {title, body?, category_id?, state?, is_public?}; otherwise changes the fields
-- present. p_body_html is body rendered and sanitised by the HTTP layer (NULL when body is absent).
-- state published sets published_at (again, when it was a draft); draft clears it.
DECLARE
    v_input jsonb := atum.input_check(p_body, '{title,body,category_id,state,is_public}');
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_user  bigint := (SELECT c.user_id FROM atum.request_context c);
    v_state text := atum.input_enum(v_input, 'state', enum_range(NULL::atum.kb_article_state)::text[]);
    v_id    bigint;
    v_sqlstate text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('agent', 'write knowledge base articles');
    IF v_input ? 'body' AND (p_body_html IS NULL OR jsonb_typeof(v_input -> 'body') <> 'string') THEN
        RAISE EXCEPTION 'body must be a string of Markdown' USING ERRCODE = 'AT422', COLUMN = 'body';
    END IF;
    BEGIN
        IF p_id IS NULL THEN
            INSERT INTO atum.kb_articles (organization_id, category_id, title, body, body_html, state, is_public,
                                          published_at, author_id, updated_by)
            VALUES (v_org, atum.input_bigint(v_input, 'category_id'), btrim(atum.input_text(v_input, 'title', true)),
                    coalesce(v_input ->> 'body', ''), coalesce(p_body_html, ''),
                    coalesce(v_state, 'draft')::atum.kb_article_state, atum.input_boolean(v_input, 'is_public', false),
                    CASE WHEN v_state = 'published' THEN now() END, v_user, v_user)
            RETURNING id INTO v_id;
        ELSE
            UPDATE atum.kb_articles a
               SET title = CASE WHEN v_input ? 'title' THEN btrim(atum.input_text(v_input, 'title', true)) ELSE a.title END,
                   body = CASE WHEN v_input ? 'body' THEN v_input ->> 'body' ELSE a.body END,
                   body_html = CASE WHEN v_input ? 'body' THEN p_body_html ELSE a.body_html END,
                   category_id = CASE WHEN v_input ? 'category_id' THEN atum.input_bigint(v_input, 'category_id')
                                      ELSE a.category_id END,
                   is_public = atum.input_boolean(v_input, 'is_public', a.is_public),
                   state = coalesce(v_state::atum.kb_article_state, a.state),
                   published_at = CASE WHEN v_state = 'draft' THEN NULL
                                       WHEN v_state = 'published' AND a.state = 'draft' THEN now()
                                       ELSE a.published_at END,
                   updated_by = v_user,
                   updated_at = now()
             WHERE a.organization_id = v_org AND a.id = p_id
            RETURNING a.id INTO v_id;
            IF v_id IS NULL THEN
                RAISE EXCEPTION 'no article %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
            END IF;
        END IF;
    EXCEPTION WHEN check_violation OR foreign_key_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
        IF v_con LIKE 'kb_articles_organization_id_category_id_fkey%' OR v_con LIKE 'kb_articles_organization_id_fkey%' THEN
            RAISE EXCEPTION 'no knowledge base category %', v_input ->> 'category_id'
                USING ERRCODE = 'AT422', COLUMN = 'category_id';
        END IF;
        PERFORM atum.constraint_raise(v_sqlstate, v_msg, v_con);
    END;
    RETURN atum.kb_article_json(v_id);
END
$$;
COMMENT ON FUNCTION api.kb_article_save(bigint, jsonb, text) IS 'Staff: creates (p_id NULL) or changes an article; body arrives with its HTML rendered and sanitised by the HTTP layer. state published/draft publishes or unpublishes. AT404, AT422 naming the field.';

CREATE OR REPLACE FUNCTION api.kb_article_delete(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('agent', 'remove knowledge base articles');
    RETURN atum.row_delete('atum.kb_articles', p_id, 'article');
END
$$;
COMMENT ON FUNCTION api.kb_article_delete(bigint) IS 'Staff: removes an article with its votes. AT404 when there is none.';

CREATE OR REPLACE FUNCTION api.kb_preview(p_html text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('agent', 'preview knowledge base articles');
    RETURN jsonb_build_object('body_html', p_html);
END
$$;
COMMENT ON FUNCTION api.kb_preview(text) IS 'Staff: the HTML an article body renders to (rendered and sanitised by the HTTP layer; this checks the role and hands it back).';

CREATE OR REPLACE FUNCTION api.kb_article_vote(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {helpful: true|false|null}: one answer per user and article, changed by answering again,
-- withdrawn with null. Only for articles the caller may read.
DECLARE
    v_input jsonb;
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_user  bigint := (SELECT c.user_id FROM atum.request_context c);
    v_helpful boolean;
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'sign in to vote' USING ERRCODE = 'AT401';
    END IF;
    IF NOT EXISTS (SELECT FROM atum.kb_articles a WHERE a.organization_id = v_org AND a.id = p_id) THEN
        RAISE EXCEPTION 'no article %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    v_input := atum.input_check(p_body, '{helpful}');
    IF NOT v_input ? 'helpful' THEN
        RAISE EXCEPTION 'helpful is required (true, false, or null to withdraw)' USING ERRCODE = 'AT422', COLUMN = 'helpful';
    END IF;
    v_helpful := atum.input_boolean(v_input, 'helpful', NULL);
    IF v_helpful IS NULL THEN
        DELETE FROM atum.kb_votes v WHERE v.organization_id = v_org AND v.article_id = p_id AND v.user_id = v_user;
    ELSE
        INSERT INTO atum.kb_votes AS v (organization_id, article_id, user_id, is_helpful)
        VALUES (v_org, p_id, v_user, v_helpful)
        ON CONFLICT (organization_id, article_id, user_id)
        DO UPDATE SET is_helpful = excluded.is_helpful, updated_at = now()
        WHERE v.is_helpful IS DISTINCT FROM excluded.is_helpful;
    END IF;
    RETURN atum.kb_article_json(p_id);
END
$$;
COMMENT ON FUNCTION api.kb_article_vote(bigint, jsonb) IS 'Signed-in readers: "was this helpful?" for an article they may read; one answer per user, changeable, null withdraws it. Returns the article with its counts.';

-- ---------------------------------------------------------------------------------------------
-- Search and suggestions
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION atum.kb_headline(p_language text, p_text text, p_query tsquery, p_options text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- ts_headline reads <...> as markup and drops it: angle brackets pass through as look-alikes
    -- and come back. Matches are marked with U+E000 ... U+E001 (text, never HTML; the SPA draws
    -- <mark> elements); the text's own marker characters are removed first.
    SELECT pg_catalog.translate(
               pg_catalog.ts_headline(p_language::regconfig, pg_catalog.translate(p_text, U&'<>\E000\E001', U&'\FF1C\FF1E'), p_query,
                                      p_options || ', StartSel=' || U&'\E000' || ', StopSel=' || U&'\E001'),
               U&'\FF1C\FF1E', '<>')
$$;
COMMENT ON FUNCTION atum.kb_headline(text, text, tsquery, text) IS 'A highlighted excerpt of text for a query: plain text with matches between U+E000 and U+E001.';

CREATE OR REPLACE FUNCTION atum.kb_search_items(p_q text, p_limit integer, p_category bigint, p_any boolean DEFAULT false)
RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    -- With a LIMIT the planner likes to walk the table (or an index on the organization) hoping to
    -- meet matches early; for words that are common but rarely together that reads every row. The
    -- GIN index knows which rows match: only bitmap scans are left to it. JIT off: the disabled
    -- paths' penalty costs would switch it on for a query of a few milliseconds.
    SET enable_seqscan = off
    SET enable_indexscan = off
    SET jit = off
AS $$
-- The best p_limit matches the caller may see, best first; snippets only for those. Ranking reads
-- every candidate's vector, so a broad query ranks a bounded set: up to 100 articles whose title
-- matches and up to 300 whose text does (a query narrower than that is ranked exactly).
DECLARE
    v_org bigint := atum.kb_org();
    v_language text := atum.kb_language();
    v_tsq tsquery := atum.kb_tsquery(v_language, p_q, p_any);
    v_items jsonb;
    v_body boolean := NOT p_any;
BEGIN
    IF v_tsq IS NULL THEN
        RETURN '[]'::jsonb;
    END IF;
    -- Any word (suggestions, fallback): common words make the text's matches a large share of
    -- all articles, so titles are asked first, and the text only when no title matches.
    LOOP
        SELECT jsonb_agg(jsonb_build_object(
                       'id', m.id, 'title', m.title, 'category_id', m.category_id, 'state', m.state,
                       'is_public', m.is_public, 'updated_at', m.updated_at, 'rank', round(m.rank::numeric, 6),
                       'title_highlight', atum.kb_headline(v_language, m.title, v_tsq, 'HighlightAll=true'),
                       'snippet', atum.kb_headline(v_language,
                                                   (SELECT pg_catalog.left(a.body_text, 20000) FROM atum.kb_articles a
                                                     WHERE a.organization_id = v_org AND a.id = m.id), v_tsq,
                                                   'MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'))
                       ORDER BY m.rank DESC, m.id DESC)
              FROM (SELECT c.* FROM (
                        (SELECT a.id, a.title, a.category_id, a.state, a.is_public, a.updated_at,
                                ts_rank(a.search_vector, v_tsq) AS rank
                           FROM atum.kb_articles a
                          WHERE a.organization_id = v_org AND a.title_vector @@ v_tsq
                            AND (p_category IS NULL OR a.category_id = p_category)
                          LIMIT 100)
                        UNION
                        (SELECT a.id, a.title, a.category_id, a.state, a.is_public, a.updated_at,
                                ts_rank(a.search_vector, v_tsq) AS rank
                           FROM atum.kb_articles a
                          WHERE v_body AND a.organization_id = v_org AND a.search_vector @@ v_tsq
                            AND (p_category IS NULL OR a.category_id = p_category)
                          LIMIT 300)) AS c
                     ORDER BY c.rank DESC, c.id DESC
                     LIMIT p_limit) AS m
          INTO v_items;
        EXIT WHEN v_items IS NOT NULL OR v_body;
        v_body := true;
    END LOOP;
    IF v_items IS NULL AND NOT p_any THEN
        -- No article has every word: the best partial matches rather than nothing.
        RETURN atum.kb_search_items(p_q, p_limit, p_category, true);
    END IF;
    RETURN coalesce(v_items, '[]'::jsonb);
END
$$;
COMMENT ON FUNCTION atum.kb_search_items(text, integer, bigint, boolean) IS 'Ranked full-text matches the caller may see (every word, or with p_any or when nothing has every word any word), with highlighted title and snippets: matched words between U+E000 and U+E001. Broad queries rank a bounded candidate set (title matches first).';

CREATE OR REPLACE FUNCTION api.kb_search(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
-- ?q=&limit=&category= (organization= for visitors). One ranked page: the best matches, "next" null.
DECLARE
    v_input jsonb := atum.input_check(p_query, '{q,limit,category,organization}');
    v_q text := atum.input_text(v_input, 'q', true);
    v_limit integer := atum.input_limit(v_input, 10, 50);
BEGIN
    IF length(v_q) > 200 THEN
        RAISE EXCEPTION 'q must be at most 200 characters' USING ERRCODE = 'AT422', COLUMN = 'q';
    END IF;
    RETURN jsonb_build_object('items', atum.kb_search_items(v_q, v_limit, atum.input_bigint(v_input, 'category')),
                              'next', NULL);
END
$$;
COMMENT ON FUNCTION api.kb_search(jsonb) IS 'Full-text search of the articles the caller may see, ranked (title over body), in the organization''s language, the last word as a prefix; highlighted snippets. AT422 for a missing or over-long q.';

CREATE OR REPLACE FUNCTION api.kb_suggest(p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {subject, session_id?, limit?}: articles for a new ticket's subject as the customer types. The
-- first list that shows something opens a suggestion session; later calls pass its id back.
DECLARE
    v_input jsonb := atum.input_check(p_body, '{subject,session_id,limit}');
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_user  bigint := (SELECT c.user_id FROM atum.request_context c);
    v_subject text := coalesce(atum.input_text(v_input, 'subject'), '');
    v_session bigint := atum.input_bigint(v_input, 'session_id');
    v_limit integer := atum.input_limit(v_input, 5, 10);
    v_items jsonb;
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'sign in to open a ticket' USING ERRCODE = 'AT401';
    END IF;
    IF length(v_subject) > 200 THEN
        RAISE EXCEPTION 'subject must be at most 200 characters' USING ERRCODE = 'AT422', COLUMN = 'subject';
    END IF;
    IF v_session IS NOT NULL AND NOT EXISTS (
            SELECT FROM atum.kb_suggestion_sessions s
             WHERE s.organization_id = v_org AND s.id = v_session AND s.user_id = v_user) THEN
        RAISE EXCEPTION 'no suggestion session %', v_session USING ERRCODE = 'AT422', COLUMN = 'session_id';
    END IF;
    -- Suggestions are for customers: public, published articles only, also when staff try it out.
    SELECT coalesce(jsonb_agg(i), '[]') INTO v_items
      FROM jsonb_array_elements(atum.kb_search_items(v_subject, v_limit * 3, NULL, true)) AS i
     WHERE (i ->> 'state') = 'published' AND (i ->> 'is_public')::boolean;
    SELECT coalesce(jsonb_agg(i), '[]') INTO v_items
      FROM (SELECT i FROM jsonb_array_elements(v_items) WITH ORDINALITY AS e (i, n) ORDER BY n LIMIT v_limit) AS s;
    IF jsonb_array_length(v_items) > 0 THEN
        IF v_session IS NULL THEN
            INSERT INTO atum.kb_suggestion_sessions (organization_id, user_id, shown_count)
            VALUES (v_org, v_user, 1) RETURNING id INTO v_session;
        ELSE
            UPDATE atum.kb_suggestion_sessions s SET shown_count = s.shown_count + 1
             WHERE s.organization_id = v_org AND s.id = v_session;
        END IF;
    END IF;
    RETURN jsonb_build_object('session_id', v_session, 'items', v_items);
END
$$;
COMMENT ON FUNCTION api.kb_suggest(jsonb) IS 'Signed-in users typing a new ticket: the best public published articles for the subject; opens (or continues) a suggestion session once something is shown, for deflection counts.';

CREATE OR REPLACE FUNCTION api.kb_suggestion_event(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
-- {kind: followed, article_id} when a suggested article is opened; {kind: submitted, ticket_id?}
-- when the ticket is submitted after all. Only the session's own user.
DECLARE
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_user  bigint := (SELECT c.user_id FROM atum.request_context c);
    v_input jsonb;
    v_kind  text;
    v_article bigint;
    v_ticket bigint;
    v_result jsonb;
BEGIN
    IF NOT EXISTS (SELECT FROM atum.kb_suggestion_sessions s
                    WHERE s.organization_id = v_org AND s.id = p_id AND s.user_id = v_user) THEN
        RAISE EXCEPTION 'no suggestion session %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
    END IF;
    v_input := atum.input_check(p_body, '{kind,article_id,ticket_id}');
    v_kind := atum.input_enum(v_input, 'kind', '{followed,submitted}');
    IF v_kind IS NULL THEN
        RAISE EXCEPTION 'kind is required (followed or submitted)' USING ERRCODE = 'AT422', COLUMN = 'kind';
    END IF;
    IF v_kind = 'followed' THEN
        v_article := atum.input_bigint(v_input, 'article_id', true);
        IF NOT EXISTS (SELECT FROM atum.kb_articles a WHERE a.organization_id = v_org AND a.id = v_article
                          AND a.state = 'published' AND a.is_public) THEN
            RAISE EXCEPTION 'no article %', v_article USING ERRCODE = 'AT422', COLUMN = 'article_id';
        END IF;
        UPDATE atum.kb_suggestion_sessions s
           SET followed_article_id = v_article, followed_at = coalesce(s.followed_at, now())
         WHERE s.organization_id = v_org AND s.id = p_id;
    ELSE
        v_ticket := atum.input_bigint(v_input, 'ticket_id');
        IF v_ticket IS NOT NULL AND NOT EXISTS (
                SELECT FROM atum.tickets t WHERE t.organization_id = v_org AND t.id = v_ticket AND t.requester_id = v_user) THEN
            RAISE EXCEPTION 'no ticket %', v_ticket USING ERRCODE = 'AT422', COLUMN = 'ticket_id';
        END IF;
        UPDATE atum.kb_suggestion_sessions s
           SET submitted_at = coalesce(s.submitted_at, now()), ticket_id = coalesce(s.ticket_id, v_ticket)
         WHERE s.organization_id = v_org AND s.id = p_id;
    END IF;
    SELECT jsonb_build_object('id', s.id, 'created_at', s.created_at, 'shown_count', s.shown_count,
                              'followed_article_id', s.followed_article_id, 'followed_at', s.followed_at,
                              'submitted_at', s.submitted_at, 'ticket_id', s.ticket_id)
      INTO v_result
      FROM atum.kb_suggestion_sessions s WHERE s.organization_id = v_org AND s.id = p_id;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION api.kb_suggestion_event(bigint, jsonb) IS 'Records that a suggested article was opened (followed) or that the ticket was submitted after all, for the caller''s own suggestion session. AT404 for a session that is not theirs.';

-- ---------------------------------------------------------------------------------------------
-- Categories and settings
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION api.kb_category_list(p_query jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_input jsonb := atum.input_check(p_query, '{organization}');
BEGIN
    -- Readers see the categories that hold something they may read; staff see all.
    RETURN jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(j ORDER BY (j ->> 'position')::integer, j ->> 'name', (j ->> 'id')::bigint)
          FROM (SELECT atum.kb_category_json(c) AS j FROM atum.kb_categories c
                 WHERE c.organization_id = atum.kb_org()) AS s
         WHERE (SELECT c.is_staff FROM atum.request_context c) OR (j ->> 'article_count')::bigint > 0), '[]'),
        'next', NULL);
END
$$;
COMMENT ON FUNCTION api.kb_category_list(jsonb) IS 'Knowledge base categories with the number of articles the caller may see (readers: only categories holding some). All in one page.';

CREATE OR REPLACE FUNCTION api.kb_category_save(p_id bigint, p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_input jsonb;
    v_org   bigint := (SELECT c.organization_id FROM atum.request_context c);
    v_row   atum.kb_categories;
    v_sqlstate text;
    v_msg   text;
    v_con   text;
BEGIN
    PERFORM atum.require_role('agent', 'manage knowledge base categories');
    v_input := atum.input_check(p_body, '{name,description,position}');
    BEGIN
        IF p_id IS NULL THEN
            INSERT INTO atum.kb_categories (organization_id, name, description, position)
            VALUES (v_org, btrim(atum.input_text(v_input, 'name', true)), coalesce(atum.input_text(v_input, 'description'), ''),
                    coalesce(atum.input_integer(v_input, 'position'), 0))
            RETURNING * INTO v_row;
        ELSE
            UPDATE atum.kb_categories k
               SET name = CASE WHEN v_input ? 'name' THEN btrim(atum.input_text(v_input, 'name', true)) ELSE k.name END,
                   description = CASE WHEN v_input ? 'description' THEN coalesce(atum.input_text(v_input, 'description'), '')
                                      ELSE k.description END,
                   position = coalesce(atum.input_integer(v_input, 'position'), k.position),
                   updated_at = now()
             WHERE k.organization_id = v_org AND k.id = p_id
            RETURNING * INTO v_row;
            IF v_row.id IS NULL THEN
                RAISE EXCEPTION 'no category %', p_id USING ERRCODE = 'AT404', COLUMN = 'id';
            END IF;
        END IF;
    EXCEPTION WHEN check_violation OR unique_violation THEN
        GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT, v_con = CONSTRAINT_NAME;
        PERFORM atum.constraint_raise(v_sqlstate, v_msg, v_con);
    END;
    RETURN atum.kb_category_json(v_row);
END
$$;
COMMENT ON FUNCTION api.kb_category_save(bigint, jsonb) IS 'Staff: creates (p_id NULL) or changes a knowledge base category {name, description?, position?}. AT409 for a name in use, AT422 naming the field.';

CREATE OR REPLACE FUNCTION api.kb_category_delete(p_id bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM atum.require_role('agent', 'manage knowledge base categories');
    RETURN atum.row_delete('atum.kb_categories', p_id, 'category');
END
$$;
COMMENT ON FUNCTION api.kb_category_delete(bigint) IS 'Staff: removes a knowledge base category; its articles stay, uncategorised.';

CREATE OR REPLACE FUNCTION api.kb_settings_get() RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('language', o.kb_language,
                              'languages', (SELECT jsonb_agg(c.cfgname ORDER BY c.cfgname) FROM pg_catalog.pg_ts_config c
                                             WHERE c.cfgnamespace = 'pg_catalog'::regnamespace))
      FROM atum.organizations o WHERE o.id = (SELECT c.organization_id FROM atum.request_context c)
$$;
COMMENT ON FUNCTION api.kb_settings_get() IS 'The knowledge base''s search language and the languages there are.';

CREATE OR REPLACE FUNCTION api.kb_settings_update(p_body jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_input jsonb;
    v_language text;
BEGIN
    PERFORM atum.require_role('admin', 'change the knowledge base''s language');
    v_input := atum.input_check(p_body, '{language}');
    v_language := atum.input_text(v_input, 'language', true);
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_ts_config c WHERE c.cfgnamespace = 'pg_catalog'::regnamespace
                                                        AND c.cfgname = lower(btrim(v_language))) THEN
        RAISE EXCEPTION 'language must be a text search configuration such as english, german or simple'
            USING ERRCODE = 'AT422', COLUMN = 'language';
    END IF;
    BEGIN
        UPDATE atum.organizations o SET kb_language = lower(btrim(v_language))
         WHERE o.id = (SELECT c.organization_id FROM atum.request_context c);
    EXCEPTION WHEN check_violation THEN
        RAISE EXCEPTION 'language % is not offered', v_language USING ERRCODE = 'AT422', COLUMN = 'language';
    END;
    RETURN api.kb_settings_get();
END
$$;
COMMENT ON FUNCTION api.kb_settings_update(jsonb) IS 'Admin: the knowledge base''s search language {language} (a PostgreSQL text search configuration); re-indexes every article. AT422 for an unknown one.';

-- ---------------------------------------------------------------------------------------------
-- Row-level security (sql/40_policies.sql dropped every policy before this file runs)
-- ---------------------------------------------------------------------------------------------
CREATE POLICY organizations_kb_visitor ON atum.organizations FOR SELECT TO atum_app
    USING (id = (SELECT v.organization_id FROM atum.kb_visitor_context v));

CREATE POLICY kb_categories_read ON atum.kb_categories FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c));
CREATE POLICY kb_categories_visitor ON atum.kb_categories FOR SELECT TO atum_app
    USING (organization_id = (SELECT v.organization_id FROM atum.kb_visitor_context v));
CREATE POLICY kb_categories_staff_write ON atum.kb_categories FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));

CREATE POLICY kb_articles_read ON atum.kb_articles FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c) OR (state = 'published' AND is_public)));
CREATE POLICY kb_articles_visitor ON atum.kb_articles FOR SELECT TO atum_app
    USING (organization_id = (SELECT v.organization_id FROM atum.kb_visitor_context v) AND state = 'published' AND is_public);
CREATE POLICY kb_articles_staff_write ON atum.kb_articles FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));

-- Votes: counts are public to readers (aggregated by atum.kb_article_json); each user writes their own.
CREATE POLICY kb_votes_read ON atum.kb_votes FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c));
CREATE POLICY kb_votes_own ON atum.kb_votes FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND user_id = (SELECT c.user_id FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND user_id = (SELECT c.user_id FROM atum.request_context c));

-- Suggestion sessions: each user their own; staff read all of the organization (reports).
CREATE POLICY kb_suggestion_sessions_read ON atum.kb_suggestion_sessions FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY kb_suggestion_sessions_own ON atum.kb_suggestion_sessions FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND user_id = (SELECT c.user_id FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND user_id = (SELECT c.user_id FROM atum.request_context c));

CREATE POLICY kb_suggestion_sessions_reporting ON atum.kb_suggestion_sessions FOR SELECT TO atum_reporting
    USING (organization_id IN (SELECT g.organization_id FROM atum.reporting_grants g));

-- ---------------------------------------------------------------------------------------------
-- Reporting: deflection by day
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE VIEW reporting.kb_deflection WITH (security_invoker = true) AS
    SELECT s.organization_id,
           (s.created_at AT TIME ZONE o.time_zone)::date AS day,
           count(*) AS suggestion_sessions,
           count(*) FILTER (WHERE s.followed_at IS NOT NULL) AS followed,
           count(*) FILTER (WHERE s.submitted_at IS NOT NULL) AS submitted,
           count(*) FILTER (WHERE s.followed_at IS NOT NULL AND s.submitted_at IS NULL) AS deflected
      FROM atum.kb_suggestion_sessions s
      JOIN atum.organizations o ON o.id = s.organization_id
     WHERE s.shown_count > 0
     GROUP BY s.organization_id, (s.created_at AT TIME ZONE o.time_zone)::date;
COMMENT ON VIEW reporting.kb_deflection IS 'Knowledge base deflection per organization and day (in its time zone): new-ticket forms that were shown article suggestions, how many opened one, how many submitted the ticket anyway, and how many opened one and did not submit (deflected). Deflection rate = deflected / suggestion_sessions.';
COMMENT ON COLUMN reporting.kb_deflection.organization_id IS 'Organization.';
COMMENT ON COLUMN reporting.kb_deflection.day IS 'Day the session started, in the organization''s time zone.';
COMMENT ON COLUMN reporting.kb_deflection.suggestion_sessions IS 'New-ticket forms that showed at least one suggested article.';
COMMENT ON COLUMN reporting.kb_deflection.followed IS 'Of those, sessions in which a suggested article was opened.';
COMMENT ON COLUMN reporting.kb_deflection.submitted IS 'Of those, sessions whose ticket was submitted after all.';
COMMENT ON COLUMN reporting.kb_deflection.deflected IS 'Sessions that opened a suggested article and did not submit the ticket.';
