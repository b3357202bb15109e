"""ATUM DESK: command line, settings, embedded instance and database tooling."""

from __future__ import annotations

from pathlib import Path

#: The checkout the package runs from: `sql/`, `migrations/` and `deploy/` live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
