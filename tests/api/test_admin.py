"""The admin area as an admin, an agent and a customer use it over HTTP: users, teams and members,
categories, SLA policies, calendars with hours and holidays, and the organization's settings."""

from __future__ import annotations

from typing import Any

from tests.api.client import Api, owner_query, run_api, world
from tests.support import Database

ADMIN = "/api/v1/admin"


async def ok(api: Api, method: str, path: str, token: str, body: Any = None, status: int = 200) -> Any:
    """The body of a request that must succeed with ``status``."""
    reply = await api.call(method, path, token=token, json_body=body)
    assert reply.status == status, (method, path, reply.status, reply.body)
    return reply.body


def audit_length(db: Database, organization_id: int) -> Any:
    """How many audit rows an organization has: it grows with every change, of any table."""
    return owner_query(db, "SELECT count(*) FROM atum.audit_log WHERE organization_id = %s", [organization_id])


def test_an_admin_builds_a_team_and_staffs_it(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]

    async def scenario(api: Api) -> None:
        team = await ok(api, "POST", f"{ADMIN}/teams", admin, {"name": " Second line ", "description": "Hard cases"},
                        status=201)
        assert (team["name"], team["description"], team["members"]) == ("Second line", "Hard cases", [])
        path = f"{ADMIN}/teams/{team['id']}"
        for _ in range(2):  # PUT is idempotent
            team = await ok(api, "PUT", f"{path}/members/{alpha.users['manager']}", admin)
        assert [m["id"] for m in team["members"]] == [alpha.users["manager"]]
        renamed = await ok(api, "PATCH", path, admin, {"name": "Escalations"})
        assert (renamed["name"], renamed["description"]) == ("Escalations", "Hard cases")
        # Staff read teams (the web app routes tickets to them); the member sees the team on their user.
        listed = await ok(api, "GET", f"{ADMIN}/teams?limit=1", alpha.tokens["agent"])
        assert len(listed["items"]) == 1 and listed["next"] is not None
        rest = await ok(api, "GET", f"{ADMIN}/teams?limit=1&after={listed['next']}", alpha.tokens["agent"])
        assert [t["name"] for t in rest["items"]] == ["Escalations"] and rest["next"] is None
        manager = await ok(api, "GET", f"{ADMIN}/users/{alpha.users['manager']}", alpha.tokens["agent"])
        assert manager["team_ids"] == [team["id"]]
        team = await ok(api, "DELETE", f"{path}/members/{alpha.users['manager']}", admin)
        assert team["members"] == []
        assert (await ok(api, "DELETE", path, admin)) == {"id": team["id"], "deleted": True}
        assert (await api.call("GET", path, token=admin)).status == 404
        taken = await api.call("POST", f"{ADMIN}/teams", token=admin, json_body={"name": "First line"})
        assert (taken.status, taken.body["field"]) == (409, "name")
        customer = await api.call("PUT", f"{ADMIN}/teams/{team['id']}/members/{alpha.users['customer']}",
                                  token=admin)
        assert customer.status == 404  # the team is gone
        first_line = (await ok(api, "GET", f"{ADMIN}/teams", admin))["items"][0]
        customer = await api.call("PUT", f"{ADMIN}/teams/{first_line['id']}/members/{alpha.users['customer']}",
                                  token=admin)
        assert (customer.status, customer.body["field"]) == (422, "user_id")
        in_use = await api.call("DELETE", f"{ADMIN}/teams/{first_line['id']}", token=admin)
        assert in_use.status == 409 and "tickets" in in_use.body["detail"]

    run_api(db, scenario)


def test_categories_are_kept_by_admins_and_offered_to_customers(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]

    async def scenario(api: Api) -> None:
        parent = await ok(api, "POST", f"{ADMIN}/categories", admin, {"name": "Software"}, status=201)
        child = await ok(api, "POST", f"{ADMIN}/categories", admin,
                         {"name": "E-mail", "parent_id": parent["id"], "description": "Mail client trouble"},
                         status=201)
        assert child["parent_id"] == parent["id"] and child["is_active"] is True
        in_use = await api.call("DELETE", f"{ADMIN}/categories/{parent['id']}", token=admin)
        assert in_use.status == 409  # a sub-category refers to it
        hidden = await ok(api, "PATCH", f"{ADMIN}/categories/{child['id']}", admin, {"is_active": False})
        assert hidden["is_active"] is False
        offered = await ok(api, "GET", "/api/v1/categories", alpha.tokens["customer"])
        assert {c["name"] for c in offered["items"]} == {"Hardware", "Software"}
        inactive = await ok(api, "GET", f"{ADMIN}/categories?is_active=false", alpha.tokens["agent"])
        assert [c["name"] for c in inactive["items"]] == ["E-mail"]
        assert (await ok(api, "DELETE", f"{ADMIN}/categories/{child['id']}", admin))["deleted"] is True
        for body, field in (({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": "Hardware"}, "name"),
                            ({"name": "Orphan", "parent_id": 987654321}, "parent_id"), ({"colour": "red"}, "colour")):
            bad = await api.call("POST", f"{ADMIN}/categories", token=admin, json_body=body)
            assert bad.status in (409, 422) and bad.body["field"] == field, (body, bad.body)
        loop = await api.call("PATCH", f"{ADMIN}/categories/{parent['id']}", token=admin,
                              json_body={"parent_id": parent["id"]})
        assert (loop.status, loop.body["field"]) == (422, "parent_id")

    run_api(db, scenario)


def test_sla_policies_are_set_per_priority_with_checked_targets(db: Database) -> None:
    alpha, beta = world(db)
    admin = alpha.tokens["admin"]
    [(calendar,)] = owner_query(db, "SELECT id FROM atum.business_calendars WHERE organization_id = %s AND is_24x7",
                                [alpha.id])
    [(beta_calendar,)] = owner_query(db, "SELECT id FROM atum.business_calendars WHERE organization_id = %s"
                                         " AND is_24x7", [beta.id])
    good = {"calendar_id": calendar, "first_response_minutes": 30, "resolution_minutes": 120}

    async def scenario(api: Api) -> None:
        policy = await ok(api, "PUT", f"{ADMIN}/sla-policies/high", admin, good)
        assert (policy["priority"], policy["calendar_id"], policy["first_response_minutes"]) == ("HIGH", calendar, 30)
        listed = await ok(api, "GET", f"{ADMIN}/sla-policies", alpha.tokens["agent"])
        assert [p["resolution_minutes"] for p in listed["items"] if p["priority"] == "HIGH"] == [120]
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("critical", good, "priority"),
            ("high", {**good, "first_response_minutes": -1}, "first_response_minutes"),
            ("high", {**good, "resolution_minutes": 0}, "resolution_minutes"),
            ("high", {**good, "resolution_minutes": 10}, "resolution_minutes"),
            ("high", {**good, "first_response_minutes": "soon"}, "first_response_minutes"),
            ("high", {**good, "calendar_id": beta_calendar}, "calendar_id"),
            ("high", {"calendar_id": calendar, "first_response_minutes": 30}, "resolution_minutes"),
        ]
        for priority, body, field in cases:
            bad = await api.call("PUT", f"{ADMIN}/sla-policies/{priority}", token=admin, json_body=body)
            assert (bad.status, bad.body["field"]) == (422, field), (priority, body, bad.body)
        agent = await api.call("PUT", f"{ADMIN}/sla-policies/high", token=alpha.tokens["agent"], json_body=good)
        assert agent.status == 403

    run_api(db, scenario)
    assert owner_query(db, "SELECT first_response_minutes, resolution_minutes FROM atum.sla_policies"
                           " WHERE organization_id = %s AND priority = 'HIGH'", [alpha.id]) == [(30, 120)]


def test_calendars_with_weekly_hours_and_holidays(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]
    split_day = [{"weekday": 1, "opens_at": "08:00", "closes_at": "12:00"},
                 {"weekday": 1, "opens_at": "13:00", "closes_at": "17:00"},
                 {"weekday": 6, "opens_at": "22:00", "closes_at": "24:00"}]

    async def scenario(api: Api) -> None:
        made = await ok(api, "POST", f"{ADMIN}/calendars", admin,
                        {"name": "Support Vienna", "time_zone": "Europe/Vienna", "hours": split_day}, status=201)
        assert (made["time_zone"], made["is_default"], made["hours"], made["holidays"]) == (
            "Europe/Vienna", False, split_day, [])
        path = f"{ADMIN}/calendars/{made['id']}"
        hours = await ok(api, "PUT", f"{path}/hours", admin, {"hours": split_day[:1]})
        assert hours["hours"] == split_day[:1]
        holiday = await ok(api, "POST", f"{path}/holidays", admin, {"day": "2026-12-26", "name": "St Stephen"},
                           status=201)
        assert holiday == {"calendar_id": made["id"], "day": "2026-12-26", "name": "St Stephen"}
        again = await api.call("POST", f"{path}/holidays", token=admin, json_body={"day": "2026-12-26"})
        assert (again.status, again.body["field"]) == (409, "day")
        got = await ok(api, "GET", path, alpha.tokens["agent"])
        assert got["holidays"] == [{"day": "2026-12-26", "name": "St Stephen"}]
        # The default moves, it is never just switched off.
        moved = await ok(api, "PATCH", path, admin, {"is_default": True, "name": "Vienna"})
        assert (moved["is_default"], moved["name"]) == (True, "Vienna")
        defaults = [c["name"] for c in (await ok(api, "GET", f"{ADMIN}/calendars", admin))["items"] if c["is_default"]]
        assert defaults == ["Vienna"]
        off = await api.call("PATCH", path, token=admin, json_body={"is_default": False})
        assert (off.status, off.body["field"]) == (422, "is_default")
        removed = await ok(api, "DELETE", f"{path}/holidays?day=2026-12-26", admin)
        assert removed["deleted"] is True
        assert (await api.call("DELETE", f"{path}/holidays?day=2026-12-26", token=admin)).status == 404
        bad_requests: list[tuple[str, str, dict[str, Any], str]] = [
            ("POST", ADMIN + "/calendars", {"name": "Mars", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
            ("PATCH", path, {"time_zone": "Nowhere/Land"}, "time_zone"),
            ("PUT", f"{path}/hours", {"hours": [split_day[0], {**split_day[0], "opens_at": "11:00"}]}, "hours"),
            ("PUT", f"{path}/hours", {"hours": [{"weekday": 2, "opens_at": "17:00", "closes_at": "09:00"}]}, "hours"),
            ("PUT", f"{path}/hours", {"hours": [{"weekday": 2, "opens_at": "9am", "closes_at": "5pm"}]}, "hours"),
            ("PUT", f"{path}/hours", {"hours": "always"}, "hours"),
            ("POST", f"{path}/holidays", {"day": "2026-02-30"}, "day"),
            ("POST", f"{path}/holidays", {"day": "1999-12-31"}, "day"),
            ("POST", ADMIN + "/calendars", {"name": "Vienna"}, "name"),
        ]
        for method, where, body, field in bad_requests:
            bad = await api.call(method, where, token=admin, json_body=body)
            assert bad.status in (409, 422) and bad.body["field"] == field, (method, where, body, bad.body)
        assert (await ok(api, "GET", path, admin))["hours"] == split_day[:1]  # nothing half done

    run_api(db, scenario)


def test_the_organization_settings_are_the_admins(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]

    async def scenario(api: Api) -> None:
        settings = await ok(api, "GET", f"{ADMIN}/organization", alpha.tokens["agent"])
        assert (settings["slug"], settings["auto_close_days"]) == ("alpha", 7)
        changed = await ok(api, "PATCH", f"{ADMIN}/organization", admin,
                           {"auto_close_days": 3, "reopen_window_days": 30, "sla_warning_ratio": 0.75,
                            "triage_target_minutes": 60, "time_zone": "America/New_York"})
        assert (changed["auto_close_days"], changed["reopen_window_days"], changed["triage_target_minutes"],
                changed["time_zone"], float(changed["sla_warning_ratio"])) == (3, 30, 60, "America/New_York", 0.75)
        for body, field in (({"triage_target_minutes": -10}, "triage_target_minutes"),
                            ({"sla_warning_ratio": 1.5}, "sla_warning_ratio"),
                            ({"sla_warning_ratio": 120}, "sla_warning_ratio"),
                            ({"auto_close_days": 0}, "auto_close_days"),
                            ({"reopen_window_days": 3.5}, "reopen_window_days"),
                            ({"time_zone": "Atlantis"}, "time_zone"),
                            ({"name": " "}, "name"),
                            ({"slug": "other"}, "slug")):
            bad = await api.call("PATCH", f"{ADMIN}/organization", token=admin, json_body=body)
            assert (bad.status, bad.body["field"]) == (422, field), (body, bad.body)
        manager = await api.call("PATCH", f"{ADMIN}/organization", token=alpha.tokens["manager"],
                                 json_body={"auto_close_days": 1})
        assert manager.status == 403

    run_api(db, scenario)
    assert owner_query(db, "SELECT auto_close_days FROM atum.organizations WHERE id = %s", [alpha.id]) == [(3,)]


def test_users_are_listed_for_staff_and_changed_by_admins(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]

    async def scenario(api: Api) -> None:
        staff = await ok(api, "GET", f"{ADMIN}/users?role=staff", alpha.tokens["agent"])
        assert {u["email"] for u in staff["items"]} == {"admin@alpha.example", "manager@alpha.example",
                                                         "agent@alpha.example"}
        found = await ok(api, "GET", f"{ADMIN}/users?q=CUSTOMER2", admin)
        assert [u["email"] for u in found["items"]] == ["customer2@alpha.example"]
        first = await ok(api, "GET", f"{ADMIN}/users?limit=2", admin)
        second = await ok(api, "GET", f"{ADMIN}/users?limit=10&after={first['next']}", admin)
        assert len(first["items"]) + len(second["items"]) == 5 and second["next"] is None
        user = await ok(api, "PATCH", f"{ADMIN}/users/{alpha.users['agent']}", admin,
                        {"display_name": "Agent Smith", "role": "manager", "time_zone": "Asia/Tokyo"})
        assert (user["display_name"], user["role"], user["time_zone"]) == ("Agent Smith", "manager", "Asia/Tokyo")
        cleared = await ok(api, "PATCH", f"{ADMIN}/users/{alpha.users['agent']}", admin, {"time_zone": None})
        assert cleared["time_zone"] is None
        for body, field in (({"role": "overlord"}, "role"), ({"time_zone": "Mars/Base"}, "time_zone"),
                            ({"is_active": "maybe"}, "is_active"), ({"display_name": "x" * 201}, "display_name"),
                            ({"email": "new@alpha.example"}, "email")):
            bad = await api.call("PATCH", f"{ADMIN}/users/{alpha.users['customer']}", token=admin, json_body=body)
            assert (bad.status, bad.body["field"]) == (422, field), (body, bad.body)
        bad_filter = await api.call("GET", f"{ADMIN}/users?role=boss", token=admin)
        assert (bad_filter.status, bad_filter.body["field"]) == (422, "role")
        agent = await api.call("PATCH", f"{ADMIN}/users/{alpha.users['customer']}", token=alpha.tokens["manager"],
                               json_body={"role": "agent"})
        assert agent.status == 403

    run_api(db, scenario)


def test_the_last_admin_stays_and_a_deactivated_user_is_signed_out(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]

    async def scenario(api: Api) -> None:
        me = f"{ADMIN}/users/{alpha.users['admin']}"
        for body, field in (({"role": "agent"}, "role"), ({"is_active": False}, "is_active")):
            last = await api.call("PATCH", me, token=admin, json_body=body)
            assert (last.status, last.body["field"]) == (409, field), last.body
        assert (await ok(api, "GET", "/api/v1/me", alpha.tokens["agent"]))["role"] == "agent"
        gone = await ok(api, "PATCH", f"{ADMIN}/users/{alpha.users['agent']}", admin, {"is_active": False})
        assert gone["is_active"] is False
        assert (await api.call("GET", "/api/v1/me", token=alpha.tokens["agent"])).status == 401
        await ok(api, "PATCH", f"{ADMIN}/users/{alpha.users['agent']}", admin, {"is_active": True})
        assert (await api.call("GET", "/api/v1/me", token=alpha.tokens["agent"])).status == 401  # for good
        assert (await api.login("agent@alpha.example")).status == 200  # a new sign-in works again

    run_api(db, scenario)
    revoked = owner_query(db, "SELECT count(*) FROM atum.sessions WHERE user_id = %s AND revoked_at IS NOT NULL",
                          [alpha.users["agent"]])
    assert revoked == [(1,)]


def test_agents_and_customers_are_refused_and_nothing_changes(db: Database) -> None:
    alpha, _ = world(db)
    [(team,)] = owner_query(db, "SELECT id FROM atum.teams WHERE organization_id = %s", [alpha.id])
    [(calendar,)] = owner_query(db, "SELECT id FROM atum.business_calendars WHERE organization_id = %s"
                                    " AND is_default", [alpha.id])
    writes: list[tuple[str, str, Any]] = [
        ("POST", f"{ADMIN}/teams", {"name": "Shadow"}),
        ("PATCH", f"{ADMIN}/teams/{team}", {"name": "Shadow"}),
        ("DELETE", f"{ADMIN}/teams/{team}", None),
        ("PUT", f"{ADMIN}/teams/{team}/members/{alpha.users['agent']}", None),
        ("POST", f"{ADMIN}/categories", {"name": "Shadow"}),
        ("PUT", f"{ADMIN}/sla-policies/low", {"calendar_id": calendar, "first_response_minutes": 1,
                                              "resolution_minutes": 1}),
        ("POST", f"{ADMIN}/calendars", {"name": "Shadow"}),
        ("PUT", f"{ADMIN}/calendars/{calendar}/hours", {"hours": []}),
        ("POST", f"{ADMIN}/calendars/{calendar}/holidays", {"day": "2027-01-01"}),
        ("PATCH", f"{ADMIN}/organization", {"name": "Shadow"}),
        ("PATCH", f"{ADMIN}/users/{alpha.users['agent']}", {"role": "admin"}),
    ]
    reads = [f"{ADMIN}/users", f"{ADMIN}/users/{alpha.users['agent']}", f"{ADMIN}/teams", f"{ADMIN}/teams/{team}",
             f"{ADMIN}/categories", f"{ADMIN}/sla-policies", f"{ADMIN}/calendars", f"{ADMIN}/calendars/{calendar}",
             f"{ADMIN}/organization"]
    before = audit_length(db, alpha.id)

    async def scenario(api: Api) -> None:
        for role in ("agent", "manager", "customer"):
            for method, path, body in writes:
                reply = await api.call(method, path, token=alpha.tokens[role], json_body=body)
                assert reply.status == 403, (role, method, path, reply.body)
        for path in reads:
            assert (await api.call("GET", path, token=alpha.tokens["customer"])).status == 403, path
            assert (await api.call("GET", path, token=alpha.tokens["agent"])).status == 200, path

    run_api(db, scenario)
    assert audit_length(db, alpha.id) == before


def test_another_organizations_ids_are_not_found_and_stay_unchanged(db: Database) -> None:
    alpha, beta = world(db)
    [(team,)] = owner_query(db, "SELECT id FROM atum.teams WHERE organization_id = %s", [beta.id])
    [(category,)] = owner_query(db, "SELECT id FROM atum.categories WHERE organization_id = %s", [beta.id])
    [(calendar,)] = owner_query(db, "SELECT id FROM atum.business_calendars WHERE organization_id = %s"
                                    " AND is_default", [beta.id])
    requests: list[tuple[str, str, Any]] = [
        ("GET", f"{ADMIN}/users/{beta.users['agent']}", None),
        ("PATCH", f"{ADMIN}/users/{beta.users['agent']}", {"is_active": False}),
        ("GET", f"{ADMIN}/teams/{team}", None),
        ("PATCH", f"{ADMIN}/teams/{team}", {"name": "Taken over"}),
        ("DELETE", f"{ADMIN}/teams/{team}", None),
        ("PUT", f"{ADMIN}/teams/{team}/members/{alpha.users['agent']}", None),
        ("DELETE", f"{ADMIN}/teams/{team}/members/{beta.users['agent']}", None),
        ("GET", f"{ADMIN}/categories/{category}", None),
        ("PATCH", f"{ADMIN}/categories/{category}", {"is_active": False}),
        ("DELETE", f"{ADMIN}/categories/{category}", None),
        ("GET", f"{ADMIN}/calendars/{calendar}", None),
        ("PATCH", f"{ADMIN}/calendars/{calendar}", {"is_24x7": True}),
        ("PUT", f"{ADMIN}/calendars/{calendar}/hours", {"hours": []}),
        ("POST", f"{ADMIN}/calendars/{calendar}/holidays", {"day": "2027-01-01"}),
        ("DELETE", f"{ADMIN}/calendars/{calendar}/holidays?day=2026-12-25", None),
    ]
    before = audit_length(db, beta.id)

    async def scenario(api: Api) -> None:
        for method, path, body in requests:
            reply = await api.call(method, path, token=alpha.tokens["admin"], json_body=body)
            assert reply.status == 404, (method, path, reply.body)
        # An alpha team with a beta user is as unknown as a beta team.
        [(alpha_team,)] = owner_query(db, "SELECT id FROM atum.teams WHERE organization_id = %s", [alpha.id])
        reply = await api.call("PUT", f"{ADMIN}/teams/{alpha_team}/members/{beta.users['agent']}",
                               token=alpha.tokens["admin"])
        assert (reply.status, reply.body["field"]) == (404, "user_id")
        for path in (f"{ADMIN}/users", f"{ADMIN}/teams", f"{ADMIN}/categories", f"{ADMIN}/calendars",
                     "/api/v1/categories"):
            listed = await ok(api, "GET", f"{path}?limit=200", alpha.tokens["admin"])
            assert "beta" not in str(listed).lower(), path

    run_api(db, scenario)
    assert audit_length(db, beta.id) == before
