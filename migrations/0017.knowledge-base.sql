-- Knowledge base: categories and articles (Markdown, rendered to sanitised HTML by the HTTP layer
-- before the one api.* call, stored beside it), helpful votes, the organization's search language,
-- and the suggestion sessions of the portal that deflection is counted from. Anonymous portal
-- visitors get a context of their own (atum.kb_visitor_contexts), separate from the signed-in
-- request context, so that no existing policy can match for them.
-- depends: 0016.mailbox-health

-- The text search configurations PostgreSQL ships; a fixed list (not a regconfig column, which
-- pg_upgrade refuses) so that an unknown name can never reach an article write.
ALTER TABLE atum.organizations ADD COLUMN kb_language text NOT NULL DEFAULT 'english'
    CONSTRAINT organizations_kb_language_known CHECK (kb_language IN (
        'simple', 'arabic', 'armenian', 'basque', 'catalan', 'danish', 'dutch', 'english', 'finnish', 'french',
        'german', 'greek', 'hindi', 'hungarian', 'indonesian', 'irish', 'italian', 'lithuanian', 'nepali',
        'norwegian', 'portuguese', 'romanian', 'russian', 'serbian', 'spanish', 'swedish', 'tamil', 'turkish',
        'yiddish'));
COMMENT ON COLUMN atum.organizations.kb_language IS 'Text search configuration (regconfig name) of the knowledge base: stemming and stop words of its language, e.g. english, german; simple for none.';

CREATE TYPE atum.kb_article_state AS ENUM ('draft', 'published');
COMMENT ON TYPE atum.kb_article_state IS 'A knowledge base article is a draft (staff only) or published.';

CREATE TABLE atum.kb_categories (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    name            text NOT NULL CONSTRAINT kb_categories_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description     text NOT NULL DEFAULT ''
        CONSTRAINT kb_categories_description_length CHECK (length(description) <= 1000),
    position        integer NOT NULL DEFAULT 0
        CONSTRAINT kb_categories_position_range CHECK (position BETWEEN 0 AND 100000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT kb_categories_name_key UNIQUE (organization_id, name)
);
COMMENT ON TABLE atum.kb_categories IS 'Sections of the knowledge base (e.g. Accounts, Printing), shown to customers when they have public articles.';
COMMENT ON COLUMN atum.kb_categories.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.kb_categories.id IS 'Category id.';
COMMENT ON COLUMN atum.kb_categories.name IS 'Name, unique in the organization.';
COMMENT ON COLUMN atum.kb_categories.description IS 'One or two sentences shown under the name.';
COMMENT ON COLUMN atum.kb_categories.position IS 'Sort order (ascending, then name).';
COMMENT ON COLUMN atum.kb_categories.created_at IS 'When it was created.';
COMMENT ON COLUMN atum.kb_categories.updated_at IS 'Last change.';
COMMENT ON CONSTRAINT kb_categories_name_key ON atum.kb_categories IS 'One category of a name per organization.';

CREATE TABLE atum.kb_articles (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    category_id     bigint,
    title           text NOT NULL CONSTRAINT kb_articles_title_length CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    body            text NOT NULL DEFAULT '' CONSTRAINT kb_articles_body_length CHECK (length(body) <= 100000),
    body_html       text NOT NULL DEFAULT '' CONSTRAINT kb_articles_body_html_length CHECK (length(body_html) <= 1000000),
    body_text       text NOT NULL DEFAULT '',
    state           atum.kb_article_state NOT NULL DEFAULT 'draft',
    is_public       boolean NOT NULL DEFAULT false,
    published_at    timestamptz,
    author_id       bigint NOT NULL,
    updated_by      bigint,
    view_count      bigint NOT NULL DEFAULT 0,
    search_vector   tsvector NOT NULL DEFAULT ''::tsvector,
    title_vector    tsvector NOT NULL DEFAULT ''::tsvector,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, category_id) REFERENCES atum.kb_categories (organization_id, id)
        ON DELETE SET NULL (category_id),
    FOREIGN KEY (organization_id, author_id) REFERENCES atum.users (organization_id, id),
    FOREIGN KEY (organization_id, updated_by) REFERENCES atum.users (organization_id, id),
    CONSTRAINT kb_articles_published_at_state CHECK ((state = 'published') = (published_at IS NOT NULL))
);
COMMENT ON TABLE atum.kb_articles IS 'Knowledge base articles: Markdown written by staff, its sanitised HTML, draft or published, public (customers and portal visitors) or internal (staff).';
COMMENT ON COLUMN atum.kb_articles.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.kb_articles.id IS 'Article id.';
COMMENT ON COLUMN atum.kb_articles.category_id IS 'Category; NULL: uncategorised (also when its category is removed).';
COMMENT ON COLUMN atum.kb_articles.title IS 'Title; weighs most in search.';
COMMENT ON COLUMN atum.kb_articles.body IS 'The article as Markdown, as its author wrote it.';
COMMENT ON COLUMN atum.kb_articles.body_html IS 'body rendered by the HTTP layer with raw HTML disabled and sanitised by an allow-list (nh3): safe to show as HTML.';
COMMENT ON COLUMN atum.kb_articles.body_text IS 'Plain text of body_html (tags removed, entities decoded): what search indexes and snippets quote. Kept by a trigger.';
COMMENT ON COLUMN atum.kb_articles.state IS 'draft (staff only) or published.';
COMMENT ON COLUMN atum.kb_articles.is_public IS 'Public: customers and anonymous portal visitors may read it once published. Internal: staff only.';
COMMENT ON COLUMN atum.kb_articles.published_at IS 'When it was (last) published; NULL exactly while it is a draft.';
COMMENT ON COLUMN atum.kb_articles.author_id IS 'Who wrote it.';
COMMENT ON COLUMN atum.kb_articles.updated_by IS 'Who changed it last.';
COMMENT ON COLUMN atum.kb_articles.view_count IS 'How often it was opened (counted by api.kb_article_get; not audited).';
COMMENT ON COLUMN atum.kb_articles.search_vector IS 'Full-text index of title (weight A) and body_text (weight B) in the organization''s kb_language: what search matches and ranks. Kept by a trigger.';
COMMENT ON COLUMN atum.kb_articles.title_vector IS 'Full-text index of the title alone: broad searches take their candidates from title matches first. Kept by a trigger.';
COMMENT ON COLUMN atum.kb_articles.created_at IS 'When it was created.';
COMMENT ON COLUMN atum.kb_articles.updated_at IS 'Last change of its content or state.';
COMMENT ON CONSTRAINT kb_articles_published_at_state ON atum.kb_articles IS 'published_at is set exactly when the article is published.';
-- The vectors stay in the row (compressed if need be) while the text columns go to TOAST first:
-- ranking reads the vector of every candidate, and a detour through TOAST per row doubled that.
ALTER TABLE atum.kb_articles ALTER COLUMN search_vector SET STORAGE MAIN, ALTER COLUMN title_vector SET STORAGE MAIN;
CREATE INDEX kb_articles_search ON atum.kb_articles USING gin (search_vector);
COMMENT ON INDEX atum.kb_articles_search IS 'Full-text search (the @@ match; ts_match_vq is marked leakproof so that RLS lets it use this index).';
CREATE INDEX kb_articles_title_search ON atum.kb_articles USING gin (title_vector);
COMMENT ON INDEX atum.kb_articles_title_search IS 'Full-text search in titles (candidates of broad searches).';
CREATE INDEX kb_articles_updated ON atum.kb_articles (organization_id, updated_at DESC, id DESC);
COMMENT ON INDEX atum.kb_articles_updated IS 'The article list, newest change first (keyset).';
CREATE INDEX kb_articles_category ON atum.kb_articles (organization_id, category_id);
COMMENT ON INDEX atum.kb_articles_category IS 'Articles of a category; the category foreign key.';

CREATE TABLE atum.kb_votes (
    organization_id bigint NOT NULL,
    article_id      bigint NOT NULL,
    user_id         bigint NOT NULL,
    is_helpful      boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, article_id, user_id),
    FOREIGN KEY (organization_id, article_id) REFERENCES atum.kb_articles (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE atum.kb_votes IS '"Was this helpful?" answers: one per user and article, changeable.';
COMMENT ON COLUMN atum.kb_votes.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.kb_votes.article_id IS 'The article.';
COMMENT ON COLUMN atum.kb_votes.user_id IS 'Who answered.';
COMMENT ON COLUMN atum.kb_votes.is_helpful IS 'True: helpful; false: not helpful.';
COMMENT ON COLUMN atum.kb_votes.created_at IS 'First answer.';
COMMENT ON COLUMN atum.kb_votes.updated_at IS 'Last change of the answer.';
CREATE INDEX kb_votes_user ON atum.kb_votes (organization_id, user_id);
COMMENT ON INDEX atum.kb_votes_user IS 'Votes of a user (policy column; the user foreign key).';

CREATE TABLE atum.kb_suggestion_sessions (
    organization_id     bigint NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    user_id             bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    shown_count         integer NOT NULL DEFAULT 0 CONSTRAINT kb_suggestion_sessions_shown_count_nonnegative CHECK (shown_count >= 0),
    followed_article_id bigint,
    followed_at         timestamptz,
    submitted_at        timestamptz,
    ticket_id           bigint,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, followed_article_id) REFERENCES atum.kb_articles (organization_id, id)
        ON DELETE SET NULL (followed_article_id),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE SET NULL (ticket_id)
);
COMMENT ON TABLE atum.kb_suggestion_sessions IS 'One per new-ticket form of the portal that asked for article suggestions: whether any were shown, whether one was opened, whether the ticket was submitted after all (deflection = opened and not submitted).';
COMMENT ON COLUMN atum.kb_suggestion_sessions.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.kb_suggestion_sessions.id IS 'Session id (the portal sends it back with later suggestions and events).';
COMMENT ON COLUMN atum.kb_suggestion_sessions.user_id IS 'The customer (or staff member) typing.';
COMMENT ON COLUMN atum.kb_suggestion_sessions.created_at IS 'When the form first asked for suggestions; reports count the session on this day.';
COMMENT ON COLUMN atum.kb_suggestion_sessions.shown_count IS 'How many times suggestions were shown (lists with at least one article).';
COMMENT ON COLUMN atum.kb_suggestion_sessions.followed_article_id IS 'The article opened from the suggestions last.';
COMMENT ON COLUMN atum.kb_suggestion_sessions.followed_at IS 'When a suggested article was first opened; NULL: none was.';
COMMENT ON COLUMN atum.kb_suggestion_sessions.submitted_at IS 'When the ticket was submitted after all; NULL: it was not (yet).';
COMMENT ON COLUMN atum.kb_suggestion_sessions.ticket_id IS 'The ticket submitted.';
CREATE INDEX kb_suggestion_sessions_created ON atum.kb_suggestion_sessions (organization_id, created_at);
COMMENT ON INDEX atum.kb_suggestion_sessions_created IS 'Deflection by day (reporting.kb_deflection).';
CREATE INDEX kb_suggestion_sessions_user ON atum.kb_suggestion_sessions (organization_id, user_id);
COMMENT ON INDEX atum.kb_suggestion_sessions_user IS 'Sessions of a user (policy column; the user foreign key).';

-- Anonymous portal visitors: like atum.request_contexts, one row per backend, valid only for the
-- transaction that wrote it; written by api.kb_visitor_enter (SECURITY DEFINER) only.
CREATE UNLOGGED TABLE atum.kb_visitor_contexts (
    backend_pid            integer NOT NULL PRIMARY KEY,
    transaction_started_at timestamptz NOT NULL,
    organization_id        bigint NOT NULL
);
ALTER TABLE atum.kb_visitor_contexts ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_visitor_contexts FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.kb_visitor_contexts IS 'Internal: the organization an anonymous portal visitor reads the public knowledge base of, per backend and transaction (written by api.kb_visitor_enter).';
COMMENT ON COLUMN atum.kb_visitor_contexts.backend_pid IS 'The PostgreSQL backend the context belongs to.';
COMMENT ON COLUMN atum.kb_visitor_contexts.transaction_started_at IS 'transaction_timestamp() of the transaction it is for; others ignore the row.';
COMMENT ON COLUMN atum.kb_visitor_contexts.organization_id IS 'The organization named by the visitor (its slug).';

ALTER TABLE atum.kb_categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_categories FORCE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_articles ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_articles FORCE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_votes ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_votes FORCE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_suggestion_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.kb_suggestion_sessions FORCE ROW LEVEL SECURITY;
