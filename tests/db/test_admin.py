"""The rules of the admin area that hold in the database for every writer — the API as atum_app,
the command line and psql as the owner: an organization keeps an active admin, deactivation ends
sessions, teams hold staff only, categories form no loops, and refusals name the field."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import Database, Org, build_org


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def refusal(db: Database, token: str, sql: str, params: list[Any]) -> psycopg.Error:
    """The error a statement run as the user of ``token`` raises (nothing is committed)."""
    with db.acting_as(token) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute(sql, params)
    return err.value


def as_user(db: Database, token: str, sql: str, params: list[Any]) -> Any:
    """The first column of a statement run and committed as the user of ``token``."""
    with db.acting_as(token) as conn:
        value = conn.execute(sql, params).fetchone()
        conn.commit()
    assert value is not None
    return next(iter(value.values()))


def add_admin(owner: psycopg.Connection, org: Org, name: str) -> tuple[int, str]:
    """A second admin of the organization with a session; (user id, token)."""
    user_id = owner.execute("SELECT id FROM atum.user_create(%s, %s, 'admin')",
                            [org.slug, f"{name}@{org.slug}.example"]).fetchone()[0]
    token = owner.execute("SELECT atum_private.session_issue(%s, %s)", [org.id, user_id]).fetchone()[0]
    return user_id, token


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(db: Database, org: Org) -> None:
    me = org.users["admin"]
    for change, field in (({"role": "manager"}, "role"), ({"is_active": False}, "is_active")):
        err = refusal(db, org.tokens["admin"], "SELECT api.user_update(%s, %s)", [me, Jsonb(change)])
        assert (err.sqlstate, err.diag.column_name) == ("AT409", field)


def test_the_rule_holds_for_the_owner_and_for_deletes_too(owner: psycopg.Connection, org: Org) -> None:
    for statement in ("UPDATE atum.users SET role = 'agent' WHERE id = %s",
                      "UPDATE atum.users SET is_active = false WHERE id = %s",
                      "DELETE FROM atum.users WHERE id = %s"):
        with pytest.raises(psycopg.Error) as err:
            owner.execute(statement, [org.users["admin"]])
        assert err.value.sqlstate == "AT409", statement
    # All admins at once in one statement: refused as well.
    add_admin(owner, org, "second")
    with pytest.raises(psycopg.Error) as err:
        owner.execute("UPDATE atum.users SET role = 'manager' WHERE organization_id = %s AND role = 'admin'", [org.id])
    assert err.value.sqlstate == "AT409"


def test_with_a_second_admin_an_admin_may_step_down(db: Database, owner: psycopg.Connection, org: Org) -> None:
    add_admin(owner, org, "second")
    user = as_user(db, org.tokens["admin"], "SELECT api.user_update(%s, %s)",
                   [org.users["admin"], Jsonb({"role": "manager"})])
    assert user["role"] == "manager"


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db: Database, owner: psycopg.Connection,
                                                                  org: Org) -> None:
    second, second_token = add_admin(owner, org, "second")
    outcome: dict[str, Any] = {}

    def demote_the_first() -> None:
        with db.connect("atum_app") as conn:
            conn.execute("SELECT api.authenticate(%s)", [second_token])
            try:
                conn.execute("SELECT api.user_update(%s, %s)", [org.users["admin"], Jsonb({"role": "agent"})])
                conn.commit()
                outcome["result"] = "committed"
            except psycopg.Error as exc:
                outcome["result"] = exc.sqlstate

    racer = threading.Thread(target=demote_the_first, daemon=True)
    with db.connect("atum_app") as first:
        first.execute("SELECT api.authenticate(%s)", [org.tokens["admin"]])
        first.execute("SELECT api.user_update(%s, %s)", [second, Jsonb({"role": "agent"})])  # holds its locks
        racer.start()
        time.sleep(0.5)
        waiting = racer.is_alive()
        first.commit()
    racer.join(timeout=30)
    assert waiting, "the racer waited for the first transaction's lock"
    assert outcome["result"] in ("AT409", "40P01")  # refused, or a deadlock victim (clients retry)
    admins = owner.execute("SELECT count(*) FROM atum.users WHERE organization_id = %s AND role = 'admin'"
                           " AND is_active", [org.id]).fetchone()[0]
    assert admins == 1


def test_deactivating_a_user_ends_their_sessions_for_good(db: Database, owner: psycopg.Connection, org: Org) -> None:
    as_user(db, org.tokens["admin"], "SELECT api.user_update(%s, %s)",
            [org.users["agent"], Jsonb({"is_active": False})])
    open_sessions = owner.execute("SELECT count(*) FROM atum.sessions WHERE user_id = %s AND revoked_at IS NULL",
                                  [org.users["agent"]]).fetchone()[0]
    assert open_sessions == 0
    as_user(db, org.tokens["admin"], "SELECT api.user_update(%s, %s)",
            [org.users["agent"], Jsonb({"is_active": True})])
    with db.connect("atum_app") as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT api.authenticate(%s)", [org.tokens["agent"]])
    assert err.value.sqlstate == "AT401"  # reactivation does not bring the old session back


def test_teams_hold_staff_only(db: Database, owner: psycopg.Connection, org: Org) -> None:
    team = owner.execute("SELECT id FROM atum.teams WHERE organization_id = %s", [org.id]).fetchone()[0]
    err = refusal(db, org.tokens["admin"], "SELECT api.team_member_add(%s, %s)", [team, org.users["customer"]])
    assert (err.sqlstate, err.diag.column_name) == ("AT422", "user_id")
    with pytest.raises(psycopg.Error) as raw:
        owner.execute("INSERT INTO atum.team_members (organization_id, team_id, user_id) VALUES (%s, %s, %s)",
                      [org.id, team, org.users["customer2"]])
    assert raw.value.sqlstate == "AT422"
    # An agent who becomes a customer leaves the team.
    as_user(db, org.tokens["admin"], "SELECT api.user_update(%s, %s)",
            [org.users["agent"], Jsonb({"role": "customer"})])
    assert owner.execute("SELECT count(*) FROM atum.team_members WHERE user_id = %s",
                         [org.users["agent"]]).fetchone()[0] == 0


def test_a_category_cannot_end_up_inside_itself(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["admin"]) as conn:
        top = conn.execute("SELECT api.category_create(%s) AS c", [Jsonb({"name": "Top"})]).fetchone()["c"]
        mid = conn.execute("SELECT api.category_create(%s) AS c",
                           [Jsonb({"name": "Mid", "parent_id": top["id"]})]).fetchone()["c"]
        low = conn.execute("SELECT api.category_create(%s) AS c",
                           [Jsonb({"name": "Low", "parent_id": mid["id"]})]).fetchone()["c"]
        for parent in (low["id"], top["id"]):
            with pytest.raises(psycopg.Error) as err, conn.transaction():
                conn.execute("SELECT api.category_update(%s, %s)", [top["id"], Jsonb({"parent_id": parent})])
            assert (err.value.sqlstate, err.value.diag.column_name) == ("AT422", "parent_id")


def test_top_level_category_names_are_unique_too(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["admin"]) as conn:
        with pytest.raises(psycopg.Error) as err, conn.transaction():
            conn.execute("SELECT api.category_create(%s)", [Jsonb({"name": "Hardware"})])  # build_org made one
        assert (err.value.sqlstate, err.value.diag.column_name) == ("23505", "name")


@pytest.mark.parametrize(("body", "field"), [
    ({"calendar_id": 1, "first_response_minutes": -5, "resolution_minutes": 60}, "first_response_minutes"),
    ({"calendar_id": 1, "first_response_minutes": 60, "resolution_minutes": 0}, "resolution_minutes"),
    ({"calendar_id": 1, "first_response_minutes": 60, "resolution_minutes": 30}, "resolution_minutes"),
    ({"calendar_id": 1, "first_response_minutes": 2**40, "resolution_minutes": 60}, "first_response_minutes"),
])
def test_constraint_refusals_name_the_field_they_are_about(db: Database, owner: psycopg.Connection, org: Org,
                                                           body: dict[str, Any], field: str) -> None:
    calendar = owner.execute("SELECT id FROM atum.business_calendars WHERE organization_id = %s AND is_default",
                             [org.id]).fetchone()[0]
    err = refusal(db, org.tokens["admin"], "SELECT api.sla_policy_put('high', %s)",
                  [Jsonb({**body, "calendar_id": calendar})])
    assert err.diag.column_name == field
    assert err.sqlstate in ("23514", "AT422")


def test_overlapping_or_reversed_hours_name_the_hours(db: Database, owner: psycopg.Connection, org: Org) -> None:
    calendar = owner.execute("SELECT id FROM atum.business_calendars WHERE organization_id = %s AND is_default",
                             [org.id]).fetchone()[0]
    for hours in ([{"weekday": 1, "opens_at": "09:00", "closes_at": "13:00"},
                   {"weekday": 1, "opens_at": "12:00", "closes_at": "17:00"}],
                  [{"weekday": 2, "opens_at": "17:00", "closes_at": "09:00"}],
                  [{"weekday": 8, "opens_at": "09:00", "closes_at": "17:00"}]):
        err = refusal(db, org.tokens["admin"], "SELECT api.calendar_hours_put(%s, %s)",
                      [calendar, Jsonb({"hours": hours})])
        assert (err.sqlstate, err.diag.column_name) == ("AT422", "hours"), hours
    before = owner.execute("SELECT count(*) FROM atum.calendar_hours WHERE calendar_id = %s", [calendar]).fetchone()
    assert before == (5,)


@pytest.mark.parametrize(("role", "sql", "params"), [
    ("agent", "SELECT api.team_create(%s)", [Jsonb({"name": "Night shift"})]),
    ("manager", "SELECT api.organization_update(%s)", [Jsonb({"auto_close_days": 3})]),
    ("manager", "SELECT api.user_update(%s, %s)", [1, Jsonb({"role": "admin"})]),
    ("customer", "SELECT api.team_list(%s)", [Jsonb({})]),
    ("customer", "SELECT api.user_list(%s)", [Jsonb({})]),
])
def test_only_admins_write_and_only_staff_read(db: Database, org: Org, role: str, sql: str, params: list[Any]) -> None:
    assert refusal(db, org.tokens[role], sql, params).sqlstate == "AT403"


def test_staff_read_the_configuration(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["agent"]) as conn:
        staff = conn.execute("SELECT api.user_list(%s) AS l", [Jsonb({"role": "staff"})]).fetchone()["l"]
        assert {u["role"] for u in staff["items"]} == {"agent", "manager", "admin"}
        assert "password_hash" not in staff["items"][0]
        policies = conn.execute("SELECT api.sla_policy_list() AS l").fetchone()["l"]["items"]
        assert [p["priority"] for p in policies] == ["LOW", "MEDIUM", "HIGH", "URGENT"]
