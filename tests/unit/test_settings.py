"""Settings come from the environment, default to the embedded instance, and reject nonsense."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from atumdesk import PROJECT_ROOT
from atumdesk.errors import SettingsError
from atumdesk.settings import load


def test_defaults_point_at_the_embedded_instance_under_var() -> None:
    s = load({})
    assert s.data_dir == PROJECT_ROOT / "var"
    app = conninfo_to_dict(s.database_url)
    assert app == {"host": str(PROJECT_ROOT / "var" / "pg" / "run"), "port": "5432", "user": "atum_app",
                   "dbname": "atumdesk"}
    assert conninfo_to_dict(s.owner_database_url)["user"] == "atum_owner"
    assert conninfo_to_dict(s.admin_database_url)["dbname"] == "postgres"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)


def test_the_owner_follows_the_database_named_by_the_app_url(tmp_path: Path) -> None:
    s = load({"ATUM_DATA_DIR": str(tmp_path), "ATUM_DATABASE_URL": "postgresql://atum_app@db.internal/helpdesk"})
    assert s.database_name == "helpdesk"
    assert conninfo_to_dict(s.owner_database_url)["dbname"] == "helpdesk"
    assert s.socket_dir == tmp_path / "pg" / "run"


@pytest.mark.parametrize(("env", "message"), [
    ({"ATUM_PORT": "0"}, "ATUM_PORT must be between 1 and 65535"),
    ({"ATUM_PORT": "8o8o"}, "ATUM_PORT must be a whole number"),
    ({"ATUM_DATABASE_URL": "postgresql://[broken"}, "ATUM_DATABASE_URL is not a valid PostgreSQL connection string"),
    ({"ATUM_ADMIN_DATABASE_URL": "nonsense"}, "ATUM_ADMIN_DATABASE_URL is not a valid"),
])
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(env)
