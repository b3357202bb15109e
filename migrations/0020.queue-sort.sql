-- The queue's "due soonest" order: each open ticket's next SLA due time, indexed per organization
-- so that a page sorted by it reads only the rows it shows. The key is a function of the ticket's
-- own columns; it lives here rather than in sql/ because the index is built from it: a change
-- to its body needs a migration that rebuilds the index.
-- depends: 0016.mailbox-health

CREATE FUNCTION atum.ticket_due_key(p_status atum.ticket_status, p_triage_due_at timestamptz,
                                    p_first_response_due_at timestamptz, p_first_responded_at timestamptz,
                                    p_resolution_due_at timestamptz, p_paused_at timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- NEW: the triage clock. Accepted and open: the earlier of the first-response clock (until the
    -- first reply) and the resolution clock (unless paused). Anything else has no running clock and
    -- sorts last ('infinity').
    SELECT coalesce(CASE
                        WHEN p_status = 'NEW' THEN p_triage_due_at
                        WHEN p_status IN ('ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER') THEN
                            least(CASE WHEN p_first_responded_at IS NULL THEN p_first_response_due_at END,
                                  CASE WHEN p_paused_at IS NULL THEN p_resolution_due_at END)
                    END,
                    'infinity'::timestamptz)
$$;
COMMENT ON FUNCTION atum.ticket_due_key(atum.ticket_status, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz) IS
    'A ticket''s next SLA due time (triage, first response or resolution, whichever runs and is first), ''infinity'' when no clock runs: the sort key of the queue''s "due soonest" order (index tickets_org_due_idx).';

CREATE INDEX tickets_org_due_idx ON atum.tickets (
    organization_id,
    atum.ticket_due_key(status, triage_due_at, first_response_due_at, first_responded_at, resolution_due_at, paused_at),
    id);
COMMENT ON INDEX atum.tickets_org_due_idx IS 'Tickets by next SLA due time, per organization: the queue sorted "due soonest".';

-- Oldest first reads tickets_org_created_idx backwards; no index needed.
