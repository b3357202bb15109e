"""The job handler modules: importing one registers its handlers (``@jobs.registry.handler``).

`atumdesk worker` imports every module named here at start, then those named in the environment
variable ``ATUM_WORKER_EXTRA_MODULES`` (comma-separated; the worker tests load their own handlers
that way). The worker claims only the kinds it has handlers for: a job of another kind waits for a
worker that knows it.
"""

from __future__ import annotations

MODULES: tuple[str, ...] = (
    "jobs.mail_out",  # notifications: mail.send, sla.notify, mail.password_reset, mail.invitation
    "jobs.mail_poll",  # incoming mail: mail.poll (IMAP, queued by pg_cron per mailbox)
    "jobs.backup",  # backup.run (queued by pg_cron daily): archive, verification, retention
)
