"""The OpenAPI document (api/openapi.json) as an integrator relies on it: a valid OpenAPI 3.1
document, served at /api/v1/openapi.json, naming exactly the routes the running app has, and
describing what real requests and answers look like.

The route comparison is generated from the live route table of create_app(), so a route added
anywhere (api/routes.py, api/admin.py, api/attachments.py …) without documentation fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import psycopg
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import OpenAPIV31SpecValidator

from api import openapi
from api.app import create_app
from atumdesk.settings import load
from tests.api.test_operator_endpoints import settings_for
from tests.support import Database, Org, build_org

DOCUMENT = openapi.DOCUMENT
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Routes of the app that are deliberately not in the document, and why.
UNDOCUMENTED = {
    ("GET", "/{tail}"): "the HTML shell of the web app (api/web_app.py), not part of the API",
    ("GET", "/assets/{filename}"): "the files of the web app's build, not part of the API",
}


def live_routes() -> set[tuple[str, str]]:
    """(method, path template) of every route create_app() serves, in OpenAPI's template syntax.

    aiohttp writes a path parameter with its pattern ({id:\\d+}); its canonical form is OpenAPI's
    ({id}). HEAD routes that aiohttp adds beside a GET (allow_head) are the GET route answered
    without a body, so they are not separate operations.
    """
    app = create_app(load({"ATUM_DATA_DIR": "/nonexistent"}))  # the pool opens only on start-up
    routes: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        routes.add((route.method.upper(), resource.canonical))
    return {(method, path) for method, path in routes if not (method == "HEAD" and ("GET", path) in routes)}


def documented_routes() -> set[tuple[str, str]]:
    """(method, path template) of every operation in the document."""
    return {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item if method in METHODS}


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
              for error in OpenAPIV31SpecValidator(DOCUMENT).iter_errors()]
    assert errors == []


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    live = live_routes() - set(UNDOCUMENTED)
    documented = documented_routes()
    assert sorted(live - documented) == [], "routes of the app missing from api/openapi.json"
    assert sorted(documented - live) == [], "operations in api/openapi.json that the app does not serve"


def test_every_operation_says_who_may_call_it_and_what_errors_look_like() -> None:
    """Each operation has an id, a success answer with a schema, and its 4xx answers in problem+json."""
    ids: list[str] = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            ids.append(operation["operationId"])
            statuses = set(operation["responses"])
            # 101 Switching Protocols is the success of a WebSocket upgrade (GET /api/v1/live).
            assert any(s.startswith("2") or s == "101" for s in statuses), f"{where}: no success answer"
            for status, response in operation["responses"].items():
                response = resolve(response)
                assert response.get("content"), f"{where} {status}: no content described"
                if status.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"], f"{where} {status}"
            path_names = set(re.findall(r"{(\w+)}", path))
            declared = {resolve(p)["name"] for p in operation.get("parameters", []) if resolve(p)["in"] == "path"}
            assert declared == path_names, f"{where}: path parameters"
            if path.startswith("/api/") and operation.get("security", DOCUMENT["security"]):
                assert "401" in statuses, f"{where}: authenticated, but no 401 documented"
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= statuses, f"{where}: body errors not documented"
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_bodies_the_database_refuses_unknown_fields_in_are_closed() -> None:
    """Request bodies whose SQL checks field names (atum.input_check) say additionalProperties: false."""
    open_bodies = {"PasswordResetRequest", "TokenRedeem"}  # the handlers read their fields and ignore others
    for name, schema in DOCUMENT["components"]["schemas"].items():
        used_as_body = any(
            op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            == f"#/components/schemas/{name}"
            for item in DOCUMENT["paths"].values() for op in item.values())
        if used_as_body and name not in open_bodies:
            assert schema.get("additionalProperties") is False, name


def test_the_served_document_is_the_file_in_the_repository(db: Database) -> None:
    async def check(client: TestClient) -> None:
        response = await client.get("/api/v1/openapi.json")
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == Path(openapi.__file__).with_name("openapi.json").read_bytes()

    _serve(db, check)


# ---------------------------------------------------------------------------------------------
# Real calls, their answers validated against the documented schemas
# ---------------------------------------------------------------------------------------------

def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """A response, parameter or schema with its $ref followed (refs are local: #/components/…)."""
    while "$ref" in node and len(node) == 1:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def validator(schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator (formats checked) for a schema of the document."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": DOCUMENT["components"], **schema}
    return jsonschema_rs.validator_for(root, validate_formats=True)


def operation_of(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented operation that a concrete request path matches, with its template."""
    for template, item in DOCUMENT["paths"].items():
        pattern = "^" + re.sub(r"\\{\w+\\}", r"[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path.partition("?")[0]) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not documented")


class Checked:
    """A client that checks every request and answer against the document as it goes."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token

    async def call(self, method: str, path: str, body: Any = None, *, expect: int,
                   headers: dict[str, str] | None = None, form: FormData | None = None) -> Any:
        """Send one request as the token's user (a JSON body, or a multipart form); assert the
        status; check the body against the documented request schema and the answer against the
        documented response. Returns the answer (JSON decoded, or the raw bytes of a file)."""
        template, operation = operation_of(method, path)
        if body is not None and expect < 400:  # the requests meant to fail may break the rules on purpose
            request_schema = resolve(operation["requestBody"])["content"]["application/json"]["schema"]
            errors = [e.message for e in validator(request_schema).iter_errors(body)]
            assert errors == [], f"the test sends a body the document calls invalid: {errors}"
        response = await self.client.request(method, path, json=body, data=form,
                                             headers={"Authorization": f"Bearer {self.token}", **(headers or {})})
        raw = await response.read()
        assert response.status == expect, raw
        documented = operation["responses"].get(str(response.status))
        assert documented is not None, f"{method} {template}: status {response.status} not documented"
        documented = resolve(documented)
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                assert name in response.headers, f"{method} {template}: header {name} missing"
                errors = [e.message for e in validator(header["schema"]).iter_errors(response.headers[name])]
                assert errors == [], f"{method} {template}: header {name}: {errors}"
        content = documented["content"]
        if "*/*" in content:  # a file: any type, the bytes as they are
            return raw
        assert response.content_type in content, f"{method} {template}: {response.content_type} not documented"
        answer = json.loads(raw)
        errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
                  for e in validator(content[response.content_type]["schema"]).iter_errors(answer)]
        assert errors == [], f"{method} {template} {response.status}: answer does not match the document: {errors}"
        return answer


def _serve(db: Database, check: Any) -> Any:
    async def run() -> Any:
        async with TestClient(TestServer(create_app(settings_for(db)))) as client:
            return await check(client)

    return asyncio.run(run())


def _world(db: Database) -> Org:
    with db.connect("atum_owner", autocommit=True) as owner:
        return build_org(owner, "acme")


def test_real_answers_match_the_documented_schemas(db: Database) -> None:
    """A customer opens a ticket, a manager triages and works it: every answer on the way, the
    errors included, is what the document says it is."""
    org = _world(db)

    async def check(client: TestClient) -> None:
        customer = Checked(client, org.tokens["customer"])
        manager = Checked(client, org.tokens["manager"])
        me = await customer.call("GET", "/api/v1/me", expect=200)
        assert me["role"] == "customer" and me["organization"]["slug"] == "acme"

        ticket = await customer.call("POST", "/api/v1/tickets",
                                     {"subject": "VPN drops every hour", "description": "Since the update.",
                                      "priority": "HIGH"}, expect=201, headers={"Idempotency-Key": "vpn-1"})
        assert ticket["status"] == "NEW" and ticket["tags"] == []
        again = await customer.call("POST", "/api/v1/tickets",
                                    {"subject": "VPN drops every hour", "description": "Since the update.",
                                     "priority": "HIGH"}, expect=201, headers={"Idempotency-Key": "vpn-1"})
        assert again["id"] == ticket["id"]
        tid = ticket["id"]
        assert (await customer.call("GET", f"/api/v1/tickets/{tid}", expect=200))["subject"] == "VPN drops every hour"
        page = await customer.call("GET", "/api/v1/tickets?limit=1", expect=200)
        assert [t["id"] for t in page["items"]] == [tid] and page["next"] is not None
        await customer.call("GET", f"/api/v1/tickets?limit=1&after={page['next']}", expect=200)
        await customer.call("GET", "/api/v1/tickets?status=NEW&q=vpn&assignee_id=none", expect=200)
        await customer.call("POST", f"/api/v1/tickets/{tid}/comments", {"body": "Still happening."}, expect=201)
        await customer.call("POST", f"/api/v1/tickets/{tid}/comments", {"body": "psst", "internal": True},
                            expect=403)
        await customer.call("PATCH", f"/api/v1/tickets/{tid}", {"priority": "LOW"}, expect=403)

        inbox = await manager.call("GET", "/api/v1/internal/tickets/new?limit=50", expect=200)
        assert tid in [t["id"] for t in inbox["items"]]
        await manager.call("POST", f"/api/v1/internal/tickets/{tid}/accept",
                           {"priority": "URGENT", "assignee_id": org.users["agent"]}, expect=200)
        await manager.call("POST", f"/api/v1/internal/tickets/{tid}/accept", {}, expect=409)
        changed = await manager.call("PATCH", f"/api/v1/tickets/{tid}", {"tags": ["VPN", "network"]}, expect=200)
        assert changed["tags"] == ["network", "vpn"]
        await manager.call("POST", f"/api/v1/tickets/{tid}/assign", {"assignee_id": None}, expect=200)
        moved = await manager.call("POST", f"/api/v1/tickets/{tid}/transition", {"status": "IN_PROGRESS"}, expect=200)
        assert moved["sla"]["started_at"] is not None
        await manager.call("POST", f"/api/v1/tickets/{tid}/transition", {"status": "NEW"}, expect=409)
        await manager.call("POST", f"/api/v1/tickets/{tid}/comments", {"body": "Looking.", "internal": True},
                           expect=201)
        comments = await manager.call("GET", f"/api/v1/tickets/{tid}/comments", expect=200)
        assert len(comments["items"]) == 2
        history = await manager.call("GET", f"/api/v1/tickets/{tid}/history?limit=2", expect=200)
        await manager.call("GET", f"/api/v1/tickets/{tid}/history?after={history['next']}", expect=200)
        await manager.call("POST", f"/api/v1/internal/tickets/{org.other_ticket_id}/reject", {"reason": "dup"},
                           expect=409)

        # Errors: problem+json of the documented shape.
        await manager.call("GET", "/api/v1/tickets/999999999", expect=404)
        await manager.call("GET", "/api/v1/tickets?limit=0", expect=422)
        await manager.call("GET", "/api/v1/tickets?colour=red", expect=422)
        await manager.call("POST", "/api/v1/tickets", {"subject": "x", "colour": "red"}, expect=422)
        await manager.call("GET", "/api/v1/internal/tickets/new", expect=200)
        await customer.call("GET", "/api/v1/internal/tickets/new", expect=403)
        await Checked(client, "atum_s_nonsense").call("GET", "/api/v1/me", expect=401)
        await manager.call("GET", "/api/v1/admin/api-tokens", expect=200)
        await manager.call("POST", "/api/v1/admin/api-tokens", {"name": "ci", "role": "agent"}, expect=403)

        admin = Checked(client, org.tokens["admin"])
        created = await admin.call("POST", "/api/v1/admin/api-tokens",
                                   {"name": "CI", "role": "agent", "expires_at": "2999-01-01T00:00:00Z"}, expect=201)
        listed = await admin.call("GET", "/api/v1/admin/api-tokens", expect=200)
        assert created["id"] in [t["id"] for t in listed["items"]]
        await admin.call("DELETE", f"/api/v1/admin/api-tokens/{created['id']}", expect=200)
        invited = await admin.call("POST", "/api/v1/admin/users/invite",
                                   {"email": "new.agent@acme.example", "role": "agent", "display_name": "New"},
                                   expect=201)
        assert invited["is_active"] and invited["last_login_at"] is None
        await admin.call("POST", "/api/v1/admin/users/invite", {"email": "new.agent@acme.example", "role": "agent"},
                         expect=409)
        # Attachments: a multipart upload, the list, the download (any type, as the file).
        form = FormData()
        form.add_field("file", b"log line 1\n", filename="vpn.log", content_type="text/plain")
        attached = await customer.call("POST", f"/api/v1/tickets/{tid}/attachments", form=form, expect=201)
        listed_files = await customer.call("GET", f"/api/v1/tickets/{tid}/attachments", expect=200)
        assert [a["id"] for a in listed_files["items"]] == [attached["id"]]
        assert await customer.call("GET", f"/api/v1/attachments/{attached['id']}", expect=200) == b"log line 1\n"

        # Configuration that the ticket form and the admin pages read.
        await customer.call("GET", "/api/v1/categories", expect=200)
        await manager.call("GET", "/api/v1/admin/organization", expect=200)
        calendars = await manager.call("GET", "/api/v1/admin/calendars", expect=200)
        await manager.call("GET", f"/api/v1/admin/calendars/{calendars['items'][0]['id']}", expect=200)
        await manager.call("GET", "/api/v1/admin/sla-policies", expect=200)
        await manager.call("GET", "/api/v1/admin/teams", expect=200)
        await manager.call("GET", f"/api/v1/admin/users/{org.users['agent']}", expect=200)
        await customer.call("GET", "/api/v1/admin/users", expect=403)
        await admin.call("POST", "/api/v1/admin/teams", {"name": "Second line"}, expect=201)
        await admin.call("POST", "/api/v1/admin/categories", {"name": "Network", "is_active": True}, expect=201)
        await admin.call("PUT", f"/api/v1/admin/calendars/{calendars['items'][0]['id']}/hours",
                         {"hours": [{"weekday": 1, "opens_at": "08:00", "closes_at": "24:00"}]}, expect=200)
        await admin.call("PATCH", "/api/v1/admin/organization", {"sla_warning_ratio": 0.75}, expect=200)

        await customer.call("POST", "/api/v1/auth/logout", expect=200)
        await customer.call("GET", "/api/v1/me", expect=401)

    _serve(db, check)


def test_sign_in_and_operator_answers_match_the_documented_schemas(db: Database) -> None:
    org = _world(db)
    with psycopg.connect(db.conninfo("atum_owner"), autocommit=True) as owner:
        from atumdesk.passwords import hash_password

        owner.execute("UPDATE atum.users SET password_hash = %s WHERE organization_id = %s AND id = %s",
                      [hash_password("correct horse battery"), org.id, org.users["agent"]])

    async def check(client: TestClient) -> None:
        browser = {"X-Requested-With": "fetch"}

        async def anonymous(method: str, path: str, body: Any, expect: int) -> Any:
            template, operation = operation_of(method, path)
            response = await client.request(method, path, json=body, headers=browser)
            assert response.status == expect, await response.text()
            content = resolve(operation["responses"][str(expect)])["content"]
            assert response.content_type in content
            answer = await response.json(content_type=None)
            errors = [e.message for e in validator(content[response.content_type]["schema"]).iter_errors(answer)]
            assert errors == [], f"{method} {template} {expect}: {errors}"
            return answer

        user = await anonymous("POST", "/api/v1/auth/login",
                               {"email": "agent@acme.example", "password": "correct horse battery"}, 200)
        assert user["role"] == "agent"
        await anonymous("POST", "/api/v1/auth/login", {"email": "agent@acme.example", "password": "wrong"}, 401)
        await anonymous("POST", "/api/v1/auth/password-reset", {"email": "agent@acme.example"}, 202)
        await anonymous("POST", "/api/v1/auth/password-reset/confirm",
                        {"token": "atum_r_forged", "password": "a new long password"}, 422)
        await anonymous("POST", "/api/v1/auth/invitation/accept",
                        {"token": "atum_i_forged", "password": "a new long password"}, 422)
        await anonymous("GET", "/healthz", None, 200)
        await anonymous("GET", "/readyz", None, 200)
        response = await client.get("/metrics")
        assert response.status == 200 and response.content_type == "text/plain"

    _serve(db, check)


def test_routes_are_compared_with_path_parameters_in_openapi_syntax() -> None:
    """The comparison itself: aiohttp's {id:\\d+} is OpenAPI's {id}."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get(r"/api/v1/things/{id:\d+}", handler)
    assert [r.resource.canonical for r in app.router.routes() if r.resource] == ["/api/v1/things/{id}"] * 2
