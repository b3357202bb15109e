"""Retention of the backup directory, applied after each successful (and not failed-verified) backup.

Kept: the newest archive of each of the last ``keep_daily`` days that have one, and the newest of
each of the last ``keep_weekly`` ISO weeks that have one (UTC, read from the file names). Everything
else of this database's archives is deleted. Only files named the way `atumdesk backup` names them
(``atumdesk-<database>-<time>.tar``) for this database are ever considered: an operator's own files
in the directory, or another database's archives, are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from atumdesk.backups.archive import FILE_NAME

log = logging.getLogger("atumdesk.backup")


def archive_time(name: str, dbname: str) -> datetime | None:
    """When an archive of ``dbname`` was taken, from its file name; None for any other file."""
    match = FILE_NAME.match(name)
    if not match or match["db"] != dbname:
        return None
    return datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def to_keep(names: Iterable[str], dbname: str, *, keep_daily: int, keep_weekly: int) -> set[str]:
    """Of ``names``, the archives of ``dbname`` that the rule keeps (other names are not judged)."""
    dated = sorted(((t, n) for n in names if (t := archive_time(n, dbname)) is not None), reverse=True)
    keep: set[str] = set()
    days: set[object] = set()
    weeks: set[object] = set()
    for moment, name in dated:  # newest first: the first archive seen of a day or week is its newest
        day, week = moment.date(), moment.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.add(day)
            keep.add(name)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            keep.add(name)
    return keep


def prune(directory: Path, dbname: str, *, keep_daily: int, keep_weekly: int, keep: Path | None = None) -> list[Path]:
    """Delete the archives of ``dbname`` in ``directory`` the rule does not keep (never ``keep``); the deleted."""
    names = [p.name for p in directory.iterdir() if p.is_file() and archive_time(p.name, dbname) is not None]
    kept = to_keep(names, dbname, keep_daily=keep_daily, keep_weekly=keep_weekly)
    deleted = []
    for name in sorted(set(names) - kept):
        path = directory / name
        if keep is not None and path == keep:
            continue
        path.unlink(missing_ok=True)
        deleted.append(path)
        log.info("retention deleted backup %s", path, extra={"file": str(path)})
    return deleted
