-- Outbound notifications (SPEC 7): the outbox that events write to in their own transaction, and
-- the organizations' own versions of the mail templates. The triggers, the state machine and the
-- API functions are in sql/63_mail_outbox.sql; the worker's side is jobs/mail_out.py.
-- depends: 0012.mail-messages

CREATE TYPE atum.mail_kind AS ENUM
    ('ticket_received', 'staff_reply', 'assigned', 'sla_warning', 'sla_breach', 'resolved', 'password_reset', 'invitation');
COMMENT ON TYPE atum.mail_kind IS 'What a notification is about; each kind has its own templates (subject, text, HTML).';

CREATE TYPE atum.mail_outbox_state AS ENUM ('queued', 'sending', 'sent', 'failed');
COMMENT ON TYPE atum.mail_outbox_state IS 'queued: waiting for the worker; sending: Message-ID fixed, handed to SMTP at least once (retried on temporary errors); sent: accepted by the SMTP server (final); failed: refused for good or given up (final).';

CREATE TABLE atum.mail_outbox (
    organization_id   bigint NOT NULL REFERENCES atum.organizations (id),
    id                bigint GENERATED ALWAYS AS IDENTITY,
    kind              atum.mail_kind NOT NULL,
    state             atum.mail_outbox_state NOT NULL DEFAULT 'queued',
    recipient_id      bigint NOT NULL,
    to_address        atum.email NOT NULL,
    ticket_id         bigint,
    comment_id        bigint,
    context           jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT mail_outbox_context_object CHECK (jsonb_typeof(context) = 'object'),
    secret            text CONSTRAINT mail_outbox_secret_length CHECK (length(secret) <= 200),
    dedupe_key        text CONSTRAINT mail_outbox_dedupe_key_length CHECK (length(dedupe_key) BETWEEN 1 AND 200),
    message_id        text
        CONSTRAINT mail_outbox_message_id_format CHECK (length(message_id) BETWEEN 3 AND 995 AND message_id !~ '[[:space:][:cntrl:]]'),
    in_reply_to       text,
    thread_references text[] NOT NULL DEFAULT '{}',
    reply_to          atum.email,
    subject           text CONSTRAINT mail_outbox_subject_length CHECK (length(subject) <= 1000),
    attempts          integer NOT NULL DEFAULT 0 CONSTRAINT mail_outbox_attempts_nonnegative CHECK (attempts >= 0),
    last_error        text CONSTRAINT mail_outbox_last_error_length CHECK (length(last_error) <= 2000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    sending_at        timestamptz,
    sent_at           timestamptz,
    failed_at         timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT mail_outbox_dedupe_key_key UNIQUE (organization_id, dedupe_key),
    FOREIGN KEY (organization_id, recipient_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, comment_id) REFERENCES atum.ticket_comments (organization_id, id) ON DELETE CASCADE,
    -- The state machine's invariants, also for the owner: a message handed to SMTP has its
    -- Message-ID; sent and failed are stamped; a secret (a reset or invitation token) exists only
    -- while the mail is still to be sent, and only for the kinds that carry one.
    CONSTRAINT mail_outbox_message_id_when_sending CHECK (state IN ('queued', 'failed') OR (message_id IS NOT NULL AND sending_at IS NOT NULL)),
    CONSTRAINT mail_outbox_sent_at_when_sent CHECK ((state = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT mail_outbox_failed_at_when_failed CHECK ((state = 'failed') = (failed_at IS NOT NULL)),
    CONSTRAINT mail_outbox_secret_while_pending CHECK (secret IS NULL OR (state IN ('queued', 'sending') AND kind IN ('password_reset', 'invitation')))
);
CREATE UNIQUE INDEX mail_outbox_message_id_idx ON atum.mail_outbox (organization_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX mail_outbox_state_idx ON atum.mail_outbox (organization_id, state, id);
CREATE INDEX mail_outbox_ticket_idx ON atum.mail_outbox (organization_id, ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX mail_outbox_comment_idx ON atum.mail_outbox (organization_id, comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX mail_outbox_recipient_idx ON atum.mail_outbox (organization_id, recipient_id);
ALTER TABLE atum.mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.mail_outbox FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.mail_outbox IS 'Notifications to send, written in the same transaction as the event they announce (ticket received, public staff reply, assignment, SLA warning and breach, resolved, password reset, invitation); sent once each by the worker (job mail.send). Admins read it.';
COMMENT ON COLUMN atum.mail_outbox.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.mail_outbox.id IS 'Notification id (part of its Message-ID).';
COMMENT ON COLUMN atum.mail_outbox.kind IS 'What it announces; selects the templates.';
COMMENT ON COLUMN atum.mail_outbox.state IS 'queued -> sending -> sent | failed (queued -> failed when it cannot be sent at all); see type atum.mail_outbox_state.';
COMMENT ON COLUMN atum.mail_outbox.recipient_id IS 'The user it goes to (never the one whose action it announces).';
COMMENT ON COLUMN atum.mail_outbox.to_address IS 'The recipient''s address: when queued, then as it was when handed to SMTP.';
COMMENT ON COLUMN atum.mail_outbox.ticket_id IS 'The ticket it is about (subject token, threading, link); NULL for password resets, invitations and SLA digests of several tickets.';
COMMENT ON COLUMN atum.mail_outbox.comment_id IS 'The public staff reply it carries (staff_reply).';
COMMENT ON COLUMN atum.mail_outbox.context IS 'What the templates show, captured at the event: organization, ticket, comment, actor, SLA events. Never a secret.';
COMMENT ON COLUMN atum.mail_outbox.secret IS 'The single-use token a password reset or invitation link carries; NULL once the mail is sent or failed. Never readable by atum_app, redacted in the audit trail.';
COMMENT ON COLUMN atum.mail_outbox.dedupe_key IS 'Set by jobs that expand into notifications (e.g. sla.notify:<job>:<kind>:<user>), so a job run twice after a crash queues nothing twice.';
COMMENT ON COLUMN atum.mail_outbox.message_id IS 'Our Message-ID, <atum.<organization>.<id>.<random>@<ATUM_MAIL_DOMAIN>>: fixed and committed before the first SMTP attempt, the same on every retry.';
COMMENT ON COLUMN atum.mail_outbox.in_reply_to IS 'In-Reply-To: the ticket''s latest message in this recipient''s conversation when the first attempt was made.';
COMMENT ON COLUMN atum.mail_outbox.thread_references IS 'References: the first and the last ten Message-IDs of that conversation (oldest first).';
COMMENT ON COLUMN atum.mail_outbox.reply_to IS 'Reply-To: the organization''s first active mailbox, so that answers are fetched and thread back; NULL without one.';
COMMENT ON COLUMN atum.mail_outbox.subject IS 'The subject as rendered for the first attempt.';
COMMENT ON COLUMN atum.mail_outbox.attempts IS 'How many times it was handed to SMTP.';
COMMENT ON COLUMN atum.mail_outbox.last_error IS 'Why the last attempt did not succeed (or why it was not sent), for admins.';
COMMENT ON COLUMN atum.mail_outbox.created_at IS 'When the event queued it.';
COMMENT ON COLUMN atum.mail_outbox.updated_at IS 'Last change.';
COMMENT ON COLUMN atum.mail_outbox.sending_at IS 'First attempt; the message''s Date header.';
COMMENT ON COLUMN atum.mail_outbox.sent_at IS 'When the SMTP server accepted it.';
COMMENT ON COLUMN atum.mail_outbox.failed_at IS 'When it was given up.';
COMMENT ON CONSTRAINT mail_outbox_dedupe_key_key ON atum.mail_outbox IS 'A job that queues notifications queues each once, also when it runs again after a crash.';
COMMENT ON CONSTRAINT mail_outbox_message_id_when_sending ON atum.mail_outbox IS 'Nothing reaches SMTP without its Message-ID committed first.';
COMMENT ON CONSTRAINT mail_outbox_sent_at_when_sent ON atum.mail_outbox IS 'sent_at is set exactly for sent notifications.';
COMMENT ON CONSTRAINT mail_outbox_failed_at_when_failed ON atum.mail_outbox IS 'failed_at is set exactly for failed notifications.';
COMMENT ON CONSTRAINT mail_outbox_secret_while_pending ON atum.mail_outbox IS 'A reset or invitation token is kept only until its mail is sent or given up.';
COMMENT ON INDEX atum.mail_outbox_message_id_idx IS 'Our Message-IDs are unique per organization; threading looks notifications up by them.';
COMMENT ON INDEX atum.mail_outbox_state_idx IS 'The admins'' view of the outbox by state.';
COMMENT ON INDEX atum.mail_outbox_ticket_idx IS 'A ticket''s notifications (and the cascade when a ticket is deleted).';
COMMENT ON INDEX atum.mail_outbox_comment_idx IS 'The cascade when a comment is deleted: its unsent notification goes with it.';
COMMENT ON INDEX atum.mail_outbox_recipient_idx IS 'The cascade when a user is deleted.';

CREATE TABLE atum.mail_templates (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    kind            atum.mail_kind NOT NULL,
    subject         text CONSTRAINT mail_templates_subject_length CHECK (length(subject) BETWEEN 1 AND 2000),
    body_text       text CONSTRAINT mail_templates_body_text_length CHECK (length(body_text) BETWEEN 1 AND 100000),
    body_html       text CONSTRAINT mail_templates_body_html_length CHECK (length(body_html) BETWEEN 1 AND 200000),
    render_error    text CONSTRAINT mail_templates_render_error_length CHECK (length(render_error) <= 2000),
    render_error_at timestamptz,
    updated_by      bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT mail_templates_kind_key UNIQUE (organization_id, kind),
    CONSTRAINT mail_templates_something_overridden CHECK (coalesce(subject, body_text, body_html) IS NOT NULL),
    FOREIGN KEY (organization_id, updated_by) REFERENCES atum.users (organization_id, id) ON DELETE SET NULL (updated_by)
);
ALTER TABLE atum.mail_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.mail_templates FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.mail_templates IS 'An organization''s own jinja2 templates for a kind of notification, written by its admins; a part left NULL uses the built-in default (jobs/templates/). Rendered in a sandbox.';
COMMENT ON COLUMN atum.mail_templates.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.mail_templates.id IS 'Row id.';
COMMENT ON COLUMN atum.mail_templates.kind IS 'The kind of notification these templates are for (one row per kind).';
COMMENT ON COLUMN atum.mail_templates.subject IS 'jinja2 template of the subject (one line; line breaks are removed); NULL: the default.';
COMMENT ON COLUMN atum.mail_templates.body_text IS 'jinja2 template of the text/plain part; NULL: the default.';
COMMENT ON COLUMN atum.mail_templates.body_html IS 'jinja2 template of the text/html part (values are HTML-escaped automatically); NULL: the default.';
COMMENT ON COLUMN atum.mail_templates.render_error IS 'Why the last rendering failed (the default was sent instead); cleared when an admin saves the templates.';
COMMENT ON COLUMN atum.mail_templates.render_error_at IS 'When rendering last failed.';
COMMENT ON COLUMN atum.mail_templates.updated_by IS 'The admin who saved it last.';
COMMENT ON COLUMN atum.mail_templates.created_at IS 'When it was first saved.';
COMMENT ON COLUMN atum.mail_templates.updated_at IS 'Last change.';
COMMENT ON CONSTRAINT mail_templates_kind_key ON atum.mail_templates IS 'One set of templates per organization and kind.';
COMMENT ON CONSTRAINT mail_templates_something_overridden ON atum.mail_templates IS 'A row overrides at least one part (no row at all means the defaults).';
