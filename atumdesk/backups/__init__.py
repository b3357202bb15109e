"""Backups (SPEC 10): `atumdesk backup`, `atumdesk restore FILE`, the daily backup.run job.

- :mod:`atumdesk.backups.archive` — the archive format and its checks;
- :mod:`atumdesk.backups.create` — one consistent archive of database, roles and attachments;
- :mod:`atumdesk.backups.verify` — the archive restored into a scratch database and compared;
- :mod:`atumdesk.backups.restore` — an archive back into an empty instance;
- :mod:`atumdesk.backups.retention` — which archives of the backup directory are kept.

Point-in-time recovery (WAL archiving and pg_basebackup) is PostgreSQL's own: see
docs/operations.md and deploy/postgresql/atumdesk.conf.
"""

from __future__ import annotations

from atumdesk.backups.archive import ArchiveError, BackupError

__all__ = ["ArchiveError", "BackupError"]
