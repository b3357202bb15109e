"""Sign-in and the account routes: login, logout, me, password resets, invitations, API tokens.

Only what PostgreSQL cannot do is here: argon2id hashing and verifying (in a worker thread, so a
sign-in does not stall the event loop), and the session cookie. Who may try, which accounts a
password is checked against, lock-outs and sessions are the database's (sql/52_api_auth.sql).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from api.context import CLIENT_IP, IS_HTTPS, SESSION_COOKIE, TOKEN
from api.db import call, q
from api.errors import Problem
from api.web_io import header_text, json_body, json_text, only_fields, path_id, text_field
from atumdesk.passwords import hash_password, needs_rehash, password_problem, verify_password

SESSION_MAX_AGE = 12 * 3600  # the session's absolute lifetime (api.login_complete issues 12 hours)
FAILED = "wrong e-mail address, password or organization"
# Verified when no account matches, so that unknown accounts take as long as known ones.
_DUMMY_HASH = hash_password("not a real password, only here to spend the same time")


def _match(candidates: list[dict[str, Any]], password: str) -> dict[str, Any] | None:
    """The one candidate whose hash the password verifies against (None: no match, or ambiguous)."""
    matched = [c for c in candidates if verify_password(c["hash"], password)]
    if not candidates:
        verify_password(_DUMMY_HASH, password)
    return matched[0] if len(matched) == 1 else None


async def _anonymous(request: web.Request, name: str, params: list[Any]) -> Any:
    text = await call(request, q(name), params, authenticate=False)
    return json.loads(text)


def _set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_MAX_AGE, path="/", httponly=True, samesite="Lax",
                        secure=bool(request[IS_HTTPS]))


async def login(request: web.Request) -> web.Response:
    """POST /api/v1/auth/login {email, password, organization?}: 200 with the user and a new session cookie."""
    body = await json_body(request)
    only_fields(body, {"email", "password", "organization"})
    email = text_field(body, "email")
    password = text_field(body, "password")
    organization = text_field(body, "organization", required=False)
    assert email is not None and password is not None
    if len(email) > 320 or len(password) > 1024 or len(organization or "") > 100:
        raise Problem(422, FAILED)
    client_ip = request[CLIENT_IP]
    found = await _anonymous(request, "login_candidates", [email, organization, client_ip])
    if found.get("locked_for"):
        raise Problem(429, "too many failed sign-ins; try again later",
                      headers={"Retry-After": str(found["locked_for"])})
    matched = await asyncio.to_thread(_match, found["candidates"], password)
    new_hash = None
    if matched is not None and needs_rehash(matched["hash"]):
        new_hash = await asyncio.to_thread(hash_password, password)
    done = await _anonymous(request, "login_complete", [
        email, organization, client_ip, (header_text(request, "User-Agent") or "")[:512],
        matched and matched["organization_id"], matched and matched["user_id"], matched and matched["hash"], new_hash])
    if done.get("failed"):
        raise Problem(401, FAILED)
    response = json_text(json.dumps(done["user"]))
    _set_session_cookie(request, response, done["token"])
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /api/v1/auth/logout: ends the session on the server and clears the cookie. Its live sockets,
    in whichever process, close with 4401 when the database announces the end (api/live.py)."""
    response = json_text(await call(request, q("logout")))
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    """GET /api/v1/me: the signed-in user, role and organization."""
    return json_text(await call(request, q("authenticate"), [request.get(TOKEN)], authenticate=False))


async def password_reset_request(request: web.Request) -> web.Response:
    """POST /api/v1/auth/password-reset {email, organization?}: 202, the same whether or not the account exists."""
    body = await json_body(request)
    email = text_field(body, "email")
    organization = text_field(body, "organization", required=False)
    return json_text(await call(request, q("password_reset_request"),
                                [email, organization, request[CLIENT_IP]], authenticate=False), status=202)


async def redeem(request: web.Request) -> web.Response:
    """POST /api/v1/auth/password-reset/confirm and /auth/invitation/accept {token, password}."""
    body = await json_body(request)
    token = text_field(body, "token")
    password = text_field(body, "password")
    assert password is not None
    problem = password_problem(password)
    if problem:
        raise Problem(422, problem, field="password")
    new_hash = await asyncio.to_thread(hash_password, password)
    return json_text(await call(request, q("user_token_redeem"), [token, new_hash], authenticate=False))


async def user_invite(request: web.Request) -> web.Response:
    """POST /api/v1/admin/users/invite {email, role, display_name?}: 201 (admin)."""
    body = await json_body(request)
    only_fields(body, {"email", "role", "display_name"})
    return json_text(await call(request, q("user_invite"), [
        text_field(body, "email"), text_field(body, "role"), text_field(body, "display_name", required=False) or ""]),
        status=201)


async def api_token_create(request: web.Request) -> web.Response:
    """POST /api/v1/admin/api-tokens {name, role, user_id?, expires_at?}: 201 with the token, shown once."""
    body = await json_body(request)
    only_fields(body, {"name", "role", "user_id", "expires_at"})
    user_id = body.get("user_id")
    if user_id is not None and (not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id < 2**63):
        raise Problem(422, "user_id must be a user's id", field="user_id")
    return json_text(await call(request, q("api_token_create"), [
        text_field(body, "name"), text_field(body, "role"), user_id,
        text_field(body, "expires_at", required=False)]), status=201)


async def api_token_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/api-tokens (admin)."""
    return json_text(await call(request, q("api_token_list"), read_only=True))


async def api_token_revoke(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/api-tokens/{id} (admin): revoked at once."""
    return json_text(await call(request, q("api_token_revoke"), [path_id(request)]))

