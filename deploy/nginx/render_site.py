#!/usr/bin/env python3
"""Render the nginx site template (deploy/nginx/atumdesk.conf) with the operator's values.

    deploy/nginx/render_site.py VALUES.env [TEMPLATE] > /etc/nginx/sites-available/atumdesk

VALUES.env holds NAME=value lines (see deploy/nginx/site.env). Every ``${NAME}`` placeholder of the
template (capitals only: nginx's own variables are lower-case) is replaced by its value. A
placeholder without a value, a value nobody uses, or a value that could change the meaning of the
configuration (spaces, quotes, ``;``, braces, ``#``, ``$``) is refused with a one-line error and
exit status 2, and nothing is printed. Standard library only, so it runs without the app installed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

TEMPLATE = Path(__file__).resolve().with_name("atumdesk.conf")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# One nginx word: no whitespace, quoting, statement or block syntax, comments or variables.
SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/\[\]@%+=,~-]+")


class RenderError(ValueError):
    """The values do not fit the template."""


def parse_values(text: str) -> dict[str, str]:
    """NAME=value lines; blank lines and # comments are skipped."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not NAME.fullmatch(name):
            raise RenderError(f"line {number}: expected NAME=value, got {line[:80]!r}")
        if name in values:
            raise RenderError(f"line {number}: {name} is set twice")
        values[name] = value
    return values


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with every placeholder replaced; RenderError names the first problem."""
    used = set(PLACEHOLDER.findall(template))
    missing = sorted(used - values.keys())
    if missing:
        raise RenderError(f"no value for {', '.join(missing)}")
    unused = sorted(values.keys() - used)
    if unused:
        raise RenderError(f"{', '.join(unused)} is not a placeholder of the template (a typo?)")
    for name in sorted(used):
        if not SAFE_VALUE.fullmatch(values[name]):
            raise RenderError(f"{name}={values[name]!r}: a value must be one word of letters, digits and . : / - _ "
                              "(no spaces, quotes, ';', braces, '#' or '$')")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def main(argv: list[str]) -> int:
    """Command line: print the rendered site, or one line on stderr and exit status 2."""
    if len(argv) not in (1, 2) or argv[0] in ("-h", "--help"):
        print("usage: render_site.py VALUES.env [TEMPLATE]  (prints the nginx site)", file=sys.stderr)
        return 2
    try:
        values = parse_values(Path(argv[0]).read_text(encoding="utf-8"))
        template = Path(argv[1] if len(argv) > 1 else TEMPLATE).read_text(encoding="utf-8")
        sys.stdout.write(render(template, values))
    except (OSError, UnicodeDecodeError, RenderError) as exc:
        print(f"render_site: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
