"""Tenant isolation over HTTP, generated from the live route table: every route that names a record
answers an id of another organization (or another customer's ticket) exactly as it answers an id
that does not exist — same status, same body — so the API never tells whether a record exists
elsewhere. A route added later is covered without anyone remembering to add a case."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import FormData

from api.app import create_app
from tests.api.client import Api, Reply, owner_query, run_api, settings_for, world
from tests.support import Database

MISSING = 9_000_000_000_000_000_000  # a valid id that names nothing
PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# Path segment before a parameter → the table its ids come from (when not simply the segment).
TABLES = {"calendars": "business_calendars", "members": "users", "api-tokens": "api_tokens",
          "sla-policies": "sla_policies", "articles": "kb_articles", "suggestions": "kb_suggestion_sessions",
          "kb/categories": "kb_categories"}


def api_routes(db: Database) -> list[tuple[str, str]]:
    """(method, path template) of every API route that takes an id."""
    app = create_app(settings_for(db))
    found = []
    for resource in app.router.resources():
        template = resource.canonical
        if template.startswith("/api/") and PARAM.search(template):
            for route in resource:
                if route.method not in ("HEAD", "OPTIONS"):
                    found.append((route.method, template))
    return sorted(set(found))


def table_of(template: str, param: str) -> str:
    segments = template.split("/")
    at = next(i for i, s in enumerate(segments) if s.startswith("{" + param))
    before = segments[at - 1]
    # Two segments first: /kb/categories/{id} names knowledge base categories, not ticket ones.
    return TABLES.get("/".join(segments[at - 2:at]), TABLES.get(before, before.replace("-", "_")))


def ids_of(db: Database, organization_id: int, template: str) -> dict[str, Any] | None:
    """An id of the organization for every parameter of the route (None: the route takes no ids)."""
    ids: dict[str, Any] = {}
    if template.startswith("/api/v1/reports/"):  # report names: the same in every organization
        return None
    for param in PARAM.findall(template):
        table = table_of(template, param)
        exists = owner_query(db, "SELECT to_regclass(%s)", [f"atum.{table}"])[0][0]
        assert exists, f"{template}: no table atum.{table} for {{{param}}}; teach TABLES in this test"
        if table == "sla_policies":  # keyed by priority, not id: other organizations have the same keys
            return None
        rows = owner_query(db, f"SELECT id FROM atum.{table} WHERE organization_id = %s ORDER BY id LIMIT 1",  # noqa: S608
                           [organization_id])
        assert rows, f"{template}: the test world has no row in atum.{table}; add one in tests/support.py build_org"
        ids[param] = rows[0][0]
    return ids


def fill(template: str, ids: dict[str, Any]) -> str:
    return PARAM.sub(lambda m: str(ids[m.group(1)]), template)


async def ask(api: Api, method: str, path: str, token: str) -> Reply:
    if method in ("POST", "PUT", "PATCH") and path.endswith("/attachments"):
        form = FormData()
        form.add_field("file", b"hello", filename="hello.txt", content_type="text/plain")
        return await api.call(method, path, token=token, data=form)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await api.call(method, path, token=token, json_body=body)


def same_answer(a: Reply, b: Reply, ids: dict[str, Any]) -> bool:
    def scrub(reply: Reply) -> Any:
        text = str({k: v for k, v in reply.body.items() if k != "request_id"} if isinstance(reply.body, dict)
                   else reply.body)
        for value in [*ids.values(), MISSING]:
            text = text.replace(str(value), "<id>")
        return reply.status, text
    return scrub(a) == scrub(b)


def test_ids_of_another_organization_are_answered_like_missing_ones(db: Database) -> None:
    alpha, beta = world(db)
    routes = api_routes(db)
    assert len(routes) >= 10
    head = "SELECT max(last_seq) FROM atum.audit_heads WHERE organization_id = %s"
    before = owner_query(db, head, [beta.id])

    async def scenario(api: Api) -> None:
        checked = 0
        for method, template in routes:
            ids = ids_of(db, beta.id, template)
            if ids is None:
                continue
            missing = dict.fromkeys(ids, MISSING)
            for role in ("admin", "manager", "agent", "customer"):
                foreign = await ask(api, method, fill(template, ids), alpha.tokens[role])
                absent = await ask(api, method, fill(template, missing), alpha.tokens[role])
                assert foreign.status >= 400, (method, template, role, foreign.body)
                assert same_answer(foreign, absent, ids), (method, template, role, foreign.body, absent.body)
                checked += 1
        assert checked >= 40

    run_api(db, scenario)
    assert owner_query(db, head, [beta.id]) == before  # nothing of beta's changed: its audit chain did not grow


def test_another_customers_ticket_is_answered_like_a_missing_one(db: Database) -> None:
    alpha, _ = world(db)
    routes = [(m, t) for m, t in api_routes(db) if t.startswith("/api/v1/tickets/{id")]
    assert len(routes) >= 6

    async def scenario(api: Api) -> None:
        for method, template in routes:
            ids = {"id": alpha.other_ticket_id}  # customer2's ticket
            foreign = await ask(api, method, fill(template, ids), alpha.tokens["customer"])
            absent = await ask(api, method, fill(template, {"id": MISSING}), alpha.tokens["customer"])
            assert foreign.status >= 400, (method, template, foreign.body)
            assert same_answer(foreign, absent, ids), (method, template, foreign.body, absent.body)

    run_api(db, scenario)


def test_lists_never_show_another_organizations_records(db: Database) -> None:
    alpha, beta = world(db)
    [(beta_subject,)] = owner_query(db, "SELECT subject FROM atum.tickets WHERE organization_id = %s"
                                        " ORDER BY id LIMIT 1", [beta.id])
    owner_query(db, "UPDATE atum.tickets SET subject = 'BETA SECRET ' || subject WHERE organization_id = %s",
                [beta.id])

    async def scenario(api: Api) -> None:
        for role in ("admin", "manager", "agent", "customer"):
            for path in ("/api/v1/tickets", "/api/v1/tickets?q=secret", "/api/v1/internal/tickets/new"):
                reply = await api.call("GET", path, token=alpha.tokens[role])
                assert "BETA SECRET" not in str(reply.body), (role, path)

    run_api(db, scenario)
    assert beta_subject
