-- Mailbox health: what the worker last saw of each mailbox's IMAP server (last poll, last success,
-- last error in plain words) and where it stopped reading (UIDVALIDITY and the last UID handled).
-- Internal: only the worker writes it, as the owner, through atum_private functions
-- (sql/64_mail_poll.sql); admins read it through the mailbox JSON of the API. Not audited: a row
-- changes every minute per mailbox and holds nothing but the worker's bookkeeping.
-- depends: 0012.mail-messages

CREATE TABLE atum.mailbox_health (
    organization_id      bigint NOT NULL,
    mailbox_id           bigint NOT NULL,
    last_poll_at         timestamptz,
    last_success_at      timestamptz,
    last_error           text CONSTRAINT mailbox_health_last_error_length CHECK (length(last_error) <= 1000),
    last_error_at        timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0
        CONSTRAINT mailbox_health_consecutive_failures_nonnegative CHECK (consecutive_failures >= 0),
    last_poll_messages   integer NOT NULL DEFAULT 0
        CONSTRAINT mailbox_health_last_poll_messages_nonnegative CHECK (last_poll_messages >= 0),
    uid_scope            text CONSTRAINT mailbox_health_uid_scope_length CHECK (length(uid_scope) <= 1000),
    uidvalidity          bigint CONSTRAINT mailbox_health_uidvalidity_range CHECK (uidvalidity BETWEEN 1 AND 4294967295),
    last_uid             bigint NOT NULL DEFAULT 0
        CONSTRAINT mailbox_health_last_uid_range CHECK (last_uid BETWEEN 0 AND 4294967295),
    PRIMARY KEY (organization_id, mailbox_id),
    FOREIGN KEY (organization_id, mailbox_id) REFERENCES atum.mailboxes (organization_id, id) ON DELETE CASCADE
);
ALTER TABLE atum.mailbox_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.mailbox_health FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.mailbox_health IS 'Internal: per mailbox, the outcome of the worker''s IMAP polls and the UID it has read up to. Written by atum_private.mailbox_poll_record only; shown to admins in the mailbox JSON.';
COMMENT ON COLUMN atum.mailbox_health.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.mailbox_health.mailbox_id IS 'The mailbox.';
COMMENT ON COLUMN atum.mailbox_health.last_poll_at IS 'When the last poll or connection test ended, well or not.';
COMMENT ON COLUMN atum.mailbox_health.last_success_at IS 'When a poll or connection test last got through (logged in, folder opened, new mail handed to ingestion).';
COMMENT ON COLUMN atum.mailbox_health.last_error IS 'The last failure in plain words for admins, e.g. authentication failed for support@example.com on imap.example.com:993. Never contains the password. Kept after a success: compare last_error_at with last_success_at.';
COMMENT ON COLUMN atum.mailbox_health.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN atum.mailbox_health.consecutive_failures IS 'Failed polls since the last success; pg_cron polls a failing mailbox less often (1, 2, 4 … up to 30 minutes).';
COMMENT ON COLUMN atum.mailbox_health.last_poll_messages IS 'Messages the last poll handed to ingestion (duplicates included).';
COMMENT ON COLUMN atum.mailbox_health.uid_scope IS 'The server, account and folder the UID state belongs to (user@host:port/folder); a change of settings starts afresh.';
COMMENT ON COLUMN atum.mailbox_health.uidvalidity IS 'The folder''s UIDVALIDITY when last_uid was recorded; NULL: no valid UID state (first poll, or the server renumbered the folder), the next poll reads the unseen messages.';
COMMENT ON COLUMN atum.mailbox_health.last_uid IS 'Every message of the folder up to this UID has been ingested and flagged or moved; the next poll reads the UIDs above it.';
