"""The admin routes: users, teams and members, categories, SLA policies, calendars, the organization.

Every handler is the same few lines as in api/routes.py: path ids, the JSON body or the query
string, one ``api.*`` call (sql/56_api_admin.sql), its JSON returned unchanged. Who may read and who
may write is decided in the database: staff read the configuration, admins change it.
"""

from __future__ import annotations

from aiohttp import web

from api.db import call, q
from api.web_io import body_param, json_text, path_id, query_param


# Users (invited with POST /api/v1/admin/users/invite, api/auth.py).
async def user_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/users?role=&is_active=&q=&limit=&after= (staff; role=staff for the assignee picker)."""
    return json_text(await call(request, q("admin_user_list"), [query_param(request)], read_only=True))


async def user_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/users/{id} (staff)."""
    return json_text(await call(request, q("admin_user_get"), [path_id(request)], read_only=True))


async def user_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/admin/users/{id} {display_name?, role?, is_active?, time_zone?} (admin)."""
    return json_text(await call(request, q("admin_user_update"), [path_id(request), await body_param(request)]))


# Teams and their members.
async def team_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/teams?limit=&after= (staff)."""
    return json_text(await call(request, q("admin_team_list"), [query_param(request)], read_only=True))


async def team_create(request: web.Request) -> web.Response:
    """POST /api/v1/admin/teams {name, description?} (admin): 201."""
    return json_text(await call(request, q("admin_team_create"), [await body_param(request)]), status=201)


async def team_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/teams/{id} (staff)."""
    return json_text(await call(request, q("admin_team_get"), [path_id(request)], read_only=True))


async def team_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/admin/teams/{id} {name?, description?} (admin)."""
    return json_text(await call(request, q("admin_team_update"), [path_id(request), await body_param(request)]))


async def team_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/teams/{id} (admin): 409 while tickets are routed to the team."""
    return json_text(await call(request, q("admin_team_delete"), [path_id(request)]))


async def team_member_add(request: web.Request) -> web.Response:
    """PUT /api/v1/admin/teams/{id}/members/{user_id} (admin): idempotent; the team."""
    return json_text(await call(request, q("admin_team_member_add"), [path_id(request), path_id(request, "user_id")]))


async def team_member_remove(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/teams/{id}/members/{user_id} (admin): idempotent; the team."""
    return json_text(await call(request, q("admin_team_member_remove"),
                                [path_id(request), path_id(request, "user_id")]))


# Categories.
async def category_choices(request: web.Request) -> web.Response:
    """GET /api/v1/categories?limit=&after= (anyone signed in): the active categories for the ticket form."""
    return json_text(await call(request, q("category_choices"), [query_param(request)], read_only=True))


async def category_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/categories?is_active=&limit=&after= (staff)."""
    return json_text(await call(request, q("admin_category_list"), [query_param(request)], read_only=True))


async def category_create(request: web.Request) -> web.Response:
    """POST /api/v1/admin/categories {name, description?, parent_id?, is_active?} (admin): 201."""
    return json_text(await call(request, q("admin_category_create"), [await body_param(request)]), status=201)


async def category_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/categories/{id} (staff)."""
    return json_text(await call(request, q("admin_category_get"), [path_id(request)], read_only=True))


async def category_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/admin/categories/{id} {name?, description?, parent_id?, is_active?} (admin)."""
    return json_text(await call(request, q("admin_category_update"), [path_id(request), await body_param(request)]))


async def category_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/categories/{id} (admin): 409 while in use (deactivate it instead)."""
    return json_text(await call(request, q("admin_category_delete"), [path_id(request)]))


# SLA policies.
async def sla_policy_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/sla-policies (staff)."""
    return json_text(await call(request, q("admin_sla_policy_list"), read_only=True))


async def sla_policy_put(request: web.Request) -> web.Response:
    """PUT /api/v1/admin/sla-policies/{priority} {calendar_id, first_response_minutes, resolution_minutes} (admin)."""
    return json_text(await call(request, q("admin_sla_policy_put"),
                                [request.match_info["priority"], await body_param(request)]))


# Business calendars.
async def calendar_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/calendars?limit=&after= (staff)."""
    return json_text(await call(request, q("admin_calendar_list"), [query_param(request)], read_only=True))


async def calendar_create(request: web.Request) -> web.Response:
    """POST /api/v1/admin/calendars {name, time_zone?, is_24x7?, is_default?, hours?} (admin): 201."""
    return json_text(await call(request, q("admin_calendar_create"), [await body_param(request)]), status=201)


async def calendar_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/calendars/{id} (staff): with weekly hours and holidays."""
    return json_text(await call(request, q("admin_calendar_get"), [path_id(request)], read_only=True))


async def calendar_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/admin/calendars/{id} {name?, time_zone?, is_24x7?, is_default?} (admin)."""
    return json_text(await call(request, q("admin_calendar_update"), [path_id(request), await body_param(request)]))


async def calendar_hours_put(request: web.Request) -> web.Response:
    """PUT /api/v1/admin/calendars/{id}/hours {hours: [{weekday, opens_at, closes_at}]} (admin)."""
    return json_text(await call(request, q("admin_calendar_hours_put"), [path_id(request), await body_param(request)]))


async def holiday_add(request: web.Request) -> web.Response:
    """POST /api/v1/admin/calendars/{id}/holidays {day, name?} (admin): 201."""
    return json_text(await call(request, q("admin_holiday_add"), [path_id(request), await body_param(request)]),
                     status=201)


async def holiday_remove(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/calendars/{id}/holidays?day=YYYY-MM-DD (admin)."""
    return json_text(await call(request, q("admin_holiday_remove"), [path_id(request), query_param(request)]))


# The organization.
async def organization_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/organization (staff)."""
    return json_text(await call(request, q("admin_organization_get"), read_only=True))


async def organization_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/admin/organization {name?, time_zone?, triage_target_minutes?, sla_warning_ratio?,
    reopen_window_days?, auto_close_days?} (admin)."""
    return json_text(await call(request, q("admin_organization_update"), [await body_param(request)]))


ID = r"{id:\d+}"
USER_ID = r"{user_id:\d+}"
# Letters only: an unknown name is a 422 from SQL; other characters (a NUL) never reach psycopg.
PRIORITY = r"/api/v1/admin/sla-policies/{priority:[A-Za-z_]+}"
ROUTES: list[web.RouteDef] = [
    web.get("/api/v1/admin/users", user_list, allow_head=False),
    web.get(f"/api/v1/admin/users/{ID}", user_get, allow_head=False),
    web.patch(f"/api/v1/admin/users/{ID}", user_update),
    web.get("/api/v1/admin/teams", team_list, allow_head=False),
    web.post("/api/v1/admin/teams", team_create),
    web.get(f"/api/v1/admin/teams/{ID}", team_get, allow_head=False),
    web.patch(f"/api/v1/admin/teams/{ID}", team_update),
    web.delete(f"/api/v1/admin/teams/{ID}", team_delete),
    web.put(f"/api/v1/admin/teams/{ID}/members/{USER_ID}", team_member_add),
    web.delete(f"/api/v1/admin/teams/{ID}/members/{USER_ID}", team_member_remove),
    web.get("/api/v1/categories", category_choices, allow_head=False),
    web.get("/api/v1/admin/categories", category_list, allow_head=False),
    web.post("/api/v1/admin/categories", category_create),
    web.get(f"/api/v1/admin/categories/{ID}", category_get, allow_head=False),
    web.patch(f"/api/v1/admin/categories/{ID}", category_update),
    web.delete(f"/api/v1/admin/categories/{ID}", category_delete),
    web.get("/api/v1/admin/sla-policies", sla_policy_list, allow_head=False),
    web.put(PRIORITY, sla_policy_put),
    web.get("/api/v1/admin/calendars", calendar_list, allow_head=False),
    web.post("/api/v1/admin/calendars", calendar_create),
    web.get(f"/api/v1/admin/calendars/{ID}", calendar_get, allow_head=False),
    web.patch(f"/api/v1/admin/calendars/{ID}", calendar_update),
    web.put(f"/api/v1/admin/calendars/{ID}/hours", calendar_hours_put),
    web.post(f"/api/v1/admin/calendars/{ID}/holidays", holiday_add),
    web.delete(f"/api/v1/admin/calendars/{ID}/holidays", holiday_remove),
    web.get("/api/v1/admin/organization", organization_get, allow_head=False),
    web.patch("/api/v1/admin/organization", organization_update),
]
