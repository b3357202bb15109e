-- Category names are unique among siblings, top-level ones included: the unique key compared
-- parent_id with the default NULLS DISTINCT, so two top-level categories could share a name (the
-- admin API would have let an admin create "Hardware" twice). Existing duplicates get their id
-- appended first, so the upgrade cannot fail on old data.
-- depends: 0009.http-api

UPDATE atum.categories c
   SET name = left(c.name, 80) || ' (' || c.id || ')'
 WHERE c.parent_id IS NULL
   AND EXISTS (SELECT 1 FROM atum.categories d
                WHERE d.organization_id = c.organization_id AND d.parent_id IS NULL AND d.name = c.name AND d.id < c.id);

ALTER TABLE atum.categories
    DROP CONSTRAINT categories_name_key,
    ADD CONSTRAINT categories_name_key UNIQUE NULLS NOT DISTINCT (organization_id, parent_id, name);
