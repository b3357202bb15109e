-- Mailboxes: the organization's IMAP inboxes that mail is fetched from (the worker and ingestion
-- come with the e-mail issue; admins manage the mailboxes through the API now). The password is
-- encrypted by the application before it reaches the database (atumdesk/secrets.py) and the app
-- role cannot read the encrypted value back: it is write-only through the API.
-- depends: 0010.admin

CREATE TYPE atum.mail_security AS ENUM ('tls', 'starttls');
COMMENT ON TYPE atum.mail_security IS 'How a mail connection is secured: tls (implicit TLS, e.g. IMAPS 993) or starttls (upgrade on the plain port, e.g. 143).';

CREATE TABLE atum.mailboxes (
    organization_id         bigint NOT NULL REFERENCES atum.organizations (id),
    id                      bigint GENERATED ALWAYS AS IDENTITY,
    name                    text NOT NULL CONSTRAINT mailboxes_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    address                 atum.email NOT NULL,
    imap_host               text NOT NULL
        CONSTRAINT mailboxes_imap_host_format CHECK (imap_host ~ '^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$'),
    imap_port               integer NOT NULL DEFAULT 993 CONSTRAINT mailboxes_imap_port_range CHECK (imap_port BETWEEN 1 AND 65535),
    imap_security           atum.mail_security NOT NULL DEFAULT 'tls',
    imap_username           text NOT NULL
        CONSTRAINT mailboxes_imap_username_length CHECK (length(imap_username) BETWEEN 1 AND 320 AND imap_username !~ '[[:cntrl:]]'),
    imap_password_encrypted bytea CONSTRAINT mailboxes_imap_password_encrypted_length CHECK (length(imap_password_encrypted) <= 4096),
    has_password            boolean GENERATED ALWAYS AS (imap_password_encrypted IS NOT NULL) STORED,
    imap_folder             text NOT NULL DEFAULT 'INBOX'
        CONSTRAINT mailboxes_imap_folder_format CHECK (length(imap_folder) BETWEEN 1 AND 200 AND imap_folder !~ '[[:cntrl:]]'),
    processed_folder        text
        CONSTRAINT mailboxes_processed_folder_format CHECK (length(processed_folder) BETWEEN 1 AND 200 AND processed_folder !~ '[[:cntrl:]]'),
    is_active               boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT mailboxes_address_key UNIQUE (organization_id, address)
);
ALTER TABLE atum.mailboxes ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.mailboxes FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.mailboxes IS 'IMAP mailboxes of an organization that incoming mail is fetched from; managed by admins.';
COMMENT ON COLUMN atum.mailboxes.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.mailboxes.id IS 'Mailbox id.';
COMMENT ON COLUMN atum.mailboxes.name IS 'What admins call it, e.g. Support inbox.';
COMMENT ON COLUMN atum.mailboxes.address IS 'The address customers write to (lower-case); unique per organization.';
COMMENT ON COLUMN atum.mailboxes.imap_host IS 'IMAP server host name or address.';
COMMENT ON COLUMN atum.mailboxes.imap_port IS 'IMAP port: 993 for tls, 143 for starttls, usually.';
COMMENT ON COLUMN atum.mailboxes.imap_security IS 'tls or starttls; plain text is not offered.';
COMMENT ON COLUMN atum.mailboxes.imap_username IS 'IMAP login name.';
COMMENT ON COLUMN atum.mailboxes.imap_password_encrypted IS 'IMAP password, encrypted by the application (AES-GCM, key outside the database); never readable by atum_app.';
COMMENT ON COLUMN atum.mailboxes.has_password IS 'Whether a password is stored (what the API shows instead of the password).';
COMMENT ON COLUMN atum.mailboxes.imap_folder IS 'Folder to fetch from.';
COMMENT ON COLUMN atum.mailboxes.processed_folder IS 'Folder ingested messages are moved to; NULL: they are flagged as seen and stay.';
COMMENT ON COLUMN atum.mailboxes.is_active IS 'Inactive mailboxes are not polled.';
COMMENT ON COLUMN atum.mailboxes.created_at IS 'When it was added.';
COMMENT ON COLUMN atum.mailboxes.updated_at IS 'Last change.';
COMMENT ON CONSTRAINT mailboxes_address_key ON atum.mailboxes IS 'One mailbox per address in an organization.';
