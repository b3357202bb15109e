"""Admins see their organization's background jobs over HTTP and retry dead ones; nobody else
does, no payload is ever shown, and another organization's job is answered as a missing one."""

from __future__ import annotations

from tests.api.client import Api, owner_query, run_api, world
from tests.support import Database

FIELDS = {"id", "kind", "state", "attempts", "max_attempts", "last_error", "run_after", "created_at", "finished_at"}


def dead_job(db: Database, organization_id: int, kind: str = "mail.notify", dedupe_key: str | None = None) -> int:
    """A job that gave up, with a secret in its payload, as the worker leaves one."""
    return int(owner_query(
        db, "INSERT INTO atum.jobs (organization_id, kind, payload, state, attempts, max_attempts, dedupe_key,"
            " last_error, finished_at)"
            " VALUES (%s, %s, '{\"token\": \"atum_r_secret\"}', 'dead', 3, 3, %s,"
            " 'SMTPRecipientsRefused: 550 no such user', now()) RETURNING id",
        [organization_id, kind, dedupe_key])[0][0])


def test_admins_list_their_jobs_without_payloads_and_retry_a_dead_one(db: Database) -> None:
    alpha, beta = world(db)
    dead = dead_job(db, alpha.id)
    theirs = dead_job(db, beta.id)
    twin = dead_job(db, alpha.id, "mail.poll", dedupe_key="mailbox:1")
    owner_query(db, "SELECT atum_private.job_enqueue('mail.poll', '{}', %s, 'mailbox:1')", [alpha.id])

    async def scenario(api: Api) -> None:
        admin = alpha.tokens["admin"]
        listed = await api.call("GET", "/api/v1/admin/jobs", token=admin)
        assert listed.status == 200, listed.body
        ids = [j["id"] for j in listed.body["items"]]
        assert dead in ids and theirs not in ids
        assert all(set(j) == FIELDS for j in listed.body["items"])
        assert "atum_r_secret" not in str(listed.body)

        only_dead = await api.call("GET", "/api/v1/admin/jobs?state=dead&limit=1", token=admin)
        assert [j["id"] for j in only_dead.body["items"]] == [twin]  # newest first
        assert only_dead.body["items"][0]["last_error"] == "SMTPRecipientsRefused: 550 no such user"
        rest = await api.call("GET", f"/api/v1/admin/jobs?state=dead&after={only_dead.body['next']}", token=admin)
        assert [j["id"] for j in rest.body["items"]] == [dead] and rest.body["next"] is None
        by_kind = await api.call("GET", "/api/v1/admin/jobs?kind=mail.poll", token=admin)
        assert {j["kind"] for j in by_kind.body["items"]} == {"mail.poll"}

        retried = await api.call("POST", f"/api/v1/admin/jobs/{dead}/retry", token=admin)
        assert retried.status == 200, retried.body
        assert (retried.body["state"], retried.body["attempts"], retried.body["finished_at"]) == ("queued", 0, None)
        assert retried.body["last_error"] == "SMTPRecipientsRefused: 550 no such user"
        again = await api.call("POST", f"/api/v1/admin/jobs/{dead}/retry", token=admin)
        assert again.status == 409 and "only failed or dead jobs" in again.body["detail"]
        # A poll of the same mailbox is already waiting: retrying the dead one would poll twice.
        duplicate = await api.call("POST", f"/api/v1/admin/jobs/{twin}/retry", token=admin)
        assert duplicate.status == 409 and "already waiting" in duplicate.body["detail"]

        foreign = await api.call("POST", f"/api/v1/admin/jobs/{theirs}/retry", token=admin)
        missing = await api.call("POST", "/api/v1/admin/jobs/9000000000000000000/retry", token=admin)
        assert foreign.status == missing.status == 404
        for bad in ("state=broken", "colour=red", "after=yesterday"):
            assert (await api.call("GET", f"/api/v1/admin/jobs?{bad}", token=admin)).status == 422, bad

        for role in ("manager", "agent", "customer"):
            token = alpha.tokens[role]
            assert (await api.call("GET", "/api/v1/admin/jobs", token=token)).status == 403, role
            assert (await api.call("POST", f"/api/v1/admin/jobs/{dead}/retry", token=token)).status == 403, role

    run_api(db, scenario)
    assert owner_query(db, "SELECT state::text FROM atum.jobs WHERE id = %s", [theirs]) == [("dead",)]
