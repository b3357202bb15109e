"""Errors a person can act on: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class AtumError(Exception):
    """An expected failure with a message for the operator (no traceback)."""


class SettingsError(AtumError):
    """A setting is missing or malformed."""


class InstanceError(AtumError):
    """The embedded PostgreSQL instance could not be created, started or stopped."""
