-- What the HTTP API needs beyond the core: sign-in throttling, idempotent creation, single-use
-- tokens for password resets and invitations, and full-text search over tickets.
-- The functions are in sql/52_api_auth.sql and sql/55_api_tickets.sql.
-- depends: 0008.audit-log-fk

-- Sign-in throttling lives in the database, so it holds with or without nginx and across every
-- server process. Keys name an account ('account:<organization or *>:<email>') or an address
-- ('address:<ip>'); unknown accounts are throttled exactly like known ones, so the answers never
-- tell whether an account exists.
CREATE TABLE atum.login_throttles (
    key               text PRIMARY KEY CONSTRAINT login_throttles_key_length CHECK (length(key) <= 600),
    failures          integer NOT NULL DEFAULT 0 CONSTRAINT login_throttles_failures_nonnegative CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL DEFAULT now(),
    locked_until      timestamptz
);
CREATE INDEX login_throttles_window_idx ON atum.login_throttles (window_started_at);
ALTER TABLE atum.login_throttles ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.login_throttles FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.login_throttles IS 'Internal: failed sign-ins per account and per client address within the current window, and lock-outs. Written only by the sign-in functions.';
COMMENT ON COLUMN atum.login_throttles.key IS 'account:<organization slug or *>:<e-mail> or address:<client ip>.';
COMMENT ON COLUMN atum.login_throttles.failures IS 'Failed attempts since window_started_at.';
COMMENT ON COLUMN atum.login_throttles.window_started_at IS 'Start of the counting window (15 minutes).';
COMMENT ON COLUMN atum.login_throttles.locked_until IS 'No sign-in for this key before this time.';
COMMENT ON INDEX atum.login_throttles_window_idx IS 'Lets the clean-up job drop old windows.';

-- A client that retries a creation after a lost answer sends the same Idempotency-Key and gets
-- the first answer back; the key is claimed by inserting its row, so concurrent retries queue on
-- the primary key instead of both creating.
CREATE TABLE atum.idempotency_keys (
    organization_id bigint NOT NULL,
    user_id         bigint NOT NULL,
    key             text NOT NULL CONSTRAINT idempotency_keys_key_format CHECK (key ~ '^[\x21-\x7e]{1,200}$'),
    operation       text NOT NULL,
    request_hash    bytea NOT NULL,
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id, key),
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idempotency_keys_created_idx ON atum.idempotency_keys (created_at);
ALTER TABLE atum.idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.idempotency_keys FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.idempotency_keys IS 'Internal: Idempotency-Key of creating requests per user, with the answer given; kept 24 hours.';
COMMENT ON COLUMN atum.idempotency_keys.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.idempotency_keys.user_id IS 'Whose key: keys of different users never collide.';
COMMENT ON COLUMN atum.idempotency_keys.key IS 'The client''s Idempotency-Key header (printable ASCII, up to 200 characters).';
COMMENT ON COLUMN atum.idempotency_keys.operation IS 'What was created, e.g. ticket_create or comment_create:<ticket id>.';
COMMENT ON COLUMN atum.idempotency_keys.request_hash IS 'SHA-256 of the request: the same key with another request is refused.';
COMMENT ON COLUMN atum.idempotency_keys.response IS 'The answer of the first request (NULL while it is still running).';
COMMENT ON COLUMN atum.idempotency_keys.created_at IS 'When the key was first used.';
COMMENT ON INDEX atum.idempotency_keys_created_idx IS 'Lets the clean-up job drop expired keys.';

-- Password resets and invitations: single-use, expiring, only the hash kept.
CREATE TYPE atum.user_token_purpose AS ENUM ('password_reset', 'invitation');
COMMENT ON TYPE atum.user_token_purpose IS 'What a single-use user token is for.';
CREATE TABLE atum.user_tokens (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    user_id         bigint NOT NULL,
    purpose         atum.user_token_purpose NOT NULL,
    token_hash      bytea NOT NULL CONSTRAINT user_tokens_token_hash_length CHECK (length(token_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX user_tokens_token_hash_idx ON atum.user_tokens (token_hash);
CREATE INDEX user_tokens_user_idx ON atum.user_tokens (organization_id, user_id);
ALTER TABLE atum.user_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.user_tokens FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.user_tokens IS 'Internal: single-use tokens for password resets and invitations (only the SHA-256 is kept). Written and read only by SECURITY DEFINER functions.';
COMMENT ON COLUMN atum.user_tokens.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.user_tokens.id IS 'Token id.';
COMMENT ON COLUMN atum.user_tokens.user_id IS 'The user who may use it.';
COMMENT ON COLUMN atum.user_tokens.created_at IS 'When it was issued.';
COMMENT ON COLUMN atum.user_tokens.purpose IS 'password_reset or invitation.';
COMMENT ON COLUMN atum.user_tokens.token_hash IS 'SHA-256 of the token sent to the user.';
COMMENT ON COLUMN atum.user_tokens.expires_at IS 'Unusable after this time.';
COMMENT ON COLUMN atum.user_tokens.used_at IS 'Set when used: a token works once.';
COMMENT ON INDEX atum.user_tokens_token_hash_idx IS 'Redeeming looks a token up by hash before the organization is known.';
COMMENT ON INDEX atum.user_tokens_user_idx IS 'A new token of a user retires the older ones.';

-- Full-text search for the ticket list's q: subject and description, language-neutral ('simple':
-- organizations write in many languages, and stemming one of them would mangle the others). An
-- expression index rather than a stored column, which would swell every ticket's audit entry.
-- sql/55_api_tickets.sql filters with exactly this expression.
CREATE INDEX tickets_search_idx ON atum.tickets
    USING gin ((setweight(to_tsvector('simple'::regconfig, subject), 'A') || setweight(to_tsvector('simple'::regconfig, description), 'B')));
COMMENT ON INDEX atum.tickets_search_idx IS 'Full-text search over subject (weight A) and description (weight B), for the q filter of the ticket list.';
