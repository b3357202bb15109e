-- A status move is audited once, with its reason, in the ticket's own audit row.
--
-- Before: a move wrote two audit rows, the ticket's UPDATE (status, SLA times) and the INSERT of
-- its row in atum.ticket_status_changes (from, to, reason, actor). That history table is derived:
-- only the state machine's trigger writes it, from the ticket's change in the same statement. Its
-- second audit row was about 0.14 ms of the 1.07 ms an acceptance took, for nothing the first
-- one could not say but the reason.
--
-- Now audit_log has a reason column: an audited change made with a reason (a status move's, set
-- by the state machine's callers in atum.status_reason) carries it, and it is part of the row's
-- hash. atum.ticket_status_changes is no longer audited itself; the ticket's audit row of the move
-- has the actor, the old and the new status and the reason. Existing rows keep their hashes: the
-- hashed content gains the reason only when there is one. Older moves keep their second row.
-- depends: 0022.write-concurrency

ALTER TABLE atum.audit_log
    ADD COLUMN reason text CONSTRAINT audit_log_reason_length CHECK (length(reason) <= 2000);
COMMENT ON COLUMN atum.audit_log.reason IS 'Why the change was made, where a reason was given (a status move''s reason); NULL otherwise. Hashed with the row when present.';

DROP TRIGGER IF EXISTS _900_audit_insert ON atum.ticket_status_changes;
DROP TRIGGER IF EXISTS _900_audit_update ON atum.ticket_status_changes;
DROP TRIGGER IF EXISTS _900_audit_delete ON atum.ticket_status_changes;

-- The hashed content takes the reason now (sql/20_audit.sql); the old signature goes.
DROP FUNCTION IF EXISTS atum_private.audit_payload(bigint, bigint, timestamptz, bigint, atum.user_role, text, text, text,
                                                  text, jsonb, bigint, jsonb, jsonb, bigint);
