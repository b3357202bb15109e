"""The systemd units of deploy/systemd: systemd itself accepts them (``systemd-analyze verify``, which
needs no running systemd), they are hardened as docs/operations.md promises, and they start the
commands the CLI really has."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from atumdesk import PROJECT_ROOT
from atumdesk.cli import build_parser
from tests.ops.nginx import required

UNITS = PROJECT_ROOT / "deploy" / "systemd"
SERVE, WORKER = UNITS / "atumdesk-serve.service", UNITS / "atumdesk-worker.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
#: Where the install guide puts the settings and the data (docs/operations.md).
ENV_FILE, DATA_DIR, BACKUP_DIR = "/etc/atumdesk/atumdesk.env", "/var/lib/atumdesk", "/var/backups/atumdesk"


def directives(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` → every value (systemd allows a key several times; an empty value resets)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def analyze() -> str:
    if SYSTEMD_ANALYZE is None:
        reason = "systemd-analyze is missing (Debian package systemd; `make test` installs it)"
        if required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return SYSTEMD_ANALYZE


@pytest.mark.parametrize("unit", [SERVE, WORKER], ids=lambda p: p.name)
def test_systemd_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    """No unknown key, no bad value. The one complaint allowed is that the program is not installed
    on this machine (the tests run from a checkout, not from /opt/atumdesk)."""
    program = shlex.split(directives(unit)["Service.ExecStart"][0])[0]
    result = subprocess.run([analyze(), "verify", "--man=no", str(unit)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if not os.access(program, os.X_OK):
        complaints = [c for c in complaints if c != f"{unit.name}: Command {program} is not executable: "
                                                     "No such file or directory"]
    else:
        assert result.returncode == 0
    assert complaints == []


@pytest.mark.parametrize("unit", [SERVE, WORKER], ids=lambda p: p.name)
def test_systemd_rates_the_units_exposure_low(unit: Path, tmp_path: Path) -> None:
    """`systemd-analyze security` scores exposure from 0 (locked down) to 10; at most 2 here."""
    result = subprocess.run([analyze(), "security", "--offline=yes", "--threshold=20", str(unit)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


@pytest.mark.parametrize(("unit", "command", "writable"), [
    (SERVE, ["serve"], [DATA_DIR]),
    (WORKER, ["worker"], [DATA_DIR, f"-{BACKUP_DIR}"]),
], ids=["serve", "worker"])
def test_the_units_are_hardened_as_documented(unit: Path, command: list[str], writable: list[str]) -> None:
    d = directives(unit)

    def one(key: str) -> str:
        values = d.get(key, [])
        assert len(values) == 1, f"{unit.name}: {key} = {values!r}"
        return values[0]

    assert one("Service.User") == one("Service.Group") == "atumdesk"
    assert one("Service.EnvironmentFile") == ENV_FILE
    assert one("Service.Restart") == "on-failure"
    # Read-only system, writable only the data directory (and the worker's backup directory).
    assert one("Service.ProtectSystem") == "strict"
    assert one("Service.ReadWritePaths").split() == writable
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices", "RestrictSUIDSGID",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "LockPersonality"):
        assert one(f"Service.{key}") == "yes", key
    assert one("Service.CapabilityBoundingSet") == ""  # no capability at all
    assert one("Service.AmbientCapabilities") == ""
    # PostgreSQL first, pulled in if it is not running.
    assert "postgresql.service" in one("Unit.After").split()
    assert "postgresql.service" in one("Unit.Wants").split()
    assert one("Install.WantedBy") == "multi-user.target"
    # Stops cleanly before systemd's SIGKILL: longer than the server's 30 s drain.
    assert int(one("Service.TimeoutStopSec").removesuffix("s")) > 30
    # The command is one the CLI has, without arguments it would refuse.
    program, *args = shlex.split(one("Service.ExecStart"))
    assert program == "/opt/atumdesk/.venv/bin/atumdesk" and args == command
    build_parser().parse_args(args)
