"""The SQL the Python tooling runs, loaded by name from ``queries.sql`` (no SQL in Python strings)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import LiteralString, cast

_BLOCK = re.compile(r"^-- ([a-z_]+) --$", re.MULTILINE)


@cache
def _load(path: Path) -> dict[str, str]:
    text = path.read_text()
    parts = _BLOCK.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


DEFAULT_FILE = Path(__file__).with_name("queries.sql")


def query(name: str, path: Path = DEFAULT_FILE) -> LiteralString:
    """The query block called ``name`` in ``path`` (raises KeyError for an unknown name)."""
    return cast(LiteralString, _load(path)[name])
