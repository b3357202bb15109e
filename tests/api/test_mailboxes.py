"""Admins manage the organization's mailboxes; the IMAP password goes in and never comes out:
not in answers, not in the audit trail, and in the database only encrypted with a key kept outside."""

from __future__ import annotations

import json

from atumdesk import secrets
from tests.api.client import Api, owner_query, run_api, settings_for, world
from tests.support import Database

MAILBOX = {"name": "Helpdesk", "address": "Help@Alpha.example", "imap_host": "imap.alpha.example",
           "imap_security": "starttls", "imap_username": "help@alpha.example", "password": "s3cret-imap-pass"}


def test_admins_add_change_and_remove_mailboxes_and_the_password_is_write_only(db: Database) -> None:
    alpha, _ = world(db)
    admin = alpha.tokens["admin"]

    async def scenario(api: Api) -> int:
        made = await api.call("POST", "/api/v1/admin/mailboxes", token=admin, json_body=MAILBOX)
        assert made.status == 201
        box = made.body
        assert box["address"] == "help@alpha.example" and box["imap_port"] == 143 and box["has_password"] is True
        assert "password" not in json.dumps(box).replace("has_password", "")
        changed = await api.call("PATCH", f"/api/v1/admin/mailboxes/{box['id']}", token=admin,
                                 json_body={"imap_port": 1143, "processed_folder": "Done"})
        assert changed.status == 200 and changed.body["imap_port"] == 1143 and changed.body["has_password"] is True
        listed = await api.call("GET", "/api/v1/admin/mailboxes", token=admin)
        assert {m["address"] for m in listed.body["items"]} == {"support@alpha.example", "help@alpha.example"}
        history = await api.call("GET", "/api/v1/admin/mailboxes", token=admin)
        for reply in (made, changed, listed, history):
            assert MAILBOX["password"] not in json.dumps(reply.body)
        cleared = await api.call("PATCH", f"/api/v1/admin/mailboxes/{box['id']}", token=admin,
                                 json_body={"password": None})
        assert cleared.body["has_password"] is False
        await api.call("PATCH", f"/api/v1/admin/mailboxes/{box['id']}", token=admin,
                       json_body={"password": MAILBOX["password"]})
        return int(box["id"])

    box_id = run_api(db, scenario)
    [(stored,)] = owner_query(db, "SELECT imap_password_encrypted FROM atum.mailboxes WHERE id = %s", [box_id])
    assert MAILBOX["password"].encode() not in bytes(stored)
    key = secrets.load_key(settings_for(db), create=False)
    assert secrets.decrypt(key, bytes(stored), "mailbox:imap_password") == MAILBOX["password"]
    audit = owner_query(db, "SELECT coalesce(new_values::text, '') || coalesce(old_values::text, '')"
                            " FROM atum.audit_log WHERE table_name = 'mailboxes'")
    assert audit and all("[redacted]" in row[0] for row in audit if "imap_password" in row[0])
    assert not any(bytes(stored).hex() in row[0] for row in audit)

    async def remove(api: Api) -> None:
        gone = await api.call("DELETE", f"/api/v1/admin/mailboxes/{box_id}", token=admin)
        assert gone.status == 200
        assert (await api.call("GET", f"/api/v1/admin/mailboxes/{box_id}", token=admin)).status == 404

    run_api(db, remove)


def test_only_admins_see_mailboxes_and_bad_settings_name_their_field(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        for role in ("manager", "agent", "customer"):
            assert (await api.call("GET", "/api/v1/admin/mailboxes", token=alpha.tokens[role])).status == 403
            refused = await api.call("POST", "/api/v1/admin/mailboxes", token=alpha.tokens[role], json_body=MAILBOX)
            assert refused.status == 403
        for change, field in (({"imap_host": "imap example.com"}, "imap_host"), ({"imap_port": 70000}, "imap_port"),
                              ({"imap_security": "none"}, "imap_security"), ({"address": "not-an-address"}, "address"),
                              ({"password": ""}, "password"), ({"colour": "red"}, "colour"),
                              ({"address": "support@alpha.example"}, "address")):
            reply = await api.call("POST", "/api/v1/admin/mailboxes", token=alpha.tokens["admin"],
                                   json_body={**MAILBOX, **change})
            assert reply.status in (409, 422) and reply.body["field"] == field, (change, reply.body)

    run_api(db, scenario)
    assert owner_query(db, "SELECT count(*) FROM atum.mailboxes WHERE organization_id = %s", [alpha.id]) == [(1,)]
