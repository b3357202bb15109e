-- Reporting access per organization (SPEC 3): which roles may read which organizations through
-- the reporting views. Functions, policies and views are in sql/70_reporting.sql.
-- depends: 0001.core-schema

CREATE TABLE atum.reporting_grants (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    role_name       name NOT NULL,
    granted_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, role_name)
);
CREATE INDEX reporting_grants_role_idx ON atum.reporting_grants (role_name, organization_id);
COMMENT ON TABLE atum.reporting_grants IS 'Organizations a reporting role (atum_reporting or a role granted it, e.g. a BI tool) may read through the reporting views. Managed with api.grant_reporting / api.revoke_reporting; enforced by RLS.';
COMMENT ON COLUMN atum.reporting_grants.organization_id IS 'Tenant the role may read.';
COMMENT ON COLUMN atum.reporting_grants.role_name IS 'The database role that may read the organization (exactly this role, not its members).';
COMMENT ON COLUMN atum.reporting_grants.granted_at IS 'When access was granted.';

ALTER TABLE atum.reporting_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE atum.reporting_grants FORCE ROW LEVEL SECURITY;
