"""Schemathesis against the real server: a few thousand requests generated from api/openapi.json,
valid ones and deliberately invalid ones, sent over TCP to the app backed by the test database.

What must hold for every one of them: no 5xx, and the answer is one the document describes (its
status code, its content type, its body schema, its documented headers). The requests are sent as
a manager with an API token (most of them), as a customer and as an admin with session tokens, so
that the role checks answer too, not only the happy path.

Random ids would almost always be 404, so part of the generated requests are steered to ids that
exist (tickets, users, teams, categories, calendars, API tokens and attachments, of the organization
and of another one); the rest keep what Hypothesis drew. Every operation of the document is
exercised; none is excluded. Two operations would end the identity under test and are given what
they take instead: each ``POST /auth/logout`` gets a session of its own, issued for it; after each
``PATCH /admin/users/{id}`` by the admin (who may demote or deactivate themselves once an invited
admin exists) the admin's account and session are restored.

The run is seeded (the same requests every time), so that CI does not flake; set
ATUM_SCHEMATHESIS_SEED to explore other inputs.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import openapi
from api.app import create_app
from tests.api.test_operator_endpoints import settings_for
from tests.support import Database, Org, build_org

SEED = int(os.environ.get("ATUM_SCHEMATHESIS_SEED", "20260401"))  # another seed explores other inputs
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

# Examples per operation and identity: (valid, invalid). Each operation is mostly exercised by the
# identity it is for (admins for the admin writes, the manager for the rest); the other identities
# send fewer, enough to see their refusals answer as documented. Hypothesis stops earlier for
# operations with few possible inputs (GET /me has exactly one).
PRIMARY = (30, 15)
SECONDARY = (6, 3)
IDENTITIES = ("manager", "customer", "admin")  # in this order: the admin's changes come last
MIN_REQUESTS = 2500  # "a few thousand": fewer means generation broke, not that the API is fine
STEER = 0.7  # share of generated requests whose path id is replaced by one that exists


@contextmanager
def running_server(db: Database) -> Iterator[str]:
    """The real app on a free local port, served from a thread with its own event loop (aiohttp is
    not ASGI, and schemathesis sends real HTTP with requests); yields the base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="atum-http", daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    runner = web.AppRunner(create_app(settings_for(db)), access_log=None)
    run(runner.setup())
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        run(site.start())
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@dataclass
class World:
    """The organization under test and the ids worth steering requests to."""

    org: Org
    owner: psycopg.Connection[Any]
    tokens: dict[str, str] = field(default_factory=dict)
    ticket_ids: list[int] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)
    calendar_ids: list[int] = field(default_factory=list)
    api_token_ids: list[int] = field(default_factory=list)
    attachment_ids: list[int] = field(default_factory=list)

    def fresh_session(self, role: str) -> str:
        """A new session of the role's user (for a request that ends its session)."""
        row = self.owner.execute("SELECT atum_private.session_issue(%s, %s)",
                                 [self.org.id, self.org.users[role]]).fetchone()
        assert row is not None
        return str(row[0])

    def restore_admin(self) -> None:
        """Make the admin an active admin with a working session again. Once another admin exists
        (one can be invited), an admin may demote or deactivate themselves, which ends their
        sessions; the rest of the run would then test nothing but 401."""
        self.owner.execute("UPDATE atum.users SET role = 'admin', is_active = true"
                           " WHERE organization_id = %s AND id = %s AND (role <> 'admin' OR NOT is_active)",
                           [self.org.id, self.org.users["admin"]])
        self.tokens["admin"] = self.fresh_session("admin")

    def pool_for(self, path: str, name: str) -> list[int]:
        """Existing ids for a path or body parameter of an operation."""
        if name == "id":
            for prefix, pool in (("/api/v1/attachments/", self.attachment_ids),
                                 ("/api/v1/admin/api-tokens/", self.api_token_ids),
                                 ("/api/v1/admin/users/", self.user_ids),
                                 ("/api/v1/admin/teams/", self.team_ids),
                                 ("/api/v1/admin/categories/", self.category_ids),
                                 ("/api/v1/admin/calendars/", self.calendar_ids)):
                if path.startswith(prefix):
                    return pool
            return self.ticket_ids
        return {"assignee_id": self.user_ids, "requester_id": self.user_ids, "user_id": self.user_ids,
                "category_id": self.category_ids, "parent_id": self.category_ids, "team_id": self.team_ids,
                "calendar_id": self.calendar_ids}.get(name, [])


def build_world(db: Database, owner: psycopg.Connection[Any]) -> World:
    """Two organizations (ids of the other one must answer 404), forty NEW tickets for accept and
    reject to act on, and a manager API token (logout does not end an API token)."""
    org = build_org(owner, "acme")
    other = build_org(owner, "other")
    world = World(org=org, owner=owner)
    token = "atum_t_schemathesis-manager-token-0123456789abcdefghijklmnopq"
    owner.execute("INSERT INTO atum.api_tokens (organization_id, user_id, name, token_hash, role)"
                  " VALUES (%s, %s, 'schemathesis', atum_private.token_hash(%s), 'manager')",
                  [org.id, org.users["manager"], token])
    world.tokens = {"manager": token, "customer": org.tokens["customer"], "admin": org.tokens["admin"]}
    # NEW tickets for accept and reject to act on (each can be accepted or rejected once).
    owner.execute("INSERT INTO atum.tickets (organization_id, subject, description, requester_id)"
                  " SELECT %s, 'Printer ' || g, 'Paper jam number ' || g, %s FROM generate_series(1, 40) g",
                  [org.id, org.users["customer"]])

    def ids(sql: str, params: list[Any]) -> list[int]:
        return [row[0] for row in owner.execute(sql, params)]  # type: ignore[arg-type]

    world.ticket_ids = ids("SELECT id FROM atum.tickets WHERE organization_id = ANY (%s) ORDER BY id",
                           [[org.id, other.id]])
    world.user_ids = ids("SELECT id FROM atum.users WHERE organization_id = %s ORDER BY id", [org.id])
    world.category_ids = ids("SELECT id FROM atum.categories WHERE organization_id = ANY (%s)", [[org.id, other.id]])
    world.team_ids = ids("SELECT id FROM atum.teams WHERE organization_id = ANY (%s)", [[org.id, other.id]])
    world.calendar_ids = ids("SELECT id FROM atum.business_calendars WHERE organization_id = ANY (%s)",
                             [[org.id, other.id]])
    # Not the manager's own token: an admin revoking it would end the manager's part of the run.
    world.api_token_ids = ids("SELECT id FROM atum.api_tokens WHERE organization_id = ANY (%s) AND name <> "
                              "'schemathesis'", [[org.id, other.id]])
    return world


def upload_attachments(world: World, base_url: str, session: requests.Session) -> None:
    """Real attachments (file in the store, row in the database) to download and list. build_org's
    attachment rows are database fixtures without files: a download of one is the operator's
    problem (500, "the file cannot be read"), not an input this test is about, so they go."""
    world.owner.execute("DELETE FROM atum.attachments")
    for role, internal in (("customer", "false"), ("manager", "true")):
        response = session.post(f"{base_url}/api/v1/tickets/{world.org.ticket_id}/attachments",
                                headers={"Authorization": f"Bearer {world.tokens[role]}"},
                                files={"file": (f"{role}.txt", b"hello from the " + role.encode(), "text/plain")},
                                data={"internal": internal}, timeout=30)
        assert response.status_code == 201, response.text
        world.attachment_ids.append(response.json()["id"])


def primary_identity(operation: Any) -> str:
    """Who an operation is for: admins change the configuration, the manager does everything else."""
    admin_write = operation.path.startswith("/api/v1/admin/") and operation.method.upper() != "GET"
    return "admin" if admin_write else "manager"


@dataclass
class Tally:
    """What was sent and what came back, for the assertions and for the report on failure."""

    requests: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    no_invalid_input: set[str] = field(default_factory=set)

    def summary(self) -> str:
        lines = [f"{self.requests} requests"]
        by_operation: dict[str, list[str]] = {}
        for (name, status), count in sorted(self.statuses.items()):
            by_operation.setdefault(name, []).append(f"{status}×{count}")
        lines += [f"  {name}: {' '.join(counts)}" for name, counts in by_operation.items()]
        lines.append(f"operations without any input to make invalid: {', '.join(sorted(self.no_invalid_input))}")
        return "\n".join(lines)


def exercise(operation: Any, mode: GenerationMode, examples: int, role: str, base_url: str, world: World,
             tally: Tally, session: requests.Session) -> None:
    """Send ``examples`` generated requests for one operation as one identity, checking each answer."""
    anonymous = operation.definition.raw.get("security") == []
    path = operation.path

    @seed(SEED)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, print_blob=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def one(case: schemathesis.Case, data: st.DataObject) -> None:
        if case.path_parameters and "id" in case.path_parameters and data.draw(st.floats(0, 1)) < STEER:
            pool = world.pool_for(path, "id")
            if pool:
                case.path_parameters["id"] = data.draw(st.sampled_from(pool))
        if mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
            for name in list(case.body):
                pool = world.pool_for(path, name)
                steer: bool = data.draw(st.booleans())
                if pool and steer:
                    case.body[name] = data.draw(st.sampled_from(pool))
        headers: dict[str, str] = {}
        if not anonymous:
            # logout ends the session it is called with: give it one of its own.
            token = world.fresh_session(role) if path == "/api/v1/auth/logout" else world.tokens[role]
            headers["Authorization"] = f"Bearer {token}"
        tally.requests += 1
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        except requests.RequestException as exc:
            tally.failures.setdefault(f"{operation.label}: {type(exc).__name__}", f"{exc}\n{case.as_curl_command()}")
            return
        tally.statuses[(operation.label, response.status_code)] += 1
        if role == "admin" and operation.label == "PATCH /api/v1/admin/users/{id}":
            world.restore_admin()
        if response.status_code == 201 and path == "/api/v1/tickets":
            world.ticket_ids.append(response.json()["id"])
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # the first example of each kind of failure is enough to act on
            titles = ", ".join(sorted({failure.title for failure in group.exceptions}))
            tally.failures.setdefault(f"{operation.label} [{role}, {mode.value}]: {titles}", str(group)[:3000])

    try:
        one()
    except Unsatisfiable:
        # Only for invalid input to an operation that takes none (GET /api/v1/me): nothing to send.
        assert mode is GenerationMode.NEGATIVE, operation.label
        tally.no_invalid_input.add(operation.label)


def test_generated_requests_get_no_server_error_and_documented_answers(db: Database) -> None:
    schema = schemathesis.openapi.from_dict(openapi.DOCUMENT)
    # Credentials are real and passed with each request, not generated from the security schemes.
    schema.config.generation.update(with_security_parameters=False)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an operation schemathesis cannot read: {result}"
        operations.append(result.ok())
    assert {op.label for op in operations} == {f"{m.upper()} {p}" for p, item in openapi.DOCUMENT["paths"].items()
                                               for m in item}, "every documented operation is generated"
    tally = Tally()
    with db.connect("atum_owner", autocommit=True) as owner, running_server(db) as base_url, \
            requests.Session() as session:
        world = build_world(db, owner)
        upload_attachments(world, base_url, session)
        for role in IDENTITIES:
            for operation in operations:
                valid, invalid = PRIMARY if role == primary_identity(operation) else SECONDARY
                for mode, examples in ((GenerationMode.POSITIVE, valid), (GenerationMode.NEGATIVE, invalid)):
                    exercise(operation, mode, examples, role, base_url, world, tally, session)
    report = tally.summary()
    print(report)  # shown with -s, and below on failure: which answers each operation got
    assert not tally.failures, "\n\n".join(f"== {key}\n{text}" for key, text in tally.failures.items()) + \
        "\n\n" + report
    assert not [key for key in tally.statuses if key[1] >= 500], report
    assert tally.requests >= MIN_REQUESTS, report
