"""The embedded instance decides where its cluster can live for an unprivileged server user."""

from __future__ import annotations

from pathlib import Path

from atumdesk.instance import OsUser, _reachable

NOBODY = OsUser(name="nobody", uid=65534, gid=65534, home="/nonexistent")


def test_a_path_through_a_private_directory_is_unreachable(tmp_path: Path) -> None:
    private = tmp_path / "home"
    (private / "clone" / "var").mkdir(parents=True)
    private.chmod(0o700)
    assert not _reachable(private / "clone" / "var", NOBODY)
    private.chmod(0o755)
    assert _reachable(private / "clone" / "var", NOBODY) == all(
        p.stat().st_mode & 0o001 for p in [tmp_path, *tmp_path.parents])


def test_paths_not_created_yet_are_judged_by_their_existing_ancestors(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    expected = all(p.stat().st_mode & 0o001 for p in tmp_path.parents)
    assert _reachable(open_dir / "not" / "yet", NOBODY) == expected
