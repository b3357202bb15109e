"""Secrets at rest: what the database stores of mail passwords is encrypted here, with a key that
never enters the database (AES-256-GCM, a fresh nonce per value).

The key is ATUM_SECRET_KEY (32 bytes, base64), or else the file ``<data dir>/secret.key``, created
with mode 0600 the first time one is needed. Back the key up with the database: without it the
stored passwords cannot be read and must be entered again.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atumdesk.errors import AtumError, SettingsError
from atumdesk.settings import Settings

VERSION = b"\x01"  # format of the stored value: version, 12-byte nonce, ciphertext with tag
KEY_FILE = "secret.key"


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise SettingsError(f"{where} is not base64") from None
    if len(key) != 32:
        raise SettingsError(f"{where} must hold 32 bytes (base64), not {len(key)}")
    return key


def load_key(settings: Settings, *, create: bool = True) -> bytes:
    """The encryption key: ATUM_SECRET_KEY, else the key file (made on first use when ``create``)."""
    if os.environ.get("ATUM_SECRET_KEY"):
        return _decode(os.environ["ATUM_SECRET_KEY"], "ATUM_SECRET_KEY")
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise SettingsError(f"no secret key: set ATUM_SECRET_KEY or restore {path}")
        _create(path)
    return _decode(path.read_text(), str(path))


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first: use theirs
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def encrypt(key: bytes, plaintext: str, context: str) -> bytes:
    """``plaintext`` encrypted for storage; ``context`` (e.g. "mailbox:imap") is authenticated too,
    so a value cannot be moved to another kind of field."""
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())


def decrypt(key: bytes, stored: bytes, context: str) -> str:
    """The plaintext of a stored value; AtumError when the key or context do not match."""
    if not stored.startswith(VERSION) or len(stored) < 1 + 12 + 16:
        raise AtumError("stored secret has an unknown format")
    try:
        return AESGCM(key).decrypt(stored[1:13], stored[13:], context.encode()).decode()
    except InvalidTag:
        raise AtumError("stored secret cannot be decrypted with this key (was ATUM_SECRET_KEY changed?)") from None
