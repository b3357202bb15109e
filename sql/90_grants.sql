-- Privileges. Start from nothing, then grant exactly what each role needs; RLS narrows rows further.

REVOKE ALL ON ALL TABLES IN SCHEMA atum, reporting FROM PUBLIC, atum_app, atum_reporting;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA atum, api, atum_private FROM PUBLIC, atum_app, atum_reporting;
REVOKE ALL ON SCHEMA atum, api, reporting, atum_private FROM PUBLIC;

GRANT USAGE ON SCHEMA atum, api TO atum_app;
GRANT USAGE ON SCHEMA reporting TO atum_reporting;

-- Tenant tables the API reads and writes under RLS.
GRANT SELECT ON atum.organizations TO atum_app;
GRANT UPDATE (name, time_zone, triage_target_minutes, sla_warning_ratio) ON atum.organizations TO atum_app;

-- Secrets stay unreadable: no SELECT on password_hash or token_hash.
GRANT SELECT (organization_id, id, email, display_name, role, is_active, time_zone, created_at, updated_at, last_login_at)
    ON atum.users TO atum_app;
GRANT INSERT, UPDATE, DELETE ON atum.users TO atum_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON
    atum.teams, atum.team_members, atum.categories, atum.tags, atum.ticket_tags,
    atum.business_calendars, atum.calendar_hours, atum.calendar_holidays, atum.sla_policies,
    atum.tickets, atum.ticket_comments, atum.attachments
    TO atum_app;

GRANT SELECT (organization_id, id, user_id, created_at, last_seen_at, expires_at, idle_timeout, revoked_at, client_ip, user_agent)
    ON atum.sessions TO atum_app;
GRANT UPDATE (revoked_at) ON atum.sessions TO atum_app;

GRANT SELECT (organization_id, id, user_id, name, role, created_by, created_at, expires_at, last_used_at, revoked_at)
    ON atum.api_tokens TO atum_app;
GRANT INSERT, UPDATE (name, revoked_at, expires_at), DELETE ON atum.api_tokens TO atum_app;

-- Mailboxes: the encrypted password can be written, never read back.
GRANT SELECT (organization_id, id, name, address, imap_host, imap_port, imap_security, imap_username, has_password,
              imap_folder, processed_folder, is_active, created_at, updated_at)
    ON atum.mailboxes TO atum_app;
GRANT INSERT, UPDATE, DELETE ON atum.mailboxes TO atum_app;
-- The mail log: read-only for the app (staff, by policy); ingestion and the outbox write it as the owner.
GRANT SELECT ON atum.mail_messages TO atum_app;

GRANT SELECT ON atum.audit_log TO atum_app;
GRANT SELECT ON atum.ticket_status_changes, atum.sla_events TO atum_app;
GRANT SELECT ON atum.request_context TO atum_app;
GRANT SELECT ON atum.reporting_grants TO atum_app;

-- Context and helper functions policies and the API call.
GRANT EXECUTE ON FUNCTION
    atum.current_org(), atum.current_user_id(), atum.current_user_role(), atum.current_is_staff(),
    atum.is_valid_time_zone(text), atum.ticket_reference(bigint, integer),
    atum.business_ranges(bigint, bigint, timestamptz, timestamptz),
    atum.business_minutes_between(bigint, bigint, timestamptz, timestamptz),
    atum.business_time_add(bigint, bigint, timestamptz, numeric),
    atum.business_time_add_each(bigint, bigint, timestamptz, numeric[]),
    api.authenticate(text), api.health(), api.live_identity(text), api.live_watch(bigint[]),
    api.ticket_transition(bigint, text, text), api.ticket_accept(bigint, text, bigint),
    atum.ticket_moves()
    TO atum_app;

-- The HTTP API's functions (sql/52_api_auth.sql, sql/55_api_tickets.sql).
GRANT EXECUTE ON FUNCTION
    api.login_candidates(text, text, inet),
    api.login_complete(text, text, inet, text, bigint, bigint, text, text),
    api.logout(), api.password_reset_request(text, text, inet), api.user_token_redeem(text, text),
    api.user_invite(text, text, text),
    api.api_token_create(text, text, bigint, timestamptz), api.api_token_list(), api.api_token_revoke(bigint),
    api.ticket_create(jsonb, text), api.ticket_get(bigint), api.ticket_list(jsonb), api.ticket_update(bigint, jsonb),
    api.ticket_assign(bigint, jsonb), api.ticket_move(bigint, jsonb), api.ticket_accept_route(bigint, jsonb),
    api.ticket_reject(bigint, jsonb), api.triage_inbox(jsonb),
    api.comment_list(bigint, jsonb), api.comment_create(bigint, jsonb, text), api.ticket_history(bigint, jsonb),
    api.idempotency_claim(text, text, jsonb), api.idempotency_store(text, jsonb),
    atum.input_check(jsonb, text[]), atum.input_text(jsonb, text, boolean), atum.input_bigint(jsonb, text, boolean),
    atum.input_boolean(jsonb, text, boolean), atum.input_enum(jsonb, text, text[]),
    atum.input_limit(jsonb, integer, integer), atum.cursor_make(timestamptz, bigint), atum.cursor_read(jsonb),
    atum.page_json_by_time(jsonb[], integer),
    atum.ticket_json(atum.tickets), atum.ticket_list_json(atum.tickets, text), atum.ticket_prefix(bigint),
    atum.ticket_tags_json(bigint, bigint), atum.comment_json(atum.ticket_comments),
    atum.require_staff(bigint, text), atum.require_ticket(bigint),
    atum.ticket_allowed_moves(atum.tickets), atum.ticket_sla_clocks(atum.tickets), atum.user_name(bigint, bigint),
    atum.minutes_within(tstzmultirange, timestamptz, timestamptz),
    atum.sla_clock_json(tstzmultirange, timestamptz, timestamptz, timestamptz, boolean),
    -- The queue's orders and clocks; ticket_due_key also runs on every ticket write (its index).
    atum.ticket_due_key(atum.ticket_status, timestamptz, timestamptz, timestamptz, timestamptz, timestamptz),
    atum.ticket_list_match(atum.tickets, atum.ticket_status[], atum.ticket_priority, text, bigint, text, bigint, tsquery),
    atum.ticket_has_tag(bigint, bigint, text), atum.ticket_list_clocks(atum.tickets[]),
    atum.ticket_list_page(bigint, text, timestamptz, bigint, integer)
    TO atum_app;

-- Reporting roles read the reporting views only. The views are security_invoker, so the tables
-- underneath need SELECT too (without USAGE on atum they cannot be named directly); RLS policies
-- for atum_reporting (sql/70_reporting.sql) then limit rows to granted organizations.
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO atum_reporting;
GRANT SELECT (id, slug, name, time_zone, created_at, ticket_prefix) ON atum.organizations TO atum_reporting;
GRANT SELECT (organization_id, id, display_name, role, is_active) ON atum.users TO atum_reporting;
GRANT SELECT ON atum.teams, atum.categories, atum.tickets, atum.sla_events, atum.reporting_grants TO atum_reporting;

-- Attachments (sql/57_api_attachments.sql).
GRANT EXECUTE ON FUNCTION
    api.attachment_upload_check(bigint), api.attachment_store_lock(),
    api.attachment_create(bigint, jsonb, text, text, bigint, bytea), api.attachment_list(bigint, jsonb),
    api.attachment_get(bigint),
    atum.attachment_filename(text), atum.attachment_content_type(text), atum.attachment_store_key(),
    atum.attachment_json(atum.attachments)
    TO atum_app;

-- Admin routes (sql/56_api_admin.sql). Admins change the reopen window and auto-close period too.
GRANT UPDATE (reopen_window_days, auto_close_days) ON atum.organizations TO atum_app;
GRANT EXECUTE ON FUNCTION
    atum.require_role(atum.user_role, text), atum.row_delete(regclass, bigint, text), atum.input_integer(jsonb, text, boolean),
    atum.input_numeric(jsonb, text, boolean), atum.input_time_zone(jsonb, text, boolean),
    atum.input_date(jsonb, text, boolean), atum.constraint_field(text), atum.constraint_raise(text, text, text),
    atum.page_json(jsonb[], integer),
    api.user_list(jsonb), api.user_get(bigint), api.user_update(bigint, jsonb),
    atum.team_json(atum.teams), api.team_list(jsonb), api.team_get(bigint), api.team_create(jsonb),
    api.team_update(bigint, jsonb), api.team_delete(bigint), atum.team_member_check(bigint, bigint),
    api.team_member_add(bigint, bigint), api.team_member_remove(bigint, bigint),
    atum.category_json(atum.categories), api.category_list(jsonb), api.category_choices(jsonb),
    api.category_get(bigint), api.category_create(jsonb), api.category_update(bigint, jsonb),
    api.category_delete(bigint),
    atum.sla_policy_json(atum.sla_policies), api.sla_policy_list(), api.sla_policy_put(text, jsonb),
    atum.calendar_json(atum.business_calendars, boolean), atum.calendar_hours_replace(bigint, jsonb),
    atum.calendar_make_default(bigint), api.calendar_list(jsonb), api.calendar_get(bigint),
    api.calendar_create(jsonb), api.calendar_update(bigint, jsonb), api.calendar_hours_put(bigint, jsonb),
    api.holiday_add(bigint, jsonb), api.holiday_remove(bigint, jsonb),
    atum.organization_json(atum.organizations), api.organization_get(), api.organization_update(jsonb)
    TO atum_app;

-- Mailboxes (sql/58_api_mailboxes.sql).
GRANT EXECUTE ON FUNCTION
    api.mailbox_list(jsonb), api.mailbox_get(bigint), api.mailbox_save(bigint, jsonb, bytea, boolean),
    api.mailbox_delete(bigint), atum.mailbox_json(bigint), atum.input_email(jsonb, text, boolean)
    TO atum_app;
-- Polling health and the connection test (sql/64_mail_poll.sql); the poll itself is the owner's.
GRANT EXECUTE ON FUNCTION api.mailbox_health(bigint), api.mailbox_test(bigint) TO atum_app;

-- The admins' view of the job queue (sql/61_jobs.sql). The queue itself (atum.jobs, the
-- atum_private.job_* functions) stays the owner's: the worker and pg_cron run as atum_owner.
GRANT EXECUTE ON FUNCTION api.jobs_list(jsonb), api.job_retry(bigint) TO atum_app;

-- Notifications (sql/63_mail_outbox.sql): admins read the outbox, never its secret column (reset
-- and invitation tokens); they write the organization's templates. The worker's side is the owner's.
GRANT SELECT (organization_id, id, kind, state, recipient_id, to_address, ticket_id, comment_id, context, dedupe_key,
              message_id, in_reply_to, thread_references, reply_to, subject, attempts, last_error, created_at,
              updated_at, sending_at, sent_at, failed_at)
    ON atum.mail_outbox TO atum_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON atum.mail_templates TO atum_app;
GRANT EXECUTE ON FUNCTION
    atum.mail_kind_of(text), atum.mail_template_json(atum.mail_kind), api.mail_template_list(),
    api.mail_template_get(text), api.mail_template_put(text, jsonb), api.mail_template_delete(text),
    api.mail_outbox_list(jsonb)
    TO atum_app;

-- Knowledge base (sql/72_kb.sql). The visitor context view is read like atum.request_context; its
-- table and api.kb_visitor_enter's writes stay the owner's.
GRANT SELECT, INSERT, UPDATE, DELETE ON atum.kb_categories, atum.kb_articles, atum.kb_votes, atum.kb_suggestion_sessions
    TO atum_app;
GRANT SELECT ON atum.kb_visitor_context TO atum_app;
GRANT UPDATE (kb_language) ON atum.organizations TO atum_app;
GRANT EXECUTE ON FUNCTION
    api.kb_visitor_enter(text), api.kb_article_list(jsonb), api.kb_article_get(bigint, jsonb),
    api.kb_article_viewed(bigint), api.kb_article_save(bigint, jsonb, text), api.kb_article_delete(bigint),
    api.kb_preview(text), api.kb_article_vote(bigint, jsonb), api.kb_search(jsonb), api.kb_suggest(jsonb),
    api.kb_suggestion_event(bigint, jsonb), api.kb_category_list(jsonb), api.kb_category_save(bigint, jsonb),
    api.kb_category_delete(bigint), api.kb_settings_get(), api.kb_settings_update(jsonb),
    atum.kb_org(), atum.kb_html_text(text), atum.kb_vector(text, text, text), atum.kb_tsquery(text, text, boolean),
    atum.kb_headline(text, text, tsquery, text),
    atum.kb_language(), atum.kb_category_json(atum.kb_categories), atum.kb_article_summary(atum.kb_articles),
    atum.kb_article_json(bigint), atum.kb_search_items(text, integer, bigint, boolean)
    TO atum_app;
-- Deflection for BI tools (reporting.kb_deflection): sessions, no user columns needed beyond counts.
GRANT SELECT (organization_id, id, created_at, shown_count, followed_at, submitted_at)
    ON atum.kb_suggestion_sessions TO atum_reporting;

-- Backups (sql/76_backups.sql): the app reads the operators' summary for /metrics and /readyz; the
-- runs themselves (atum.backup_runs, atum_private.backup_*) stay the owner's.
GRANT EXECUTE ON FUNCTION api.backup_status() TO atum_app;

-- Reports and navigation counters (sql/74_reports.sql). The derived tables of atum_summary are
-- written only by triggers and pg_cron (the owner); their policies (sql/70_reporting.sql) show the
-- app's managers (facts) and staff (counts) their organization, reporting roles their grants.
-- The reports read reporting.ticket_times as the app, so app and BI tools share one definition.
REVOKE ALL ON ALL TABLES IN SCHEMA atum_summary FROM PUBLIC, atum_app, atum_reporting;
REVOKE ALL ON SCHEMA atum_summary FROM PUBLIC;
GRANT USAGE ON SCHEMA atum_summary TO atum_app, atum_reporting;
GRANT SELECT ON atum_summary.ticket_facts, atum_summary.ticket_days, atum_summary.ticket_counts,
    atum_summary.ticket_deltas, atum_summary.time_buckets TO atum_app, atum_reporting;
GRANT USAGE ON SCHEMA reporting TO atum_app;
GRANT SELECT ON reporting.ticket_times, reporting.kb_deflection TO atum_app;
GRANT EXECUTE ON FUNCTION
    api.counters(), api.report_list(), api.report(text, jsonb), atum.report_catalog(),
    atum.report_rows(text, bigint, date, date, bigint, text), atum.report_percent(bigint, bigint),
    atum.report_hours(double precision), atum.report_time_percentiles(bigint, text, date, date, bigint, text)
    TO atum_app;
