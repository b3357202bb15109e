-- Auto-close (SPEC 6): pg_cron closes RESOLVED tickets after the organization's auto_close_days.
-- The job's cost follows the resolved tickets, not the table: a partial index.
-- depends: 0005.sla-clock

CREATE INDEX tickets_resolved_idx ON atum.tickets (resolved_at) WHERE status = 'RESOLVED';
COMMENT ON INDEX atum.tickets_resolved_idx IS 'RESOLVED tickets by resolution time, for the auto-close job.';
