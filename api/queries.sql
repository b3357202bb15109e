-- The SQL the HTTP layer runs: one-line calls of api.* functions, by name (api/db.py, api/routes.py).

-- health --
SELECT api.health()

-- authenticate --
SELECT api.authenticate(%s)

-- read_only --
SET TRANSACTION READ ONLY

-- login_candidates --
SELECT api.login_candidates(%s, %s, %s)

-- login_complete --
SELECT api.login_complete(%s, %s, %s, %s, %s, %s, %s, %s)

-- logout --
SELECT api.logout()

-- password_reset_request --
SELECT api.password_reset_request(%s, %s, %s)

-- user_token_redeem --
SELECT api.user_token_redeem(%s, %s)

-- user_invite --
SELECT api.user_invite(%s, %s, %s)

-- api_token_create --
SELECT api.api_token_create(%s, %s, %s, %s)

-- api_token_list --
SELECT api.api_token_list()

-- api_token_revoke --
SELECT api.api_token_revoke(%s)

-- ticket_create --
SELECT api.ticket_create(%s, %s)

-- ticket_list --
SELECT api.ticket_list(%s)

-- ticket_get --
SELECT api.ticket_get(%s)

-- ticket_update --
SELECT api.ticket_update(%s, %s)

-- ticket_move --
SELECT api.ticket_move(%s, %s)

-- ticket_assign --
SELECT api.ticket_assign(%s, %s)

-- comment_list --
SELECT api.comment_list(%s, %s)

-- comment_create --
SELECT api.comment_create(%s, %s, %s)

-- ticket_history --
SELECT api.ticket_history(%s, %s)

-- triage_inbox --
SELECT api.triage_inbox(%s)

-- ticket_accept --
SELECT api.ticket_accept_route(%s, %s)

-- ticket_reject --
SELECT api.ticket_reject(%s, %s)
