-- The queries of jobs/mail_poll.py (the 'mail.poll' handler), by name. The functions are in
-- sql/64_mail_poll.sql; the worker runs them as the owner.

-- lock --
SELECT atum_private.mailbox_poll_lock(%(mailbox_id)s) AS locked

-- unlock --
SELECT atum_private.mailbox_poll_unlock(%(mailbox_id)s)

-- target --
SELECT * FROM atum_private.mailbox_poll_target(%(organization_id)s, %(mailbox_id)s)

-- progress --
SELECT atum_private.mailbox_poll_progress(%(organization_id)s, %(mailbox_id)s, %(uid_scope)s, %(uidvalidity)s,
                                          %(last_uid)s)

-- record --
SELECT atum_private.mailbox_poll_record(%(organization_id)s, %(mailbox_id)s, %(error)s, %(messages)s)

-- continue --
SELECT atum_private.mailbox_poll_continue(%(organization_id)s, %(mailbox_id)s) AS job_id
