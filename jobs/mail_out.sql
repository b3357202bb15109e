-- The SQL the outbound mail handlers (jobs/mail_out.py) run, by name. The functions are in
-- sql/63_mail_outbox.sql; the handlers run them on owner connections (ctx.connect()).

-- lock --
-- Held for the connection's life (released when the handler closes it, or when a killed worker's
-- session ends): two workers never hand the same notification to SMTP at the same time.
SELECT pg_try_advisory_lock(hashtextextended(format('atum.mail_outbox:%%s:%%s', %(organization_id)s::bigint, %(id)s::bigint), 0)) AS locked

-- load --
SELECT atum_private.mail_outbox_load(%(organization_id)s, %(id)s) AS row

-- begin --
SELECT atum_private.mail_outbox_begin(%(organization_id)s, %(id)s, %(message_id)s, %(subject)s, %(from_address)s) AS row

-- finish --
SELECT atum_private.mail_outbox_finish(%(organization_id)s, %(id)s, %(error)s) AS done

-- note --
SELECT atum_private.mail_outbox_note(%(organization_id)s, %(id)s, %(error)s)

-- template_failed --
SELECT atum_private.mail_template_failed(%(organization_id)s, %(kind)s::atum.mail_kind, %(error)s)

-- queue_sla --
SELECT atum_private.mail_queue_sla(%(organization_id)s, %(job_id)s, %(event_ids)s) AS queued

-- queue_token --
SELECT atum_private.mail_queue_token(%(organization_id)s, %(job_id)s, %(kind)s::atum.mail_kind, %(user_id)s, %(token)s,
                                     %(invited_by)s) AS id
