"""Signing in and staying safe: sessions and their cookie, logout, timeouts, brute-force throttling,
same-origin proof, client addresses behind proxies, password resets and API tokens."""

from __future__ import annotations

import json

from argon2 import PasswordHasher

from tests.api.client import PASSWORD, Api, owner_query, run_api, world
from tests.support import Database

STATE_CHANGE = {"subject": "Printer on fire", "description": "Smoke everywhere."}


def test_signing_in_gives_the_user_and_a_fresh_http_only_session_cookie(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        first = await api.login("manager@alpha.example")
        assert first.status == 200
        assert first.body["email"] == "manager@alpha.example" and first.body["role"] == "manager"
        assert first.body["organization"]["slug"] == "alpha"
        assert "hash" not in json.dumps(first.body)
        cookie = first.cookies["atum_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain HTTP here; see the proxy test for HTTPS
        me = await api.call("GET", "/api/v1/me")
        assert (me.status, me.body["email"]) == (200, "manager@alpha.example")
        second = await api.login("manager@alpha.example")
        assert second.cookies["atum_session"].value != cookie.value  # a new session id at every sign-in

    run_api(db, scenario)


def test_wrong_passwords_and_unknown_accounts_get_the_same_answer(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        wrong = await api.login("manager@alpha.example", "not the password")
        unknown = await api.login("nobody@alpha.example", "not the password")
        wrong_org = await api.login("manager@alpha.example", PASSWORD, organization="beta")
        for reply in (wrong, unknown, wrong_org):
            assert reply.status == 401
            assert reply.body["detail"] == wrong.body["detail"]
            assert "atum_session" not in reply.cookies
        ambiguous = await api.login("manager@alpha.example", PASSWORD, organization="ALPHA")
        assert ambiguous.status == 200  # the organization's slug is matched without case

    run_api(db, scenario)


def test_an_account_is_locked_after_five_failures_whether_or_not_it_exists(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        for email in ("agent@alpha.example", "ghost@alpha.example"):
            for _ in range(5):
                assert (await api.login(email, "guess")).status == 401
            locked = await api.login(email, PASSWORD)  # even the right password now waits
            assert locked.status == 429
            assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
        other = await api.login("manager@alpha.example")  # other accounts are not affected
        assert other.status == 200

    run_api(db, scenario)
    keys = dict(owner_query(db, "SELECT key, failures FROM atum.login_throttles"))
    assert keys["account:*:agent@alpha.example"] == 5 and keys["account:*:ghost@alpha.example"] == 5


def test_a_successful_sign_in_resets_the_account_counter(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        for _ in range(4):
            await api.login("agent@alpha.example", "guess")
        assert (await api.login("agent@alpha.example")).status == 200
        for _ in range(4):
            await api.login("agent@alpha.example", "guess")
        assert (await api.login("agent@alpha.example")).status == 200

    run_api(db, scenario)


def test_an_address_is_locked_after_fifty_failures_across_accounts(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        for n in range(50):
            assert (await api.login(f"probe{n}@alpha.example", "guess")).status == 401
        assert (await api.login("manager@alpha.example")).status == 429

    run_api(db, scenario)


def test_forwarded_addresses_count_only_from_a_configured_proxy(db: Database) -> None:
    world(db)
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}

    async def direct(api: Api) -> None:
        reply = await api.login("agent@alpha.example", "guess", headers=spoofed)
        assert reply.status == 401

    run_api(db, direct)
    addresses = owner_query(db, "SELECT key FROM atum.login_throttles WHERE key LIKE 'address:%'")
    assert addresses == [("address:127.0.0.1",)]

    async def behind_proxy(api: Api) -> None:
        reply = await api.login("agent@alpha.example", "guess", headers={**spoofed, "Origin": "https://shop.test",
                                                                          "Host": "shop.test"})
        assert reply.status == 401
        reply = await api.login("manager@alpha.example", headers={**spoofed, "Origin": "https://shop.test",
                                                                   "Host": "shop.test"})
        assert reply.status == 200
        assert reply.cookies["atum_session"]["secure"]  # HTTPS as the proxy says: the cookie is Secure

    run_api(db, behind_proxy, ATUM_TRUSTED_PROXIES="127.0.0.1")
    assert ("address:203.0.113.9",) in owner_query(db, "SELECT key FROM atum.login_throttles")


def test_logging_out_ends_the_session_on_the_server(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        await api.login("agent@alpha.example")
        token = api.client.session.cookie_jar.filter_cookies(api.client.make_url("/"))["atum_session"].value
        assert (await api.call("POST", "/api/v1/auth/logout", browser=True)).status == 200
        assert (await api.call("GET", "/api/v1/me")).status == 401
        # A copy of the cookie kept elsewhere is worthless too.
        assert (await api.call("GET", "/api/v1/me", token=token)).status == 401

    run_api(db, scenario)


def test_sessions_end_after_the_idle_timeout_and_the_absolute_lifetime(db: Database) -> None:
    alpha, _ = world(db)
    idle, old = alpha.tokens["agent"], alpha.tokens["manager"]
    owner_query(db, "UPDATE atum.sessions SET last_seen_at = now() - interval '3 hours'"
                    " WHERE token_hash = atum_private.token_hash(%s)", [idle])
    owner_query(db, "UPDATE atum.sessions SET expires_at = now() - interval '1 second'"
                    " WHERE token_hash = atum_private.token_hash(%s)", [old])

    async def scenario(api: Api) -> None:
        for token in (idle, old):
            reply = await api.call("GET", "/api/v1/me", token=token)
            assert reply.status == 401 and reply.headers["Content-Type"].startswith("application/problem+json")
        assert (await api.call("GET", "/api/v1/me", token=alpha.tokens["admin"])).status == 200

    run_api(db, scenario)


def test_cookie_requests_that_change_data_must_prove_they_come_from_our_pages(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        await api.login("customer@alpha.example")
        plain = await api.call("POST", "/api/v1/tickets", json_body=STATE_CHANGE)
        assert plain.status == 403
        foreign = await api.call("POST", "/api/v1/tickets", json_body=STATE_CHANGE, browser=True,
                                 headers={"Origin": "https://evil.example"})
        assert foreign.status == 403
        cross_site = await api.call("POST", "/api/v1/tickets", json_body=STATE_CHANGE, browser=True,
                                    headers={"Sec-Fetch-Site": "cross-site"})
        assert cross_site.status == 403
        ours = await api.call("POST", "/api/v1/tickets", json_body=STATE_CHANGE, browser=True,
                              headers={"Sec-Fetch-Site": "same-origin"})
        assert ours.status == 201
        # Reading needs no proof: a cross-site page cannot read the answer anyway.
        assert (await api.call("GET", "/api/v1/tickets")).status == 200

    run_api(db, scenario)
    assert owner_query(db, "SELECT count(*) FROM atum.tickets WHERE subject = 'Printer on fire'") == [(1,)]


def test_form_and_text_bodies_on_json_routes_are_refused_with_415(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        form = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"],
                              data={"subject": "x", "description": "y"})
        text = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], data="subject=x",
                              headers={"Content-Type": "text/plain"})
        assert form.status == 415 and text.status == 415
        assert form.headers["Content-Type"].startswith("application/problem+json")
        broken = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], data="{not json",
                                headers={"Content-Type": "application/json"})
        assert broken.status == 422

    run_api(db, scenario)


def test_bearer_tokens_need_no_same_origin_proof(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        reply = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], json_body=STATE_CHANGE)
        assert reply.status == 201 and reply.body["status"] == "NEW"

    run_api(db, scenario)


def test_a_weak_hash_is_replaced_at_sign_in(db: Database) -> None:
    world(db)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    owner_query(db, "UPDATE atum.users SET password_hash = %s WHERE email = 'agent@alpha.example'", [weak])

    async def scenario(api: Api) -> None:
        assert (await api.login("agent@alpha.example")).status == 200

    run_api(db, scenario)
    [(stored,)] = owner_query(db, "SELECT password_hash FROM atum.users WHERE email = 'agent@alpha.example'")
    assert stored != weak and "m=24576,t=2,p=1" in stored


def test_password_reset_answers_alike_and_its_link_works_once(db: Database) -> None:
    alpha, _ = world(db)

    async def request_reset(api: Api) -> None:
        known = await api.call("POST", "/api/v1/auth/password-reset", browser=True,
                               json_body={"email": "agent@alpha.example"})
        unknown = await api.call("POST", "/api/v1/auth/password-reset", browser=True,
                                 json_body={"email": "ghost@alpha.example"})
        assert known.status == unknown.status == 202 and known.body == unknown.body

    run_api(db, request_reset)
    [(payload,)] = owner_query(db, "SELECT payload FROM atum.jobs WHERE kind = 'mail.password_reset'")
    assert payload["user_id"] == alpha.users["agent"]

    async def redeem(api: Api) -> None:
        body = {"token": payload["token"], "password": "a brand new secret"}
        done = await api.call("POST", "/api/v1/auth/password-reset/confirm", browser=True, json_body=body)
        assert done.status == 200
        again = await api.call("POST", "/api/v1/auth/password-reset/confirm", browser=True, json_body=body)
        assert again.status == 422 and again.body["field"] == "token"
        # Whoever knew the old password is signed out; the new one works, the old one not.
        assert (await api.call("GET", "/api/v1/me", token=alpha.tokens["agent"])).status == 401
        assert (await api.login("agent@alpha.example")).status == 401
        assert (await api.login("agent@alpha.example", "a brand new secret")).status == 200
        short = await api.call("POST", "/api/v1/auth/password-reset/confirm", browser=True,
                               json_body={"token": payload["token"], "password": "short"})
        assert short.status == 422 and short.body["field"] == "password"

    run_api(db, redeem)


def test_an_expired_reset_link_is_refused(db: Database) -> None:
    world(db)

    async def scenario(api: Api) -> None:
        await api.call("POST", "/api/v1/auth/password-reset", browser=True, json_body={"email": "agent@alpha.example"})
        [(payload,)] = owner_query(db, "SELECT payload FROM atum.jobs WHERE kind = 'mail.password_reset'")
        owner_query(db, "UPDATE atum.user_tokens SET expires_at = now() - interval '1 second'")
        reply = await api.call("POST", "/api/v1/auth/password-reset/confirm", browser=True,
                               json_body={"token": payload["token"], "password": "a brand new secret"})
        assert reply.status == 422

    run_api(db, scenario)


def test_invited_users_set_their_password_through_the_invitation(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        invited = await api.call("POST", "/api/v1/admin/users/invite", token=alpha.tokens["admin"],
                                 json_body={"email": "New.Agent@Alpha.example", "role": "agent"})
        assert invited.status == 201 and invited.body["email"] == "new.agent@alpha.example"
        refused = await api.call("POST", "/api/v1/admin/users/invite", token=alpha.tokens["manager"],
                                 json_body={"email": "x@alpha.example", "role": "admin"})
        assert refused.status == 403
        taken = await api.call("POST", "/api/v1/admin/users/invite", token=alpha.tokens["admin"],
                               json_body={"email": "agent@alpha.example", "role": "agent"})
        assert taken.status == 409 and taken.body["field"] == "email"
        [(payload,)] = owner_query(db, "SELECT payload FROM atum.jobs WHERE kind = 'mail.invitation'")
        accepted = await api.call("POST", "/api/v1/auth/invitation/accept", browser=True,
                                  json_body={"token": payload["token"], "password": "my first password"})
        assert accepted.status == 200
        assert (await api.login("new.agent@alpha.example", "my first password")).status == 200

    run_api(db, scenario)


def test_api_tokens_are_shown_once_act_with_their_role_and_stop_when_revoked(db: Database) -> None:
    alpha, beta = world(db)

    async def scenario(api: Api) -> None:
        admin = alpha.tokens["admin"]
        made = await api.call("POST", "/api/v1/admin/api-tokens", token=admin,
                              json_body={"name": "Monitoring", "role": "agent"})
        assert made.status == 201 and made.body["token"].startswith("atum_t_")
        listed = await api.call("GET", "/api/v1/admin/api-tokens", token=admin)
        assert made.body["token"] not in json.dumps(listed.body)
        assert listed.status == 200, listed.body
        assert "Monitoring" in [t["name"] for t in listed.body["items"]]
        me = await api.call("GET", "/api/v1/me", token=made.body["token"])
        assert (me.status, me.body["role"]) == (200, "agent")  # the token's role, not the admin's
        inbox = await api.call("GET", "/api/v1/internal/tickets/new", token=made.body["token"])
        assert inbox.status == 403
        too_high = await api.call("POST", "/api/v1/admin/api-tokens", token=admin,
                                  json_body={"name": "x", "role": "admin", "user_id": alpha.users["agent"]})
        assert too_high.status == 422 and too_high.body["field"] == "role"
        not_admin = await api.call("POST", "/api/v1/admin/api-tokens", token=alpha.tokens["manager"],
                                   json_body={"name": "x", "role": "agent"})
        assert not_admin.status == 403
        other_org = await api.call("DELETE", f"/api/v1/admin/api-tokens/{made.body['id']}", token=beta.tokens["admin"])
        assert other_org.status == 404
        revoked = await api.call("DELETE", f"/api/v1/admin/api-tokens/{made.body['id']}", token=admin)
        assert revoked.status == 200 and revoked.body["revoked_at"]
        assert (await api.call("GET", "/api/v1/me", token=made.body["token"])).status == 401

    run_api(db, scenario)
