-- The SQL the HTTP layer runs: one-line calls of api.* functions, by name (api/db.py, api/routes.py).

-- health --
SELECT api.health()

-- backup_status --
SELECT api.backup_status()

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

-- attachment_upload_check --
SELECT api.attachment_upload_check(%s)

-- attachment_store_lock --
SELECT api.attachment_store_lock()

-- attachment_create --
SELECT api.attachment_create(%s, %s, %s, %s, %s, %s)

-- attachment_list --
SELECT api.attachment_list(%s, %s)

-- attachment_get --
SELECT api.attachment_get(%s)

-- admin_user_list --
SELECT api.user_list(%s)

-- admin_user_get --
SELECT api.user_get(%s)

-- admin_user_update --
SELECT api.user_update(%s, %s)

-- admin_team_list --
SELECT api.team_list(%s)

-- admin_team_create --
SELECT api.team_create(%s)

-- admin_team_get --
SELECT api.team_get(%s)

-- admin_team_update --
SELECT api.team_update(%s, %s)

-- admin_team_delete --
SELECT api.team_delete(%s)

-- admin_team_member_add --
SELECT api.team_member_add(%s, %s)

-- admin_team_member_remove --
SELECT api.team_member_remove(%s, %s)

-- category_choices --
SELECT api.category_choices(%s)

-- admin_category_list --
SELECT api.category_list(%s)

-- admin_category_create --
SELECT api.category_create(%s)

-- admin_category_get --
SELECT api.category_get(%s)

-- admin_category_update --
SELECT api.category_update(%s, %s)

-- admin_category_delete --
SELECT api.category_delete(%s)

-- admin_sla_policy_list --
SELECT api.sla_policy_list()

-- admin_sla_policy_put --
SELECT api.sla_policy_put(%s, %s)

-- admin_calendar_list --
SELECT api.calendar_list(%s)

-- admin_calendar_create --
SELECT api.calendar_create(%s)

-- admin_calendar_get --
SELECT api.calendar_get(%s)

-- admin_calendar_update --
SELECT api.calendar_update(%s, %s)

-- admin_calendar_hours_put --
SELECT api.calendar_hours_put(%s, %s)

-- admin_holiday_add --
SELECT api.holiday_add(%s, %s)

-- admin_holiday_remove --
SELECT api.holiday_remove(%s, %s)

-- admin_organization_get --
SELECT api.organization_get()

-- admin_organization_update --
SELECT api.organization_update(%s)

-- constraint_fields --
SELECT jsonb_object_agg(k.conname, atum.constraint_field(k.conname)) FROM pg_constraint k WHERE k.connamespace = 'atum'::regnamespace

-- mailbox_list --
SELECT api.mailbox_list(%s)

-- mailbox_get --
SELECT api.mailbox_get(%s)

-- mailbox_save --
SELECT api.mailbox_save(%s, %s, %s, %s)

-- mailbox_delete --
SELECT api.mailbox_delete(%s)

-- jobs_list --
SELECT api.jobs_list(%s)

-- job_retry --
SELECT api.job_retry(%s)

-- mailbox_test --
SELECT api.mailbox_test(%s)

-- mail_template_list --
SELECT api.mail_template_list()

-- mail_template_get --
SELECT api.mail_template_get(%s)

-- mail_template_put --
SELECT api.mail_template_put(%s, %s)

-- mail_template_delete --
SELECT api.mail_template_delete(%s)

-- mail_outbox_list --
SELECT api.mail_outbox_list(%s)

-- live_identity --
SELECT api.live_identity(%s)

-- kb_visitor_enter --
SELECT api.kb_visitor_enter(%s)

-- kb_article_list --
SELECT api.kb_article_list(%s)

-- kb_article_get --
SELECT api.kb_article_get(%s, %s)

-- kb_article_save --
SELECT api.kb_article_save(%s, %s, %s)

-- kb_article_delete --
SELECT api.kb_article_delete(%s)

-- kb_article_vote --
SELECT api.kb_article_vote(%s, %s)

-- kb_preview --
SELECT api.kb_preview(%s)

-- kb_search --
SELECT api.kb_search(%s)

-- kb_category_list --
SELECT api.kb_category_list(%s)

-- kb_category_save --
SELECT api.kb_category_save(%s, %s)

-- kb_category_delete --
SELECT api.kb_category_delete(%s)

-- kb_suggest --
SELECT api.kb_suggest(%s)

-- kb_suggestion_event --
SELECT api.kb_suggestion_event(%s, %s)

-- kb_settings_get --
SELECT api.kb_settings_get()

-- kb_settings_update --
SELECT api.kb_settings_update(%s)

-- counters --
SELECT api.counters()

-- report_list --
SELECT api.report_list()

-- report --
SELECT api.report(%s, %s)

-- live_watch --
SELECT api.live_watch(%s)
