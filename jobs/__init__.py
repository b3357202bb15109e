"""The job worker: what SQL cannot do (IMAP, SMTP, pg_dump, files), claimed from atum.jobs.

``worker.py`` is the loop (`atumdesk worker`), ``registry.py`` what a handler sees, ``handlers.py``
the modules that register handlers; the queue itself is SQL (sql/61_jobs.sql).
"""
