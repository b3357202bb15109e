-- The SLA sweep (SPEC 6): warning times next to the due times, the record of warnings and breaches
-- (once per ticket, clock and kind, by a unique key), and the timers the sweep fires. Timers hold
-- only thresholds that are still ahead of a running clock, so the sweep's cost follows the
-- thresholds crossed, not the number of open tickets. The engine is sql/47_sla_sweep.sql.
-- depends: 0006.auto-close

CREATE TYPE atum.sla_clock AS ENUM ('triage', 'first_response', 'resolution');
COMMENT ON TYPE atum.sla_clock IS 'The three SLA clocks of a ticket: triage (NEW -> ACCEPTED), first response, resolution.';
CREATE TYPE atum.sla_event_kind AS ENUM ('warning', 'breach');
COMMENT ON TYPE atum.sla_event_kind IS 'warning: the organization''s share of the target has passed; breach: the due time has passed.';

ALTER TABLE atum.tickets
    ADD COLUMN triage_warn_at timestamptz,
    ADD COLUMN first_response_warn_at timestamptz,
    ADD COLUMN resolution_warn_at timestamptz;
COMMENT ON COLUMN atum.tickets.triage_warn_at IS 'When the triage clock warns: the organization''s warning share of the triage target after created_at.';
COMMENT ON COLUMN atum.tickets.first_response_warn_at IS 'When the first-response clock warns: the warning share of the target after sla_started_at.';
COMMENT ON COLUMN atum.tickets.resolution_warn_at IS 'When the resolution clock warns: the warning share of the target after sla_started_at, shifted by pauses like resolution_due_at.';

CREATE TABLE atum.sla_events (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id       bigint NOT NULL,
    clock           atum.sla_clock NOT NULL,
    kind            atum.sla_event_kind NOT NULL,
    due_at          timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT sla_events_once UNIQUE (organization_id, ticket_id, clock, kind),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX sla_events_recorded_idx ON atum.sla_events (organization_id, recorded_at);
ALTER TABLE atum.sla_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.sla_events FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.sla_events IS 'SLA warnings and breaches, each recorded exactly once per ticket and clock (unique key), by the pg_cron sweep or when a clock stops or changes after a threshold passed.';
COMMENT ON COLUMN atum.sla_events.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.sla_events.id IS 'Event id.';
COMMENT ON COLUMN atum.sla_events.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum.sla_events.clock IS 'Which clock: triage, first_response or resolution.';
COMMENT ON COLUMN atum.sla_events.kind IS 'warning or breach.';
COMMENT ON COLUMN atum.sla_events.due_at IS 'The threshold that was crossed (warning or due time).';
COMMENT ON COLUMN atum.sla_events.recorded_at IS 'When it was recorded (at most a minute after due_at while the sweep runs).';
COMMENT ON CONSTRAINT sla_events_once ON atum.sla_events IS 'Exactly once per ticket, clock and kind, however many sweeps race.';
COMMENT ON INDEX atum.sla_events_recorded_idx IS 'Recent SLA events of an organization (notifications, reports).';

CREATE TABLE atum.sla_timers (
    organization_id bigint NOT NULL,
    ticket_id       bigint NOT NULL,
    clock           atum.sla_clock NOT NULL,
    kind            atum.sla_event_kind NOT NULL,
    fires_at        timestamptz NOT NULL,
    PRIMARY KEY (organization_id, ticket_id, clock, kind),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX sla_timers_fires_idx ON atum.sla_timers (fires_at);
ALTER TABLE atum.sla_timers ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.sla_timers FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.sla_timers IS 'Internal: thresholds not yet recorded of the running SLA clocks, kept in step with the tickets by a trigger; the sweep fires those whose time has come.';
COMMENT ON COLUMN atum.sla_timers.organization_id IS 'Tenant of the ticket.';
COMMENT ON COLUMN atum.sla_timers.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum.sla_timers.clock IS 'Which clock.';
COMMENT ON COLUMN atum.sla_timers.kind IS 'warning or breach.';
COMMENT ON COLUMN atum.sla_timers.fires_at IS 'The threshold instant.';
COMMENT ON INDEX atum.sla_timers_fires_idx IS 'The sweep reads only the timers that are due.';
