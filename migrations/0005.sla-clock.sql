-- SLA clock bookkeeping (SPEC 6): the triage target's due time, and pauses while waiting for the
-- customer. Maintained by the state machine and the SLA engine (sql/45_ticket_lifecycle.sql).
-- depends: 0004.ticket-lifecycle

ALTER TABLE atum.tickets
    ADD COLUMN triage_due_at timestamptz,
    ADD COLUMN paused_at timestamptz,
    ADD COLUMN paused_minutes numeric NOT NULL DEFAULT 0
        CONSTRAINT tickets_paused_minutes_nonnegative CHECK (paused_minutes >= 0);
COMMENT ON COLUMN atum.tickets.triage_due_at IS 'Deadline for acceptance (NEW -> ACCEPTED): the organization''s triage target in business time from created_at, so queue time is measured too.';
COMMENT ON COLUMN atum.tickets.paused_at IS 'Since when the resolution clock is paused (WAITING_CUSTOMER); NULL while it runs.';
COMMENT ON COLUMN atum.tickets.paused_minutes IS 'Business minutes the resolution clock was paused so far; resolution_due_at includes them.';
