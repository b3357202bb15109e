"""The job worker: what SQL cannot do (IMAP, SMTP, pg_dump, files), claimed from atum.jobs.

The table exists (migrations/0001); the worker and its handlers arrive with the e-mail issue.
"""
