-- Writers of one organization no longer queue behind each other until commit.
--
-- Before: every new ticket locked its organization's row of atum.ticket_counters, and every
-- audited change locked the organization's single audit chain head, each until commit. All
-- creations of one busy organization ran one at a time (about 530 a second on two cores, however
-- many clients), and 32 concurrent clients made it worse, not better.
--
-- 1. Ticket numbers come from one sequence per organization (atum_private.ticket_numbers_<id>):
--    nextval does not wait for other transactions. A creation that rolls back skips its number,
--    as in most helpdesks; numbers stay unique and increasing per organization.
-- 2. Each organization's audit trail is kept in 16 chains ("lanes") instead of one. A writer
--    appends to lane pg_backend_pid() % 16, so concurrent connections rarely share a head. seq
--    comes from one global sequence, taken under the lane's lock: it increases along every chain
--    and is unique per organization, so timelines still page by it. Existing rows form lane 0;
--    their hashes do not change.
-- depends: 0021.report-histograms

-- Ticket numbers -----------------------------------------------------------------------------
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT o.id, coalesce(c.last_number, 0) AS last_number
          FROM atum.organizations o LEFT JOIN atum.ticket_counters c ON c.organization_id = o.id
    LOOP
        EXECUTE format('CREATE SEQUENCE atum_private.%I AS integer MINVALUE 1 START WITH %s',
                       'ticket_numbers_' || r.id, r.last_number + 1);
        EXECUTE format('COMMENT ON SEQUENCE atum_private.%I IS %L', 'ticket_numbers_' || r.id,
                       format('Ticket numbers of organization %s.', r.id));
    END LOOP;
END
$$;
DROP TABLE atum.ticket_counters;

-- Audit lanes --------------------------------------------------------------------------------
ALTER TABLE atum.audit_heads
    ADD COLUMN lane smallint NOT NULL DEFAULT 0 CONSTRAINT audit_heads_lane_range CHECK (lane BETWEEN 0 AND 15);
ALTER TABLE atum.audit_heads DROP CONSTRAINT audit_heads_pkey;
ALTER TABLE atum.audit_heads ADD PRIMARY KEY (organization_id, lane);
ALTER TABLE atum.audit_heads ALTER COLUMN lane DROP DEFAULT;
COMMENT ON TABLE atum.audit_heads IS 'Internal: the end of each of an organization''s audit chains (lanes). A writer locks its lane''s head until commit, so each chain is in commit order; lets verification detect a truncated tail.';
COMMENT ON COLUMN atum.audit_heads.lane IS 'Which of the organization''s 16 chains: the writing backend''s pid modulo 16.';
COMMENT ON COLUMN atum.audit_heads.last_seq IS 'seq of the last audit row of this lane.';
COMMENT ON COLUMN atum.audit_heads.last_hash IS 'hash of the last audit row of this lane.';

ALTER TABLE atum.audit_log ADD COLUMN lane smallint NOT NULL DEFAULT 0;
ALTER TABLE atum.audit_log ALTER COLUMN lane DROP DEFAULT;
COMMENT ON COLUMN atum.audit_log.lane IS 'The chain of the organization this row belongs to (see atum.audit_heads).';
COMMENT ON COLUMN atum.audit_log.seq IS 'From the global sequence atum.audit_seq, taken under the lane''s lock: unique, and increasing along each chain and over time.';
COMMENT ON COLUMN atum.audit_log.prev_hash IS 'hash of the previous row of the same organization and lane (32 zero bytes for a lane''s first row).';

CREATE SEQUENCE atum.audit_seq AS bigint MINVALUE 1;
DO $$
BEGIN
    PERFORM setval('atum.audit_seq', coalesce((SELECT max(a.seq) FROM atum.audit_log a), 0) + 1, false);
END
$$;
COMMENT ON SEQUENCE atum.audit_seq IS 'seq of new audit rows, for every organization.';

-- Request contexts ---------------------------------------------------------------------------
-- Every request rewrites its backend's row, and every backend that ever authenticated left one:
-- under load the table spread over dozens of mostly dead pages that each statement's policies
-- scanned (a 50-ticket list took 4.6 ms instead of 3.3). Now: a primary key (updates stay HOT,
-- since the key never changes), rows of ended backends purged every minute
-- (atum.request_contexts_purge), and autovacuum as soon as a few hundred versions are dead.
ALTER TABLE atum.request_contexts ADD PRIMARY KEY (backend_pid);
COMMENT ON INDEX atum.request_contexts_pkey IS 'One context per backend; found by pg_backend_pid() whatever the table''s size.';
ALTER TABLE atum.request_contexts SET (autovacuum_vacuum_threshold = 200, autovacuum_vacuum_scale_factor = 0);
ALTER TABLE atum.kb_visitor_contexts SET (autovacuum_vacuum_threshold = 200, autovacuum_vacuum_scale_factor = 0);

-- Live watchers ------------------------------------------------------------------------------
-- A NOTIFY takes a cluster-wide lock at commit and holds it until the commit is on disk, so every
-- change announced on atum_live queued behind the previous one's commit (about a fifth of the
-- rate of ticket creation under load), even when no browser was watching. Each HTTP process now
-- registers the organizations it has sockets for; the live triggers announce only their changes.
CREATE UNLOGGED TABLE atum.live_watchers (
    organization_id bigint NOT NULL,
    listener_pid    integer NOT NULL,
    since           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, listener_pid)
);
ALTER TABLE atum.live_watchers ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.live_watchers FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE atum.live_watchers IS 'Internal: the organizations each HTTP process has live sockets for, by the backend of its LISTEN connection (written by api.live_watch; rows of ended backends purged every minute).';
COMMENT ON COLUMN atum.live_watchers.organization_id IS 'An organization with at least one open live socket in that process.';
COMMENT ON COLUMN atum.live_watchers.listener_pid IS 'pg_backend_pid() of the process''s LISTEN connection.';
COMMENT ON COLUMN atum.live_watchers.since IS 'When the process registered it.';

-- api.ticket_list returns json instead of jsonb (sql/55_api_tickets.sql): a page is built and
-- sent as text in about half the time. CREATE OR REPLACE cannot change a result type.
DROP FUNCTION IF EXISTS api.ticket_list(jsonb);

-- SLA events ---------------------------------------------------------------------------------
-- The foreign key to tickets checked every recorded event with a locking lookup of its ticket:
-- when 10,000 thresholds pass in one sweep, 10,000 row locks on tickets, a fifth of the sweep.
-- Events are written only by the SLA engine (atum_private.sla_record, SECURITY DEFINER; the app
-- may only read them), from timers whose own foreign key to tickets is checked when they are
-- armed, one ticket change at a time. Deleting a ticket deletes its events through a trigger
-- (sql/47_sla_sweep.sql), as ON DELETE CASCADE did; its timers too.
ALTER TABLE atum.sla_events DROP CONSTRAINT sla_events_organization_id_ticket_id_fkey;
-- The same for the internal timers, armed by the engine's triggers from the ticket rows they are
-- fired for (four foreign-key lookups of the ticket just written, on every acceptance).
ALTER TABLE atum.sla_timers DROP CONSTRAINT sla_timers_organization_id_ticket_id_fkey;
COMMENT ON COLUMN atum.sla_events.ticket_id IS 'The ticket (recorded by the SLA engine from the ticket''s timers; deleted with the ticket by a trigger).';
