"""The attachment store: files under ``<data dir>/attachments``, content-addressed by SHA-256.

A file with hash ``abcd…`` lives at ``ab/cd/abcd…``; its name, type and who may see it are a row of
``atum.attachments`` (sql/57_api_attachments.sql). Nothing the client says ever becomes part of a
path, so hostile names cannot reach the file system.

Writing is crash-safe and follows one order: the bytes go to a temporary file in ``tmp/`` (hashed
and counted on the way), are fsynced, and are renamed into place (directory fsynced) while the store
lock is held in shared mode; only then is the row inserted and committed. A crash leaves at worst a
file without a row, never a row without its file, and :func:`sweep` removes such orphans. The sweep
holds the same lock exclusively while it decides, so it cannot delete a file an upload has just
found in place and is about to reference.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atumdesk.db import connect
from atumdesk.queries import query

log = logging.getLogger("atumdesk.attachments")

TEMP_DIR = "tmp"
TEMP_PREFIX = "upload-"
TEMP_SUFFIX = ".part"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_FAN_OUT = re.compile(r"^[0-9a-f]{2}$")
# Readable by the service's group (e.g. nginx serving X-Accel-Redirect hand-offs), nobody else.
FILE_MODE = 0o640
DIR_MODE = 0o750
# A file younger than this is never swept: it may belong to an upload still in flight.
DEFAULT_MIN_AGE = 3600.0
SWEEP_BATCH = 1000


class TooLarge(Exception):
    """The upload went past the size limit."""


def relative_path(sha256_hex: str) -> str:
    """Where a file lives inside the store, e.g. ``ab/cd/abcd…`` (also the X-Accel-Redirect suffix)."""
    if not SHA256_HEX.match(sha256_hex):
        raise ValueError(f"not a SHA-256 in lower-case hex: {sha256_hex[:80]!r}")
    return f"{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


def stored_path(root: Path, sha256_hex: str) -> Path:
    """The path of the stored file with this hash (whether or not it exists)."""
    return root / relative_path(sha256_hex)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """Create ``path`` and missing parents, each new entry made durable in its parent."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # a concurrent upload made it; it fsyncs its parent itself
        _fsync_dir(directory.parent)


class Upload:
    """A file being received: written to ``tmp/`` while its SHA-256 and size are computed.

    Call :meth:`write` per chunk, :meth:`finish` when the last one arrived, :func:`place` to put it
    in the store, and :meth:`discard` in any case (a no-op once the file is placed).
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        temp_dir = root / TEMP_DIR
        _make_dirs(temp_dir)
        # Inside the store, so that the final rename is atomic (same file system).
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=temp_dir)
        os.fchmod(fd, FILE_MODE)
        self.path: Path | None = Path(name)
        self._file = os.fdopen(fd, "wb")

    @property
    def sha256(self) -> bytes:
        """The SHA-256 of what was written so far."""
        return self._hash.digest()

    @property
    def sha256_hex(self) -> str:
        """The SHA-256 in lower-case hex (the store key)."""
        return self._hash.hexdigest()

    def write(self, chunk: bytes) -> None:
        """Append a chunk; raises :class:`TooLarge` (writing nothing) past the limit."""
        if self.size + len(chunk) > self.max_bytes:
            raise TooLarge(self.max_bytes)
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        """Flush and fsync the temporary file (slow: run it in a thread)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def discard(self) -> None:
        """Remove the temporary file, if it is still there."""
        if not self._file.closed:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _holds(path: Path, sha256: bytes, size: int) -> bool:
    """Whether ``path`` is a file with exactly this content (its hash is checked, not assumed)."""
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size != size:
                return False
            return hashlib.file_digest(file, "sha256").digest() == sha256
    except FileNotFoundError:
        return False


def place(upload: Upload) -> Path:
    """Put a finished upload into the store and return its path (slow: run it in a thread).

    Call it with the store lock held (``api.attachment_store_lock``) and insert the row in the same
    transaction. When the same content is stored already (its hash checked, not assumed), the upload
    is dropped and the stored file's modification time refreshed, which keeps it out of reach of the
    sweep's age rule too.
    """
    if upload.path is None:
        raise RuntimeError("the upload was discarded")
    final = stored_path(upload.root, upload.sha256_hex)
    if _holds(final, upload.sha256, upload.size):
        os.utime(final)
        upload.discard()
        return final
    # Not there, or a damaged copy: ours replaces it.
    _make_dirs(final.parent)
    os.replace(upload.path, final)
    upload.path = None
    _fsync_dir(final.parent)
    return final


@dataclass
class SweepReport:
    """What a sweep did."""

    orphans_removed: int = 0
    temp_removed: int = 0
    bytes_freed: int = 0
    files_kept: int = 0


def _old(path: Path, cutoff: float) -> int | None:
    """The size of a regular file last modified before ``cutoff``; None otherwise (or gone)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not path.is_file() or path.is_symlink() or info.st_mtime >= cutoff:
        return None
    return info.st_size


def _stored_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Every file of the store layout (``ab/cd/abcd…``); anything else is not ours to judge."""
    for first in sorted(root.iterdir()):
        if not _FAN_OUT.match(first.name) or not first.is_dir() or first.is_symlink():
            continue
        for second in sorted(first.iterdir()):
            if not _FAN_OUT.match(second.name) or not second.is_dir() or second.is_symlink():
                continue
            prefix = first.name + second.name
            for entry in sorted(second.iterdir()):
                if SHA256_HEX.match(entry.name) and entry.name.startswith(prefix):
                    yield entry, entry.name


def _sweep_batch(conn: Any, batch: list[tuple[Path, str]], cutoff: float, report: SweepReport) -> None:
    with conn.transaction():
        conn.execute(query("attachment_store_lock_exclusive"))
        rows = conn.execute(query("attachment_orphans"),
                            {"candidates": [bytes.fromhex(sha) for _, sha in batch]}).fetchall()
        orphans = {row[0].hex() for row in rows}
        for path, sha in batch:
            if sha not in orphans:
                report.files_kept += 1
                continue
            # Looked at again under the lock: an upload that found it in place refreshed its time.
            size = _old(path, cutoff)
            if size is None:
                report.files_kept += 1
                continue
            path.unlink(missing_ok=True)
            report.orphans_removed += 1
            report.bytes_freed += size
            log.info("removed orphan attachment file %s (%d bytes)", sha, size)


def sweep(root: Path, owner_conninfo: str, *, min_age: float = DEFAULT_MIN_AGE,
          now: float | None = None) -> SweepReport:
    """Remove stored files no attachment row references and leftover temporary files, all older
    than ``min_age`` seconds. Runs as the owner (it must see every organization's rows)."""
    report = SweepReport()
    if not root.is_dir():
        return report
    cutoff = (time.time() if now is None else now) - min_age
    temp_dir = root / TEMP_DIR
    if temp_dir.is_dir():
        for entry in temp_dir.iterdir():
            if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                size = _old(entry, cutoff)
                if size is not None:
                    entry.unlink(missing_ok=True)
                    report.temp_removed += 1
                    report.bytes_freed += size
    conn: Any = None
    batch: list[tuple[Path, str]] = []
    try:
        for path, sha in _stored_files(root):
            if _old(path, cutoff) is None:
                report.files_kept += 1
                continue
            batch.append((path, sha))
            if len(batch) == SWEEP_BATCH:
                conn = conn or connect(owner_conninfo, "the owner (atum_owner)", autocommit=True)
                _sweep_batch(conn, batch, cutoff, report)
                batch = []
        if batch:
            conn = conn or connect(owner_conninfo, "the owner (atum_owner)", autocommit=True)
            _sweep_batch(conn, batch, cutoff, report)
    finally:
        if conn is not None:
            conn.close()
    return report
