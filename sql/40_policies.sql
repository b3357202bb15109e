-- Row-level security: who sees and changes which rows. Applies to atum_app (the API and worker);
-- the owner bypasses RLS (maintenance), every other role sees nothing of tenant tables.
--
-- The request context is read in sub-selects of the view atum.request_context, e.g.
-- (SELECT c.organization_id FROM atum.request_context c), so PostgreSQL evaluates each once per
-- statement (an InitPlan) instead of once per row. Every policy column is the leading column of an
-- index (organization_id is first in every primary key).

-- Drop every policy first so that a policy removed from this file is removed from the database.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT policyname, schemaname, tablename FROM pg_policies WHERE schemaname = 'atum' LOOP
        EXECUTE format('DROP POLICY %I ON %I.%I', p.policyname, p.schemaname, p.tablename);
    END LOOP;
    -- Re-assert: every table of atum has RLS enabled and forced (also tables added later).
    FOR p IN SELECT c.oid::regclass AS t FROM pg_class c WHERE c.relnamespace = 'atum'::regnamespace AND c.relkind = 'r' LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p.t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p.t);
    END LOOP;
END
$$;

-- organizations: members see their own organization; admins change its settings.
CREATE POLICY organizations_read ON atum.organizations FOR SELECT TO atum_app
    USING (id = (SELECT c.organization_id FROM atum.request_context c));
CREATE POLICY organizations_admin_update ON atum.organizations FOR UPDATE TO atum_app
    USING (id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (id = (SELECT c.organization_id FROM atum.request_context c));

-- users: staff see everyone of the organization; customers see themselves and staff (names on
-- their tickets), never other customers. Admins manage users.
CREATE POLICY users_read ON atum.users FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c) OR id = (SELECT c.user_id FROM atum.request_context c) OR role <> 'customer'));
CREATE POLICY users_admin_write ON atum.users FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- Staff-only configuration: teams, memberships, calendars, SLA policies. Admins write.
CREATE POLICY teams_staff_read ON atum.teams FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY teams_admin_write ON atum.teams FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

CREATE POLICY team_members_staff_read ON atum.team_members FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY team_members_admin_write ON atum.team_members FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

CREATE POLICY business_calendars_staff_read ON atum.business_calendars FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY business_calendars_admin_write ON atum.business_calendars FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

CREATE POLICY calendar_hours_staff_read ON atum.calendar_hours FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY calendar_hours_admin_write ON atum.calendar_hours FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

CREATE POLICY calendar_holidays_staff_read ON atum.calendar_holidays FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY calendar_holidays_admin_write ON atum.calendar_holidays FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

CREATE POLICY sla_policies_staff_read ON atum.sla_policies FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY sla_policies_admin_write ON atum.sla_policies FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- categories: everyone of the organization reads them (the portal offers them); admins write.
CREATE POLICY categories_read ON atum.categories FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c));
CREATE POLICY categories_admin_write ON atum.categories FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- tags: staff only (labels are internal working aids).
CREATE POLICY tags_staff ON atum.tags FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));
CREATE POLICY ticket_tags_staff ON atum.ticket_tags FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));

-- tickets: staff see and work all tickets of the organization; a customer sees and opens only
-- tickets they requested. Which columns and moves a customer may change is the state machine's
-- business (triggers), not the policy's.
CREATE POLICY tickets_read ON atum.tickets FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c) OR requester_id = (SELECT c.user_id FROM atum.request_context c)));
CREATE POLICY tickets_create ON atum.tickets FOR INSERT TO atum_app
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c)
                AND ((SELECT c.is_staff FROM atum.request_context c) OR requester_id = (SELECT c.user_id FROM atum.request_context c)));
CREATE POLICY tickets_update ON atum.tickets FOR UPDATE TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c) OR requester_id = (SELECT c.user_id FROM atum.request_context c)))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c)
                AND ((SELECT c.is_staff FROM atum.request_context c) OR requester_id = (SELECT c.user_id FROM atum.request_context c)));
CREATE POLICY tickets_admin_delete ON atum.tickets FOR DELETE TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- ticket_comments: staff see all; a customer sees the public comments of their own tickets and
-- may add public comments to them as themselves. Internal notes are staff-only, always.
CREATE POLICY ticket_comments_read ON atum.ticket_comments FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c)
                OR (NOT is_internal AND EXISTS (
                        SELECT 1 FROM atum.tickets t
                         WHERE t.organization_id = ticket_comments.organization_id AND t.id = ticket_comments.ticket_id
                           AND t.requester_id = (SELECT c.user_id FROM atum.request_context c)))));
CREATE POLICY ticket_comments_create ON atum.ticket_comments FOR INSERT TO atum_app
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c)
                AND ((SELECT c.is_staff FROM atum.request_context c)
                     OR (NOT is_internal AND author_id = (SELECT c.user_id FROM atum.request_context c) AND EXISTS (
                             SELECT 1 FROM atum.tickets t
                              WHERE t.organization_id = ticket_comments.organization_id AND t.id = ticket_comments.ticket_id
                                AND t.requester_id = (SELECT c.user_id FROM atum.request_context c)))));
CREATE POLICY ticket_comments_author_update ON atum.ticket_comments FOR UPDATE TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c)
           AND author_id = (SELECT c.user_id FROM atum.request_context c))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND author_id = (SELECT c.user_id FROM atum.request_context c));
CREATE POLICY ticket_comments_admin_delete ON atum.ticket_comments FOR DELETE TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- ticket_status_changes: the ticket's timeline; staff see all, a customer those of their tickets.
-- Written only by the state machine's trigger (no INSERT privilege for the app).
CREATE POLICY ticket_status_changes_read ON atum.ticket_status_changes FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c)
                OR EXISTS (SELECT 1 FROM atum.tickets t
                            WHERE t.organization_id = ticket_status_changes.organization_id
                              AND t.id = ticket_status_changes.ticket_id
                              AND t.requester_id = (SELECT c.user_id FROM atum.request_context c))));

-- sla_events: warnings and breaches are for staff (the queue's badges, the managers' alerts);
-- written only by the SLA engine (no INSERT privilege for the app).
CREATE POLICY sla_events_staff_read ON atum.sla_events FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND (SELECT c.is_staff FROM atum.request_context c));

-- attachments: as comments (attachments of internal notes are internal).
CREATE POLICY attachments_read ON atum.attachments FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.is_staff FROM atum.request_context c)
                OR (NOT is_internal AND EXISTS (
                        SELECT 1 FROM atum.tickets t
                         WHERE t.organization_id = attachments.organization_id AND t.id = attachments.ticket_id
                           AND t.requester_id = (SELECT c.user_id FROM atum.request_context c)))));
CREATE POLICY attachments_create ON atum.attachments FOR INSERT TO atum_app
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c)
                AND ((SELECT c.is_staff FROM atum.request_context c)
                     OR (NOT is_internal AND uploaded_by = (SELECT c.user_id FROM atum.request_context c) AND EXISTS (
                             SELECT 1 FROM atum.tickets t
                              WHERE t.organization_id = attachments.organization_id AND t.id = attachments.ticket_id
                                AND t.requester_id = (SELECT c.user_id FROM atum.request_context c)))));
CREATE POLICY attachments_admin_delete ON atum.attachments FOR DELETE TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- sessions: a user sees their own sessions and may end them; admins see and end all of the
-- organization's. Sessions are created only by atum_private.session_issue (after a password check).
CREATE POLICY sessions_read ON atum.sessions FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND (user_id = (SELECT c.user_id FROM atum.request_context c) OR (SELECT c.role FROM atum.request_context c) = 'admin'));
CREATE POLICY sessions_revoke ON atum.sessions FOR UPDATE TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND (user_id = (SELECT c.user_id FROM atum.request_context c) OR (SELECT c.role FROM atum.request_context c) = 'admin'))
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c));

-- api_tokens: admins only.
CREATE POLICY api_tokens_admin ON atum.api_tokens FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- mailboxes: admins only (mail settings are configuration, and name the organization's servers).
CREATE POLICY mailboxes_admin ON atum.mailboxes FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- mail_messages: staff read the organization's mail log (threading, what became of a message);
-- only the mail paths write it, as the owner. Customers see the tickets and comments it made.
CREATE POLICY mail_messages_staff_read ON atum.mail_messages FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.is_staff FROM atum.request_context c));

-- mail_outbox: admins read the notifications (what was sent, what failed and why); only the
-- triggers and the worker write them, as the owner. The secret column is not granted at all.
CREATE POLICY mail_outbox_admin_read ON atum.mail_outbox FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- mail_templates: admins only (they write the organization's notification templates).
CREATE POLICY mail_templates_admin ON atum.mail_templates FOR ALL TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin')
    WITH CHECK (organization_id = (SELECT c.organization_id FROM atum.request_context c) AND (SELECT c.role FROM atum.request_context c) = 'admin');

-- audit_log: admins search their organization's log; staff read the entries of tickets (timeline),
-- including the sweep's shared SLA-event rows (staff read every SLA event of the organization anyway).
CREATE POLICY audit_log_read ON atum.audit_log FOR SELECT TO atum_app
    USING (organization_id = (SELECT c.organization_id FROM atum.request_context c)
           AND ((SELECT c.role FROM atum.request_context c) = 'admin'
                OR ((SELECT c.is_staff FROM atum.request_context c)
                    AND (ticket_id IS NOT NULL OR table_name = 'sla_events'))));

-- Internal tables (audit_heads, request_contexts, jobs, cron_heartbeats, sla_timers, mail_sender_windows) deliberately have
-- no policy: with RLS forced, only BYPASSRLS roles (the owner, via SECURITY DEFINER) reach them.
