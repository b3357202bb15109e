"""Stored secrets: encrypted with a key outside the database, bound to their kind of field."""

from __future__ import annotations

from pathlib import Path

import pytest

from atumdesk import secrets
from atumdesk.errors import AtumError, SettingsError
from atumdesk.settings import load


def test_a_key_file_is_made_once_private_and_round_trips_secrets(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATUM_SECRET_KEY", raising=False)
    settings = load({"ATUM_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError):
        secrets.load_key(settings, create=False)
    key = secrets.load_key(settings)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert secrets.load_key(settings) == key
    stored = secrets.encrypt(key, "pässwörd", "mailbox:imap_password")
    assert b"p\xc3\xa4ssw" not in stored and stored != secrets.encrypt(key, "pässwörd", "mailbox:imap_password")
    assert secrets.decrypt(key, stored, "mailbox:imap_password") == "pässwörd"
    with pytest.raises(AtumError):
        secrets.decrypt(key, stored, "smtp:password")  # bound to its kind of field
    with pytest.raises(AtumError):
        secrets.decrypt(bytes(32), stored, "mailbox:imap_password")  # another key


def test_the_key_may_come_from_the_environment_and_bad_keys_are_named(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load({"ATUM_DATA_DIR": str(tmp_path)})
    monkeypatch.setenv("ATUM_SECRET_KEY", "too-short")
    with pytest.raises(SettingsError, match="ATUM_SECRET_KEY"):
        secrets.load_key(settings)
    monkeypatch.setenv("ATUM_SECRET_KEY", "A" * 43)
    assert secrets.load_key(settings) == bytes(32) and not (tmp_path / "secret.key").exists()
