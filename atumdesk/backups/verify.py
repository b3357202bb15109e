"""The check that a backup actually restores: after each backup, its archive is restored into a
scratch database on the same cluster (``atumdesk_verify_<pid>``) exactly as `atumdesk restore` would
restore the database, every table's row count and row checksum is compared with the manifest —
computed in the dump's own snapshot — and the scratch database is dropped.

Attachments are checked too (each file's SHA-256 against its name and the manifest), without being
written anywhere. A failure raises :class:`BackupError` with one line saying what differs; the
caller records it as an alert (``atum.backup_runs.verification``, /metrics, /readyz).

``ATUM_BACKUP_FAULT=verify.lose_a_row`` (tests only) deletes a row from the scratch copy before the
comparison, as a broken restore would.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from atumdesk.backups.archive import ArchiveError, BackupError, unpack
from atumdesk.backups.restore import drop_database, restore_database
from atumdesk.backups.tools import bar, q
from atumdesk.db import first_line
from atumdesk.settings import Settings

FAULT_ENV = "ATUM_BACKUP_FAULT"


def scratch_name() -> str:
    """The scratch database of this process."""
    return f"atumdesk_verify_{os.getpid()}"


def _lose_a_row(conn: psycopg.Connection[Any]) -> None:
    conn.execute(q("fault_lose_a_row"))


def verify_archive(settings: Settings, path: Path, *, progress: bool = False) -> None:
    """Restore ``path`` into a scratch database and compare; BackupError saying what is wrong."""
    staging = Path(tempfile.mkdtemp(prefix=".verify-", dir=path.parent))
    scratch = scratch_name()
    fault = _lose_a_row if os.environ.get(FAULT_ENV) == "verify.lose_a_row" else None
    try:
        with bar(progress, desc="verifying", total=path.stat().st_size, unit="B", unit_scale=True) as shown:
            unpacked = unpack(path, staging, attachments=False, progress=shown.update)
        drop_database(settings, scratch)  # left over by a verification that was killed
        restore_database(settings, unpacked, scratch, progress=progress, fault=fault)
    except ArchiveError as exc:
        raise BackupError(f"the archive does not check out: {exc}") from None
    except psycopg.Error as exc:
        raise BackupError(f"the scratch restore failed: {first_line(exc)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    drop_database(settings, scratch)
