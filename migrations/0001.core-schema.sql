-- ATUM DESK core schema: tenants, people, tickets, SLA configuration, sessions, audit log, job queue.
-- Tables, types and domains live here (versioned, never edited once landed). Functions, policies,
-- triggers and grants live in sql/ and are re-applied after every migration run.
--
-- Rules every tenant table follows (checked by tests/db/test_catalog.py):
--   * organization_id NOT NULL, first column of the primary key;
--   * every foreign key to another tenant table includes organization_id;
--   * row-level security ENABLED and FORCED (policies in sql/40_policies.sql).
-- Internal tables (RLS forced, no policy, no grant to the app) are reached only through
-- SECURITY DEFINER functions in atum_private.

CREATE SCHEMA atum;
COMMENT ON SCHEMA atum IS 'ATUM DESK tables and internals. Tenant tables are under forced row-level security.';
CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'Functions the HTTP layer and the job worker call (as atum_app). Stable signatures.';
CREATE SCHEMA reporting;
COMMENT ON SCHEMA reporting IS 'Documented read-only views for BI tools (atum_reporting and roles granted per organization).';
CREATE SCHEMA atum_private;
COMMENT ON SCHEMA atum_private IS 'SECURITY DEFINER helpers (sessions, audit writer, internal tables access). Not part of the API.';

-- Nothing created by the owner is executable by PUBLIC unless granted explicitly in sql/90_grants.sql.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Types and domains
-- ---------------------------------------------------------------------------------------------
CREATE TYPE atum.user_role AS ENUM ('customer', 'agent', 'manager', 'admin');
COMMENT ON TYPE atum.user_role IS 'customer: opens and follows own tickets; agent: works tickets; manager: triages, accepts, reports; admin: configures the organization.';

CREATE TYPE atum.ticket_status AS ENUM
    ('NEW', 'ACCEPTED', 'REJECTED', 'IN_PROGRESS', 'WAITING_CUSTOMER', 'RESOLVED', 'CLOSED');
COMMENT ON TYPE atum.ticket_status IS 'Ticket lifecycle (SPEC 6). CLOSED and REJECTED are final.';

CREATE TYPE atum.ticket_priority AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'URGENT');
COMMENT ON TYPE atum.ticket_priority IS 'Ticket priority; each has its own SLA policy per organization.';

CREATE TYPE atum.ticket_channel AS ENUM ('portal', 'email', 'api', 'phone', 'staff');
COMMENT ON TYPE atum.ticket_channel IS 'Where a ticket or comment came from.';

CREATE TYPE atum.job_state AS ENUM ('queued', 'running', 'succeeded', 'failed', 'dead');
COMMENT ON TYPE atum.job_state IS 'Job queue states: failed jobs are retried with backoff until max_attempts, then dead.';

CREATE FUNCTION atum.is_valid_time_zone(tz text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN tz <> '' AND tz !~ '^\s|\s$';
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION atum.is_valid_time_zone(text) IS 'True for names PostgreSQL knows as time zones (e.g. Europe/Berlin).';

CREATE DOMAIN atum.time_zone AS text
    CONSTRAINT time_zone_known CHECK (atum.is_valid_time_zone(VALUE));
COMMENT ON DOMAIN atum.time_zone IS 'An IANA time zone name known to PostgreSQL.';

CREATE DOMAIN atum.email AS text
    CONSTRAINT email_format CHECK (
        length(VALUE) <= 254
        AND VALUE = lower(VALUE)
        AND VALUE ~ '^[^@[:space:]<>(),;"\[\]]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
    );
COMMENT ON DOMAIN atum.email IS 'An e-mail address, lower-cased (callers normalise with lower(btrim(x))).';

-- ---------------------------------------------------------------------------------------------
-- Organizations (the tenant) and people
-- ---------------------------------------------------------------------------------------------
CREATE TABLE atum.organizations (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                  text NOT NULL
        CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name                  text NOT NULL
        CONSTRAINT organizations_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    ticket_prefix         text NOT NULL DEFAULT 'ATUM'
        CONSTRAINT organizations_ticket_prefix_format CHECK (ticket_prefix ~ '^[A-Z][A-Z0-9]{1,9}$'),
    time_zone             atum.time_zone NOT NULL DEFAULT 'UTC',
    triage_target_minutes integer NOT NULL DEFAULT 240
        CONSTRAINT organizations_triage_target_positive CHECK (triage_target_minutes > 0),
    sla_warning_ratio     numeric(4, 3) NOT NULL DEFAULT 0.8
        CONSTRAINT organizations_sla_warning_ratio_range CHECK (sla_warning_ratio > 0 AND sla_warning_ratio < 1),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);
COMMENT ON TABLE atum.organizations IS 'Tenants. Every other tenant row carries organization_id; RLS shows a session only its own organization.';
COMMENT ON COLUMN atum.organizations.id IS 'The organization id every tenant table carries as organization_id.';
COMMENT ON COLUMN atum.organizations.slug IS 'Short unique name used on the command line, in logins and in URLs.';
COMMENT ON COLUMN atum.organizations.name IS 'Display name.';
COMMENT ON COLUMN atum.organizations.ticket_prefix IS 'Prefix of human ticket references, e.g. ATUM in ATUM-1234 (also the e-mail subject token).';
COMMENT ON COLUMN atum.organizations.time_zone IS 'Default time zone for reports and new users.';
COMMENT ON COLUMN atum.organizations.triage_target_minutes IS 'Target for NEW -> ACCEPTED in business minutes, so starting the SLA on acceptance never hides queue time.';
COMMENT ON COLUMN atum.organizations.sla_warning_ratio IS 'Share of an SLA target after which a warning is raised (default 0.8 = 80%).';
COMMENT ON COLUMN atum.organizations.created_at IS 'When the organization was created.';
COMMENT ON COLUMN atum.organizations.updated_at IS 'Last change of a setting.';

CREATE TABLE atum.users (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    email           atum.email NOT NULL,
    display_name    text NOT NULL DEFAULT ''
        CONSTRAINT users_display_name_length CHECK (length(display_name) <= 200),
    role            atum.user_role NOT NULL DEFAULT 'customer',
    password_hash   text
        CONSTRAINT users_password_hash_argon2id CHECK (password_hash ~ '^\$argon2id\$'),
    is_active       boolean NOT NULL DEFAULT true,
    time_zone       atum.time_zone,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT users_email_key UNIQUE (organization_id, email)
);
COMMENT ON TABLE atum.users IS 'People of an organization: customers and staff (agent, manager, admin). E-mail is unique per organization.';
COMMENT ON COLUMN atum.users.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.users.id IS 'User id (unique across the cluster, keyed with organization_id).';
COMMENT ON COLUMN atum.users.email IS 'Sign-in name and mail address, lower-case.';
COMMENT ON COLUMN atum.users.display_name IS 'Name shown to others (kept from the From: header for e-mail customers).';
COMMENT ON COLUMN atum.users.role IS 'What the user may do; see type atum.user_role.';
COMMENT ON COLUMN atum.users.password_hash IS 'argon2id PHC string; NULL means no password sign-in (e.g. a customer known only by e-mail). Never readable by atum_app.';
COMMENT ON COLUMN atum.users.is_active IS 'Inactive users cannot sign in; their sessions and tokens stop working.';
COMMENT ON COLUMN atum.users.time_zone IS 'Preferred time zone; NULL means the organization''s.';
COMMENT ON COLUMN atum.users.created_at IS 'When the user was created.';
COMMENT ON COLUMN atum.users.updated_at IS 'Last change of the user record.';
COMMENT ON COLUMN atum.users.last_login_at IS 'Last successful sign-in.';

CREATE TABLE atum.teams (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    name            text NOT NULL CONSTRAINT teams_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT teams_name_key UNIQUE (organization_id, name)
);
COMMENT ON TABLE atum.teams IS 'Groups of staff that tickets can be routed to.';
COMMENT ON COLUMN atum.teams.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.teams.id IS 'Team id.';
COMMENT ON COLUMN atum.teams.name IS 'Team name, unique per organization.';
COMMENT ON COLUMN atum.teams.description IS 'What the team handles.';
COMMENT ON COLUMN atum.teams.created_at IS 'When the team was created.';

CREATE TABLE atum.team_members (
    organization_id bigint NOT NULL,
    team_id         bigint NOT NULL,
    user_id         bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, team_id, user_id),
    FOREIGN KEY (organization_id, team_id) REFERENCES atum.teams (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_idx ON atum.team_members (organization_id, user_id);
COMMENT ON TABLE atum.team_members IS 'Which staff belong to which team.';
COMMENT ON COLUMN atum.team_members.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.team_members.team_id IS 'The team.';
COMMENT ON COLUMN atum.team_members.user_id IS 'The member (a staff user).';
COMMENT ON COLUMN atum.team_members.created_at IS 'When the user joined the team.';

CREATE TABLE atum.categories (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    parent_id       bigint,
    name            text NOT NULL CONSTRAINT categories_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    description     text NOT NULL DEFAULT '',
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT categories_name_key UNIQUE (organization_id, parent_id, name),
    FOREIGN KEY (organization_id, parent_id) REFERENCES atum.categories (organization_id, id),
    CONSTRAINT categories_not_own_parent CHECK (parent_id <> id)
);
COMMENT ON TABLE atum.categories IS 'Ticket categories, optionally nested one level or more (parent_id).';
COMMENT ON COLUMN atum.categories.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.categories.id IS 'Category id.';
COMMENT ON COLUMN atum.categories.parent_id IS 'Enclosing category, NULL at the top level.';
COMMENT ON COLUMN atum.categories.name IS 'Category name, unique among its siblings.';
COMMENT ON COLUMN atum.categories.description IS 'Shown to customers choosing a category.';
COMMENT ON COLUMN atum.categories.is_active IS 'Inactive categories are kept for old tickets but not offered.';
COMMENT ON COLUMN atum.categories.created_at IS 'When the category was created.';

CREATE TABLE atum.tags (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    name            text NOT NULL
        CONSTRAINT tags_name_format CHECK (name = lower(btrim(name)) AND length(name) BETWEEN 1 AND 50),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT tags_name_key UNIQUE (organization_id, name)
);
COMMENT ON TABLE atum.tags IS 'Free labels staff put on tickets (lower-case, unique per organization).';
COMMENT ON COLUMN atum.tags.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.tags.id IS 'Tag id.';
COMMENT ON COLUMN atum.tags.name IS 'The label, lower-case.';
COMMENT ON COLUMN atum.tags.created_at IS 'When the tag was first used.';

-- ---------------------------------------------------------------------------------------------
-- Business calendars and SLA policies
-- ---------------------------------------------------------------------------------------------
CREATE TABLE atum.business_calendars (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    name            text NOT NULL CONSTRAINT business_calendars_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    time_zone       atum.time_zone NOT NULL DEFAULT 'UTC',
    is_24x7         boolean NOT NULL DEFAULT false,
    is_default      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT business_calendars_name_key UNIQUE (organization_id, name)
);
CREATE UNIQUE INDEX business_calendars_one_default ON atum.business_calendars (organization_id) WHERE is_default;
COMMENT ON TABLE atum.business_calendars IS 'When the organization works: weekly hours and holidays in a time zone, or 24x7. SLA targets count business minutes of a calendar.';
COMMENT ON COLUMN atum.business_calendars.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.business_calendars.id IS 'Calendar id.';
COMMENT ON COLUMN atum.business_calendars.name IS 'Calendar name, unique per organization.';
COMMENT ON COLUMN atum.business_calendars.time_zone IS 'Time zone the weekly hours and holidays are read in.';
COMMENT ON COLUMN atum.business_calendars.is_24x7 IS 'Every minute is a business minute (weekly hours and holidays are ignored).';
COMMENT ON COLUMN atum.business_calendars.is_default IS 'The calendar of the organization''s triage target (at most one per organization).';
COMMENT ON COLUMN atum.business_calendars.created_at IS 'When the calendar was created.';
COMMENT ON INDEX atum.business_calendars_one_default IS 'At most one default calendar per organization.';

CREATE TABLE atum.calendar_hours (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    calendar_id     bigint NOT NULL,
    weekday         smallint NOT NULL CONSTRAINT calendar_hours_weekday_iso CHECK (weekday BETWEEN 1 AND 7),
    opens_at        time NOT NULL,
    closes_at       time NOT NULL,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, calendar_id) REFERENCES atum.business_calendars (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT calendar_hours_interval_order CHECK (opens_at < closes_at)
);
CREATE INDEX calendar_hours_calendar_idx ON atum.calendar_hours (organization_id, calendar_id, weekday, opens_at);
COMMENT ON TABLE atum.calendar_hours IS 'Weekly working intervals of a calendar; several per day are allowed (e.g. 09:00-12:00 and 13:00-17:00).';
COMMENT ON COLUMN atum.calendar_hours.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.calendar_hours.id IS 'Interval id.';
COMMENT ON COLUMN atum.calendar_hours.calendar_id IS 'The calendar.';
COMMENT ON COLUMN atum.calendar_hours.weekday IS 'ISO weekday: 1 = Monday ... 7 = Sunday.';
COMMENT ON COLUMN atum.calendar_hours.opens_at IS 'Local start of the interval (inclusive).';
COMMENT ON COLUMN atum.calendar_hours.closes_at IS 'Local end of the interval (exclusive); 24:00 means midnight at the end of the day.';

CREATE TABLE atum.calendar_holidays (
    organization_id bigint NOT NULL,
    calendar_id     bigint NOT NULL,
    day             date NOT NULL,
    name            text NOT NULL DEFAULT '',
    PRIMARY KEY (organization_id, calendar_id, day),
    FOREIGN KEY (organization_id, calendar_id) REFERENCES atum.business_calendars (organization_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE atum.calendar_holidays IS 'Whole days without business hours in a calendar.';
COMMENT ON COLUMN atum.calendar_holidays.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.calendar_holidays.calendar_id IS 'The calendar.';
COMMENT ON COLUMN atum.calendar_holidays.day IS 'The local date of the holiday.';
COMMENT ON COLUMN atum.calendar_holidays.name IS 'What the holiday is.';

CREATE TABLE atum.sla_policies (
    organization_id        bigint NOT NULL,
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    priority               atum.ticket_priority NOT NULL,
    calendar_id            bigint NOT NULL,
    first_response_minutes integer NOT NULL CONSTRAINT sla_policies_first_response_positive CHECK (first_response_minutes > 0),
    resolution_minutes     integer NOT NULL CONSTRAINT sla_policies_resolution_positive CHECK (resolution_minutes > 0),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT sla_policies_priority_key UNIQUE (organization_id, priority),
    FOREIGN KEY (organization_id) REFERENCES atum.organizations (id),
    FOREIGN KEY (organization_id, calendar_id) REFERENCES atum.business_calendars (organization_id, id),
    CONSTRAINT sla_policies_resolution_after_response CHECK (resolution_minutes >= first_response_minutes)
);
COMMENT ON TABLE atum.sla_policies IS 'SLA targets per organization and priority, in business minutes of a calendar, counted from acceptance.';
COMMENT ON COLUMN atum.sla_policies.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.sla_policies.id IS 'Policy id.';
COMMENT ON COLUMN atum.sla_policies.priority IS 'The ticket priority this policy applies to (one policy per priority).';
COMMENT ON COLUMN atum.sla_policies.calendar_id IS 'Calendar whose business minutes the targets count.';
COMMENT ON COLUMN atum.sla_policies.first_response_minutes IS 'Business minutes from acceptance to the first public staff reply.';
COMMENT ON COLUMN atum.sla_policies.resolution_minutes IS 'Business minutes from acceptance to resolution, not counting time waiting for the customer.';
COMMENT ON COLUMN atum.sla_policies.created_at IS 'When the policy was created.';
COMMENT ON COLUMN atum.sla_policies.updated_at IS 'Last change of a target.';

-- ---------------------------------------------------------------------------------------------
-- Tickets, comments, attachments
-- ---------------------------------------------------------------------------------------------
CREATE TABLE atum.tickets (
    organization_id       bigint NOT NULL REFERENCES atum.organizations (id),
    id                    bigint GENERATED ALWAYS AS IDENTITY,
    number                integer NOT NULL CONSTRAINT tickets_number_positive CHECK (number > 0),
    subject               text NOT NULL CONSTRAINT tickets_subject_length CHECK (length(btrim(subject)) BETWEEN 1 AND 300),
    description           text NOT NULL DEFAULT '' CONSTRAINT tickets_description_length CHECK (length(description) <= 100000),
    status                atum.ticket_status NOT NULL DEFAULT 'NEW',
    priority              atum.ticket_priority NOT NULL DEFAULT 'MEDIUM',
    channel               atum.ticket_channel NOT NULL DEFAULT 'portal',
    requester_id          bigint NOT NULL,
    assignee_id           bigint,
    team_id               bigint,
    category_id           bigint,
    parent_ticket_id      bigint,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    accepted_at           timestamptz,
    sla_started_at        timestamptz,
    first_response_due_at timestamptz,
    resolution_due_at     timestamptz,
    first_responded_at    timestamptz,
    resolved_at           timestamptz,
    closed_at             timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT tickets_number_key UNIQUE (organization_id, number),
    FOREIGN KEY (organization_id, requester_id) REFERENCES atum.users (organization_id, id),
    FOREIGN KEY (organization_id, assignee_id) REFERENCES atum.users (organization_id, id),
    FOREIGN KEY (organization_id, team_id) REFERENCES atum.teams (organization_id, id),
    FOREIGN KEY (organization_id, category_id) REFERENCES atum.categories (organization_id, id),
    FOREIGN KEY (organization_id, parent_ticket_id) REFERENCES atum.tickets (organization_id, id),
    CONSTRAINT tickets_sla_not_before_accept CHECK (sla_started_at IS NULL OR accepted_at IS NOT NULL)
);
CREATE INDEX tickets_org_created_idx ON atum.tickets (organization_id, created_at DESC, id DESC);
CREATE INDEX tickets_org_status_idx ON atum.tickets (organization_id, status, created_at);
CREATE INDEX tickets_org_requester_idx ON atum.tickets (organization_id, requester_id, created_at DESC);
CREATE INDEX tickets_org_assignee_idx ON atum.tickets (organization_id, assignee_id, status) WHERE assignee_id IS NOT NULL;
COMMENT ON TABLE atum.tickets IS 'Support requests. Numbered per organization (prefix-number, e.g. ATUM-1234); lifecycle and SLA fields per SPEC 6.';
COMMENT ON COLUMN atum.tickets.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.tickets.id IS 'Ticket id used by the API.';
COMMENT ON COLUMN atum.tickets.number IS 'Human number, consecutive per organization, set by a trigger; shown as ticket_prefix-number.';
COMMENT ON COLUMN atum.tickets.subject IS 'One-line summary.';
COMMENT ON COLUMN atum.tickets.description IS 'The request as the customer wrote it (plain text).';
COMMENT ON COLUMN atum.tickets.status IS 'Lifecycle state; moves are checked by the database.';
COMMENT ON COLUMN atum.tickets.priority IS 'Priority; selects the SLA policy.';
COMMENT ON COLUMN atum.tickets.channel IS 'Where the ticket came from.';
COMMENT ON COLUMN atum.tickets.requester_id IS 'The customer (or staff) the ticket is for; customers see only their own tickets.';
COMMENT ON COLUMN atum.tickets.assignee_id IS 'The agent working the ticket.';
COMMENT ON COLUMN atum.tickets.team_id IS 'The team the ticket is routed to.';
COMMENT ON COLUMN atum.tickets.category_id IS 'Category chosen by customer or staff.';
COMMENT ON COLUMN atum.tickets.parent_ticket_id IS 'For a follow-up of a closed ticket: the closed ticket.';
COMMENT ON COLUMN atum.tickets.created_at IS 'When the ticket was opened (queue time starts here).';
COMMENT ON COLUMN atum.tickets.updated_at IS 'Last change of the ticket row.';
COMMENT ON COLUMN atum.tickets.accepted_at IS 'When a manager accepted the ticket (NEW -> ACCEPTED).';
COMMENT ON COLUMN atum.tickets.sla_started_at IS 'When the SLA clock started: at acceptance, never before.';
COMMENT ON COLUMN atum.tickets.first_response_due_at IS 'Deadline for the first public staff reply (business time).';
COMMENT ON COLUMN atum.tickets.resolution_due_at IS 'Deadline for resolution (business time, shifted by waiting-for-customer pauses).';
COMMENT ON COLUMN atum.tickets.first_responded_at IS 'First public staff reply after acceptance; stops the first-response clock.';
COMMENT ON COLUMN atum.tickets.resolved_at IS 'Last time the ticket was resolved.';
COMMENT ON COLUMN atum.tickets.closed_at IS 'When the ticket was closed (final).';
COMMENT ON CONSTRAINT tickets_sla_not_before_accept ON atum.tickets IS 'The SLA clock cannot start before acceptance.';

CREATE TABLE atum.ticket_tags (
    organization_id bigint NOT NULL,
    ticket_id       bigint NOT NULL,
    tag_id          bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, ticket_id, tag_id),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, tag_id) REFERENCES atum.tags (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX ticket_tags_tag_idx ON atum.ticket_tags (organization_id, tag_id);
COMMENT ON TABLE atum.ticket_tags IS 'Tags on tickets.';
COMMENT ON COLUMN atum.ticket_tags.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.ticket_tags.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum.ticket_tags.tag_id IS 'The tag.';
COMMENT ON COLUMN atum.ticket_tags.created_at IS 'When the tag was put on the ticket.';

CREATE TABLE atum.ticket_comments (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id       bigint NOT NULL,
    author_id       bigint,
    body            text NOT NULL CONSTRAINT ticket_comments_body_length CHECK (length(btrim(body)) BETWEEN 1 AND 200000),
    is_internal     boolean NOT NULL DEFAULT false,
    channel         atum.ticket_channel NOT NULL DEFAULT 'portal',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id) REFERENCES atum.organizations (id),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, author_id) REFERENCES atum.users (organization_id, id)
);
CREATE INDEX ticket_comments_ticket_idx ON atum.ticket_comments (organization_id, ticket_id, created_at, id);
COMMENT ON TABLE atum.ticket_comments IS 'Public replies and internal notes on a ticket. Customers never see internal notes.';
COMMENT ON COLUMN atum.ticket_comments.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.ticket_comments.id IS 'Comment id.';
COMMENT ON COLUMN atum.ticket_comments.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum.ticket_comments.author_id IS 'Who wrote it; NULL for system notes.';
COMMENT ON COLUMN atum.ticket_comments.body IS 'Plain-text body.';
COMMENT ON COLUMN atum.ticket_comments.is_internal IS 'Internal note: visible to staff only.';
COMMENT ON COLUMN atum.ticket_comments.channel IS 'Where the comment came from.';
COMMENT ON COLUMN atum.ticket_comments.created_at IS 'When it was written.';
COMMENT ON COLUMN atum.ticket_comments.updated_at IS 'Last edit.';

CREATE TABLE atum.attachments (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id       bigint NOT NULL,
    comment_id      bigint,
    is_internal     boolean NOT NULL DEFAULT false,
    filename        text NOT NULL
        CONSTRAINT attachments_filename_safe CHECK (length(filename) BETWEEN 1 AND 255 AND filename !~ '[/\\[:cntrl:]]'),
    content_type    text NOT NULL DEFAULT 'application/octet-stream'
        CONSTRAINT attachments_content_type_format CHECK (content_type ~ '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$'),
    size_bytes      bigint NOT NULL CONSTRAINT attachments_size_nonnegative CHECK (size_bytes >= 0),
    sha256          bytea NOT NULL CONSTRAINT attachments_sha256_length CHECK (length(sha256) = 32),
    uploaded_by     bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, ticket_id) REFERENCES atum.tickets (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, comment_id) REFERENCES atum.ticket_comments (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, uploaded_by) REFERENCES atum.users (organization_id, id)
);
CREATE INDEX attachments_ticket_idx ON atum.attachments (organization_id, ticket_id);
CREATE INDEX attachments_sha256_idx ON atum.attachments (sha256);
COMMENT ON TABLE atum.attachments IS 'Attachment metadata; the bytes are stored content-addressed (by sha256) under the data directory, outside any web root.';
COMMENT ON COLUMN atum.attachments.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.attachments.id IS 'Attachment id (download route).';
COMMENT ON COLUMN atum.attachments.ticket_id IS 'The ticket.';
COMMENT ON COLUMN atum.attachments.comment_id IS 'The comment it came with, if any.';
COMMENT ON COLUMN atum.attachments.is_internal IS 'Attached to an internal note: staff only.';
COMMENT ON COLUMN atum.attachments.filename IS 'File name as uploaded, without path separators or control characters.';
COMMENT ON COLUMN atum.attachments.content_type IS 'MIME type as declared; downloads are always served as attachment with nosniff.';
COMMENT ON COLUMN atum.attachments.size_bytes IS 'Size in bytes.';
COMMENT ON COLUMN atum.attachments.sha256 IS 'SHA-256 of the content: the storage key.';
COMMENT ON COLUMN atum.attachments.uploaded_by IS 'Who uploaded it; NULL for e-mail ingestion without a known user.';
COMMENT ON COLUMN atum.attachments.created_at IS 'When it was uploaded.';
COMMENT ON INDEX atum.attachments_sha256_idx IS 'Garbage collection of stored files looks up references by content hash.';

-- ---------------------------------------------------------------------------------------------
-- Sessions and API tokens (only hashes are stored)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE atum.sessions (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    user_id         bigint NOT NULL,
    token_hash      bytea NOT NULL CONSTRAINT sessions_token_hash_length CHECK (length(token_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    idle_timeout    interval NOT NULL DEFAULT '2 hours'
        CONSTRAINT sessions_idle_timeout_positive CHECK (idle_timeout > '0'::interval),
    revoked_at      timestamptz,
    client_ip       inet,
    user_agent      text CONSTRAINT sessions_user_agent_length CHECK (length(user_agent) <= 512),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE
);
-- Lookup by token before the organization is known; 256 random bits make collisions impossible,
-- so no unique constraint across organizations is needed (one would defeat sharding by organization).
CREATE INDEX sessions_token_hash_idx ON atum.sessions (token_hash);
CREATE INDEX sessions_user_idx ON atum.sessions (organization_id, user_id);
CREATE INDEX sessions_expires_idx ON atum.sessions (expires_at);
COMMENT ON TABLE atum.sessions IS 'Signed-in browser sessions. The cookie carries a random token; only its SHA-256 is stored.';
COMMENT ON COLUMN atum.sessions.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.sessions.id IS 'Session id.';
COMMENT ON COLUMN atum.sessions.user_id IS 'The signed-in user.';
COMMENT ON COLUMN atum.sessions.token_hash IS 'SHA-256 of the session token. Never readable by atum_app.';
COMMENT ON COLUMN atum.sessions.created_at IS 'Sign-in time.';
COMMENT ON COLUMN atum.sessions.last_seen_at IS 'Last authenticated request (updated at most once a minute).';
COMMENT ON COLUMN atum.sessions.expires_at IS 'Absolute end of the session.';
COMMENT ON COLUMN atum.sessions.idle_timeout IS 'The session ends when idle for this long.';
COMMENT ON COLUMN atum.sessions.revoked_at IS 'Set by logout or by an admin; the session no longer authenticates.';
COMMENT ON COLUMN atum.sessions.client_ip IS 'Address the session was created from.';
COMMENT ON COLUMN atum.sessions.user_agent IS 'User-Agent at sign-in, truncated.';
COMMENT ON INDEX atum.sessions_token_hash_idx IS 'Authentication looks sessions up by token hash before the organization is known.';

CREATE TABLE atum.api_tokens (
    organization_id bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    user_id         bigint NOT NULL,
    name            text NOT NULL CONSTRAINT api_tokens_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    token_hash      bytea NOT NULL CONSTRAINT api_tokens_token_hash_length CHECK (length(token_hash) = 32),
    role            atum.user_role NOT NULL,
    created_by      bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES atum.users (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, created_by) REFERENCES atum.users (organization_id, id)
);
CREATE INDEX api_tokens_token_hash_idx ON atum.api_tokens (token_hash);
COMMENT ON TABLE atum.api_tokens IS 'Bearer tokens for integrations: created by admins, shown once, stored hashed, acting as a user with at most a given role.';
COMMENT ON COLUMN atum.api_tokens.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.api_tokens.id IS 'Token id.';
COMMENT ON COLUMN atum.api_tokens.user_id IS 'The user the token acts as.';
COMMENT ON COLUMN atum.api_tokens.name IS 'What the token is for.';
COMMENT ON COLUMN atum.api_tokens.token_hash IS 'SHA-256 of the token. Never readable by atum_app.';
COMMENT ON COLUMN atum.api_tokens.role IS 'Scope: the token acts with this role or the user''s, whichever is lower.';
COMMENT ON COLUMN atum.api_tokens.created_by IS 'The admin who created it.';
COMMENT ON COLUMN atum.api_tokens.created_at IS 'When it was created.';
COMMENT ON COLUMN atum.api_tokens.expires_at IS 'Optional expiry.';
COMMENT ON COLUMN atum.api_tokens.last_used_at IS 'Last authenticated request (updated at most once a minute).';
COMMENT ON COLUMN atum.api_tokens.revoked_at IS 'Set when an admin revokes it.';
COMMENT ON INDEX atum.api_tokens_token_hash_idx IS 'Authentication looks tokens up by hash before the organization is known.';

-- ---------------------------------------------------------------------------------------------
-- Audit log: append-only, hash-chained per organization
-- ---------------------------------------------------------------------------------------------
CREATE TABLE atum.audit_log (
    organization_id bigint NOT NULL REFERENCES atum.organizations (id),
    seq             bigint NOT NULL CONSTRAINT audit_log_seq_positive CHECK (seq > 0),
    occurred_at     timestamptz NOT NULL,
    actor_user_id   bigint,
    actor_role      atum.user_role,
    db_role         text NOT NULL,
    application     text NOT NULL DEFAULT '',
    action          text NOT NULL CONSTRAINT audit_log_action_format CHECK (action ~ '^[A-Z_]{2,40}$'),
    table_name      text,
    row_key         jsonb,
    ticket_id       bigint,
    old_values      jsonb,
    new_values      jsonb,
    transaction_id  bigint NOT NULL,
    prev_hash       bytea NOT NULL CONSTRAINT audit_log_prev_hash_length CHECK (length(prev_hash) = 32),
    hash            bytea NOT NULL CONSTRAINT audit_log_hash_length CHECK (length(hash) = 32),
    PRIMARY KEY (organization_id, seq)
);
CREATE INDEX audit_log_ticket_idx ON atum.audit_log (organization_id, ticket_id, seq) WHERE ticket_id IS NOT NULL;
CREATE INDEX audit_log_time_idx ON atum.audit_log (organization_id, occurred_at);
COMMENT ON TABLE atum.audit_log IS 'Append-only record of every change to tenant data, written by triggers. Each row''s hash covers its content and the previous row''s hash of the same organization; atum.audit_verify() checks the chain.';
COMMENT ON COLUMN atum.audit_log.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.audit_log.seq IS 'Position in the organization''s chain: 1, 2, 3 ... without gaps.';
COMMENT ON COLUMN atum.audit_log.occurred_at IS 'Transaction time of the change.';
COMMENT ON COLUMN atum.audit_log.actor_user_id IS 'The signed-in user who made the change (from the verified request context); NULL for system and CLI changes.';
COMMENT ON COLUMN atum.audit_log.actor_role IS 'The actor''s role at the time.';
COMMENT ON COLUMN atum.audit_log.db_role IS 'The database login role (session_user): atum_app, atum_owner, ...';
COMMENT ON COLUMN atum.audit_log.application IS 'application_name of the connection (e.g. atumdesk-cli, pg_cron).';
COMMENT ON COLUMN atum.audit_log.action IS 'INSERT, UPDATE, DELETE, or an event such as LOGIN.';
COMMENT ON COLUMN atum.audit_log.table_name IS 'Table that changed (without schema), NULL for events.';
COMMENT ON COLUMN atum.audit_log.row_key IS 'Primary key of the changed row (without organization_id), as JSON.';
COMMENT ON COLUMN atum.audit_log.ticket_id IS 'The ticket the change belongs to, for the ticket timeline.';
COMMENT ON COLUMN atum.audit_log.old_values IS 'UPDATE: previous values of changed columns; DELETE: the whole row. Secrets are redacted.';
COMMENT ON COLUMN atum.audit_log.new_values IS 'UPDATE: new values of changed columns; INSERT: the whole row. Secrets are redacted.';
COMMENT ON COLUMN atum.audit_log.transaction_id IS 'txid of the writing transaction: rows with the same id happened together.';
COMMENT ON COLUMN atum.audit_log.prev_hash IS 'hash of the previous row of the organization (32 zero bytes for the first).';
COMMENT ON COLUMN atum.audit_log.hash IS 'sha256(prev_hash || canonical JSON of this row''s content).';

CREATE TABLE atum.audit_heads (
    organization_id bigint PRIMARY KEY REFERENCES atum.organizations (id),
    last_seq        bigint NOT NULL DEFAULT 0,
    last_hash       bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
);
COMMENT ON TABLE atum.audit_heads IS 'Internal: the end of each organization''s audit chain. Locked by audit writers so rows are chained in commit order; lets verification detect a truncated tail.';
COMMENT ON COLUMN atum.audit_heads.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.audit_heads.last_seq IS 'seq of the last audit row.';
COMMENT ON COLUMN atum.audit_heads.last_hash IS 'hash of the last audit row.';

-- ---------------------------------------------------------------------------------------------
-- Internal tables
-- ---------------------------------------------------------------------------------------------
CREATE TABLE atum.ticket_counters (
    organization_id bigint PRIMARY KEY REFERENCES atum.organizations (id),
    last_number     integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE atum.ticket_counters IS 'Internal: last ticket number used per organization (gap-free within committed tickets of one writer).';
COMMENT ON COLUMN atum.ticket_counters.organization_id IS 'Tenant.';
COMMENT ON COLUMN atum.ticket_counters.last_number IS 'Highest ticket number handed out.';

-- The request context: written only by api.authenticate (SECURITY DEFINER) after it checked a
-- session or API token; read by policies through the view atum.request_context (sql/10_context.sql).
-- A row counts only for the backend and the transaction that wrote it, so a context cannot be set
-- by hand (the app role has no privilege here) and does not outlive its transaction. UNLOGGED:
-- nothing here needs to survive a crash, and writes stay cheap. No index on purpose: it holds one
-- small row per backend, only that backend writes its row, and a sequential scan of its page or
-- two costs policies a third of an index lookup (every statement under RLS pays it).
CREATE UNLOGGED TABLE atum.request_contexts (
    backend_pid            integer NOT NULL,
    transaction_started_at timestamptz NOT NULL,
    organization_id        bigint NOT NULL,
    user_id                bigint NOT NULL,
    role                   atum.user_role NOT NULL,
    auth                   text NOT NULL
);
COMMENT ON TABLE atum.request_contexts IS 'Internal: the verified request context of each backend''s current transaction (one row per backend, overwritten by api.authenticate).';
COMMENT ON COLUMN atum.request_contexts.backend_pid IS 'The PostgreSQL backend (pg_backend_pid()) the context belongs to.';
COMMENT ON COLUMN atum.request_contexts.transaction_started_at IS 'transaction_timestamp() of the transaction that authenticated; other transactions ignore the row.';
COMMENT ON COLUMN atum.request_contexts.organization_id IS 'The organization the request acts for.';
COMMENT ON COLUMN atum.request_contexts.user_id IS 'The signed-in user.';
COMMENT ON COLUMN atum.request_contexts.role IS 'The user''s role (an API token''s scope if lower).';
COMMENT ON COLUMN atum.request_contexts.auth IS 'Where the context came from: s<session id> or t<API token id>.';

CREATE TABLE atum.jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint REFERENCES atum.organizations (id),
    kind            text NOT NULL CONSTRAINT jobs_kind_format CHECK (kind ~ '^[a-z][a-z0-9_.]{1,60}$'),
    payload         jsonb NOT NULL DEFAULT '{}',
    state           atum.job_state NOT NULL DEFAULT 'queued',
    run_after       timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CONSTRAINT jobs_attempts_nonnegative CHECK (attempts >= 0),
    max_attempts    integer NOT NULL DEFAULT 10 CONSTRAINT jobs_max_attempts_positive CHECK (max_attempts > 0),
    dedupe_key      text,
    last_error      text,
    locked_by       text,
    locked_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX jobs_runnable_idx ON atum.jobs (run_after, id) WHERE state = 'queued';
CREATE UNIQUE INDEX jobs_dedupe_idx ON atum.jobs (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX jobs_org_idx ON atum.jobs (organization_id, state) WHERE organization_id IS NOT NULL;
COMMENT ON TABLE atum.jobs IS 'Internal job queue: work SQL cannot do (IMAP, SMTP, pg_dump, files), queued by pg_cron or by triggers and claimed by the worker with FOR UPDATE SKIP LOCKED. System jobs have no organization.';
COMMENT ON COLUMN atum.jobs.id IS 'Job id.';
COMMENT ON COLUMN atum.jobs.organization_id IS 'The organization the job works for; NULL for system jobs such as backups.';
COMMENT ON COLUMN atum.jobs.kind IS 'Handler name, e.g. mail.poll or backup.run.';
COMMENT ON COLUMN atum.jobs.payload IS 'Handler arguments.';
COMMENT ON COLUMN atum.jobs.state IS 'queued, running, succeeded, failed (will retry) or dead (gave up; error kept).';
COMMENT ON COLUMN atum.jobs.run_after IS 'Not claimed before this time (backoff after failures).';
COMMENT ON COLUMN atum.jobs.attempts IS 'How many times it was claimed.';
COMMENT ON COLUMN atum.jobs.max_attempts IS 'After this many failures the job is dead.';
COMMENT ON COLUMN atum.jobs.dedupe_key IS 'At most one queued or running job per kind and key (e.g. one poll per mailbox).';
COMMENT ON COLUMN atum.jobs.last_error IS 'Error of the last failed attempt, for admins.';
COMMENT ON COLUMN atum.jobs.locked_by IS 'Worker that holds the job.';
COMMENT ON COLUMN atum.jobs.locked_at IS 'When the worker claimed it.';
COMMENT ON COLUMN atum.jobs.created_at IS 'When the job was queued.';
COMMENT ON COLUMN atum.jobs.finished_at IS 'When it succeeded or died.';
COMMENT ON INDEX atum.jobs_runnable_idx IS 'Claiming scans queued jobs in run_after order.';
COMMENT ON INDEX atum.jobs_dedupe_idx IS 'Periodic jobs are not queued twice while one is pending.';

CREATE TABLE atum.cron_heartbeats (
    job_name   text PRIMARY KEY,
    beat_at    timestamptz NOT NULL,
    beats      bigint NOT NULL DEFAULT 1
);
COMMENT ON TABLE atum.cron_heartbeats IS 'Internal: last run of each pg_cron job that reports in, so readiness checks can tell pg_cron is alive.';
COMMENT ON COLUMN atum.cron_heartbeats.job_name IS 'The pg_cron job name.';
COMMENT ON COLUMN atum.cron_heartbeats.beat_at IS 'Last run.';
COMMENT ON COLUMN atum.cron_heartbeats.beats IS 'Number of runs recorded.';

-- Every table in atum: row-level security on and forced, also for the owner. Policies for tenant
-- tables are in sql/40_policies.sql; internal tables have none, so only BYPASSRLS roles reach them.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'atum'::regnamespace AND c.relkind = 'r' LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
