-- Every e-mail message the product knows, in and out: the thread index that replies are matched
-- against (In-Reply-To / References) and the guard that ingests no Message-ID twice. Also the
-- undeliverable mark on addresses that bounced. Ingestion (sql/62_mail_ingest.sql) and the outbox
-- (sql/63_mail_outbox.sql) write here; staff read it.
-- depends: 0011.mailboxes

CREATE TYPE atum.mail_direction AS ENUM ('inbound', 'outbound');
COMMENT ON TYPE atum.mail_direction IS 'inbound: received from IMAP or ingest-eml; outbound: a notification we sent.';

CREATE TABLE atum.mail_messages (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    direction       atum.mail_direction NOT NULL,
    message_id      text NOT NULL
        CONSTRAINT mail_messages_message_id_format CHECK (length(message_id) BETWEEN 3 AND 995 AND message_id !~ '[[:space:][:cntrl:]]'),
    mailbox_id      bigint,
    ticket_id       bigint,
    comment_id      bigint,
    from_address    text CONSTRAINT mail_messages_from_length CHECK (length(from_address) <= 320),
    subject         text CONSTRAINT mail_messages_subject_length CHECK (length(subject) <= 1000),
    disposition     text NOT NULL CONSTRAINT mail_messages_disposition_format CHECK (disposition ~ '^[a-z][a-z_]{1,39}$'),
    raw_size        integer CONSTRAINT mail_messages_raw_size_nonnegative CHECK (raw_size >= 0),
    raw_sha256      bytea CONSTRAINT mail_messages_raw_sha256_length CHECK (length(raw_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT mail_messages_message_id_key UNIQUE (organization_id, message_id),
    FOREIGN KEY (organization_id, mailbox_id) REFERENCES atum.mailboxes (organization_id, id) ON DELETE SET NULL (mailbox_id),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE SET NULL (ticket_id),
    FOREIGN KEY (organization_id, comment_id) REFERENCES atum.ticket_comments (organization_id, id) ON DELETE SET NULL (comment_id)
);
CREATE INDEX mail_messages_ticket_idx ON atum.mail_messages (organization_id, ticket_id, created_at) WHERE ticket_id IS NOT NULL;
CREATE INDEX mail_messages_mailbox_idx ON atum.mail_messages (organization_id, mailbox_id, created_at) WHERE mailbox_id IS NOT NULL;
ALTER TABLE atum.mail_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.mail_messages FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.mail_messages IS 'Every message received or sent, by Message-ID (unique per organization: nothing is ingested twice); replies find their ticket here.';
COMMENT ON COLUMN atum.mail_messages.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.mail_messages.id IS 'Row id.';
COMMENT ON COLUMN atum.mail_messages.direction IS 'inbound or outbound.';
COMMENT ON COLUMN atum.mail_messages.message_id IS 'The Message-ID with its angle brackets, e.g. <abc@example.com>; a stable synthetic one (sha256 of the raw message) when a message has none.';
COMMENT ON COLUMN atum.mail_messages.mailbox_id IS 'The mailbox it was fetched from (inbound over IMAP); NULL for ingest-eml and outbound.';
COMMENT ON COLUMN atum.mail_messages.ticket_id IS 'The ticket it opened, was added to, or was sent about.';
COMMENT ON COLUMN atum.mail_messages.comment_id IS 'The comment it became (inbound reply) or announced (outbound reply).';
COMMENT ON COLUMN atum.mail_messages.from_address IS 'The sender address as received (inbound) or our sender (outbound).';
COMMENT ON COLUMN atum.mail_messages.subject IS 'Decoded subject.';
COMMENT ON COLUMN atum.mail_messages.disposition IS 'What happened to it, e.g. ticket_created, comment_added, followup_created, bounce_noted, dropped_loop, dropped_auto, dropped_rate_cap, queued, sent.';
COMMENT ON COLUMN atum.mail_messages.raw_size IS 'Size of the raw message in bytes (inbound).';
COMMENT ON COLUMN atum.mail_messages.raw_sha256 IS 'SHA-256 of the raw message (inbound).';
COMMENT ON COLUMN atum.mail_messages.created_at IS 'When it was ingested or queued.';
COMMENT ON CONSTRAINT mail_messages_message_id_key ON atum.mail_messages IS 'The same Message-ID is never ingested twice, also across a crash between commit and the IMAP flag.';
COMMENT ON INDEX atum.mail_messages_ticket_idx IS 'A ticket''s mail, newest last (threading references for replies).';
COMMENT ON INDEX atum.mail_messages_mailbox_idx IS 'Messages ingested per mailbox per day (mailbox health).';

ALTER TABLE atum.users
    ADD COLUMN email_undeliverable_at timestamptz,
    ADD COLUMN email_undeliverable_reason text
        CONSTRAINT users_email_undeliverable_reason_length CHECK (length(email_undeliverable_reason) <= 1000);
COMMENT ON COLUMN atum.users.email_undeliverable_at IS 'When mail to this address bounced; no mail is sent to it until the person writes again (then NULL).';
COMMENT ON COLUMN atum.users.email_undeliverable_reason IS 'The bounce''s diagnostic, for staff.';
