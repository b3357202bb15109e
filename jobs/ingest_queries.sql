-- The queries of inbound mail ingestion (jobs/mail_ingest.py), in named blocks (-- name --),
-- loaded by atumdesk/queries.py. They run as the owner.

-- mail_organization_id --
SELECT o.id FROM atum.organizations o WHERE o.slug = %(slug)s

-- mail_store_lock --
-- The attachment store's lock, shared, from placing the files to committing their rows (the orphan
-- sweeper takes it exclusively; see sql/57_api_attachments.sql).
SELECT pg_advisory_xact_lock_shared(atum.attachment_store_key())

-- mail_ingest --
SELECT atum_private.mail_ingest(%(organization_id)s, %(mailbox_id)s, %(message)s)
