"""The backup archive: one tar file, checked member by member against its manifest before use.

Members, in this order:

- ``database.dump`` — ``pg_dump -Fc`` of the application database (taken as the owner, which
  bypasses row-level security, from the snapshot the manifest's checksums were computed in);
- ``roles.sql`` — ``pg_dumpall --roles-only --no-role-passwords``;
- ``attachments/ab/cd/abcd…`` — every stored file the dump's ``atum.attachments`` rows reference;
- ``manifest.json`` — last, because it lists every other member with its size and SHA-256, plus the
  versions (app, migrations, PostgreSQL), and per table the row count and a checksum of the rows.

Reading trusts nothing: member names must be one of the shapes above (no path of the archive ever
reaches the file system otherwise), only regular files, each listed exactly once in the manifest
with the size and SHA-256 it has, and every attachment's content must hash to its name. A truncated
or altered archive fails with one line saying what is wrong, before anything is restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from atumdesk.errors import AtumError

FORMAT = "atumdesk-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
ROLES = "roles.sql"
ATTACHMENT_MEMBER = re.compile(r"^attachments/([0-9a-f]{2})/([0-9a-f]{2})/(\1\2[0-9a-f]{60})$")
#: Archives written by `atumdesk backup`: atumdesk-<database>-<UTC time>.tar (retention reads the time).
FILE_NAME = re.compile(r"^atumdesk-(?P<db>[A-Za-z0-9_.-]+)-(?P<stamp>[0-9]{8}T[0-9]{6}Z)(-[0-9]{1,4})?\.tar$")
CHUNK = 1024 * 1024
MANIFEST_MAX_BYTES = 64 * 1024 * 1024


class BackupError(AtumError):
    """A backup, restore or verification could not be done (one line for the operator)."""


class ArchiveError(BackupError):
    """The file is not a complete, unaltered ATUM DESK backup."""


Progress = Callable[[int], Any]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file in hex."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class _HashingWriter:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)


class _HashingReader:
    """A read-only file that hashes what is read from it (the tar writer reads members through it)."""

    def __init__(self, file: IO[bytes], progress: Progress | None) -> None:
        self.file = file
        self.hash = hashlib.sha256()
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.hash.update(data)
        if self.progress is not None:
            self.progress(len(data))
        return data


@dataclass
class Writer:
    """Writes an archive to ``<final>.partial`` and renames it into place when complete."""

    final: Path
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.partial = self.final.with_name(f".{self.final.name}.partial")
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._out = _HashingWriter(self._file)
        # Stream mode: written front to back, so the archive's hash is computed on the way.
        self._tar = tarfile.open(fileobj=self._out, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]  # noqa: SIM115

    def add_file(self, name: str, path: Path, *, expected_sha256: str | None = None,
                 progress: Progress | None = None) -> str:
        """Add a file as member ``name``; its SHA-256 (checked against ``expected_sha256`` if given)."""
        with path.open("rb") as source:
            size = os.fstat(source.fileno()).st_size
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, 0o600, 0
            reader = _HashingReader(source, progress)
            self._tar.addfile(info, reader)  # type: ignore[arg-type]
            # tarfile reads exactly info.size bytes: a file that changed size is caught here.
            if source.read(1):
                raise BackupError(f"{path} grew while it was being archived")
        digest = reader.hash.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise BackupError(f"stored file {path} does not hold the content its name says (SHA-256 {digest}): "
                              "the attachment store is damaged")
        self.members[name] = {"size": size, "sha256": digest}
        return digest

    def add_manifest(self, manifest: dict[str, Any]) -> None:
        """Add the manifest (last), listing every member added before it."""
        data = json.dumps({**manifest, "members": self.members}, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o600, 0
        self._tar.addfile(info, io.BytesIO(data))

    def commit(self) -> tuple[int, str]:
        """Close, fsync and rename into place; the archive's size and SHA-256."""
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.final)
        fd = os.open(self.final.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self._out.size, self._out.hash.hexdigest()

    def abort(self) -> None:
        """Drop the partial file (nothing that looks like a backup is left behind)."""
        with contextlib.suppress(Exception):  # already broken: the file is removed anyway
            self._tar.close()
        if not self._file.closed:
            self._file.close()
        self.partial.unlink(missing_ok=True)


@dataclass
class Unpacked:
    """A checked archive: its manifest and where the wanted members were written."""

    manifest: dict[str, Any]
    dump: Path | None = None
    roles: Path | None = None
    attachments: dict[str, Path] = field(default_factory=dict)


def _member_kind(name: str) -> str:
    if name in (MANIFEST, DUMP, ROLES):
        return name
    if ATTACHMENT_MEMBER.match(name):
        return "attachment"
    raise ArchiveError(f"unexpected member {name[:100]!r}")


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise ArchiveError("it has no manifest.json (not an ATUM DESK backup, or cut short)") from None
    if not member.isfile() or member.size > MANIFEST_MAX_BYTES:
        raise ArchiveError("its manifest.json is not a regular file of sensible size")
    handle = tar.extractfile(member)
    assert handle is not None
    try:
        manifest = json.loads(handle.read())
    except (ValueError, UnicodeDecodeError):
        raise ArchiveError("its manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError("its manifest.json is not an ATUM DESK backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"backup format version {manifest.get('format_version')!r} is not supported "
                           f"(this ATUM DESK reads version {FORMAT_VERSION})")
    members = manifest.get("members")
    if not isinstance(members, dict) or DUMP not in members or ROLES not in members:
        raise ArchiveError("its manifest lists no database dump")
    return manifest


def unpack(path: Path, dest: Path, *, attachments: bool, progress: Progress | None = None) -> Unpacked:
    """Check every member of the archive at ``path`` against its manifest, writing the dump, the
    roles and (when ``attachments``) the attachment files under ``dest`` on the way.

    Raises :class:`ArchiveError` (nothing outside ``dest`` touched) when anything is wrong.
    """
    if not path.exists():
        raise ArchiveError("no such file")
    if not path.is_file():
        raise ArchiveError("not a file")
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 (closed by the with block below)
    except tarfile.TarError as exc:
        raise ArchiveError(f"not a backup archive ({exc})") from None
    except OSError as exc:
        raise ArchiveError(f"cannot read it: {exc.strerror or exc}") from None
    try:
        with tar:
            try:
                members = tar.getmembers()
            except (tarfile.TarError, EOFError) as exc:
                raise ArchiveError(f"the archive is damaged or cut short ({exc})") from None
            manifest = _read_manifest(tar)
            listed: dict[str, Any] = manifest["members"]
            result = Unpacked(manifest)
            seen: set[str] = set()
            for member in members:
                kind = _member_kind(member.name)
                if kind == MANIFEST:
                    continue
                if member.name in seen or not member.isfile():
                    raise ArchiveError(f"member {member.name} is duplicated or not a regular file")
                seen.add(member.name)
                expected = listed.get(member.name)
                if not isinstance(expected, dict):
                    raise ArchiveError(f"member {member.name} is not listed in the manifest")
                target: Path | None = None
                if kind == DUMP:
                    target = result.dump = dest / DUMP
                elif kind == ROLES:
                    target = result.roles = dest / ROLES
                elif attachments:
                    target = dest / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    result.attachments[member.name.rsplit("/", 1)[1]] = target
                digest, size = _copy_member(tar, member, target, progress)
                if size != expected.get("size") or digest != expected.get("sha256"):
                    raise ArchiveError(f"member {member.name} does not match its checksum in the manifest "
                                       "(the archive was altered or damaged)")
                if kind == "attachment" and digest != member.name.rsplit("/", 1)[1]:
                    raise ArchiveError(f"attachment {member.name} does not hold the content its name says")
            missing = sorted(set(listed) - seen)
            if missing:
                raise ArchiveError(f"{len(missing)} member(s) listed in the manifest are missing, e.g. {missing[0]} "
                                   "(the archive is incomplete)")
            return result
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"the archive is damaged or cut short ({exc})") from None


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path | None,
                 progress: Progress | None) -> tuple[str, int]:
    source = tar.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    size = 0
    out = target.open("wb") if target is not None else None
    try:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
            if progress is not None:
                progress(len(chunk))
    finally:
        if out is not None:
            out.close()
    return digest.hexdigest(), size
