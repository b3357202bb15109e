-- Ticket lifecycle (SPEC 6): status history with reasons, and the organization's reopen and
-- auto-close periods. The state machine itself is in sql/45_ticket_lifecycle.sql.
-- depends: 0003.business-time

ALTER TABLE atum.organizations
    ADD COLUMN reopen_window_days integer NOT NULL DEFAULT 14
        CONSTRAINT organizations_reopen_window_range CHECK (reopen_window_days BETWEEN 0 AND 365),
    ADD COLUMN auto_close_days integer NOT NULL DEFAULT 7
        CONSTRAINT organizations_auto_close_range CHECK (auto_close_days BETWEEN 1 AND 365);
COMMENT ON COLUMN atum.organizations.reopen_window_days IS 'Days after resolution during which the customer may reopen a ticket.';
COMMENT ON COLUMN atum.organizations.auto_close_days IS 'Days after which a RESOLVED ticket the customer did not confirm is closed automatically.';

CREATE TABLE atum.ticket_status_changes (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id       bigint NOT NULL,
    from_status     atum.ticket_status,
    to_status       atum.ticket_status NOT NULL,
    reason          text CONSTRAINT ticket_status_changes_reason_length CHECK (length(reason) <= 2000),
    actor_id        bigint,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, actor_id) REFERENCES atum.users (organization_id, id)
);
CREATE INDEX ticket_status_changes_ticket_idx ON atum.ticket_status_changes (organization_id, ticket_id, changed_at);
ALTER TABLE atum.ticket_status_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.ticket_status_changes FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.ticket_status_changes IS 'Every status move of a ticket with who made it and why (written by the state machine trigger; the ticket timeline reads it).';
COMMENT ON COLUMN atum.ticket_status_changes.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.ticket_status_changes.id IS 'Change id.';
COMMENT ON COLUMN atum.ticket_status_changes.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum.ticket_status_changes.from_status IS 'Status before (NULL when the ticket was opened).';
COMMENT ON COLUMN atum.ticket_status_changes.to_status IS 'Status after.';
COMMENT ON COLUMN atum.ticket_status_changes.reason IS 'Why (required to reject and to reopen).';
COMMENT ON COLUMN atum.ticket_status_changes.actor_id IS 'Who moved it; NULL for the system (pg_cron, e-mail, command line).';
COMMENT ON COLUMN atum.ticket_status_changes.changed_at IS 'When.';
