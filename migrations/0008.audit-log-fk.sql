-- The audit log's foreign key to organizations checked every audit row (a locking lookup per row,
-- about a third of the cost of auditing a bulk statement). It adds nothing: audit rows are written
-- only by atum_private.audit_append, which first locks (or creates) the organization's chain head
-- in atum.audit_heads, and that table keeps its foreign key to organizations. So an organization
-- with audit rows still cannot be deleted, and no audit row can name an unknown organization.
-- depends: 0007.sla-sweep

ALTER TABLE atum.audit_log DROP CONSTRAINT audit_log_organization_id_fkey;
COMMENT ON COLUMN atum.audit_log.organization_id IS 'Tenant. Checked through the chain head: atum.audit_heads references organizations, and every audit row is appended under its head.';
