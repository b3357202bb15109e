-- Inbound e-mail ingestion (sql/62_mail_ingest.sql, jobs/mail_ingest.py): what a received message
-- leaves besides its ticket or comment. The sanitised HTML and the untrimmed text of a message are
-- kept next to the plain text that is shown (quoted history and signature trimmed); auto-submitted
-- mail is marked on its mail_messages row so the outbound side never answers it; and a per-sender
-- counter caps how many tickets one address may open per hour, so that a mail loop with a
-- misbehaving auto-responder stops by itself.
-- depends: 0012.mail-messages

ALTER TABLE atum.mail_messages
    ADD COLUMN auto_submitted text
        CONSTRAINT mail_messages_auto_submitted_format CHECK (auto_submitted ~ '^[a-z][a-z0-9_-]{0,39}$');
COMMENT ON COLUMN atum.mail_messages.auto_submitted IS 'Inbound mail sent by a machine (auto-replied, auto-generated, bulk, list, junk, mailer-daemon, noreply, delivery-status, ...): it never opens a ticket and is never answered. NULL: written by a person.';

ALTER TABLE atum.tickets
    ADD COLUMN description_html text
        CONSTRAINT tickets_description_html_length CHECK (length(description_html) <= 2000000),
    ADD COLUMN description_full text
        CONSTRAINT tickets_description_full_length CHECK (length(description_full) <= 2000000);
COMMENT ON COLUMN atum.tickets.description_html IS 'E-mail tickets: the message''s HTML, sanitised by an allow-list (no scripts, event handlers or remote images; inline images point to their attachments). NULL for plain-text mail and other channels.';
COMMENT ON COLUMN atum.tickets.description_full IS 'E-mail tickets: the whole plain text, with the quoted history and signature that description leaves out. NULL when nothing was left out, and for other channels.';
-- Follow-ups: a second reply to a closed ticket finds the follow-up the first one opened.
CREATE INDEX tickets_parent_idx ON atum.tickets (organization_id, parent_ticket_id) WHERE parent_ticket_id IS NOT NULL;
COMMENT ON INDEX atum.tickets_parent_idx IS 'Follow-ups of a ticket (mail to a closed ticket goes to its open follow-up).';

ALTER TABLE atum.ticket_comments
    ADD COLUMN body_html text
        CONSTRAINT ticket_comments_body_html_length CHECK (length(body_html) <= 2000000),
    ADD COLUMN body_full text
        CONSTRAINT ticket_comments_body_full_length CHECK (length(body_full) <= 2000000);
COMMENT ON COLUMN atum.ticket_comments.body_html IS 'E-mail comments: the message''s HTML, sanitised by an allow-list (no scripts, event handlers or remote images; inline images point to their attachments). NULL otherwise.';
COMMENT ON COLUMN atum.ticket_comments.body_full IS 'E-mail comments: the whole plain text, with the quoted history and signature that body leaves out. NULL when nothing was left out, and for comments not written by mail.';

ALTER TABLE atum.organizations
    ADD COLUMN mail_tickets_per_sender_hour integer NOT NULL DEFAULT 20
        CONSTRAINT organizations_mail_tickets_per_sender_hour_range CHECK (mail_tickets_per_sender_hour BETWEEN 1 AND 10000);
COMMENT ON COLUMN atum.organizations.mail_tickets_per_sender_hour IS 'At most this many tickets are opened by mail from one sender address per hour; further new messages are recorded as dropped_rate_cap (replies to existing tickets are not capped).';

CREATE TABLE atum.mail_sender_windows (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    sender          text NOT NULL CONSTRAINT mail_sender_windows_sender_length CHECK (length(sender) BETWEEN 1 AND 320),
    window_started_at timestamptz NOT NULL,
    tickets         integer NOT NULL CONSTRAINT mail_sender_windows_tickets_nonnegative CHECK (tickets >= 0),
    PRIMARY KEY (organization_id, sender)
);
ALTER TABLE atum.mail_sender_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.mail_sender_windows FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.mail_sender_windows IS 'Internal: tickets opened by mail per sender address in the current hour-long window (the per-sender rate cap). One row per address; the ingest locks it, so concurrent messages count exactly.';
COMMENT ON COLUMN atum.mail_sender_windows.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.mail_sender_windows.sender IS 'The sender address, lower-case.';
COMMENT ON COLUMN atum.mail_sender_windows.window_started_at IS 'Start of the counting window; a message an hour or more later starts a new one.';
COMMENT ON COLUMN atum.mail_sender_windows.tickets IS 'Tickets opened by this sender in the window.';
